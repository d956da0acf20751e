/**
 * What every dynamic provider here shares: the engine's marker for values not known yet, and the
 * cleaning of the inputs the engine hands a provider. See README.md in this folder.
 *
 * Serialized with the providers that use it: plain constants and functions only, no state.
 */
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";

/**
 * The value the engine passes for an input not known yet (during a preview), as the SDK exports it
 * (the offline plan reads the same export).
 */
export const UNKNOWN: string = unknownValue;

/** Whether `value` is the engine's unknown marker. */
export function isUnknown(value: unknown): boolean {
  return value === UNKNOWN;
}

/** Whether `value` or, for an array, any of its elements is unknown: nothing can be validated yet. */
export function hasUnknown(value: unknown): boolean {
  return isUnknown(value) || (Array.isArray(value) && value.some(isUnknown));
}

/** Whether `value` is set and known: a check that needs the value runs only then. */
export function isKnown<T>(value: T | undefined): value is T {
  return value !== undefined && !isUnknown(value);
}

/**
 * The inputs as the provider's own type: without the serialized provider text the engine adds
 * (`__provider`) and without properties the engine sent as undefined (an undefined input is absent).
 */
export function cleanInputs<T extends object>(inputs: Record<string, unknown>): T {
  return Object.fromEntries(Object.entries(inputs).filter(([key, value]) => key !== "__provider" && value !== undefined)) as T;
}
