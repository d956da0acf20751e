/**
 * BigCommerce: the same check the BigCommerceApiCheck resource runs at `pulumi up` (credentials,
 * every scope IOM needs, the store's status), with the stack's settings and the operator's token.
 */
import { doctorStoreOf } from "./target";
import { DEFAULT_API_BASE_URL, runApiCheck, SCOPE_ALIASES, validateInputs } from "../dynamic-providers/bigcommerce";
import { line, plural, type CheckContext } from "./context";
import type { CheckLine } from "./report";
import { errorText, withDeadline } from "./services";
import { BIGCOMMERCE_TOKEN_ENV } from "./target";

const GROUP = "BigCommerce";
const ID = "bigcommerce.api";

export async function checkBigCommerce(ctx: CheckContext): Promise<CheckLine[]> {
  const bc = doctorStoreOf(ctx.target.config);
  if (!bc) return [line(ID, GROUP, "", "skip", "not configured (bigcommerceStoreHash is empty)")];
  const token = ctx.target.secrets.bigcommerceAccessToken;
  if (!token) {
    return [line(ID, GROUP, bc.storeHash, "fail", "no access token to test with",
      `set ${BIGCOMMERCE_TOKEN_ENV} to the token of the store-level API account (the one in Key Vault as 'bigcommerce-access-token'), or run where 'pulumi config get bigcommerceAccessToken --stack ${ctx.target.stack}' works`)];
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
    return [line(ID, GROUP, bc.storeHash, "fail", v.failures.map((f) => `${f.property} ${f.reason}`).join("; "), `fix the stack's bigcommerce* settings or ${BIGCOMMERCE_TOKEN_ENV}`)];
  }
  const settings = v.settings;
  let report;
  try {
    report = await withDeadline(ctx.services.groupTimeoutMs, "BigCommerce API", () => runApiCheck(settings, { timeoutMs: ctx.services.requestTimeoutMs }));
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
    tokenSource: ctx.target.secrets.bigcommerceTokenSource,
    rateLimit: { quota: rl.quota, left: rl.lastLeft, throttled429: rl.throttled429 },
  };
  const out: CheckLine[] = [];
  if (!report.ok) {
    const missing = report.missingScopes.length > 0;
    out.push(line(ID, GROUP, report.storeHash, "fail", report.problems.map((p) => p.message).join(" "),
      missing
        ? "scopes of a store-level API account cannot be changed: create a new API account with every required scope, then 'pulumi config set --secret bigcommerceAccessToken <token>' and 'pulumi up'"
        : report.problems.some((p) => !p.definitive)
          ? "no definite answer from BigCommerce: run the doctor again, or 'npm run check:bigcommerce' to diagnose"
          : "see the problem above; the token and store hash are set with 'pulumi config set'",
      details));
  } else {
    const store = report.store ? `store '${report.store.name}' is ${report.store.status || "?"}; ` : "";
    out.push(line(ID, GROUP, report.storeHash, "ok", `${store}token works with ${plural(report.scopesVerified.length, "scope")}: ${scopes}`, undefined, details));
  }
  // The token that passed `pulumi up` is in the outputs as a fingerprint: a different one here means
  // the doctor tested another token than IOM's connection may be using.
  const deployed = ctx.target.outputs.bigcommerce?.tokenFingerprint;
  if (deployed && deployed !== report.tokenFingerprint) {
    out.push(line("bigcommerce.token", GROUP, report.storeHash, "warn",
      `the token tested (${report.tokenFingerprint}) is not the one 'pulumi up' last checked (${deployed})`,
      `test with the token the stack holds (unset ${BIGCOMMERCE_TOKEN_ENV} where 'pulumi config get' works), or run 'pulumi up' if the token was changed on purpose`));
  }
  return out;
}
