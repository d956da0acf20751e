/**
 * BigCommerce: the same check the BigCommerceApiCheck resource runs at `pulumi up` (credentials,
 * every scope IOM needs, the store's status), with the stack's settings and the operator's token.
 */
import { DEFAULT_API_BASE_URL, LEGACY_TOKEN_FINGERPRINT_PREFIX, legacyTokenFingerprint, runApiCheck, SCOPE_ALIASES, validateInputs } from "../dynamic-providers/bigcommerce";
import { DEFAULT_STORE, storeResourceNames } from "../stores";
import { line, plural, type CheckContext } from "./context";
import type { CheckLine } from "./report";
import { errorText, withDeadline } from "./services";
import type { DoctorTarget } from "./target";

const GROUP = "BigCommerce";
const ID = "bigcommerce.api";

type Store = DoctorTarget["config"]["bigcommerceStores"][number];

/** Every store of the stack, all at once (each has its own BigCommerce quota), in config order. */
export async function checkBigCommerce(ctx: CheckContext): Promise<CheckLine[]> {
  const stores = ctx.target.config.bigcommerceStores;
  if (!stores.length) return [line(ID, GROUP, "", "skip", "not configured (bigcommerceStoreHash is empty and bigcommerceStores lists no store)")];
  const lines = await Promise.all(stores.map((store) => checkStore(ctx, store).then((ls) => ls.map((l) => ({ ...l, store: store.name })))));
  return lines.flat();
}

/** The key that holds a store's token, for fixes: `bigcommerceAccessToken`, or `bigcommerceStores[N].accessToken`. */
const tokenKey = (store: Store) => (store.origin === "bigcommerceStoreHash" ? "bigcommerceAccessToken" : `${store.origin}.accessToken`);
const setToken = (store: Store) => `pulumi config set --secret ${store.origin === "bigcommerceStoreHash" ? "" : "--path "}'${tokenKey(store)}' <token>`;

async function checkStore(ctx: CheckContext, bc: Store): Promise<CheckLine[]> {
  const found = ctx.target.secrets.bigcommerce[bc.name] ?? { from: "its token" };
  const token = found.token;
  const vaultSecret = ctx.target.outputs.bigcommerceStores?.[bc.name]?.accessTokenSecretName ?? storeResourceNames(bc).vaultSecretName;
  if (!token) {
    return [line(ID, GROUP, bc.storeHash, "fail", "no access token to test with",
      `set ${found.from} (the token of the store's API account, in Key Vault as '${vaultSecret}')`)];
  }
  const v = validateInputs({
    storeHash: bc.storeHash,
    accessToken: token,
    requiredScopes: bc.requiredScopes,
    apiBaseUrl: ctx.services.bigcommerceApiUrl ?? DEFAULT_API_BASE_URL,
    expectedStoreName: bc.expectedStoreName,
    acceptedStoreStatuses: bc.acceptedStoreStatuses,
  });
  if (!v.settings) {
    return [line(ID, GROUP, bc.storeHash, "fail", v.failures.map((f) => `${f.property} ${f.reason}`).join("; "), `fix the store's settings (${bc.origin}) or its token (${found.source ?? found.from})`)];
  }
  const settings = v.settings;
  let report;
  try {
    report = await withDeadline(ctx.services.groupTimeoutMs, `BigCommerce API (store '${bc.name}')`, () => runApiCheck(settings, { timeoutMs: ctx.services.requestTimeoutMs }));
  } catch (e) {
    return [line(ID, GROUP, bc.storeHash, "fail", errorText(e), "run 'npm run check:bigcommerce' to diagnose the connection")];
  }
  const alias = Object.fromEntries(Object.entries(SCOPE_ALIASES).map(([short, full]) => [full, short]));
  const scopes = report.scopesVerified.map((s) => alias[s] ?? s).join(", ");
  const rl = report.stats.rateLimit;
  const details = {
    storeHash: report.storeHash,
    storeName: report.store?.name,
    status: report.store?.status,
    scopesVerified: report.scopesVerified,
    missingScopes: report.missingScopes,
    tokenFingerprint: report.tokenFingerprint,
    tokenSource: found.source,
    rateLimit: { quota: rl.quota, left: rl.lastLeft, throttled429: rl.throttled429 },
  };
  const out: CheckLine[] = [];
  if (!report.ok) {
    const missing = report.missingScopes.length > 0;
    out.push(line(ID, GROUP, report.storeHash, "fail", report.problems.map((p) => p.message).join(" "),
      missing
        ? `scopes of a store-level API account cannot be changed: create a new API account with every required scope, then '${setToken(bc)}' and 'pulumi up'`
        : report.problems.some((p) => !p.definitive)
          ? "no definite answer from BigCommerce: run the doctor again, or 'npm run check:bigcommerce' to diagnose"
          : `see the problem above; the store hash is ${bc.origin === "bigcommerceStoreHash" ? "bigcommerceStoreHash" : `${bc.origin}.storeHash`}, the token '${tokenKey(bc)}' (set with 'pulumi config set')`,
      details));
  } else {
    const store = report.store ? `store '${report.store.name}' is ${report.store.status || "?"}; ` : "";
    out.push(line(ID, GROUP, report.storeHash, "ok", `${store}token works with ${plural(report.scopesVerified.length, "scope")}: ${scopes}`, undefined, details));
  }
  // The token that passed `pulumi up` is in the outputs as a fingerprint: a different one here means
  // the doctor tested another token than IOM's connection may be using. A keyed fingerprint needs the
  // stack's fingerprint key, which only the providers get: only an older, unkeyed one can be compared.
  const outputs = ctx.target.outputs;
  const deployed = outputs.bigcommerceStores?.[bc.name]?.check?.tokenFingerprint ?? (bc.name === DEFAULT_STORE ? outputs.bigcommerce?.tokenFingerprint : undefined);
  const tested = deployed?.startsWith(LEGACY_TOKEN_FINGERPRINT_PREFIX) ? legacyTokenFingerprint(token) : undefined;
  if (deployed && tested && deployed !== tested) {
    out.push(line("bigcommerce.token", GROUP, report.storeHash, "warn",
      `the token tested (${tested}) is not the one 'pulumi up' last checked (${deployed})`,
      `test with the token the stack holds (unset ${found.source ?? "the variable"} where 'pulumi config get' works), or run 'pulumi up' if the token was changed on purpose`));
  }
  return out;
}
