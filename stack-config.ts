/**
 * Reads Pulumi.yaml and a stack's Pulumi.<stack>.yaml the way the Pulumi CLI does before it starts
 * the program (ValidateStackConfigAndApplyProjectConfig): declared types are enforced, keys declared
 * `secret: true` must be encrypted, declared keys without a default must be set, defaults are
 * applied, and values reach the program as strings (lists and numbers as JSON text).
 */
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";

export const ROOT = __dirname;
/**
 * Where the Pulumi.<stack>.yaml files are read from: next to Pulumi.yaml, unless IOM_STACK_FILES_DIR
 * names another folder (a test runs `npm run plan` over copies of the stack files plus one more).
 */
export const STACK_FILES_DIR = process.env.IOM_STACK_FILES_DIR ? path.resolve(process.env.IOM_STACK_FILES_DIR) : ROOT;

/** The stacks of this project: one per Pulumi.<stack>.yaml next to Pulumi.yaml, sorted. */
export function listStacks(): string[] {
  return fs.readdirSync(STACK_FILES_DIR)
    .map((f) => /^Pulumi\.([a-z0-9-]+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

export interface DeclaredKey {
  type: "string" | "integer" | "boolean" | "array";
  description?: string;
  secret?: boolean;
  default?: unknown;
  items?: { type: string };
}

export interface ProjectFile {
  name: string;
  config: Record<string, DeclaredKey>;
}

let parsedProject: { text: string; project: ProjectFile } | undefined;

/** Pulumi.yaml, parsed once per content (a plan of every stack reads it many times). */
export function loadProject(): ProjectFile {
  const text = fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8");
  if (parsedProject?.text !== text) parsedProject = { text, project: parse(text) as ProjectFile };
  return structuredClone(parsedProject.project);
}

export function loadStackFile(stack: string): Record<string, unknown> {
  const doc = parse(fs.readFileSync(path.join(STACK_FILES_DIR, `Pulumi.${stack}.yaml`), "utf8")) as { config?: Record<string, unknown> } | null;
  return doc?.config ?? {};
}

/** Changes a test makes to a stack's config, as `pulumi config set [--secret]` / `rm` would. */
export interface ConfigChanges {
  /**
   * Inside a structured value, `{ secure: "<plain text>" }` is a leaf set with
   * `pulumi config set --secret --path`: as the CLI does, the whole key then reaches the program as
   * one decrypted secret value.
   */
  set?: Record<string, unknown>;
  /** Set as secrets (in a real stack these are `secure:` values the CLI decrypts). */
  secrets?: Record<string, string>;
  remove?: string[];
}

export interface ResolvedConfig {
  /** Fully qualified keys (`project:key`) to string values, as `pulumi.runtime.setAllConfig` takes them. */
  config: Record<string, string>;
  secretKeys: string[];
}

function typeOf(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (typeof value === "number" && Number.isInteger(value)) return "integer";
  return typeof value;
}

/** A `{ secure: ... }` leaf: how Pulumi.<stack>.yaml holds a value encrypted with --secret. */
function isSecureLeaf(value: unknown): value is { secure: unknown } {
  return typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 1 && "secure" in value;
}

/** A value with its `{ secure }` leaves replaced by what they hold, and whether it had any (the CLI then marks the key secret). */
function revealSecureLeaves(value: unknown): { value: unknown; secure: boolean } {
  if (isSecureLeaf(value)) return { value: value.secure, secure: true };
  if (Array.isArray(value)) {
    const items = value.map(revealSecureLeaves);
    return { value: items.map((i) => i.value), secure: items.some((i) => i.secure) };
  }
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).map(([k, v]) => [k, revealSecureLeaves(v)] as const);
    return { value: Object.fromEntries(entries.map(([k, v]) => [k, v.value])), secure: entries.some(([, v]) => v.secure) };
  }
  return { value, secure: false };
}

function toConfigString(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Resolves a stack's configuration; throws the CLI's own kind of error when the CLI would refuse to run. */
export function resolveStackConfig(stack: string, changes: ConfigChanges = {}): ResolvedConfig {
  const project = loadProject();
  const prefix = `${project.name}:`;
  const entries = new Map<string, { value: unknown; secure: boolean }>();
  for (const [rawKey, value] of Object.entries(loadStackFile(stack))) {
    const key = rawKey.startsWith(prefix) ? rawKey.slice(prefix.length) : rawKey;
    // A removed key is never read, so an encrypted value is no obstacle (the doctor removes them and supplies secrets itself).
    if (changes.remove?.includes(key)) continue;
    if (revealSecureLeaves(value).secure) throw new Error(`Pulumi.${stack}.yaml holds an encrypted value for '${key}'; tests cannot decrypt it`);
    entries.set(key, { value, secure: false });
  }
  for (const key of changes.remove ?? []) entries.delete(key);
  for (const [key, value] of Object.entries(changes.set ?? {})) entries.set(key, revealSecureLeaves(value));
  for (const [key, value] of Object.entries(changes.secrets ?? {})) entries.set(key, { value, secure: true });

  const errors: string[] = [];
  const missing: string[] = [];
  for (const [key, decl] of Object.entries(project.config)) {
    const entry = entries.get(key);
    if (!entry) {
      if (decl.default === undefined) missing.push(key);
      else if (decl.secret) errors.push(`Stack '${stack}' with configuration key '${key}' must be encrypted as it's secret`); // its default is plain text
      else entries.set(key, { value: decl.default, secure: false });
      continue;
    }
    if (decl.secret && !entry.secure) errors.push(`Stack '${stack}' with configuration key '${key}' must be encrypted as it's secret`);
    const actual = typeOf(entry.value);
    // The CLI reads YAML scalars loosely: a string that parses as the declared type is accepted.
    const looselyOk = typeof entry.value === "string" && (decl.type === "integer" ? /^-?\d+$/.test(entry.value) : decl.type === "boolean" ? /^(true|false)$/.test(entry.value) : false);
    if (actual !== decl.type && !looselyOk) errors.push(`Stack '${stack}' with configuration key '${key}' must be of type '${decl.type}'`);
  }
  if (missing.length > 0) errors.push(`Stack '${stack}' is missing configuration value${missing.length > 1 ? "s" : ""} ${missing.map((k) => `'${k}'`).join(", ")}`);
  if (errors.length > 0) throw new Error(errors.join("\n"));

  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, entry] of entries) {
    config[`${prefix}${key}`] = toConfigString(entry.value);
    if (entry.secure) secretKeys.push(`${prefix}${key}`);
  }
  return { config, secretKeys };
}

/** The same configuration as `parseStackConfig` takes: keys without the project prefix, and which are secret. */
export function rawStackConfig(stack: string, changes: ConfigChanges = {}): { raw: Record<string, string>; secretKeys: Set<string> } {
  return withoutProjectPrefix(resolveStackConfig(stack, changes));
}

/** A resolved configuration in `parseStackConfig`'s form. */
export function withoutProjectPrefix({ config, secretKeys }: ResolvedConfig): { raw: Record<string, string>; secretKeys: Set<string> } {
  const prefix = `${loadProject().name}:`;
  const unprefixed = (k: string) => (k.startsWith(prefix) ? k.slice(prefix.length) : k);
  return {
    raw: Object.fromEntries(Object.entries(config).map(([k, v]) => [unprefixed(k), v])),
    secretKeys: new Set(secretKeys.map(unprefixed)),
  };
}
