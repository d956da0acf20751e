/**
 * Captures what `pulumi preview` of a stack would declare, with no CLI, cloud or network: the real
 * index.ts runs inside a Pulumi stack under the SDK's mocks in preview mode, fed the stack's config
 * as the CLI resolves it. Values only a deployment knows stay `[unknown]`; secrets are `[secret]`.
 *
 * The Pulumi runtime is process-global, so a process captures one stack (see plan/cli.ts).
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { runInPulumiStack } from "@pulumi/pulumi/runtime/stack";
import { parseStackConfig } from "../config";
import { REFERENCE_TYPES } from "../policy/rules";
import { specialSecretSig, specialSigKey, unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { loadProject, resolveStackConfig, withoutProjectPrefix, type ConfigChanges } from "./stack-config";
import { ROTATION_CLOCK_ENV } from "../rotation";

export const UNKNOWN = "[unknown]";
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
}

export interface StackPlan {
  project: string;
  stack: string;
  resources: PlannedResource[];
  outputs: Record<string, unknown>;
}


/** Replaces secrets and unknowns by markers and sorts object keys, so the document is deterministic. */
export function normalize(value: unknown): unknown {
  if (value === unknownValue || pulumi.isUnknown(value)) return UNKNOWN;
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

/** `Output.promise(withUnknowns)` is the SDK's own way to read a value that may hold unknowns. */
interface OutputInternals {
  promise(withUnknowns?: boolean): Promise<unknown>;
}

async function readOutput(value: unknown): Promise<unknown> {
  const output = pulumi.output(value as pulumi.Input<unknown>);
  if (await pulumi.isSecret(output)) return SECRET;
  return normalize(await (output as unknown as OutputInternals).promise(true));
}

/**
 * A dynamic resource carries its provider's serialized code (`__provider`): tens of kilobytes that
 * hold machine-specific paths. The plan shows that it is there, not the text.
 */
function withoutProviderText<T extends { inputs?: Record<string, unknown> }>(resource: T): T {
  if (!resource.inputs || !("__provider" in resource.inputs)) return resource;
  return { ...resource, inputs: { ...resource.inputs, __provider: "[serialized dynamic provider]" } };
}

/** The SDK keeps the resources an Output came from; `resources()` is how the engine learns property dependencies. */
interface OutputResources {
  resources(): Set<pulumi.Resource>;
}

/** Every Output inside an input value (plain objects and lists are walked). */
function outputsIn(value: unknown): pulumi.Output<unknown>[] {
  if (pulumi.Output.isInstance(value)) return [value];
  if (Array.isArray(value)) return value.flatMap(outputsIn);
  if (typeof value === "object" && value !== null && !pulumi.Resource.isInstance(value)) return Object.values(value).flatMap(outputsIn);
  return [];
}

/** Per top-level input, the logical names of the (already registered) resources its values came from. */
function inputReferences(props: Record<string, unknown>, names: Map<pulumi.Resource, string>): Record<string, string[]> {
  const references: Record<string, string[]> = {};
  for (const [property, value] of Object.entries(props).sort(([a], [b]) => a.localeCompare(b))) {
    const from = outputsIn(value)
      .flatMap((output) => [...(output as unknown as OutputResources).resources()])
      .map((r) => names.get(r))
      .filter((n): n is string => n !== undefined);
    if (from.length > 0) references[property] = [...new Set(from)].sort();
  }
  return references;
}

export async function captureStackPlan(stack: string, changes: ConfigChanges = {}): Promise<StackPlan> {
  const project = loadProject().name;
  process.env[ROTATION_CLOCK_ENV] ??= PLAN_CLOCK;
  const resolved = resolveStackConfig(stack, changes);
  const { config, secretKeys } = resolved;
  // The program's own validation, first: a bad config fails here with its errors, before any mock runs.
  const { raw, secretKeys: secretNames } = withoutProjectPrefix(resolved);
  parseStackConfig(stack, raw, secretNames);
  const declared = new Map<string, { type: string; name: string; inputs?: Record<string, unknown> }>();
  const parents = new Map<pulumi.Resource, string>();
  const parentOf = new Map<string, string>();
  const ignored = new Map<string, string[]>();
  const referencesOf = new Map<string, Record<string, string[]>>();
  const key = (type: string, name: string) => `${type}::${name}`;

  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const entry = declared.get(key(args.type, args.name));
        if (entry) entry.inputs = args.inputs as Record<string, unknown>;
        else declared.set(key(args.type, args.name), { type: args.type, name: args.name, inputs: args.inputs as Record<string, unknown> });
        // Echo the inputs, as a preview does for a resource it would create; ids and computed
        // properties stay unknown. A VM's identity principal exists only once Azure creates it.
        const state = { ...(args.inputs as Record<string, unknown>) };
        if (args.type === "azure-native:compute:VirtualMachine") state.identity = { ...(state.identity as object), principalId: unknownValue };
        return { id: undefined, state };
      },
      call(args) {
        if (args.token === "azure-native:authorization:getClientConfig") {
          return { subscriptionId: UNKNOWN, tenantId: UNKNOWN, clientId: UNKNOWN, objectId: UNKNOWN };
        }
        throw new Error(`the offline plan does not know the invoke ${args.token}`);
      },
    },
    project,
    stack,
    true,
  );
  pulumi.runtime.setAllConfig(config, secretKeys);

  let exported: Record<string, unknown> = {};
  await runInPulumiStack(async () => {
    pulumi.runtime.registerStackTransformation((args) => {
      parents.set(args.resource, args.name);
      if (!declared.has(key(args.type, args.name))) declared.set(key(args.type, args.name), { type: args.type, name: args.name });
      const parent = args.opts.parent ? parents.get(args.opts.parent) : undefined;
      if (parent) parentOf.set(key(args.type, args.name), parent);
      if (args.opts.ignoreChanges?.length) ignored.set(key(args.type, args.name), [...args.opts.ignoreChanges]);
      if (REFERENCE_TYPES.includes(args.type)) referencesOf.set(key(args.type, args.name), inputReferences(args.props, parents));
      return undefined;
    });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    exported = require(path.join(__dirname, "..", "index")) as Record<string, unknown>;
    return {};
  });

  const outputs: Record<string, unknown> = {};
  for (const name of Object.keys(exported).sort()) outputs[name] = await readOutput(exported[name]);
  // Resources declared inside apply callbacks reach the mocks a moment later.
  await new Promise((resolve) => setTimeout(resolve, 100));

  const stackResource = [...declared.values()].find((r) => r.type === "pulumi:pulumi:Stack")?.name;
  const resources = [...declared.entries()]
    .filter(([, r]) => r.type !== "pulumi:pulumi:Stack")
    .map(([k, r]) => [k, withoutProviderText(r)] as const)
    .map(([k, r]) => ({
      type: r.type,
      name: r.name,
      ...(parentOf.has(k) && parentOf.get(k) !== stackResource ? { parent: parentOf.get(k) } : {}),
      inputs: normalize(unmaskKnownParts(r.type, r.inputs ?? {})) as Record<string, unknown>,
      ...(ignored.has(k) ? { ignoreChanges: ignored.get(k) } : {}),
      ...(referencesOf.has(k) ? { references: referencesOf.get(k) } : {}),
    }))
    .sort((a, b) => a.name.localeCompare(b.name) || a.type.localeCompare(b.type));
  return { project, stack, resources, outputs: normalize(outputs) as Record<string, unknown> };
}
