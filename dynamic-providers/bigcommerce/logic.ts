/**
 * Pure logic of the BigCommerce API check: input validation, which request proves which scope,
 * and turning probe outcomes into one report and one error message. No I/O here besides hashing.
 *
 * Like client.ts this module is serialized into the dynamic provider's closure: plain functions
 * and plain data only.
 */

import { apiBaseUrlProblem, DEFAULT_API_BASE_URL, ENDPOINTS, type ClientStats, type EndpointName, type ProbeOutcome, type StoreInfo } from "./client";
import { fingerprintKeyId, fingerprintKeyProblem, isUnknown, keyedFingerprint } from "../common";

/** BigCommerce's API host (client.ts, where the one rule for it lives). */
export { apiBaseUrlProblem, DEFAULT_API_BASE_URL } from "./client";

/** Pulumi's wire value for "unknown during preview"; re-exported for the tests that imported it from here. */
export { ENGINE_UNKNOWN } from "../common";

/** The stack config key (in the program's namespace) that holds the token; `read` uses it. */
export const DEFAULT_TOKEN_CONFIG_KEY = "bigcommerceAccessToken";

/**
 * The scopes this check can prove, and the request that proves each one.
 *
 * BigCommerce grants a `_read_only` scope `GET`/`HEAD` only, and its modify form every method
 * (bigcommerce/docs `docs/start/authentication/api-accounts.mdx`, "OAuth scopes"). So a read-only
 * scope is proven by a `GET`, which a token with the modify form passes too, and a modify scope by a
 * write that cannot change anything: a `PUT` with an empty body to an order id that cannot exist
 * (`0`; see docs/bigcommerce.md, "Proving a modify scope"): 401/403 = scope missing, any other
 * 4xx = granted. planProbes adds the read-only GET next to that write.
 */
export const SCOPE_PROBES: Readonly<Record<string, EndpointName>> = {
  store_v2_information_read_only: "store",
  store_v2_orders_read_only: "orders",
  store_v2_orders: "order-write",
  store_v2_products_read_only: "products",
  store_v2_customers_read_only: "customers",
  store_channel_settings_read_only: "channels",
};

/** Short names accepted on input (CLI `--scopes orders,products`, or the resource). */
export const SCOPE_ALIASES: Readonly<Record<string, string>> = {
  information: "store_v2_information_read_only",
  orders: "store_v2_orders_read_only",
  orders_modify: "store_v2_orders",
  products: "store_v2_products_read_only",
  customers: "store_v2_customers_read_only",
  channel_settings: "store_channel_settings_read_only",
};

/**
 * Scope families BigCommerce documents (each with a modify and a `_read_only` form), with the
 * name its control panel shows (api-accounts.mdx, "Store resource scopes").
 */
export const KNOWN_SCOPE_FAMILIES: Readonly<Record<string, string>> = {
  store_v2_content: "Content",
  store_v2_customers: "Customers",
  store_v2_information: "Information & Settings",
  store_v2_marketing: "Marketing",
  store_v2_orders: "Orders",
  store_v2_products: "Products",
  store_v2_transactions: "Order Transactions",
  store_channel_settings: "Channel Settings",
  store_channel_listings: "Channel Listings",
  store_sites: "Sites & Routes",
  store_cart: "Carts",
  store_checkout: "Checkouts",
  store_inventory: "Store Inventory",
  store_locations: "Store Locations",
};

/**
 * What IOM's BigCommerce provider needs. It pulls orders and the products and customers they name
 * ("retrieve orders, products, and related information", IOM docs set-up-bigcommerce-provider.md)
 * and writes the order status back ("The provider action updates the order status in
 * BigCommerce", IOM docs finops-integration-scenarios.md): Orders must be modify. Information &
 * Settings (read-only) lets the check read the store's name and status.
 */
export const DEFAULT_REQUIRED_SCOPES: readonly string[] = [
  "store_v2_information_read_only",
  "store_v2_orders",
  "store_v2_products_read_only",
  "store_v2_customers_read_only",
];

/**
 * Store statuses (`status` of GET /v2/store) that pass. BigCommerce documents the field without an
 * enum (store_information.v2.yml: "The status of the store", example `live`); its other documents
 * name the states a store can be in: pre-launch for a store not yet launched, which is where a new
 * (free-trial) store is; maintenance; deactivated ("hibernation"); suspended. A trial store passes:
 * IOM's own guide builds on one (`plan_is_trial` says so, and is reported). Anything else fails,
 * naming the status and the setting that accepts it.
 */
export const DEFAULT_ACCEPTED_STORE_STATUSES: readonly string[] = ["live", "prelaunch", "pre-launch", "trial"];

/** `store_v2_orders (Orders: modify)`, `store_v2_products_read_only (Products: read-only)`. */
export function describeScope(scope: string): string {
  const readOnly = scope.endsWith("_read_only");
  const family = scope.replace(/_read_only$/, "");
  const ui = KNOWN_SCOPE_FAMILIES[family];
  if (ui === undefined) return scope;
  return `${scope} (${ui}: ${readOnly ? "read-only" : "modify"})`;
}

export interface CheckFailure {
  readonly property: string;
  readonly reason: string;
}

/** Validated, normalized inputs. */
export interface CheckSettings {
  readonly storeHash: string;
  readonly accessToken: string;
  readonly requiredScopes: readonly string[];
  readonly apiBaseUrl: string;
  readonly expectedStoreName?: string;
  readonly accessTokenConfigKey?: string;
  /** Lowercase; the store's status must be one of them (needs the information scope). */
  readonly acceptedStoreStatuses: readonly string[];
  /**
   * The stack's key for the token's fingerprint (the resource always has one; the CLI has none, and
   * a preview may not know it yet: then the report has no fingerprint).
   */
  readonly fingerprintKey?: string;
}

export interface ValidationResult {
  /** Set when there are no failures and no unknown values. */
  readonly settings?: CheckSettings;
  readonly failures: readonly CheckFailure[];
  /** Some input is not known yet (preview): nothing can be probed. */
  readonly hasUnknowns: boolean;
  /** The inputs with defaults applied and scopes normalized; unknown values are passed through. */
  readonly normalized: Record<string, unknown>;
}

const STORE_HASH = /^[a-z0-9]{3,32}$/;

/** Explains a malformed store hash, with the likely fix when the value is a URL or a host. */
export function storeHashProblem(value: string): string | undefined {
  if (STORE_HASH.test(value)) return undefined;
  const fromPath = /\/stores\/([a-z0-9]+)/i.exec(value);
  const fromHost = /store-([a-z0-9]+)\.mybigcommerce\.com/i.exec(value);
  const hint = fromPath ?? fromHost;
  if (hint) return `must be the store hash alone, not a URL or host name: use '${hint[1].toLowerCase()}'`;
  if (value.trim() !== value) return "must not contain leading or trailing spaces";
  if (/[A-Z]/.test(value) && STORE_HASH.test(value.toLowerCase())) return "store hashes are lowercase";
  return "must be 3-32 lowercase letters and digits, as in the API path https://api.bigcommerce.com/stores/<hash>/v3";
}

/**
 * Normalizes scope names (aliases, duplicates; a modify scope makes its read-only form redundant,
 * as it proves read access too) and explains the ones this check cannot prove.
 */
export function normalizeScopes(names: readonly string[]): { scopes: string[]; problems: string[] } {
  const scopes: string[] = [];
  const problems: string[] = [];
  const supported = Object.keys(SCOPE_PROBES).join(", ");
  for (const raw of names) {
    const name = raw.trim();
    const full = SCOPE_ALIASES[name] ?? name;
    if (SCOPE_PROBES[full] !== undefined) {
      if (!scopes.includes(full)) scopes.push(full);
      continue;
    }
    const family = full.replace(/_read_only$/, "");
    if (KNOWN_SCOPE_FAMILIES[family] === undefined) {
      problems.push(`unknown scope '${raw}' (this check can verify: ${supported}; short forms: ${Object.keys(SCOPE_ALIASES).join(", ")})`);
    } else if (family === full && SCOPE_PROBES[`${full}_read_only`] !== undefined) {
      problems.push(
        `'${full}' is a modify scope this check has no harmless write for, so it cannot tell it from '${full}_read_only': ` +
          `require '${full}_read_only' (a token with the modify scope passes that check too)`,
      );
    } else {
      problems.push(`scope '${full}' is a valid BigCommerce scope but this check has no probe for it (it can verify: ${supported})`);
    }
  }
  const redundant = scopes.filter((s) => s.endsWith("_read_only") && scopes.includes(s.replace(/_read_only$/, "")));
  return { scopes: scopes.filter((s) => !redundant.includes(s)), problems };
}

/** Normalizes accepted store statuses (trimmed, lowercase, no duplicates) and explains bad entries. */
export function normalizeStoreStatuses(values: readonly unknown[]): { statuses: string[]; problems: string[] } {
  const statuses: string[] = [];
  const problems: string[] = [];
  for (const v of values) {
    if (typeof v !== "string" || !/^[a-z][a-z_-]{0,31}$/i.test(v.trim())) {
      problems.push(`'${String(v)}' is not a store status (a word such as live, prelaunch, trial)`);
      continue;
    }
    const status = v.trim().toLowerCase();
    if (!statuses.includes(status)) statuses.push(status);
  }
  return { statuses, problems };
}

/** What the checks of single inputs share: the failures found, and whether some input is not known yet (preview). */
interface InputChecks {
  failures: CheckFailure[];
  hasUnknowns: boolean;
}

/** GET /v2/store returns the store's name and status: checking either needs this scope. */
const STORE_INFORMATION_SCOPE = "store_v2_information_read_only";

/**
 * Offline validation of the resource's (or the CLI's) inputs. Each failure names its property.
 * Values unknown during preview are not judged.
 */
export function validateInputs(raw: Readonly<Record<string, unknown>>): ValidationResult {
  const checks: InputChecks = { failures: [], hasUnknowns: false };
  const normalized: Record<string, unknown> = { ...raw };
  checkStoreHash(raw.storeHash, checks);
  checkAccessToken(raw.accessToken, checks);
  const scopes = requiredScopesOf(raw.requiredScopes, checks);
  if (!checks.hasUnknowns) normalized.requiredScopes = scopes;
  const apiBaseUrl = apiBaseUrlOf(raw.apiBaseUrl, checks);
  if (!isUnknown(raw.apiBaseUrl)) normalized.apiBaseUrl = apiBaseUrl;
  // Without the scope the store's name and status cannot be read; unknown scopes are not judged.
  const withoutStoreInformation = !isUnknown(raw.requiredScopes) && !scopes.includes(STORE_INFORMATION_SCOPE);
  const expectedStoreName = expectedStoreNameOf(raw.expectedStoreName, withoutStoreInformation, checks);
  if (expectedStoreName !== undefined) normalized.expectedStoreName = expectedStoreName;
  const statuses = acceptedStoreStatusesOf(raw.acceptedStoreStatuses, withoutStoreInformation, checks);
  if (!checks.hasUnknowns) normalized.acceptedStoreStatuses = statuses;
  const configKey = raw.accessTokenConfigKey;
  if (isUnknown(configKey)) checks.hasUnknowns = true;
  else if (configKey !== undefined && configKey !== null && (typeof configKey !== "string" || configKey.trim() === "")) {
    checks.failures.push({ property: "accessTokenConfigKey", reason: "must be a non-empty config key when set" });
  }
  // Not needed to probe, so a key not known yet (the preview that creates it) does not stop one.
  const fingerprintKey = raw.fingerprintKey;
  if (fingerprintKey !== undefined && !isUnknown(fingerprintKey)) {
    const problem = fingerprintKeyProblem(fingerprintKey);
    if (problem) checks.failures.push({ property: "fingerprintKey", reason: problem });
  }

  const { failures, hasUnknowns } = checks;
  const settings: CheckSettings | undefined =
    failures.length === 0 && !hasUnknowns
      ? {
          storeHash: raw.storeHash as string,
          accessToken: raw.accessToken as string,
          requiredScopes: scopes,
          apiBaseUrl,
          expectedStoreName,
          accessTokenConfigKey: typeof configKey === "string" ? configKey : undefined,
          acceptedStoreStatuses: statuses,
          ...(typeof fingerprintKey === "string" && !isUnknown(fingerprintKey) ? { fingerprintKey } : {}),
        }
      : undefined;
  return { settings, failures, hasUnknowns, normalized };
}

function checkStoreHash(storeHash: unknown, checks: InputChecks): void {
  if (isUnknown(storeHash)) checks.hasUnknowns = true;
  else if (typeof storeHash !== "string" || storeHash === "") {
    checks.failures.push({ property: "storeHash", reason: "is required (the <hash> in https://api.bigcommerce.com/stores/<hash>/v3)" });
  } else {
    const problem = storeHashProblem(storeHash);
    if (problem) checks.failures.push({ property: "storeHash", reason: problem });
  }
}

function checkAccessToken(token: unknown, checks: InputChecks): void {
  if (isUnknown(token)) checks.hasUnknowns = true;
  else if (typeof token !== "string" || token.trim() === "") {
    checks.failures.push({ property: "accessToken", reason: "is required (the access token of a store-level API account)" });
  } else if (/\s/.test(token)) {
    checks.failures.push({ property: "accessToken", reason: "contains whitespace (a copied line break or space?)" });
  }
}

/** The scopes to check, normalized: the default when absent, none while some are unknown. */
function requiredScopesOf(rawScopes: unknown, checks: InputChecks): string[] {
  if (isUnknown(rawScopes) || (Array.isArray(rawScopes) && rawScopes.some(isUnknown))) {
    checks.hasUnknowns = true;
    return [];
  }
  if (rawScopes === undefined || rawScopes === null) return [...DEFAULT_REQUIRED_SCOPES];
  if (!Array.isArray(rawScopes) || rawScopes.some((s) => typeof s !== "string")) {
    checks.failures.push({ property: "requiredScopes", reason: "must be a list of scope names" });
  } else if (rawScopes.length === 0) {
    checks.failures.push({ property: "requiredScopes", reason: "must not be empty (omit it for the default: what IOM's BigCommerce provider needs, orders modify and the rest read-only)" });
  } else {
    const result = normalizeScopes(rawScopes as string[]);
    for (const p of result.problems) checks.failures.push({ property: "requiredScopes", reason: p });
    return result.scopes;
  }
  return [...DEFAULT_REQUIRED_SCOPES];
}

/** The API's base URL without a trailing slash; the default when absent or unknown. */
function apiBaseUrlOf(rawBase: unknown, checks: InputChecks): string {
  if (isUnknown(rawBase)) checks.hasUnknowns = true;
  else if (rawBase !== undefined && rawBase !== null && rawBase !== "") {
    if (typeof rawBase !== "string") checks.failures.push({ property: "apiBaseUrl", reason: "must be a string" });
    else {
      const problem = apiBaseUrlProblem(rawBase);
      if (problem) checks.failures.push({ property: "apiBaseUrl", reason: problem });
      return rawBase.replace(/\/+$/, "");
    }
  }
  return DEFAULT_API_BASE_URL;
}

/** The store name to expect, trimmed; undefined when absent, unknown or invalid. */
function expectedStoreNameOf(expected: unknown, withoutStoreInformation: boolean, checks: InputChecks): string | undefined {
  if (isUnknown(expected)) {
    checks.hasUnknowns = true;
    return undefined;
  }
  if (expected === undefined || expected === null) return undefined;
  if (typeof expected !== "string" || expected.trim() === "") {
    checks.failures.push({ property: "expectedStoreName", reason: "must be a non-empty string when set" });
    return undefined;
  }
  if (withoutStoreInformation) {
    checks.failures.push({
      property: "expectedStoreName",
      reason: `can only be checked with ${STORE_INFORMATION_SCOPE} in requiredScopes (GET /v2/store returns the name)`,
    });
  }
  return expected.trim();
}

/** The store statuses the check accepts, normalized: the default when absent. */
function acceptedStoreStatusesOf(rawStatuses: unknown, withoutStoreInformation: boolean, checks: InputChecks): string[] {
  if (isUnknown(rawStatuses) || (Array.isArray(rawStatuses) && rawStatuses.some(isUnknown))) checks.hasUnknowns = true;
  else if (rawStatuses !== undefined && rawStatuses !== null) {
    if (!Array.isArray(rawStatuses) || rawStatuses.length === 0) {
      checks.failures.push({ property: "acceptedStoreStatuses", reason: "must be a non-empty list of store statuses (omit it for the default: live, prelaunch, pre-launch, trial)" });
    } else {
      const result = normalizeStoreStatuses(rawStatuses);
      for (const p of result.problems) checks.failures.push({ property: "acceptedStoreStatuses", reason: p });
      if (withoutStoreInformation) {
        checks.failures.push({
          property: "acceptedStoreStatuses",
          reason: `can only be checked with ${STORE_INFORMATION_SCOPE} in requiredScopes (GET /v2/store returns the status)`,
        });
      }
      return result.statuses;
    }
  }
  return [...DEFAULT_ACCEPTED_STORE_STATUSES];
}

/**
 * The token's fingerprint in outputs, reports and errors: keyed with the stack's fingerprint key
 * (`keyedFingerprint` of common.ts), so it tells tokens apart without letting anyone who has it, a
 * state file or a log, test a guess.
 */
export function tokenFingerprint(fingerprintKey: string, token: string): string {
  return keyedFingerprint(fingerprintKey, "bigcommerce access token", token);
}

/** The fingerprint states written before issue 17 hold (`sha256:` and 12 hex digits, unkeyed): only compared, never written. */
export function legacyTokenFingerprint(token: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createHash } = require("crypto") as typeof import("crypto");
  return `${LEGACY_TOKEN_FINGERPRINT_PREFIX}${createHash("sha256").update(token, "utf8").digest("hex").slice(0, 12)}`;
}

export const LEGACY_TOKEN_FINGERPRINT_PREFIX = "sha256:";

/** One request of a check: the scope it proves (or supports) and the endpoint it calls. */
export interface PlannedProbe {
  readonly scope: string;
  readonly endpoint: EndpointName;
  /**
   * The read-only GET that goes with a modify scope's write probe (Orders): it proves the token and
   * store hash with a scope the check requires (modify includes read), and tells "read-only" apart
   * from "no orders scope at all". It reports no problem of its own.
   */
  readonly supporting?: boolean;
}

/**
 * The requests of a check: one per required scope, plus, before a write probe, the GET of that
 * scope's read-only form. There is no separate credential request: BigCommerce has none that needs
 * no scope (even `GET /v2/time` needs Information & Settings, api-accounts.mdx lists "Time V2"
 * there), so the token and store hash are proven by any request of the check that succeeds.
 */
export function planProbes(scopes: readonly string[]): { probes: PlannedProbe[] } {
  const probes: PlannedProbe[] = [];
  for (const scope of scopes) {
    const endpoint = SCOPE_PROBES[scope];
    if (endpoint === undefined) throw new Error(`no probe for scope '${scope}' (validate the inputs first)`);
    const readForm = `${scope}_read_only`;
    const readEndpoint = SCOPE_PROBES[readForm];
    if (ENDPOINTS[endpoint].method !== "GET" && readEndpoint !== undefined && !scopes.includes(readForm)) {
      probes.push({ scope: readForm, endpoint: readEndpoint, supporting: true });
    }
    probes.push({ scope, endpoint });
  }
  return { probes };
}

export type Verdict = "ok" | "missing scope" | "rejected" | "not verified" | "unexpected";

export interface ProbeLine {
  /** The scope the request needs (every request of the check needs one). */
  readonly scope: string;
  readonly request: string;
  readonly status: string;
  readonly verdict: Verdict;
  readonly detail?: string;
  readonly attempts: number;
  /** The read-only GET that goes with a modify scope's write probe (see PlannedProbe). */
  readonly supporting?: boolean;
}

export type ProblemKind = "credentials" | "missing-scope" | "store-status" | "name-mismatch" | "unverified" | "unexpected";

export interface Problem {
  readonly kind: ProblemKind;
  /** The input the problem is about (a check failure names it). */
  readonly property: string;
  readonly message: string;
  /**
   * True when BigCommerce gave a definite answer (401, 403, a store that is not live, a wrong
   * name); false for timeouts, network errors, 5xx and 429 after the retries.
   */
  readonly definitive: boolean;
}

/** Whether the token and store hash work, and which answer proved it. */
export interface CredentialsResult {
  readonly verdict: Verdict;
  /** The first request that succeeded, e.g. `GET /v2/store`. */
  readonly provenBy?: string;
}

export interface CheckReport {
  readonly ok: boolean;
  readonly storeHash: string;
  readonly apiBaseUrl: string;
  /** `hmac-sha256:...` keyed with the stack's fingerprint key; absent when the check ran without one (the CLI). */
  readonly tokenFingerprint?: string;
  readonly checkedAt: string;
  readonly durationMs: number;
  readonly credentials: CredentialsResult;
  readonly lines: readonly ProbeLine[];
  readonly scopesVerified: readonly string[];
  readonly missingScopes: readonly string[];
  readonly store?: StoreInfo;
  readonly problems: readonly Problem[];
  readonly stats: ClientStats;
}

function statusText(o: ProbeOutcome): string {
  if (o.status !== undefined) return String(o.status);
  return o.kind === "timeout" ? "timeout" : "network error";
}

function describeOutcome(o: ProbeOutcome): string {
  const tries = o.attempts > 1 ? ` after ${o.attempts} attempts` : "";
  if (o.kind === "timeout") return `${o.request}: ${o.detail ?? "timed out"}${tries}`;
  if (o.kind === "network") return `${o.request}: ${o.detail ?? "network error"}${tries}`;
  if (o.kind === "bad-shape") return `${o.request} answered ${o.status} but ${o.detail ?? "with an unexpected shape"}`;
  const detail = o.detail ? ` "${o.detail}"` : "";
  return `${o.request} answered ${o.status}${detail}${tries}`;
}

export const SCOPE_ADVICE =
  "Scopes of a store-level API account cannot be edited after it is created: create a new API account " +
  "(Settings > Store-level API accounts) with every required scope and use its token.";

/** A verdict on one probe, and the problem to report, if any. */
interface Judgement {
  verdict: Verdict;
  problem?: Problem;
}

/** A judgement that reports a problem. */
const judged = (verdict: Verdict, kind: Problem["kind"], property: Problem["property"], definitive: boolean, message: string): Judgement => ({
  verdict,
  problem: { kind, property, definitive, message },
});

/** A probe's request and its answer, with the scope it needs. */
export interface Probed {
  readonly scope: string;
  readonly outcome: ProbeOutcome;
  readonly supporting?: boolean;
}

/**
 * The token and store hash, judged from all the check's answers at once: any success proves them
 * (a token works only on its own store). Without one, the answers explain why; only a 401, a 404 on
 * a route every store has, or a 403 on every request is definite. Each message names the scopes of
 * the requests it rests on.
 */
function judgeCredentials(probed: readonly Probed[], hash: string): Judgement & { provenBy?: string } {
  const proof = probed.find((p) => p.outcome.kind === "ok");
  if (proof) return { verdict: "ok", provenBy: proof.outcome.request };
  const withStatus = (status: number) => probed.find((p) => p.outcome.status === status);
  const named = (p: Probed) => `${describeOutcome(p.outcome)} [scope ${describeScope(p.scope)}]`;
  const rejected = withStatus(401);
  if (rejected) {
    return judged("rejected", "credentials", "accessToken", true,
      `token rejected (401): ${named(rejected)}. A wrong store hash can look the same: check that '${hash}' is the hash ` +
      `in the API path shown when the API account was created (.../stores/${hash}/v3/) and that the token was copied whole.`);
  }
  const notFound = probed.find((p) => p.outcome.status === 404 && ENDPOINTS[p.outcome.endpoint].method === "GET");
  if (notFound) {
    return judged("rejected", "credentials", "storeHash", true,
      `store hash or token wrong: ${named(notFound)}, a route every store has, so either no store has the hash ` +
      `'${hash}' or the token belongs to another store. Compare the hash with the API path shown for the API account.`);
  }
  if (probed.length > 0 && probed.every((p) => p.outcome.status === 403)) {
    return judged("rejected", "credentials", "accessToken", true,
      `every request answered 403, and BigCommerce answers a token without the scope and a token of another store alike: ` +
      `either the store hash '${hash}' and the token belong to different stores (compare the hash with the API path shown for the API account), ` +
      `or the token has none of the scopes asked for: ${probed.map((p) => describeScope(p.scope)).join(", ")}.`);
  }
  const unavailable = withStatus(503);
  if (unavailable) {
    return judged("not verified", "unverified", "storeHash", false,
      `store unavailable: ${named(unavailable)} (BigCommerce answers 503 for a store down for maintenance or suspended).`);
  }
  const limited = withStatus(429);
  if (limited) {
    return judged("not verified", "unverified", "storeHash", false,
      `rate limited: ${named(limited)} (the store's quota is shared by all its apps; try again when it refills).`);
  }
  const odd = probed.find((p) => p.outcome.kind === "bad-shape" || (p.outcome.status !== undefined && p.outcome.status < 500 && p.outcome.status !== 403));
  if (odd) return judged("unexpected", "unexpected", "apiBaseUrl", false, `could not verify the token: unexpected answer: ${named(odd)}.`);
  const first = probed.find((p) => p.outcome.status !== 403) ?? probed[0];
  return judged("not verified", "unverified", "storeHash", false,
    `could not reach BigCommerce: ${first ? named(first) : "no request was made"}.`);
}

/**
 * The write probe's answer, once the credentials are proven: only 401 and 403 refuse the scope.
 * Any other 4xx (404 no such order, 400/422 a body check, 405 a method check) came from a request
 * BigCommerce let through, and none of them changed data; 408 and 429 are not answers about the
 * request, and 5xx is retried and then reported as not verified (docs/bigcommerce.md).
 */
function writeGranted(outcome: ProbeOutcome): boolean {
  const s = outcome.status;
  return outcome.kind === "http-error" && s !== undefined && s >= 400 && s < 500 && s !== 401 && s !== 403 && s !== 408 && s !== 429;
}

/**
 * One scope's probe. With proven credentials a 403 means the scope is missing; without them the
 * credential judgement already explains a rejection, so a probe adds no problem of its own. Every
 * message names the scope as the control panel shows it.
 */
function judgeScope(p: Probed, credentialsOk: boolean, readFormOk: boolean | undefined): Judgement {
  const { scope, outcome } = p;
  const label = describeScope(scope);
  const answer = describeOutcome(outcome);
  const isWrite = ENDPOINTS[outcome.endpoint].shape === "write-probe";
  if (outcome.kind === "ok") return { verdict: "ok" };
  if (isWrite && credentialsOk && writeGranted(outcome)) return { verdict: "ok" };
  const onlyWithCredentials = (j: Judgement): Judgement => (credentialsOk && !p.supporting ? j : { verdict: j.verdict });
  if (outcome.status === 403 && credentialsOk) {
    const readOnly = `${scope}_read_only`;
    const hint = scope.endsWith("_read_only")
      ? ""
      : readFormOk
        ? ` The token has ${readOnly} (its GET succeeded) but not the modify form: IOM's provider writes to this resource.`
        : ` A token with only ${readOnly} fails here too: IOM's provider writes to this resource.`;
    return onlyWithCredentials(judged("missing scope", "missing-scope", "requiredScopes", true, `missing scope ${label}: ${answer}.${hint}`));
  }
  if (outcome.status === 401 || outcome.status === 403 || (outcome.status === 404 && !credentialsOk)) {
    return onlyWithCredentials(judged("rejected", "credentials", "accessToken", true, `token rejected for ${label}: ${answer}.`));
  }
  if (outcome.kind === "bad-shape" || (outcome.kind === "http-error" && outcome.status !== undefined && outcome.status < 500 && outcome.status !== 429)) {
    return onlyWithCredentials(judged("unexpected", "unexpected", "requiredScopes", false, `${label} not verified: unexpected answer: ${answer}.`));
  }
  return onlyWithCredentials(judged("not verified", "unverified", "requiredScopes", false, `${label} not verified: ${answer}.`));
}

/** What GET /v2/store says against the settings: a status IOM can take orders in, the expected name. */
function storeProblems(store: StoreInfo, settings: CheckSettings): Problem[] {
  const problems: Problem[] = [];
  const hash = settings.storeHash;
  const accepted = settings.acceptedStoreStatuses;
  if (!accepted.includes(store.status.trim().toLowerCase())) {
    problems.push({
      kind: "store-status",
      property: "acceptedStoreStatuses",
      definitive: true,
      message:
        `store '${store.name}' (${hash}) is not open for orders: GET /v2/store reports status '${store.status || "(empty)"}', ` +
        `accepted: ${accepted.join(", ")}. If that status is fine for IOM, add it to acceptedStoreStatuses (stack config bigcommerceAcceptedStoreStatuses).`,
    });
  }
  if (settings.expectedStoreName !== undefined && store.name.trim() !== settings.expectedStoreName) {
    problems.push({
      kind: "name-mismatch",
      property: "expectedStoreName",
      definitive: true,
      message: `store name mismatch: store hash '${hash}' belongs to '${store.name}', expected '${settings.expectedStoreName}' (a token for another store?).`,
    });
  }
  return problems;
}

const lineOf = (p: Probed, verdict: Verdict): ProbeLine => ({
  scope: p.scope,
  request: p.outcome.request,
  status: statusText(p.outcome),
  verdict,
  detail: p.outcome.detail,
  attempts: p.outcome.attempts,
  ...(p.supporting ? { supporting: true } : {}),
});

/** Turns the probe outcomes of one check into the report the provider and the CLI show. */
export function buildReport(args: {
  settings: CheckSettings;
  /** Every request of the check, in plan order (planProbes). */
  probes: readonly Probed[];
  stats: ClientStats;
  checkedAt: string;
  durationMs: number;
  /** The token's fingerprint (keyed with the stack's fingerprint key), when there is a key. */
  tokenFingerprint?: string;
}): CheckReport {
  const { settings, probes } = args;
  const problems: Problem[] = [];
  const credentials = judgeCredentials(probes, settings.storeHash);
  if (credentials.problem) problems.push(credentials.problem);
  const credentialsOk = credentials.verdict === "ok";

  const lines: ProbeLine[] = [];
  const scopesVerified: string[] = [];
  const missingScopes: string[] = [];
  let store: StoreInfo | undefined;
  for (const p of probes) {
    const readForm = probes.find((q) => q.supporting && q.scope === `${p.scope}_read_only`);
    const j = judgeScope(p, credentialsOk, readForm === undefined ? undefined : readForm.outcome.kind === "ok");
    lines.push(lineOf(p, j.verdict));
    if (p.supporting) continue;
    if (j.verdict === "ok") {
      scopesVerified.push(p.scope);
      if (p.outcome.kind === "ok" && p.outcome.store) store = p.outcome.store;
    }
    if (j.verdict === "missing scope" && credentialsOk) missingScopes.push(p.scope);
    if (j.problem) problems.push(j.problem);
  }
  if (store) problems.push(...storeProblems(store, settings));

  return {
    ok: problems.length === 0,
    storeHash: settings.storeHash,
    apiBaseUrl: settings.apiBaseUrl,
    ...(args.tokenFingerprint === undefined ? {} : { tokenFingerprint: args.tokenFingerprint }),
    checkedAt: args.checkedAt,
    durationMs: args.durationMs,
    credentials: { verdict: credentials.verdict, ...(credentials.provenBy ? { provenBy: credentials.provenBy } : {}) },
    lines,
    scopesVerified,
    missingScopes,
    store,
    problems,
    stats: args.stats,
  };
}

/** One error message that lists every problem of a failed check. */
export function formatFailure(report: CheckReport): string {
  const token = report.tokenFingerprint === undefined ? "" : ` (token ${report.tokenFingerprint})`;
  const head =
    `BigCommerce API check failed for store hash '${report.storeHash}' at ${report.apiBaseUrl}${token}: ` +
    `${report.problems.length} problem${report.problems.length === 1 ? "" : "s"}`;
  const items = report.problems.map((p, i) => `  ${i + 1}. ${p.message}`);
  const tail: string[] = [];
  if (report.missingScopes.length > 0) {
    const required = report.lines.filter((l) => !l.supporting).map((l) => describeScope(l.scope));
    tail.push(`${SCOPE_ADVICE} Required: ${required.join(", ")}.`);
  }
  if (report.problems.some((p) => !p.definitive)) {
    tail.push("Some requests got no definite answer (timeout, network, 5xx or rate limit); run the check again, or `npm run check:bigcommerce` to diagnose.");
  }
  return [head, ...items, ...tail].join("\n");
}

/** Output properties of the resource (everything the provider returns; never the token). */
export interface CheckOutputs {
  readonly storeHash: string;
  readonly apiBaseUrl: string;
  readonly requiredScopes: string[];
  readonly expectedStoreName?: string;
  readonly accessTokenConfigKey?: string;
  readonly storeId?: number;
  readonly storeName?: string;
  readonly domain?: string;
  readonly planName?: string;
  readonly status?: string;
  /** `plan_is_trial` of GET /v2/store. */
  readonly planIsTrial?: boolean;
  readonly acceptedStoreStatuses: string[];
  readonly scopesVerified: string[];
  /** `hmac-sha256:...` (see tokenFingerprint); `sha256:...` in states written before issue 17. */
  readonly tokenFingerprint: string;
  /** `fingerprintKeyId` of the key `tokenFingerprint` was made with. */
  readonly fingerprintKeyId?: string;
  readonly checkedAt: string;
}

/** The outputs of a successful check; keys with no value are left out (the engine stores no undefined). */
export function toOutputs(settings: CheckSettings, report: CheckReport): CheckOutputs {
  const outs: Record<string, unknown> = {
    storeHash: settings.storeHash,
    apiBaseUrl: settings.apiBaseUrl,
    requiredScopes: [...settings.requiredScopes],
    expectedStoreName: settings.expectedStoreName,
    accessTokenConfigKey: settings.accessTokenConfigKey,
    storeId: report.store?.storeId,
    storeName: report.store?.name,
    domain: report.store?.domain,
    planName: report.store?.planName,
    status: report.store?.status,
    planIsTrial: report.store?.planIsTrial,
    acceptedStoreStatuses: [...settings.acceptedStoreStatuses],
    scopesVerified: [...report.scopesVerified],
    tokenFingerprint: report.tokenFingerprint,
    fingerprintKeyId: settings.fingerprintKey === undefined ? undefined : fingerprintKeyId(settings.fingerprintKey),
    checkedAt: report.checkedAt,
  };
  for (const key of Object.keys(outs)) if (outs[key] === undefined) delete outs[key];
  return outs as unknown as CheckOutputs;
}

/** Same members, order and duplicates ignored (scopes, store statuses). */
export function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
