/**
 * The one way this repository runs the real program (index.ts) without the Pulumi CLI: under the
 * SDK's mocks, with a stack's configuration resolved as the CLI resolves it. The offline plan
 * (plan/capture.ts) and the unit tests (tests/support/program.ts) both run it through here; they
 * differ only in the mocks they pass (what a preview knows vs. made-up ids for assertions).
 *
 * Each run gets fresh runtime state, so one process can run many stacks and variations while
 * loading @pulumi/pulumi, @pulumi/azure-native and the components once. Only index.ts, whose top
 * level declares the resources, is evaluated afresh for every run. Runs are queued (the SDK keeps
 * the mock monitor in a module variable too), so the state is the SDK's process-wide store, as
 * under the CLI, replaced before each run; the Automation API's per-run AsyncLocalStorage
 * (`withLocalStorage`) would do the same but makes every promise of a run pay for async hooks.
 *
 * A run ends when the SDK's queue of outstanding resource operations is empty
 * (`pulumi.runtime.disconnect()`, which the CLI's language host also awaits), so resources
 * declared inside apply callbacks are in the result without waiting a fixed time.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { transformSync } from "@swc/core";
import { runInPulumiStack } from "@pulumi/pulumi/runtime/stack";
import { loadProject, resolveStackConfig, ROOT, type ConfigChanges } from "../stack-config";

/** What the mocks see of a resource registration (the SDK's MockResourceArgs). */
export type MockResourceArgs = pulumi.runtime.MockResourceArgs;
export type MockCallArgs = pulumi.runtime.MockCallArgs;

export interface HarnessMocks {
  /** The state a registration answers with; `id: undefined` leaves the id unknown, as a preview does. */
  newResource(args: MockResourceArgs): { id: string | undefined; state: Record<string, unknown> };
  call(args: MockCallArgs): Record<string, unknown>;
}

export interface RegisteredResource {
  type: string;
  name: string;
  /** Logical name of the parent resource; absent for the stack and its direct children. */
  parent?: string;
  /** Whether it reached the engine as a custom resource (false for components and the stack). */
  custom: boolean;
  inputs: Record<string, unknown>;
  /** The id the mocks answered, undefined when it stays unknown. */
  id: string | undefined;
  /** Input paths `pulumi up` leaves as they are in state (the resource option `ignoreChanges`). */
  ignoreChanges?: string[];
  /** For the types in `referencesFor`: per input, the logical names of the resources its value came from. */
  references?: Record<string, string[]>;
  /** Logical names of the resources the option `dependsOn` names. */
  dependsOn?: string[];
  /** The option `retainOnDelete`: `pulumi destroy` drops it from the state and leaves it in the cloud. */
  retainOnDelete?: boolean;
}

export interface ExportedOutput {
  /** The value with unknowns left as the SDK's unknown marker and secrets unwrapped. */
  value: unknown;
  secret: boolean;
}

export interface HarnessRun {
  /** Every registration, in the order the program made them (the stack resource included). */
  resources: RegisteredResource[];
  outputs: Record<string, ExportedOutput>;
}

/** An error the program threw, with how many resources it had registered by then. */
export type ProgramError = Error & { declaredResources: number };

export interface HarnessOptions {
  changes?: ConfigChanges;
  /** Preview mode: outputs of resources stay unknown unless the mocks' state says otherwise. */
  preview: boolean;
  mocks: HarnessMocks;
  /** Which types' property dependencies are recorded (RegisteredResource.references). */
  referencesFor?: (type: string) => boolean;
}

/** The SDK's runtime state (internal to the SDK, so looked up and checked once per run). */
interface RuntimeState {
  LocalStore: new () => object;
}

/**
 * Gives the next run a fresh copy of the SDK's state: `getStore()` answers the process-wide store
 * (`global.globalStore`) when no AsyncLocalStorage is active, which is how the CLI runs a program.
 */
function resetRuntimeState(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const state = require("@pulumi/pulumi/runtime/state") as Partial<RuntimeState>;
  if (typeof state.LocalStore !== "function") {
    throw new Error("@pulumi/pulumi/runtime/state has no LocalStore: this SDK version keeps its state elsewhere (plan/harness.ts)");
  }
  (globalThis as { globalStore?: object }).globalStore = new state.LocalStore();
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
function inputReferences(props: Record<string, unknown>, names: Map<pulumi.Resource, { name: string }>): Record<string, string[]> {
  const references: Record<string, string[]> = {};
  for (const [property, value] of Object.entries(props).sort(([a], [b]) => a.localeCompare(b))) {
    const from = outputsIn(value)
      .flatMap((output) => [...(output as unknown as OutputResources).resources()])
      .map((r) => names.get(r)?.name)
      .filter((n): n is string => n !== undefined);
    if (from.length > 0) references[property] = [...new Set(from)].sort();
  }
  return references;
}

/**
 * Whether `alias` is one an Azure Native resource class adds for each API version of its type
 * (`{ type: "azure-native:network/v20230901:Subnet" }`; 60 on a Subnet), so that the engine finds
 * state written under another version.
 */
function isApiVersionAlias(alias: unknown, type: string): boolean {
  if (typeof alias !== "object" || alias === null || pulumi.Output.isInstance(alias)) return false;
  const keys = Object.keys(alias);
  const aliasType = (alias as { type?: unknown }).type;
  if (keys.length !== 1 || typeof aliasType !== "string") return false;
  const [pkg, module, name] = type.split(":");
  const [aliasPkg, aliasModule, aliasName] = aliasType.split(":");
  return pkg === "azure-native" && aliasPkg === pkg && aliasName === name && aliasModule.startsWith(`${module}/`);
}

/**
 * The resource's options without Azure Native's API-version aliases, or undefined when it has none.
 * They only let the engine match state from another API version: no mock and no plan sees them,
 * yet the SDK turns each into a URN made of Outputs in the resource's constructor, which was a
 * third of a run. The program's own aliases stay.
 */
function withoutApiVersionAliases(args: pulumi.ResourceTransformationArgs): pulumi.ResourceTransformationResult | undefined {
  const aliases = args.opts.aliases;
  if (!aliases?.length) return undefined;
  const kept = aliases.filter((alias) => !isApiVersionAlias(alias, args.type));
  return kept.length === aliases.length ? undefined : { props: args.props, opts: { ...args.opts, aliases: kept } };
}

/** `Output.promise(withUnknowns)` is the SDK's own way to read a value that may hold unknowns. */
interface OutputInternals {
  promise(withUnknowns?: boolean): Promise<unknown>;
}

const STACK_TYPE = "pulumi:pulumi:Stack";
const PROGRAM = path.join(ROOT, "index.ts");
let compiled: { source: string; code: string } | undefined;

/**
 * index.ts as CommonJS, transpiled by swc (the transpiler of the tests and of `npm run plan`; the
 * type-check is `npm run typecheck`), once per process and content.
 */
function programCode(): string {
  const source = fs.readFileSync(PROGRAM, "utf8");
  if (compiled?.source === source) return compiled.code;
  const { code } = transformSync(source, {
    filename: PROGRAM,
    jsc: { parser: { syntax: "typescript" }, target: "es2022" },
    module: { type: "commonjs" },
    sourceMaps: false,
  });
  compiled = { source, code: `${code}\n//# sourceURL=${PROGRAM}` };
  return compiled.code;
}

/** Evaluates index.ts afresh; everything it imports comes from the module cache as usual. */
function evaluateProgram(): Record<string, unknown> {
  const module = { exports: {} as Record<string, unknown> };
  // index.ts's imports, resolved from its folder by this module's require (scripts/swc-register.js's or Jest's)
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const requireFromRoot = (id: string): unknown => require(id.startsWith(".") ? path.resolve(ROOT, id) : id);
  const body = new Function("exports", "require", "module", "__filename", "__dirname", programCode());
  body(module.exports, requireFromRoot, module, PROGRAM, ROOT);
  return module.exports;
}

async function runOnce(stack: string, options: HarnessOptions): Promise<HarnessRun> {
  const { config, secretKeys } = resolveStackConfig(stack, options.changes);
  const project = loadProject().name;
  resetRuntimeState();
  const resources: RegisteredResource[] = [];
  const parentNames = new Map<string, string>();
  const ignored = new Map<string, string[]>();
  const resourceOptions = new Map<string, { dependsOn?: string[]; retainOnDelete?: boolean }>();
  const referencesOf = new Map<string, Record<string, string[]>>();
  const declared = new Map<pulumi.Resource, { type: string; name: string }>();
  const key = (type: string, name: string) => `${type}::${name}`;

  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const answer = options.mocks.newResource(args);
        const resource: RegisteredResource = {
          type: args.type,
          name: args.name,
          custom: args.custom ?? true,
          inputs: args.inputs as Record<string, unknown>,
          id: answer.id,
        };
        const parent = parentNames.get(key(args.type, args.name));
        if (parent !== undefined) resource.parent = parent;
        const ignoreChanges = ignored.get(key(args.type, args.name));
        if (ignoreChanges) resource.ignoreChanges = ignoreChanges;
        const references = referencesOf.get(key(args.type, args.name));
        if (references) resource.references = references;
        Object.assign(resource, resourceOptions.get(key(args.type, args.name)));
        resources.push(resource);
        return { id: answer.id, state: answer.state };
      },
      call: (args) => options.mocks.call(args),
    },
    project,
    stack,
    options.preview,
  );
  pulumi.runtime.setAllConfig(config, secretKeys);

  let exported: Record<string, unknown> = {};
  // A program that throws is caught inside the stack's init, so the stack itself completes and
  // leaves no rejected promise behind; the error is rethrown once registrations are drained.
  let programError: unknown;
  await runInPulumiStack(async () => {
    pulumi.runtime.registerStackTransformation((args) => {
      declared.set(args.resource, { type: args.type, name: args.name });
      const parent = args.opts.parent ? declared.get(args.opts.parent) : undefined;
      if (parent && parent.type !== STACK_TYPE) parentNames.set(key(args.type, args.name), parent.name);
      if (args.opts.ignoreChanges?.length) ignored.set(key(args.type, args.name), [...args.opts.ignoreChanges]);
      const dependsOn = ([] as unknown[]).concat(args.opts.dependsOn ?? [])
        .map((r) => (pulumi.Resource.isInstance(r) ? declared.get(r)?.name : undefined))
        .filter((n): n is string => n !== undefined);
      if (dependsOn.length || args.opts.retainOnDelete) {
        resourceOptions.set(key(args.type, args.name), { ...(dependsOn.length ? { dependsOn } : {}), ...(args.opts.retainOnDelete ? { retainOnDelete: true } : {}) });
      }
      if (options.referencesFor?.(args.type)) referencesOf.set(key(args.type, args.name), inputReferences(args.props, declared));
      return withoutApiVersionAliases(args);
    });
    try {
      exported = evaluateProgram();
    } catch (err) {
      programError = err;
    }
    return {};
  });

  const outputs: Record<string, ExportedOutput> = {};
  if (programError === undefined) {
    for (const name of Object.keys(exported)) {
      const output = pulumi.output(exported[name] as pulumi.Input<unknown>);
      outputs[name] = {
        value: await (output as unknown as OutputInternals).promise(true),
        secret: await pulumi.isSecret(output),
      };
    }
  }
  await pulumi.runtime.disconnect(); // drains the queue of resource operations
  if (programError !== undefined) {
    const error = programError instanceof Error ? programError : new Error(String(programError));
    throw Object.assign(error, { declaredResources: resources.filter((r) => r.type !== STACK_TYPE).length });
  }
  return { resources, outputs };
}

/** The SDK's promise bookkeeping (internal to the SDK: @pulumi/pulumi/runtime/debuggable). */
interface DebuggableModule {
  debugPromiseLeaks: boolean;
  debuggablePromise<T>(promise: Promise<T>, context: unknown): Promise<T>;
}

/** Where a resource's constructor reads the program's stack (a private static of the SDK's Resource). */
interface ResourceCallsites {
  callsites(): unknown[];
}

/**
 * Runs `work` without the stack traces the SDK takes for the engine's diagnostics, and puts them
 * back afterwards. Together they were a third of a run:
 * - `debuggablePromise` wraps each of the SDK's promises (several per resource) in two more and
 *   takes a stack trace for each, for the leak report it prints when the process exits. Under the
 *   harness that report covers only the last run (each run gets a fresh store) and a run ends when
 *   `disconnect()` has drained the SDK's operations, so during a run the promise is used as it is,
 *   unless PULUMI_DEBUG_PROMISE_LEAKS asks for the report's detail.
 * - `Resource.callsites` takes a stack trace of unlimited depth per resource, for the source
 *   position the SDK sends the engine; the mocks ignore it and no plan shows it.
 */
async function withoutSdkStackTraces<T>(work: () => Promise<T>): Promise<T> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const debuggable = require("@pulumi/pulumi/runtime/debuggable") as Partial<DebuggableModule>;
  const resource = pulumi.Resource as unknown as Partial<ResourceCallsites>;
  const { debuggablePromise } = debuggable;
  const { callsites } = resource;
  if (typeof debuggablePromise !== "function" || typeof callsites !== "function") {
    throw new Error("@pulumi/pulumi has no runtime/debuggable debuggablePromise or Resource.callsites: this SDK version takes its stack traces elsewhere (plan/harness.ts)");
  }
  if (!debuggable.debugPromiseLeaks) debuggable.debuggablePromise = <P>(promise: Promise<P>): Promise<P> => promise;
  resource.callsites = () => [];
  try {
    return await work();
  } finally {
    debuggable.debuggablePromise = debuggablePromise;
    resource.callsites = callsites;
  }
}

/** What `__provider` holds when serialization is skipped (see skipProviderSerialization). */
export const PROVIDER_NOT_SERIALIZED = "[dynamic provider not serialized in this process: tests/providers/*serialization* test the real text]";

/** The SDK's closure serializer, as `pulumi.dynamic.Resource` calls it for its provider. */
type SerializeFunction = (func: () => unknown, args?: { allowSecrets?: boolean }) => Promise<{ text: string; exportName: string; containsSecrets: boolean }>;
interface ClosureModule {
  serializeFunction: SerializeFunction;
}

/**
 * Makes dynamic resources in this process carry a placeholder instead of their provider's
 * serialized text. Serializing walks every captured function through the inspector and parses it
 * with TypeScript: about a second per provider, and the unit tests of the program do not read the
 * text. The serialization tests (tests/providers/*serialization*) serialize the real providers, and
 * the offline plan does it beside its runs (plan/provider-serialization.ts). Process-wide, because
 * the SDK caches a provider's text per process.
 *
 * Returns the providers the program asked to serialize since, and the SDK's own serializer.
 */
export function skipProviderSerialization(): { requested: Set<object>; serialize: SerializeFunction } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const closure = require("@pulumi/pulumi/runtime/closure/serializeClosure") as ClosureModule;
  const serialize = closure.serializeFunction;
  const requested = new Set<object>();
  closure.serializeFunction = async (func) => {
    const provider = func(); // the SDK passes `() => provider`
    if (typeof provider === "object" && provider !== null) requested.add(provider);
    return { text: PROVIDER_NOT_SERIALIZED, exportName: "handler", containsSecrets: false };
  };
  return { requested, serialize };
}

/**
 * A run allocates 40-50 MB, much of it alive until the run ends (Outputs, promises,
 * registrations): a young-generation collection in the middle of a run copies all of that. A
 * process that gives the young generation room for a whole run (--min/--max-semi-space-size) and
 * exposes `gc` (--expose-gc), as the program server does, collects it between runs instead, when
 * almost everything in it is garbage.
 */
function collectYoungGeneration(): void {
  globalThis.gc?.({ type: "minor" });
}

let queue: Promise<unknown> = Promise.resolve();

/** Runs index.ts for `stack` under `options.mocks`; rejects with a ProgramError when the program throws. */
export function runProgramUnderMocks(stack: string, options: HarnessOptions): Promise<HarnessRun> {
  const run = queue.then(() => {
    collectYoungGeneration();
    return withoutSdkStackTraces(() => runOnce(stack, options));
  });
  queue = run.catch(() => undefined);
  return run;
}
