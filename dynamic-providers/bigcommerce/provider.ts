/**
 * The BigCommerce API check as a Pulumi dynamic resource.
 *
 * Pulumi serializes the provider object with everything it captures (`__provider` in the state)
 * and rebuilds it in the dynamic-provider host, a separate Node process. So: methods load packages
 * lazily (`await import`), capture only plain functions and small plain values, and never touch
 * `pulumi.Config` (the host hands the stack config to `configure`). A successful check is reused
 * by the create/update that follows it in the same process (reuse.ts), so an `up` probes once.
 */

import * as pulumi from "@pulumi/pulumi";
import { fingerprintKeyId, fingerprintKeyProblem, isUnknown } from "../common";
import { createBigCommerceClient, redact, type ClientTuning } from "./client";
import {
  buildReport,
  formatFailure,
  legacyTokenFingerprint,
  planProbes,
  sameMembers,
  toOutputs,
  tokenFingerprint,
  validateInputs,
  DEFAULT_ACCEPTED_STORE_STATUSES,
  DEFAULT_API_BASE_URL,
  DEFAULT_REQUIRED_SCOPES,
  DEFAULT_TOKEN_CONFIG_KEY,
  LEGACY_TOKEN_FINGERPRINT_PREFIX,
  type CheckOutputs,
  type CheckReport,
  type CheckSettings,
} from "./logic";
import { keepReport, reusableReport } from "./reuse";

/** Runs one check: every request of its plan (one per scope, see planProbes), all at once. */
export async function runApiCheck(settings: CheckSettings, tuning: ClientTuning = {}): Promise<CheckReport> {
  const started = Date.now();
  const client = await createBigCommerceClient({ ...tuning, ...settingsForClient(settings) });
  const { probes } = planProbes(settings.requiredScopes);
  const outcomes = await Promise.all(probes.map((p) => client.call(p.endpoint)));
  return buildReport({
    settings,
    probes: probes.map((p, i) => ({ scope: p.scope, outcome: outcomes[i], supporting: p.supporting })),
    stats: client.stats(),
    tokenFingerprint: settings.fingerprintKey === undefined ? undefined : tokenFingerprint(settings.fingerprintKey, settings.accessToken),
    checkedAt: new Date().toISOString(),
    durationMs: Date.now() - started,
  });
}

function settingsForClient(s: CheckSettings): { storeHash: string; accessToken: string; apiBaseUrl: string } {
  return { storeHash: s.storeHash, accessToken: s.accessToken, apiBaseUrl: s.apiBaseUrl };
}

/** Inputs as the provider receives them (secrets arrive as plain values). */
export interface BigCommerceApiCheckInputs {
  storeHash: string;
  accessToken: string;
  requiredScopes?: string[];
  apiBaseUrl?: string;
  expectedStoreName?: string;
  accessTokenConfigKey?: string;
  acceptedStoreStatuses?: string[];
  /** The stack's key for the token's fingerprint (a secret input; never returned). */
  fingerprintKey?: string;
}

export type BigCommerceApiCheckOutputs = CheckOutputs;

/** A `pulumi.dynamic.ResourceProvider` with every method present. */
export type BigCommerceApiCheckDynamicProvider = Required<pulumi.dynamic.ResourceProvider<BigCommerceApiCheckInputs, BigCommerceApiCheckOutputs>>;

export interface ProviderOptions {
  /** Client tuning for create/update/read. */
  readonly tuning?: ClientTuning;
  /**
   * Whether `check` (which also runs during `pulumi preview`) probes BigCommerce, and the
   * shorter client tuning it uses so a preview stays quick. Default: probe, 5 s per request, 30 s in all, 1 retry.
   */
  readonly probeInCheck?: boolean;
  readonly checkTuning?: ClientTuning;
  /**
   * How long a successful check is reused, within the same provider process, by a later
   * check/create/update with identical inputs and token (so a `pulumi up` probes once). 0 turns
   * reuse off. Default 120 s: the engine calls create right after check.
   */
  readonly reuseTtlMs?: number;
}

const DEFAULT_REUSE_TTL_MS = 120_000;

const DEFAULT_CHECK_TUNING: ClientTuning = { timeoutMs: 5_000, operationTimeoutMs: 30_000, maxRetries: 1, maxRateLimitRetries: 1, maxRateLimitWaitMs: 5_000 };

interface StackConfig {
  get(key: string): unknown;
}

/**
 * The tokens a config value may hold: the value itself, or, for a structured key such as
 * `bigcommerceStores` (a list of stores, handed over as JSON text or as the object), every
 * `accessToken` in it, the tokens of entries whose `storeHash` is `storeHash` first. `read` has no
 * fingerprint key (it only gets the state), so it picks a store's token by its hash.
 */
export function configuredTokens(value: unknown, storeHash?: string): string[] {
  let parsed = value;
  if (typeof value === "string") {
    if (!/^\s*[[{]/.test(value)) return value === "" ? [] : [value];
    try {
      parsed = JSON.parse(value);
    } catch {
      return [value];
    }
  }
  const matching: string[] = [];
  const others: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === "object" && v !== null) {
      const hash = (v as { storeHash?: unknown }).storeHash;
      for (const [k, inner] of Object.entries(v)) {
        if (k === "accessToken" && typeof inner === "string") (storeHash !== undefined && hash === storeHash ? matching : others).push(inner);
        else walk(inner);
      }
    }
  };
  walk(parsed);
  return [...matching, ...others];
}

/**
 * Builds a provider. `bigCommerceApiCheckDynamicProvider` is the default one; tests build providers with
 * short timeouts. Options are plain data, so they serialize with the provider.
 */
export function createBigCommerceApiCheckDynamicProvider(options: ProviderOptions = {}): BigCommerceApiCheckDynamicProvider {
  const tuning: ClientTuning = { ...(options.tuning ?? {}) };
  // The preview budget stays short whatever `tuning` says, unless `checkTuning` overrides it.
  const checkTuning: ClientTuning = { ...(options.tuning ?? {}), ...DEFAULT_CHECK_TUNING, ...(options.checkTuning ?? {}) };
  const probeInCheck = options.probeInCheck !== false;
  const reuseTtlMs = options.reuseTtlMs ?? DEFAULT_REUSE_TTL_MS;
  // Set by `configure` in the host process: the stack config, for `read` (which gets no inputs).
  const runtime: { config?: StackConfig } = {};

  /** A successful report of the same inputs from earlier in this process, or a new probe. */
  const probe = async (settings: CheckSettings, clientTuning: ClientTuning, reuse: boolean): Promise<CheckReport> => {
    const kept = reuse && reuseTtlMs > 0 ? reusableReport(settings) : undefined;
    if (kept) return kept;
    const report = await runApiCheck(settings, clientTuning);
    keepReport(settings, report, reuseTtlMs);
    return report;
  };

  const checkOrThrow = async (settings: CheckSettings, reuse: boolean): Promise<CheckOutputs> => {
    const report = await probe(settings, tuning, reuse);
    if (!report.ok) throw new Error(redact(redact(formatFailure(report), settings.accessToken), settings.fingerprintKey ?? ""));
    return toOutputs(settings, report);
  };

  /** Valid inputs with the fingerprint key create/update need (a check may run before the key is known). */
  const settingsOrThrow = (inputs: BigCommerceApiCheckInputs): CheckSettings => {
    const v = validateInputs({ ...inputs });
    const keyProblem = isUnknown(inputs.fingerprintKey) ? "is not known yet" : fingerprintKeyProblem(inputs.fingerprintKey);
    if (!v.settings || keyProblem) {
      const reasons = [...v.failures.map((f) => `${f.property} ${f.reason}`), ...(keyProblem && !v.failures.some((f) => f.property === "fingerprintKey") ? [`fingerprintKey ${keyProblem}`] : [])];
      throw new Error(`BigCommerce API check: invalid inputs: ${reasons.join("; ") || "some inputs are unknown"}`);
    }
    return v.settings;
  };

  return {
    async configure(req: pulumi.dynamic.ConfigureRequest): Promise<void> {
      runtime.config = req.config;
    },

    async check(_olds: BigCommerceApiCheckInputs, news: BigCommerceApiCheckInputs): Promise<pulumi.dynamic.CheckResult<BigCommerceApiCheckInputs>> {
      const v = validateInputs({ ...news });
      const inputs = v.normalized as unknown as BigCommerceApiCheckInputs;
      // The resource always passes a key: validateInputs only judges one that is there (the CLI has none).
      const keyMissing = news.fingerprintKey === undefined ? [{ property: "fingerprintKey", reason: fingerprintKeyProblem(undefined) ?? "" }] : [];
      if (!v.settings || !probeInCheck || keyMissing.length) return { inputs, failures: [...v.failures, ...keyMissing] };
      // Runs in every preview too, so a pull request's preview already shows a wrong or revoked
      // key. Only definite answers fail here; timeouts, 5xx and rate limits are left to
      // create/update, so a flaky network does not block a preview.
      const report = await probe(v.settings, checkTuning, true);
      const failures = report.problems
        .filter((p) => p.definitive)
        .map((p) => ({ property: p.property, reason: redact(p.message, v.settings?.accessToken ?? "") }));
      if (report.missingScopes.length > 0) {
        failures.push({ property: "requiredScopes", reason: "scopes cannot be added to an existing API account: create a new one with all required scopes and use its token" });
      }
      return { inputs, failures };
    },

    async diff(_id: string, olds: BigCommerceApiCheckOutputs, news: BigCommerceApiCheckInputs): Promise<pulumi.dynamic.DiffResult> {
      // `olds` are the previous outputs (which hold no token, only its fingerprint).
      const replaces: string[] = [];
      const changed: string[] = [];
      if (news.storeHash !== olds.storeHash) replaces.push("storeHash");
      // The token by its fingerprint under the state's key. A state written before issue 17 holds an
      // unkeyed sha256 one: compared that way, and `fingerprintKey` asks for the one update that
      // rewrites it keyed. A key not known yet, or another key, cannot compare: that update too.
      const key = news.fingerprintKey;
      const sameKey = typeof key === "string" && !isUnknown(key) && olds.fingerprintKeyId === fingerprintKeyId(key);
      if (isUnknown(news.accessToken) || typeof news.accessToken !== "string") changed.push("accessToken");
      else if ((olds.tokenFingerprint ?? "").startsWith(LEGACY_TOKEN_FINGERPRINT_PREFIX)) {
        if (legacyTokenFingerprint(news.accessToken) !== olds.tokenFingerprint) changed.push("accessToken");
      } else if (sameKey && tokenFingerprint(key, news.accessToken) !== olds.tokenFingerprint) changed.push("accessToken");
      if (!sameKey) changed.push("fingerprintKey");
      const newScopes = news.requiredScopes ?? [...DEFAULT_REQUIRED_SCOPES];
      if (!Array.isArray(newScopes) || !Array.isArray(olds.requiredScopes) || !sameMembers(newScopes, olds.requiredScopes)) {
        changed.push("requiredScopes");
      }
      if ((news.apiBaseUrl ?? DEFAULT_API_BASE_URL) !== olds.apiBaseUrl) changed.push("apiBaseUrl");
      if (news.expectedStoreName !== olds.expectedStoreName) changed.push("expectedStoreName");
      if (news.accessTokenConfigKey !== olds.accessTokenConfigKey) changed.push("accessTokenConfigKey");
      // States written before the setting existed were checked against the default list.
      const newStatuses = news.acceptedStoreStatuses ?? [...DEFAULT_ACCEPTED_STORE_STATUSES];
      const oldStatuses = olds.acceptedStoreStatuses ?? [...DEFAULT_ACCEPTED_STORE_STATUSES];
      if (!Array.isArray(newStatuses) || !sameMembers(newStatuses, oldStatuses)) changed.push("acceptedStoreStatuses");
      return { changes: replaces.length + changed.length > 0, replaces, deleteBeforeReplace: false };
    },

    async create(inputs: BigCommerceApiCheckInputs): Promise<pulumi.dynamic.CreateResult<BigCommerceApiCheckOutputs>> {
      const settings = settingsOrThrow(inputs);
      const outs = await checkOrThrow(settings, true);
      return { id: settings.storeHash, outs };
    },

    async update(_id: string, _olds: BigCommerceApiCheckOutputs, news: BigCommerceApiCheckInputs): Promise<pulumi.dynamic.UpdateResult<BigCommerceApiCheckOutputs>> {
      const outs = await checkOrThrow(settingsOrThrow(news), true);
      return { outs };
    },

    async read(id: string, props?: BigCommerceApiCheckOutputs): Promise<pulumi.dynamic.ReadResult<BigCommerceApiCheckOutputs>> {
      // `pulumi refresh` passes the stored outputs only: the token comes from the stack config
      // (handed to `configure`) or the BIGCOMMERCE_ACCESS_TOKEN environment variable. Read gets no
      // fingerprint key, so it cannot tell whether that token is the one the state describes (a
      // state written before issue 17, with an unkeyed fingerprint, still can): it probes with the
      // stack's token and keeps the state's fingerprint, and the next preview's diff, which has the
      // key, asks for an update if the token changed.
      if (!props || typeof props.storeHash !== "string") return { id, props };
      const configKey = props.accessTokenConfigKey ?? DEFAULT_TOKEN_CONFIG_KEY;
      const legacy = (props.tokenFingerprint ?? "").startsWith(LEGACY_TOKEN_FINGERPRINT_PREFIX);
      const candidates = [...configuredTokens(runtime.config?.get(configKey), props.storeHash), process.env.BIGCOMMERCE_ACCESS_TOKEN];
      const token = candidates.find((t): t is string => typeof t === "string" && t !== "" && (!legacy || legacyTokenFingerprint(t) === props.tokenFingerprint));
      if (token === undefined) return { id, props };
      const v = validateInputs({
        storeHash: props.storeHash,
        accessToken: token,
        requiredScopes: props.requiredScopes,
        apiBaseUrl: props.apiBaseUrl,
        expectedStoreName: props.expectedStoreName,
        accessTokenConfigKey: props.accessTokenConfigKey,
        acceptedStoreStatuses: props.acceptedStoreStatuses,
      });
      if (!v.settings) throw new Error(`BigCommerce API check: the state cannot be checked again: ${v.failures.map((f) => `${f.property} ${f.reason}`).join("; ")}`);
      // A refresh looks for drift: always a new probe.
      const outs = await checkOrThrow(v.settings, false);
      const kept = { tokenFingerprint: props.tokenFingerprint, ...(props.fingerprintKeyId === undefined ? {} : { fingerprintKeyId: props.fingerprintKeyId }) };
      return { id, props: { ...outs, ...kept } };
    },

    async delete(): Promise<void> {
      // Nothing to delete: the check creates nothing in BigCommerce.
    },
  };
}

/** The provider `BigCommerceApiCheck` uses. */
export const bigCommerceApiCheckDynamicProvider = createBigCommerceApiCheckDynamicProvider();

export interface BigCommerceApiCheckArgs {
  /** The store hash from the API path `https://api.bigcommerce.com/stores/<hash>/v3`. */
  storeHash: pulumi.Input<string>;
  /** Access token of a store-level API account. Always treated as a secret. */
  accessToken: pulumi.Input<string>;
  /**
   * Scopes to prove; default: what IOM's provider needs: orders (modify), information, products,
   * customers (read-only).
   */
  requiredScopes?: pulumi.Input<pulumi.Input<string>[]>;
  /** Default and only host `https://api.bigcommerce.com` (apiBaseUrlProblem); tests point it at an emulator on this machine. */
  apiBaseUrl?: pulumi.Input<string>;
  /** When set, the store's name must equal it (guards against a token for another store). */
  expectedStoreName?: pulumi.Input<string>;
  /**
   * Stack config key holding the token, which `read` (`pulumi refresh`) uses to probe again, as
   * it gets no inputs. Default `<project>:bigcommerceAccessToken`.
   */
  accessTokenConfigKey?: pulumi.Input<string>;
  /** Store statuses that pass; default live, prelaunch, pre-launch, trial. Needs the information scope. */
  acceptedStoreStatuses?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * The stack's key for the token's fingerprint (index.ts: one random.RandomBytes per stack); made
   * a Pulumi secret, never returned by the provider.
   */
  fingerprintKey: pulumi.Input<string>;
}

/**
 * Proves that a BigCommerce store hash, access token and OAuth scopes work before IOM is pointed
 * at them. Creates nothing in BigCommerce; fails the deployment with one message listing every
 * problem.
 */
export class BigCommerceApiCheck extends pulumi.dynamic.Resource {
  /** Numeric store id (`store_id` of GET /v2/store); absent when the information scope is not required. */
  declare readonly storeId: pulumi.Output<number | undefined>;
  declare readonly storeName: pulumi.Output<string | undefined>;
  declare readonly domain: pulumi.Output<string | undefined>;
  declare readonly planName: pulumi.Output<string | undefined>;
  /** Store status, one of `acceptedStoreStatuses` after a successful check. */
  declare readonly status: pulumi.Output<string | undefined>;
  /** Whether the store's plan is still a trial (`plan_is_trial`). */
  declare readonly planIsTrial: pulumi.Output<boolean | undefined>;
  declare readonly acceptedStoreStatuses: pulumi.Output<string[]>;
  declare readonly scopesVerified: pulumi.Output<string[]>;
  /** The token's fingerprint, `hmac-sha256:` and 32 hex digits keyed with the stack's key: tells tokens apart, tests no guess. */
  declare readonly tokenFingerprint: pulumi.Output<string>;
  declare readonly checkedAt: pulumi.Output<string>;

  constructor(name: string, args: BigCommerceApiCheckArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      bigCommerceApiCheckDynamicProvider,
      name,
      {
        storeHash: args.storeHash,
        accessToken: pulumi.secret(args.accessToken),
        fingerprintKey: pulumi.secret(args.fingerprintKey),
        requiredScopes: args.requiredScopes,
        apiBaseUrl: args.apiBaseUrl,
        expectedStoreName: args.expectedStoreName,
        // Fully qualified here, in the program, where the project name is known.
        accessTokenConfigKey: args.accessTokenConfigKey ?? `${pulumi.getProject()}:${DEFAULT_TOKEN_CONFIG_KEY}`,
        acceptedStoreStatuses: args.acceptedStoreStatuses,
        storeId: undefined,
        storeName: undefined,
        domain: undefined,
        planName: undefined,
        status: undefined,
        planIsTrial: undefined,
        scopesVerified: undefined,
        tokenFingerprint: undefined,
        checkedAt: undefined,
      },
      opts,
      "bigcommerce",
      "ApiCheck",
    );
  }
}
