/**
 * The unit tests' view of a program run: every resource the program declares with made-up ids,
 * and every stack output it exports; and the offline plan of a stack. Runs happen in the program
 * server (tests/support/program-server.ts, started by Jest's globalSetup), which runs index.ts
 * through the one harness (plan/harness.ts) with the mocks of tests/support/program-runs.ts.
 */
import * as fs from "fs";
import * as http from "http";
import { isBuiltin } from "module";
import * as path from "path";
import type { StackPlan } from "../../plan/capture";
import { ROTATION_CLOCK_ENV } from "../../rotation";
import { PROGRAM_SERVER_ENV } from "./global-setup";
import type { ConfigChanges } from "./stack";

export const SUBSCRIPTION_ID = "11111111-2222-3333-4444-555555555555";
export const TENANT_ID = "99999999-8888-7777-6666-555555555555";
/** The mocked random suffix every globally unique name gets. */
export const MOCK_SUFFIX = "x7k2q";

export interface MockedResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  id: string;
  /** Logical names of the resources its `dependsOn` option names. */
  dependsOn?: string[];
  /** Its `retainOnDelete` option. */
  retainOnDelete?: boolean;
}

/** A run as the server sends it. */
export interface ProgramRunData {
  resources: MockedResource[];
  outputs: Record<string, unknown>;
  secretOutputs: string[];
  /** Plain-text values of every generated secret (random passwords) seen during the run. */
  generatedSecrets: string[];
}

export interface ProgramRun extends ProgramRunData {
  ofType(type: string): MockedResource[];
  /** The single resource of `type` whose logical name ends with `suffix`; throws otherwise. */
  one(type: string, suffix?: string): MockedResource;
}

export type ProgramRequest =
  | {
    /** `run`: the program with made-up ids (not a preview); `plan`: the offline plan (a preview). */
    kind: "run" | "plan";
    stack: string;
    changes: ConfigChanges;
    /** The rotation clock (rotation.ts) the run sees; unset means the real date. */
    rotationClock?: string;
    /** Run again even if the server has answered the same request before. */
    fresh?: boolean;
  }
  /** The `__provider` text of a default provider, by export name (plan/provider-serialization.ts). */
  | { kind: "serialize"; provider: string; fresh?: undefined };

/** A default provider's `__provider` text, as `pulumi.dynamic.Resource` serializes it. */
export interface SerializedProvider {
  text: string;
  containsSecrets: boolean;
}

/**
 * JSON has no `undefined`: a property the program sets to undefined (an output not known in a
 * mocked run, say) travels as this marker, so the test still sees the key.
 */
export const UNDEFINED_MARKER = "[undefined: tests/support/program.ts]";

/** Puts back the properties the server marked as undefined. */
function restoreUndefined(value: unknown): unknown {
  if (value === UNDEFINED_MARKER) return undefined;
  if (Array.isArray(value)) return value.map(restoreUndefined);
  if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) (value as Record<string, unknown>)[k] = restoreUndefined(v);
  }
  return value;
}

export type ProgramAnswer =
  | { result: ProgramRunData | StackPlan | SerializedProvider; error?: undefined }
  | { error: { message: string; declaredResources?: number } };

/**
 * How the SDK marks a secret value it sends the engine (the mocks see it so): `{ [SECRET_SIG_KEY]:
 * SECRET_SIG, value }`, the SDK's `specialSigKey` and `specialSecretSig` (@pulumi/pulumi/runtime/rpc),
 * constants of the engine's protocol. Written out because importing them loads the SDK's gRPC
 * runtime in every test file that reads a run; tests/unit/variations.test.ts holds them equal.
 */
export const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export function isSecretValue(value: unknown): value is { value: unknown } {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG;
}

/** Unwraps secret markers, for asserting on a secret input's content. */
export function reveal(value: unknown): unknown {
  if (isSecretValue(value)) return reveal(value.value);
  if (Array.isArray(value)) return value.map(reveal);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reveal(v)]));
  }
  return value;
}

/** Paths of plain (unmarked) strings in `value` that contain any of `needles`. */
export function plainOccurrences(value: unknown, needles: string[], at = "$"): string[] {
  if (isSecretValue(value)) return [];
  if (typeof value === "string") return needles.some((n) => n && value.includes(n)) ? [at] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => plainOccurrences(v, needles, `${at}[${i}]`));
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => plainOccurrences(v, needles, `${at}.${k}`));
  }
  return [];
}

function ask(request: ProgramRequest): Promise<ProgramRunData | StackPlan | SerializedProvider> {
  const address = process.env[PROGRAM_SERVER_ENV];
  if (!address) {
    return Promise.reject(new Error(`${PROGRAM_SERVER_ENV} is not set: the program server is started by Jest's globalSetup (tests/support/global-setup.ts); run the tests with jest`));
  }
  const body = JSON.stringify(request.kind === "serialize" ? request : { ...request, rotationClock: process.env[ROTATION_CLOCK_ENV] });
  return new Promise((resolve, reject) => {
    const req = http.request(address, { method: "POST", agent: false, headers: { "content-type": "application/json" } }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => { text += chunk.toString(); });
      res.on("end", () => {
        if (res.statusCode !== 200) return reject(new Error(`program server answered ${res.statusCode}: ${text}`));
        const answer = restoreUndefined(JSON.parse(text)) as ProgramAnswer;
        if (answer.error === undefined) return resolve(answer.result);
        // A ProgramError, as the harness throws it: the program's message and how far it got.
        reject(Object.assign(new Error(answer.error.message), { declaredResources: answer.error.declaredResources }));
      });
    });
    req.on("error", (err) => reject(new Error(`program server at ${address}: ${err.message}`)));
    req.end(body);
  });
}

/**
 * Runs index.ts for `stack` (with `changes` to its committed config), with the rotation clock of
 * this process's environment. Not a preview: a mocked preview leaves outputs unknown, and the
 * engine-side preview is not what these tests check (the offline plan is). Rejects with the
 * program's error and `declaredResources` when the program throws.
 */
export async function runProgram(stack: string, changes: ConfigChanges = {}): Promise<ProgramRun> {
  const run = (await ask({ kind: "run", stack, changes })) as ProgramRunData;
  return {
    ...run,
    ofType: (type) => run.resources.filter((r) => r.type === type),
    one(type, suffix) {
      const matches = run.resources.filter((r) => r.type === type && (suffix === undefined || r.name.endsWith(suffix)));
      if (matches.length !== 1) {
        throw new Error(`expected one ${type}${suffix ? ` named *${suffix}` : ""}, found ${matches.map((m) => m.name).join(", ") || "none"}`);
      }
      return matches[0];
    },
  };
}

/** The offline plan of `stack` with `changes`, as `npm run plan` captures it (plan/capture.ts). */
export async function capturePlan(stack: string, changes: ConfigChanges = {}, options: { fresh?: boolean } = {}): Promise<StackPlan> {
  return (await ask({ kind: "plan", stack, changes, fresh: options.fresh })) as StackPlan;
}

/**
 * Modules a serialized provider's text requires by a literal name that the dynamic-provider host
 * could not resolve: neither Node's own nor one of package.json's `dependencies` (a deployment
 * installs those alone, `npm ci --omit=dev`).
 */
export function unresolvableRequires(text: string): string[] {
  const runtime = Object.keys((JSON.parse(fs.readFileSync(path.join(__dirname, "../../package.json"), "utf8")) as { dependencies: Record<string, string> }).dependencies);
  const names = [...text.matchAll(/require\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]);
  const packageOf = (name: string) => name.split("/").slice(0, name.startsWith("@") ? 2 : 1).join("/");
  return [...new Set(names)].filter((name) => !isBuiltin(name) && !runtime.includes(packageOf(name)));
}

/**
 * The `__provider` text of a default provider (`iomMappingSetDynamicProvider`, ...), serialized once per
 * Jest run by the program server, the process that has loaded the program as `pulumi up` has.
 */
export async function serializedProvider(exportName: string): Promise<SerializedProvider> {
  return (await ask({ kind: "serialize", provider: exportName })) as SerializedProvider;
}
