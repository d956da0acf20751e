/**
 * What every dynamic provider here shares: the engine's marker for values not known yet, the
 * cleaning of the inputs the engine hands a provider, and the provider types. See README.md in
 * this folder.
 *
 * Serialized with the providers that use it: plain constants and functions only, no state.
 */
import type * as pulumi from "@pulumi/pulumi";
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

/** A `pulumi.dynamic.ResourceProvider` with every method present but `configure`: the type of a provider that reads no stack config. */
export type ProviderWithoutConfigure<Inputs, Outputs> = Required<Omit<pulumi.dynamic.ResourceProvider<Inputs, Outputs>, "configure">>;

/**
 * A `diff` result that also says which properties change and how, in Pulumi's detailed-diff shape
 * (property path -> kind), for hosts that forward it.
 */
export interface DetailedDiffResult extends pulumi.dynamic.DiffResult {
  detailedDiff?: Record<string, { kind: "ADD" | "UPDATE" | "DELETE"; inputDiff: boolean }>;
}

/**
 * The inputs as the provider's own type: without the serialized provider text the engine adds
 * (`__provider`) and without properties the engine sent as undefined (an undefined input is absent).
 */
export function cleanInputs<T extends object>(inputs: Record<string, unknown>): T {
  return Object.fromEntries(Object.entries(inputs).filter(([key, value]) => key !== "__provider" && value !== undefined)) as T;
}

/** How a provider reports progress and warnings (the shape the Dataverse client's `LogFn` takes). */
export type ProviderLog = (level: "info" | "warn" | "debug", message: string) => void;

/**
 * A log that writes through `pulumi.log` when the provider runs under the engine, and to stderr
 * otherwise. `@pulumi/pulumi` is required on each call, so a serialized provider emits a `require`
 * the host resolves instead of capturing the SDK's object graph.
 */
export function pulumiLog(): ProviderLog {
  return (level, message) => {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const p = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
      void p.log[level](message);
    } catch {
      console.error(message);
    }
  };
}

/** The number in the environment variable `name`; undefined when it is unset, empty or not a number. */
export function envNumber(name: string): number | undefined {
  const v = process.env[name];
  return v !== undefined && v !== "" && Number.isFinite(Number(v)) ? Number(v) : undefined;
}

/**
 * Client tuning from the environment of the process running the provider (tests, benchmarks, an
 * operator slowing a run down): for each `key`, the variable `<prefix><KEY_IN_SNAKE_CASE>`
 * (`maxRetries` -> `DATAVERSE_SYNC_MAX_RETRIES`). Only the variables that are set appear in the result.
 * Not inputs: tuning does not belong in the state.
 */
export function numbersFromEnv<K extends string>(prefix: string, keys: readonly K[]): Partial<Record<K, number>> {
  const out: Partial<Record<K, number>> = {};
  for (const key of keys) {
    const value = envNumber(prefix + key.replace(/([A-Z]|[0-9]+)/g, "_$1").toUpperCase());
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/**
 * Why `url` is not an endpoint a provider may call, or undefined when it is: https, or plain http to
 * this machine only (the local emulators). `httpsReason` is the failure's wording for a non-https URL.
 */
export function endpointUrlProblem(url: string, httpsReason: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `not a URL: ${url}`;
  }
  const loopback = u.hostname === "127.0.0.1" || u.hostname === "localhost" || u.hostname === "[::1]";
  return u.protocol === "https:" || (u.protocol === "http:" && loopback) ? undefined : httpsReason;
}
