/**
 * Captures what `pulumi preview` of a stack would declare, with no CLI, cloud or network: the real
 * index.ts runs under the SDK's mocks in preview mode (plan/harness.ts), fed the stack's config as
 * the CLI resolves it. Values only a deployment knows stay `[unknown]` (PLAN_UNKNOWN); secrets are `[secret]`.
 */
import * as pulumi from "@pulumi/pulumi";
import { specialSecretSig, specialSigKey, unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { parseStackConfig } from "../config";
import { decodeApplied } from "../dynamic-providers/dataverse/sync";
import { PLAN_UNKNOWN, REFERENCE_TYPES } from "../policy/rules";
import { ROTATION_CLOCK_ENV } from "../rotation";
import { runProgramUnderMocks, type HarnessMocks } from "./harness";
import { loadProject, rawStackConfig, type ConfigChanges } from "../stack-config";

export const SECRET = "[secret]";
/**
 * The clock the offline plan runs the program at (rotation.ts): secret expiry and rotation windows
 * depend on the date, and a committed plan must not change with it.
 */
export const PLAN_CLOCK = "2026-01-01T00:00:00.000Z";

/**
 * Secret inputs whose secret part is known, shown with only that part masked: a Key Vault secret's
 * `properties` is secret as a whole because its `value` is, yet its expiry and content type are
 * what the policy checks.
 */
const SECRET_PARTS: Record<string, { input: string; secretKeys: string[] }> = {
  "azure-native:keyvault:Secret": { input: "properties", secretKeys: ["value"] },
};

function unmaskKnownParts(type: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const part = SECRET_PARTS[type];
  const wrapped = part ? (inputs[part.input] as Record<string, unknown> | undefined) : undefined;
  if (!part || !wrapped || wrapped[specialSigKey] !== specialSecretSig) return inputs;
  const inner = wrapped.value;
  if (typeof inner !== "object" || inner === null || Array.isArray(inner)) return inputs;
  const shown = Object.fromEntries(Object.entries(inner).map(([k, v]) => [k, part.secretKeys.includes(k) ? SECRET : v]));
  return { ...inputs, [part.input]: shown };
}

export interface PlannedResource {
  type: string;
  name: string;
  /** Logical name of the parent component, absent for top-level resources. */
  parent?: string;
  inputs: Record<string, unknown>;
  /** Input paths `pulumi up` leaves as they are in state (the resource option `ignoreChanges`). */
  ignoreChanges?: string[];
  /** For REFERENCE_TYPES: per input, the logical names of the resources its value came from. */
  references?: Record<string, string[]>;
  /** `pulumi destroy` leaves it in the cloud (the option `retainOnDelete`). */
  retainOnDelete?: true;
}

export interface StackPlan {
  project: string;
  stack: string;
  resources: PlannedResource[];
  outputs: Record<string, unknown>;
}

/** Replaces secrets and unknowns by markers and sorts object keys, so the document is deterministic. */
export function normalize(value: unknown): unknown {
  if (value === unknownValue || pulumi.isUnknown(value)) return PLAN_UNKNOWN;
  if (typeof value === "object" && value !== null && (value as Record<string, unknown>)[specialSigKey] === specialSecretSig) return SECRET;
  if (Array.isArray(value)) return value.map(normalize);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.keys(value).sort().filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, normalize((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** Mapping sets send their rows packed (dynamic-providers/dataverse/provider.ts): the plan shows them as the map they are, for review. */
const PACKED_ROWS_TYPE = "pulumi-nodejs:dynamic/dataverse:IomMappingSet";

function withReadableRows(type: string, inputs: Record<string, unknown>): Record<string, unknown> {
  return type === PACKED_ROWS_TYPE && typeof inputs.rows === "string" ? { ...inputs, rows: decodeApplied(inputs.rows) } : inputs;
}

/**
 * A dynamic resource carries its provider's serialized code (`__provider`): tens of kilobytes that
 * hold machine-specific paths. The plan shows that it is there, not the text.
 */
function withoutProviderText(inputs: Record<string, unknown>): Record<string, unknown> {
  return "__provider" in inputs ? { ...inputs, __provider: "[serialized dynamic provider]" } : inputs;
}

/** What a preview knows: inputs echo back, ids and computed properties stay unknown. */
const PREVIEW_MOCKS: HarnessMocks = {
  newResource(args) {
    const state = { ...(args.inputs as Record<string, unknown>) };
    // A VM's identity principal exists only once Azure creates it.
    if (args.type === "azure-native:compute:VirtualMachine") state.identity = { ...(state.identity as object), principalId: unknownValue };
    return { id: undefined, state };
  },
  call(args) {
    if (args.token === "azure-native:authorization:getClientConfig") {
      return { subscriptionId: PLAN_UNKNOWN, tenantId: PLAN_UNKNOWN, clientId: PLAN_UNKNOWN, objectId: PLAN_UNKNOWN };
    }
    throw new Error(`the offline plan does not know the invoke ${args.token}`);
  },
};

/**
 * Whose input references the plan records: the policy's REFERENCE_TYPES, and every dynamic resource,
 * so the plan shows where a value a preview cannot know yet will come from (the Power Platform
 * environment -> IOM app -> mappings chain of a create-mode stack).
 */
const recordsReferences = (type: string) => REFERENCE_TYPES.includes(type) || type.startsWith("pulumi-nodejs:dynamic/");

export async function captureStackPlan(stack: string, changes: ConfigChanges = {}): Promise<StackPlan> {
  process.env[ROTATION_CLOCK_ENV] ??= PLAN_CLOCK;
  // The program's own validation, first: a bad config fails here with its errors, before any mock runs.
  const { raw, secretKeys } = rawStackConfig(stack, changes);
  parseStackConfig(stack, raw, secretKeys);
  const run = await runProgramUnderMocks(stack, { changes, preview: true, mocks: PREVIEW_MOCKS, referencesFor: recordsReferences });
  const resources = run.resources
    .filter((r) => r.type !== "pulumi:pulumi:Stack")
    .map((r) => ({
      type: r.type,
      name: r.name,
      ...(r.parent !== undefined ? { parent: r.parent } : {}),
      inputs: normalize(unmaskKnownParts(r.type, withReadableRows(r.type, withoutProviderText(r.inputs)))) as Record<string, unknown>,
      ...(r.ignoreChanges ? { ignoreChanges: r.ignoreChanges } : {}),
      ...(r.references ? { references: r.references } : {}),
      ...(r.retainOnDelete ? { retainOnDelete: true as const } : {}),
    }))
    .sort((a, b) => a.name.localeCompare(b.name) || a.type.localeCompare(b.type));
  const outputs = Object.fromEntries(Object.entries(run.outputs).map(([name, { value, secret }]) => [name, secret ? SECRET : value]));
  return { project: loadProject().name, stack, resources, outputs: normalize(outputs) as Record<string, unknown> };
}
