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
 * - each default provider's outcome and text are kept in node_modules/.cache, one entry per provider
 *   and content, with the hash of every project file its provider.ts imports (directly or not), of
 *   scripts/swc-register.js (the transpiler), package-lock.json, tsconfig.json and the Node version,
 *   and reused while none of them changes (as `eslint --cache` does); a change to one provider
 *   serializes that one again, `npm ci` all of them. The program server
 *   (tests/support/program-server.ts) reads and writes the same entries for the tests' texts;
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
const CACHE_DIR = path.join(ROOT, "node_modules", ".cache", "iom-plan", "provider-serialization");
/** Files every serialization depends on besides the provider's own imports. */
const SHARED_DEPENDENCIES = ["package-lock.json", "tsconfig.json", path.join("scripts", "swc-register.js")];

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

/** A serialized provider: the text `__provider` holds. */
export interface SerializedText {
  text: string;
  containsSecrets: boolean;
}

/** One default provider's clean serialization (no problem, no secret), cached. */
export interface CacheEntry {
  node: string;
  provider: string;
  /** Every default provider its file exported then: a provider added to the file since is not cached. */
  exportsOfFile: string[];
  /** Project-relative path → sha256 of its content, for every file the serialization depends on. */
  files: Record<string, string>;
  text: string;
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

/** The outcome of a serialization, with the text when it is clean. */
async function judge(provider: string, serialized: Promise<SerializedText>): Promise<{ result: SerializationResult; cleanText?: string }> {
  try {
    const { text, containsSecrets } = await serialized;
    return containsSecrets ? { result: { provider, problem: "its serialized code captures a secret, which would be stored in every resource's state" } } : { result: { provider }, cleanText: text };
  } catch (err) {
    return { result: { provider, problem: err instanceof Error ? err.message : String(err) } };
  }
}

function sha256(file: string): string | undefined {
  try {
    return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
  } catch {
    return undefined; // deleted since: the entry no longer holds
  }
}

/** The cache's entries by file name; one being written by another process, or damaged, is as if absent. */
function readEntries(cacheDir: string): [string, CacheEntry][] {
  let names: string[];
  try {
    names = fs.readdirSync(cacheDir).filter((name) => name.endsWith(".json"));
  } catch {
    return [];
  }
  return names.flatMap((name): [string, CacheEntry][] => {
    try {
      return [[name, JSON.parse(fs.readFileSync(path.join(cacheDir, name), "utf8")) as CacheEntry]];
    } catch {
      return [];
    }
  });
}

/** Whether every file `entry` depends on is as it was, under this Node version. */
function holds(entry: CacheEntry): boolean {
  return entry.node === process.version && Object.entries(entry.files).every(([file, hash]) => sha256(path.join(ROOT, file)) === hash);
}

/** The cached serialization of `provider` (`dynamic-providers/<system>/provider.ts#<export>`), if nothing it depends on changed. */
export function cachedSerialization(provider: string, cacheDir = CACHE_DIR): CacheEntry | undefined {
  return readEntries(cacheDir).map(([, entry]) => entry).find((entry) => entry.provider === provider && holds(entry));
}

/** Every default provider's result from the cache, or undefined when one of them is not there. */
export function cachedResults(cacheDir = CACHE_DIR): SerializationResult[] | undefined {
  const valid = readEntries(cacheDir).map(([, entry]) => entry).filter(holds);
  const results: SerializationResult[] = [];
  for (const file of defaultProviderFiles()) {
    const ofFile = valid.filter((entry) => entry.provider.startsWith(`${file}#`));
    if (ofFile.length === 0) return undefined;
    for (const name of ofFile[0].exportsOfFile) {
      const entry = ofFile.find((e) => e.provider === `${file}#${name}`);
      if (!entry) return undefined;
      results.push({ provider: entry.provider });
    }
  }
  return results;
}

/**
 * The project files (absolute) the module `file` imports, directly or through others, itself
 * included; undefined when this process has not loaded it.
 */
export function importedProjectFiles(file: string): string[] | undefined {
  const seen = new Set<string>();
  const visit = (module: NodeJS.Module | undefined): boolean => {
    if (!module) return false;
    if (seen.has(module.filename) || !module.filename.startsWith(ROOT + path.sep) || module.filename.includes(`${path.sep}node_modules${path.sep}`)) return true;
    seen.add(module.filename);
    for (const child of module.children) visit(child);
    return true;
  };
  return visit(require.cache[file]) ? [...seen].sort() : undefined;
}

/** Entries kept per provider: the repository's and a few others (the recipe test's copy, a branch switched back and forth). */
const ENTRIES_PER_PROVIDER = 4;

/**
 * Records a default provider's clean text with the files (absolute paths under the project) it
 * depends on, under a name made of that content, so processes writing at once do not collide;
 * beyond the newest few entries of that provider, older ones go.
 */
export function cacheSerialization(entry: Omit<CacheEntry, "node" | "files">, dependencies: string[], cacheDir = CACHE_DIR): void {
  const files: Record<string, string> = {};
  for (const file of [...dependencies, ...SHARED_DEPENDENCIES.map((f) => path.join(ROOT, f))].sort()) {
    const hash = sha256(file);
    if (hash === undefined) return;
    files[path.relative(ROOT, file)] = hash;
  }
  const full: CacheEntry = { node: process.version, ...entry, files };
  const text = `${JSON.stringify(full)}\n`;
  const name = `${createHash("sha256").update(`${full.provider}\n${JSON.stringify(files)}\n${full.node}`).digest("hex").slice(0, 32)}.json`;
  try {
    fs.mkdirSync(cacheDir, { recursive: true });
    const temporary = path.join(cacheDir, `${name}.${process.pid}.tmp`);
    fs.writeFileSync(temporary, text);
    fs.renameSync(temporary, path.join(cacheDir, name));
    const older = readEntries(cacheDir).filter(([other, old]) => other !== name && old.provider === full.provider)
      .map(([other]) => ({ other, time: fs.statSync(path.join(cacheDir, other)).mtimeMs })).sort((x, y) => y.time - x.time);
    for (const { other } of older.slice(ENTRIES_PER_PROVIDER - 1)) fs.rmSync(path.join(cacheDir, other), { force: true });
  } catch {
    // A read-only checkout only loses the reuse: the next plan serializes again.
  }
}

/** The SDK's serializer, unless this process skips serializing (plan/harness.ts hands the real one out then). */
type Serialize = (func: () => unknown, args: { allowSecrets: boolean }) => Promise<{ text: string; containsSecrets: boolean }>;
function sdkSerializer(): Serialize {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require("@pulumi/pulumi/runtime/closure/serializeClosure") as { serializeFunction: Serialize }).serializeFunction;
}

/** Caches a default provider's clean text, with the files its provider.ts imports (when this process loaded it with Node's loader). */
function cacheClean(name: string, defaults: Map<object, string>, text: string): void {
  const file = name.slice(0, name.indexOf("#"));
  const dependencies = importedProjectFiles(path.join(ROOT, file));
  if (!dependencies) return;
  const exportsOfFile = [...defaults.values()].filter((n) => n.startsWith(`${file}#`)).map((n) => n.slice(n.indexOf("#") + 1));
  cacheSerialization({ provider: name, exportsOfFile, text }, dependencies);
}

/**
 * The text `pulumi.dynamic.Resource` stores in `__provider` for a default provider, by its export
 * name (`iomMappingSetDynamicProvider`): what the serialization tests, the host tests and the mappings
 * benchmark load and run. From the cache while nothing it depends on changed.
 */
export async function serializeDefaultProvider(exportName: string, serialize: Serialize = sdkSerializer()): Promise<SerializedText> {
  const defaults = defaultProviders();
  const found = [...defaults].find(([, name]) => name.endsWith(`#${exportName}`));
  if (!found) throw new Error(`no default provider named ${exportName} in dynamic-providers/*/provider.ts (known: ${[...defaults.values()].join(", ")})`);
  const [provider, name] = found;
  const cached = cachedSerialization(name);
  if (cached) return { text: cached.text, containsSecrets: false };
  const serialized = await serialize(() => provider, { allowSecrets: true });
  if (!serialized.containsSecrets) cacheClean(name, defaults, serialized.text);
  return serialized;
}

/** Serializes each provider (object → the name a problem is reported under) as `pulumi.dynamic.Resource` does. */
export async function serializeEach(providers: Map<object, string>, serialize: Serialize = sdkSerializer()): Promise<SerializationResult[]> {
  const results: SerializationResult[] = [];
  for (const [provider, name] of providers) results.push((await judge(name, serialize(() => provider, { allowSecrets: true }))).result);
  return results;
}

/** The child's work: every default provider, from the cache or serialized (and then cached when clean). */
async function serializeDefaults(): Promise<SerializationResult[]> {
  const defaults = defaultProviders();
  const serialize = sdkSerializer();
  const results: SerializationResult[] = [];
  for (const [provider, name] of defaults) {
    if (cachedSerialization(name)) {
      results.push({ provider: name });
      continue;
    }
    const { result, cleanText } = await judge(name, serialize(() => provider, { allowSecrets: true }));
    if (cleanText !== undefined) cacheClean(name, defaults, cleanText);
    results.push(result);
  }
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
