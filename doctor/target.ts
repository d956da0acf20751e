/**
 * What the doctor checks, resolved before any remote call: the stack's validated configuration
 * (config/, the same view `pulumi up` has), its outputs, and the few secrets a check needs.
 *
 * - Configuration: Pulumi.yaml and Pulumi.<stack>.yaml, read the way the offline plan reads them
 *   (stack-config.ts). Encrypted values are left out of the file reading; the one secret a
 *   check needs, each BigCommerce store's token, comes from the environment
 *   (BIGCOMMERCE_ACCESS_TOKEN_<STORE>, or BIGCOMMERCE_ACCESS_TOKEN for the `default` or only store),
 *   else from `pulumi config get` when the Pulumi CLI can decrypt the stack. Kept in memory only.
 * - Outputs: the `--outputs` file, else `pulumi stack output --json`.
 *
 * A problem here is a usage or configuration error (exit 2), reported before anything is called.
 */
import * as fs from "fs";
import type { ZodType } from "zod";
import { CONFIG_SCHEMA, ConfigError, parseStackConfig, type StackConfig } from "../config";
import { DEFAULT_STORE, STORES_KEY } from "../stores";
import { UsageError } from "../dynamic-providers/cli-args";
import { listStacks, loadStackFile, rawStackConfig } from "../stack-config";

/** The environment variable the BigCommerce token comes from (the same as `npm run check:bigcommerce`). */
export const BIGCOMMERCE_TOKEN_ENV = "BIGCOMMERCE_ACCESS_TOKEN";

/** A usage or configuration error of the doctor (exit 2). */
export class DoctorUsageError extends UsageError {
  constructor(message: string) {
    super(message);
    this.name = "DoctorUsageError";
  }
}

/** The stack outputs the checks read (index.ts exports them); each may be missing in an older stack. */
export interface StackOutputs {
  resourceGroupName?: string;
  storageAccountName?: string;
  storageAccountId?: string;
  keyVaultName?: string;
  keyVaultSecretNames?: Record<string, string>;
  gatewayClusterName?: string;
  gatewayRegistrationMode?: string;
  inventoryVisibility?: { fileDropLocation?: string; errorFileDropLocation?: string; organizationId?: string };
  monitoringSummary?: { workspaceId?: string; workspaceName?: string };
  powerPlatformEnterprisePolicyId?: string;
  /** The `default` store's check (the single-store keys'). */
  bigcommerce?: { tokenFingerprint?: string };
  /** Every store's, by store name (index.ts). */
  bigcommerceStores?: Record<string, { providerName?: string; storeHash?: string; accessTokenSecretName?: string; check?: { tokenFingerprint?: string } }>;
  /** The Power Platform environment: in create mode the only place its ids are. */
  powerPlatform?: { environmentId?: string; dataverseUrl?: string; organizationId?: string };
}

/** The stack's organization id: from config (adopt mode), else the outputs (create mode). */
export function organizationIdOf(t: Pick<DoctorTarget, "config" | "outputs">): string {
  return t.config.organizationId || t.outputs.powerPlatform?.organizationId || t.outputs.inventoryVisibility?.organizationId || "";
}

/** The Power Platform environment id: from config (adopt mode), else the outputs (create mode). */
export function environmentIdOf(t: Pick<DoctorTarget, "config" | "outputs">): string {
  return t.config.powerPlatformEnvironment.environmentId || t.outputs.powerPlatform?.environmentId || "";
}

/** The Dataverse URL: from config (adopt mode), else the outputs (create mode). */
export function dataverseUrlOf(t: Pick<DoctorTarget, "config" | "outputs">): string {
  return t.config.dataverse?.environmentUrl || t.outputs.powerPlatform?.dataverseUrl || "";
}

/** Runs the Pulumi CLI: its stdout, or undefined when the CLI is not installed. Injected by tests. */
export type PulumiRunner = (args: string[]) => { ok: true; stdout: string } | { ok: false; missing: boolean; stderr: string };

export function systemPulumi(cwd: string): PulumiRunner {
  return (args) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { spawnSync } = require("child_process") as typeof import("child_process");
    const r = spawnSync("pulumi", [...args, "--non-interactive"], { cwd, encoding: "utf8", timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
    if (r.error) return { ok: false, missing: (r.error as NodeJS.ErrnoException).code === "ENOENT", stderr: r.error.message };
    if (r.status !== 0) return { ok: false, missing: false, stderr: (r.stderr || "").trim().split("\n").slice(-3).join(" ") };
    return { ok: true, stdout: r.stdout };
  };
}

export interface DoctorTarget {
  stack: string;
  config: StackConfig;
  outputs: StackOutputs;
  /** Where the outputs came from, for the report's header. */
  outputsSource: string;
  /** Secret values a check needs, in memory only; never printed (the report redacts them). */
  secrets: { bigcommerce: Record<string, StoreToken> };
}

/** A BigCommerce store's token for the doctor, by store name. */
export interface StoreToken {
  token?: string;
  /** Where the token came from (an environment variable, `pulumi config get ...`). */
  source?: string;
  /** Where one can come from, for the fix of a store without one. */
  from: string;
}

export interface TargetOptions {
  stack: string;
  outputsFile?: string;
  env: Readonly<Record<string, string | undefined>>;
  pulumi: PulumiRunner;
  /** Config changes on top of the stack file (tests, as `pulumi config set [--secret]` would). */
  configChanges?: { set?: Record<string, unknown>; secrets?: Record<string, string> };
}

/**
 * Keys whose value in Pulumi.<stack>.yaml is encrypted (`secure:`), or holds encrypted leaves (a
 * list entry, or a field of a structured value such as `bigcommerceStores[1].accessToken`, set with
 * `pulumi config set --secret --path`): the file reading cannot decrypt them.
 */
export function encryptedKeys(stackFile: Record<string, unknown>): string[] {
  return Object.entries(stackFile)
    .filter(([, v]) => hasSecureLeaf(v))
    .map(([k]) => k.replace(/^[^:]+:/, ""));
}

const isSecureLeaf = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v) && "secure" in v;
const hasSecureLeaf = (v: unknown): boolean => isSecureLeaf(v) || (typeof v === "object" && v !== null && Object.values(v).some(hasSecureLeaf));
/** A structured value with each encrypted leaf replaced by a marker, itself a secure leaf (so the key stays secret). */
const withMarkers = (v: unknown): unknown =>
  isSecureLeaf(v) ? { secure: ENCRYPTED_MARKER } : Array.isArray(v) ? v.map(withMarkers) : typeof v === "object" && v !== null ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withMarkers(x)])) : v;

/**
 * Stand-ins for encrypted values, so the validation sees them set: a marker where the key's own
 * check accepts it, else empty. A list becomes empty (its entries' names are encrypted with them),
 * except `bigcommerceStores`, whose stores the doctor checks: it keeps every plain field and gets the
 * marker for each encrypted one (the stores' tokens). The checks never read these markers; the
 * tokens come from bigcommerceTokens().
 */
export function standIns(keys: string[], stackFile: Record<string, unknown> = {}): { secrets: Record<string, string>; set: Record<string, unknown> } {
  const secrets: Record<string, string> = {};
  const set: Record<string, unknown> = {};
  for (const key of keys) {
    if (key === STORES_KEY) {
      const value = Object.entries(stackFile).find(([k]) => k.replace(/^[^:]+:/, "") === key)?.[1];
      set[key] = withMarkers(value);
      continue;
    }
    const spec = (CONFIG_SCHEMA as Record<string, { type: string; schema: ZodType } | undefined>)[key];
    if (!spec) continue; // an unknown key: the validation names it
    if (spec.type === "array") set[key] = [];
    else secrets[key] = spec.schema.safeParse(ENCRYPTED_MARKER).success ? ENCRYPTED_MARKER : "";
  }
  return { secrets, set };
}

const ENCRYPTED_MARKER = "[encrypted]";

function loadConfig(o: TargetOptions): { config: StackConfig; encrypted: string[] } {
  const stackFile = loadStackFile(o.stack);
  const encrypted = encryptedKeys(stackFile);
  const stand = standIns(encrypted, stackFile);
  let parsed: { raw: Record<string, string>; secretKeys: Set<string> };
  try {
    parsed = rawStackConfig(o.stack, { remove: encrypted, set: { ...stand.set, ...o.configChanges?.set }, secrets: { ...stand.secrets, ...o.configChanges?.secrets } });
  } catch (e) {
    throw new DoctorUsageError((e as Error).message);
  }
  try {
    return { config: parseStackConfig(o.stack, parsed.raw, parsed.secretKeys), encrypted };
  } catch (e) {
    if (e instanceof ConfigError) throw new DoctorUsageError(e.message);
    throw e;
  }
}

function parseOutputs(text: string, source: string): StackOutputs {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new DoctorUsageError(`${source} is not JSON (${(e as Error).message}); write it with 'pulumi stack output --json > <file>'`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new DoctorUsageError(`${source} must hold the object 'pulumi stack output --json' prints`);
  }
  return value as StackOutputs;
}

function loadOutputs(o: TargetOptions): { outputs: StackOutputs; source: string } {
  if (o.outputsFile !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(o.outputsFile, "utf8");
    } catch (e) {
      throw new DoctorUsageError(`cannot read --outputs ${o.outputsFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return { outputs: parseOutputs(text, `--outputs ${o.outputsFile}`), source: o.outputsFile };
  }
  const r = o.pulumi(["stack", "output", "--json", "--stack", o.stack]);
  if (!r.ok) {
    throw new DoctorUsageError(
      r.missing
        ? "no outputs: the Pulumi CLI is not installed; pass --outputs <file> (written by 'pulumi stack output --json' where the CLI is)"
        : `'pulumi stack output --json --stack ${o.stack}' failed (${r.stderr}); pass --outputs <file> instead`,
    );
  }
  return { outputs: parseOutputs(r.stdout, "pulumi stack output --json"), source: `pulumi stack output --stack ${o.stack}` };
}

type Store = StackConfig["bigcommerceStores"][number];

/** The environment variable holding one store's token: BIGCOMMERCE_ACCESS_TOKEN_<NAME> (`eu-west` -> `EU_WEST`). */
export const storeTokenEnv = (store: Pick<Store, "name">): string => `${BIGCOMMERCE_TOKEN_ENV}_${store.name.toUpperCase().replace(/-/g, "_")}`;

/**
 * Each store's token: its own environment variable first (BIGCOMMERCE_ACCESS_TOKEN for the `default`
 * store, or for the only store of a stack, as before stores existed), then `pulumi config get` of its
 * config key where the CLI can decrypt the stack (`bigcommerceAccessToken`, or
 * `--path 'bigcommerceStores[N].accessToken'`).
 */
export function bigcommerceTokens(o: Pick<TargetOptions, "stack" | "env" | "pulumi">, config: Pick<StackConfig, "bigcommerceStores">, encrypted: string[]): Record<string, StoreToken> {
  const stores = config.bigcommerceStores;
  const out: Record<string, StoreToken> = {};
  for (const store of stores) {
    const vars = [storeTokenEnv(store), ...(store.name === DEFAULT_STORE || stores.length === 1 ? [BIGCOMMERCE_TOKEN_ENV] : [])];
    const single = store.name === DEFAULT_STORE && store.origin === "bigcommerceStoreHash";
    const cli = single
      ? { args: ["config", "get", "bigcommerceAccessToken", "--stack", o.stack], shown: "pulumi config get bigcommerceAccessToken", encrypted: encrypted.includes("bigcommerceAccessToken") }
      : { args: ["config", "get", `${store.origin}.accessToken`, "--path", "--stack", o.stack], shown: `pulumi config get --path '${store.origin}.accessToken'`, encrypted: encrypted.includes(STORES_KEY) };
    const from = `${vars.join(" or ")}, or where '${cli.shown} --stack ${o.stack}' works`;
    const envVar = vars.find((v) => o.env[v]);
    if (envVar) {
      out[store.name] = { token: o.env[envVar], source: envVar, from };
      continue;
    }
    const r = cli.encrypted ? o.pulumi(cli.args) : undefined;
    out[store.name] = r?.ok && r.stdout.trim() ? { token: r.stdout.trim(), source: cli.shown, from } : { from };
  }
  return out;
}

/** Resolves everything the checks need; throws DoctorUsageError (exit 2) naming the problem. */
export function resolveTarget(o: TargetOptions): DoctorTarget {
  const stacks = listStacks();
  if (!stacks.includes(o.stack)) throw new DoctorUsageError(`unknown stack '${o.stack}' (stacks: ${stacks.join(", ")}; one per Pulumi.<stack>.yaml)`);
  const { config, encrypted } = loadConfig(o);
  const { outputs, source } = loadOutputs(o);
  return { stack: o.stack, config, outputs, outputsSource: source, secrets: { bigcommerce: bigcommerceTokens(o, config, encrypted) } };
}
