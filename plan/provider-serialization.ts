/**
 * The offline plan's check that every dynamic provider the program uses serializes, as `pulumi
 * preview` serializes it into `__provider` (a provider that captures something unserializable, or a
 * secret, fails there and nowhere else).
 *
 * Serializing is most of a plan's CPU (the SDK walks each captured function through the inspector),
 * so:
 * - the default providers (`<resource>Provider` in dynamic-providers/<system>/provider.ts, the
 *   convention of dynamic-providers/README.md) are serialized by a child process on the other core
 *   while the plan runs the stacks;
 * - a clean result is kept in node_modules/.cache with the hash of every project file the child
 *   loaded, of package-lock.json, tsconfig.json and the Node version, and reused while none of them changes
 *   (as `eslint --cache` does); `npm ci` or any change to those files checks again;
 * - a provider the program uses that is not one of the defaults is serialized in the plan's own
 *   process, so none is left out.
 */
import { spawn } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { skipProviderSerialization as SkipProviderSerialization } from "./harness";
import { ROOT } from "../stack-config";

const PROVIDERS_DIR = path.join(ROOT, "dynamic-providers");
const CACHE_FILE = path.join(ROOT, "node_modules", ".cache", "iom-plan", "provider-serialization.json");

/** One provider's outcome, named `dynamic-providers/<system>/provider.ts#<export>`. */
export interface SerializationResult {
  provider: string;
  /** Why it cannot be serialized; absent when it can. */
  problem?: string;
}

export interface SerializationCheck {
  results: SerializationResult[];
  /** Whether the results come from the cache (nothing they depend on changed since). */
  cached: boolean;
}

interface CacheEntry {
  node: string;
  /** The default providers' files when the results were taken: a provider added since is not in them. */
  providerFiles?: string[];
  /** Project-relative path → sha256 of its content, for every file the result depends on. */
  files: Record<string, string>;
  results: SerializationResult[];
}

interface SerializedText {
  containsSecrets: boolean;
}

/** Project-relative paths of the files default providers come from, without loading them. */
function defaultProviderFiles(): string[] {
  return fs.readdirSync(PROVIDERS_DIR).sort()
    .filter((system) => fs.existsSync(path.join(PROVIDERS_DIR, system, "provider.ts")))
    .map((system) => `dynamic-providers/${system}/provider.ts`);
}

/** The default providers, by object, with the name a problem is reported under. */
export function defaultProviders(): Map<object, string> {
  const found = new Map<object, string>();
  for (const system of fs.readdirSync(PROVIDERS_DIR).sort()) {
    const file = path.join(PROVIDERS_DIR, system, "provider.ts");
    if (!fs.existsSync(file)) continue;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const exports = require(file) as Record<string, unknown>;
    for (const [name, value] of Object.entries(exports)) {
      const isProvider = name.endsWith("Provider") && typeof value === "object" && value !== null && typeof (value as { create?: unknown }).create === "function";
      if (isProvider) found.set(value, `dynamic-providers/${system}/provider.ts#${name}`);
    }
  }
  return found;
}

async function judge(provider: string, serialized: Promise<SerializedText>): Promise<SerializationResult> {
  try {
    const { containsSecrets } = await serialized;
    return containsSecrets ? { provider, problem: "its serialized code captures a secret, which would be stored in every resource's state" } : { provider };
  } catch (err) {
    return { provider, problem: err instanceof Error ? err.message : String(err) };
  }
}

function sha256(file: string): string | undefined {
  try {
    return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
  } catch {
    return undefined; // deleted since: the entry no longer holds
  }
}

/** The results cached in `cacheFile`, if every file they depend on is unchanged. */
export function cachedResults(cacheFile = CACHE_FILE): SerializationResult[] | undefined {
  let entry: CacheEntry;
  try {
    entry = JSON.parse(fs.readFileSync(cacheFile, "utf8")) as CacheEntry;
  } catch {
    return undefined;
  }
  if (entry.node !== process.version) return undefined;
  if (JSON.stringify(entry.providerFiles) !== JSON.stringify(defaultProviderFiles())) return undefined;
  const unchanged = Object.entries(entry.files).every(([file, hash]) => sha256(path.join(ROOT, file)) === hash);
  return unchanged ? entry.results : undefined;
}

/** The project files this process has loaded, the ones a serialized provider can come from. */
function loadedProjectFiles(): string[] {
  return Object.keys(require.cache).filter((f) => f.startsWith(ROOT + path.sep) && !f.includes(`${path.sep}node_modules${path.sep}`));
}

/** Records results with the files (absolute paths under the project) they depend on. */
export function cacheResults(results: SerializationResult[], dependencies: string[], cacheFile = CACHE_FILE): void {
  const files: Record<string, string> = {};
  for (const file of [...dependencies, path.join(ROOT, "package-lock.json"), path.join(ROOT, "tsconfig.json")].sort()) {
    const hash = sha256(file);
    if (hash === undefined) return;
    files[path.relative(ROOT, file)] = hash;
  }
  const entry: CacheEntry = { node: process.version, providerFiles: defaultProviderFiles(), files, results };
  try {
    fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
    fs.writeFileSync(cacheFile, `${JSON.stringify(entry, null, 2)}\n`);
  } catch {
    // A read-only checkout only loses the reuse: the next plan checks again.
  }
}

/** The SDK's serializer, unless this process skips serializing (plan/harness.ts hands the real one out then). */
type Serialize = (func: () => unknown, args: { allowSecrets: boolean }) => Promise<{ text: string; containsSecrets: boolean }>;
function sdkSerializer(): Serialize {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require("@pulumi/pulumi/runtime/closure/serializeClosure") as { serializeFunction: Serialize }).serializeFunction;
}

/**
 * The text `pulumi.dynamic.Resource` stores in `__provider` for a default provider, by its export
 * name (`iomMappingSetDynamicProvider`): what the serialization tests, the host tests and the mappings
 * benchmark load and run.
 */
export async function serializeDefaultProvider(exportName: string, serialize: Serialize = sdkSerializer()): Promise<{ text: string; containsSecrets: boolean }> {
  const found = [...defaultProviders()].find(([, name]) => name.endsWith(`#${exportName}`));
  if (!found) throw new Error(`no default provider named ${exportName} in dynamic-providers/*/provider.ts (known: ${[...defaultProviders().values()].join(", ")})`);
  const provider = found[0];
  return serialize(() => provider, { allowSecrets: true });
}

/** Serializes each provider (object → the name a problem is reported under) as `pulumi.dynamic.Resource` does. */
export async function serializeEach(providers: Map<object, string>, serialize: Serialize = sdkSerializer()): Promise<SerializationResult[]> {
  const results: SerializationResult[] = [];
  for (const [provider, name] of providers) results.push(await judge(name, serialize(() => provider, { allowSecrets: true })));
  return results;
}

/** The child's work: every default provider, cached when all serialize. */
async function serializeDefaults(): Promise<SerializationResult[]> {
  const results = await serializeEach(defaultProviders());
  if (results.every((r) => r.problem === undefined)) cacheResults(results, loadedProjectFiles());
  return results;
}

/** Runs serializeDefaults in a child process started the way `npm run plan` starts (scripts/swc-register.js). */
function serializeDefaultsInChild(): { results: Promise<SerializationResult[]>; stop(): void } {
  let stop = () => {};
  const results = new Promise<SerializationResult[]>((resolve) => {
    const child = spawn(process.execPath, ["-r", path.join(ROOT, "scripts", "swc-register.js"), __filename], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on("data", (chunk: Buffer) => { stderr += chunk.toString(); });
    const failed = (why: string): SerializationResult[] => [{ provider: "dynamic-providers/*/provider.ts", problem: `the serialization check could not run: ${why}` }];
    child.on("error", (err) => resolve(failed(err.message)));
    stop = () => child.kill();
    child.on("close", (code) => {
      try {
        resolve(code === 0 ? (JSON.parse(stdout) as SerializationResult[]) : failed(`exit ${code}: ${stderr.trim().split("\n").slice(-5).join("\n")}`));
      } catch {
        resolve(failed(`unreadable answer: ${stdout.slice(0, 200)}`));
      }
    });
  });
  return { results, stop: () => stop() };
}

/**
 * Starts the check, before the runs load the SDK: from now on this process skips serializing, and
 * the default providers' results come from the cache or a child. `finish()`, after the runs, adds
 * the providers the runs used that are not defaults (serialized here); `stop()` ends the child
 * when the runs failed.
 */
export function startProviderSerializationCheck(): { finish(): Promise<SerializationCheck>; stop(): void } {
  const cached = cachedResults();
  const child = cached ? { results: Promise.resolve(cached), stop: () => {} } : serializeDefaultsInChild();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { skipProviderSerialization } = require("./harness") as { skipProviderSerialization: typeof SkipProviderSerialization };
  const { requested, serialize } = skipProviderSerialization();
  return {
    async finish() {
      const defaults = defaultProviders();
      const others = [...requested].filter((provider) => !defaults.has(provider));
      const own = await serializeEach(new Map(others.map((provider, i) => [provider, `a provider the program built itself (#${i + 1})`])), serialize);
      return { results: [...(await child.results), ...own], cached: cached !== undefined };
    },
    stop: child.stop,
  };
}

if (require.main === module) {
  serializeDefaults().then(
    (results) => process.stdout.write(JSON.stringify(results)),
    (err: Error) => {
      console.error(err.stack ?? err.message);
      process.exitCode = 1;
    },
  );
}
