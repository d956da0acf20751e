/**
 * What the doctor checks, resolved before any remote call: the stack's validated configuration
 * (config/, the same view `pulumi up` has), its outputs, and the few secrets a check needs.
 *
 * - Configuration: Pulumi.yaml and Pulumi.<stack>.yaml, read the way the offline plan reads them
 *   (stack-config.ts). Encrypted values are left out of the file reading; the one secret a
 *   check needs (the BigCommerce token) comes from BIGCOMMERCE_ACCESS_TOKEN, else from
 *   `pulumi config get` when the Pulumi CLI can decrypt the stack. It is kept in memory only.
 * - Outputs: the `--outputs` file, else `pulumi stack output --json`.
 *
 * A problem here is a usage or configuration error (exit 2), reported before anything is called.
 */
import * as fs from "fs";
import type { ZodType } from "zod";
import { CONFIG_SCHEMA, ConfigError, parseStackConfig, type StackConfig } from "../config";
import { listStacks, loadStackFile, rawStackConfig } from "../stack-config";

/** The environment variable the BigCommerce token comes from (the same as `npm run check:bigcommerce`). */
export const BIGCOMMERCE_TOKEN_ENV = "BIGCOMMERCE_ACCESS_TOKEN";

export class DoctorUsageError extends Error {
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
  bigcommerce?: { tokenFingerprint?: string };
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
  secrets: { bigcommerceAccessToken?: string; bigcommerceTokenSource?: string };
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
 * Keys whose value in Pulumi.<stack>.yaml is encrypted (`secure:`), or a list holding encrypted
 * entries (`pulumi config set --secret --path 'key[0]'`): the file reading cannot decrypt them.
 */
export function encryptedKeys(stackFile: Record<string, unknown>): string[] {
  const secure = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v) && "secure" in v;
  return Object.entries(stackFile)
    .filter(([, v]) => secure(v) || (Array.isArray(v) && v.some(secure)))
    .map(([k]) => k.replace(/^[^:]+:/, ""));
}

/**
 * Stand-ins for encrypted values, so the validation sees them set: a marker where the key's own
 * check accepts it, else empty. A list becomes empty (its entries' names are encrypted with them).
 * The checks never read these; the one secret they need comes from bigcommerceToken().
 */
export function standIns(keys: string[]): { secrets: Record<string, string>; set: Record<string, unknown> } {
  const secrets: Record<string, string> = {};
  const set: Record<string, unknown> = {};
  for (const key of keys) {
    const spec = (CONFIG_SCHEMA as Record<string, { type: string; schema: ZodType } | undefined>)[key];
    if (!spec) continue; // an unknown key: the validation names it
    if (spec.type === "array") set[key] = [];
    else secrets[key] = spec.schema.safeParse(ENCRYPTED_MARKER).success ? ENCRYPTED_MARKER : "";
  }
  return { secrets, set };
}

const ENCRYPTED_MARKER = "[encrypted]";

function loadConfig(o: TargetOptions): { config: StackConfig; encrypted: string[] } {
  const encrypted = encryptedKeys(loadStackFile(o.stack));
  const stand = standIns(encrypted);
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

/**
 * The store the doctor checks: the single-store keys' store (`default`), else the first of
 * `bigcommerceStores`. Checking every store of a multi-store stack is not built yet.
 */
export function doctorStoreOf(config: Pick<StackConfig, "bigcommerceStores">): StackConfig["bigcommerceStores"][number] | undefined {
  return config.bigcommerceStores.find((s) => s.name === "default") ?? config.bigcommerceStores[0];
}

/** The BigCommerce token: the environment first, then `pulumi config get` where the CLI can decrypt the stack. */
export function bigcommerceToken(o: Pick<TargetOptions, "stack" | "env" | "pulumi">, config: Pick<StackConfig, "bigcommerceStores">, encrypted: string[]): DoctorTarget["secrets"] {
  if (!doctorStoreOf(config)) return {};
  const fromEnv = o.env[BIGCOMMERCE_TOKEN_ENV];
  if (fromEnv) return { bigcommerceAccessToken: fromEnv, bigcommerceTokenSource: BIGCOMMERCE_TOKEN_ENV };
  if (!encrypted.includes("bigcommerceAccessToken")) return {};
  const r = o.pulumi(["config", "get", "bigcommerceAccessToken", "--stack", o.stack]);
  return r.ok && r.stdout.trim() ? { bigcommerceAccessToken: r.stdout.trim(), bigcommerceTokenSource: "pulumi config get bigcommerceAccessToken" } : {};
}

/** Resolves everything the checks need; throws DoctorUsageError (exit 2) naming the problem. */
export function resolveTarget(o: TargetOptions): DoctorTarget {
  const stacks = listStacks();
  if (!stacks.includes(o.stack)) throw new DoctorUsageError(`unknown stack '${o.stack}' (stacks: ${stacks.join(", ")}; one per Pulumi.<stack>.yaml)`);
  const { config, encrypted } = loadConfig(o);
  const { outputs, source } = loadOutputs(o);
  return { stack: o.stack, config, outputs, outputsSource: source, secrets: bigcommerceToken(o, config, encrypted) };
}
