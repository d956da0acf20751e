// Issue 17 item 7: BigCommerce has no request that needs no scope (its API-accounts page lists
// "Time V2", GET /v2/time, under Information & Settings), so the check proves the token and store
// hash with the requests of the scopes it asks for. A token without Information & Settings is told
// that it lacks that scope, not that its store hash or token is wrong, and every result names the
// scope its request needs.

import { createBigCommerceApiCheckDynamicProvider, runApiCheck } from "../../dynamic-providers/bigcommerce";
import { describeScope, validateInputs } from "../../dynamic-providers/bigcommerce/logic";
import { forgetReports } from "../../dynamic-providers/bigcommerce/reuse";
import { IOM_SCOPES, startBigCommerceEmulator, type BigCommerceEmulator } from "../../emulators/bigcommerce";
import { checkInputs, createFailure } from "../support/bigcommerce";

// Nothing here is about timing: a timeout a loaded machine cannot hit.
const FAST = { timeoutMs: 5_000, maxRetries: 1, backoffBaseMs: 5, backoffMaxMs: 20 };
const provider = createBigCommerceApiCheckDynamicProvider({ tuning: FAST, checkTuning: FAST });

/** IOM's scopes without Information & Settings. */
const NO_INFO = "noinfotoken0123456789abcdefghij";
const NO_INFO_SCOPES = IOM_SCOPES.filter((s) => s !== "store_v2_information_read_only");
const PRODUCTS_ONLY = "productsonly0123456789abcdefghi";

describe("credentials are proven by the requests of the scopes the check asks for", () => {
  let emu: BigCommerceEmulator;
  const settingsFor = (accessToken: string, requiredScopes?: string[]) => {
    const v = validateInputs({ ...checkInputs(emu.url, accessToken), ...(requiredScopes ? { requiredScopes } : {}) });
    if (!v.settings) throw new Error(JSON.stringify(v.failures));
    return v.settings;
  };

  beforeAll(async () => {
    emu = await startBigCommerceEmulator({
      tokens: [
        { token: NO_INFO, storeHash: "abc123", scopes: NO_INFO_SCOPES },
        { token: PRODUCTS_ONLY, storeHash: "abc123", scopes: ["store_v2_products_read_only"] },
      ],
    });
  });
  afterAll(() => emu.close());
  beforeEach(() => {
    emu.resetLog();
    forgetReports();
  });

  it("a token without Information & Settings passes a check that does not ask for it, without calling anything that needs it", async () => {
    const result = await provider.create(checkInputs(emu.url, NO_INFO, { requiredScopes: ["orders_modify", "products", "customers"] }));
    expect(result.outs?.scopesVerified).toEqual(["store_v2_orders", "store_v2_products_read_only", "store_v2_customers_read_only"]);
    const paths = emu.requests.map((r) => r.url.replace(/^\/stores\/abc123/, "").replace(/\?.*$/, ""));
    expect(paths).not.toContain("/v2/time");
    expect(paths).not.toContain("/v2/store");
    expect(emu.requests.every((r) => r.status !== 403)).toBe(true);
  });

  it("with the default scopes it is told the one scope it lacks, and the other scopes' results still show", async () => {
    const report = await runApiCheck(settingsFor(NO_INFO));
    expect(report.credentials.verdict).toBe("ok");
    expect(report.missingScopes).toEqual(["store_v2_information_read_only"]);
    expect(report.scopesVerified).toEqual(["store_v2_orders", "store_v2_products_read_only", "store_v2_customers_read_only"]);
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: "missing-scope", property: "requiredScopes", definitive: true }),
    ]);
    expect(report.problems[0].message).toMatch(/^missing scope store_v2_information_read_only \(Information & Settings: read-only\): GET \/v2\/store answered 403/);

    // The preview (check) fails on the scope, not on the store hash or the token.
    const checked = await provider.check(checkInputs(emu.url, NO_INFO), checkInputs(emu.url, NO_INFO));
    expect([...new Set(checked.failures?.map((f) => f.property))]).toEqual(["requiredScopes"]);
    const message = await createFailure(provider, checkInputs(emu.url, NO_INFO));
    expect(message).not.toMatch(/store hash or token wrong|token rejected/);
  });

  it("a token with only one of the scopes asked for: the check still proves it works, and names each missing scope", async () => {
    const report = await runApiCheck(settingsFor(PRODUCTS_ONLY));
    expect(report.credentials).toEqual({ verdict: "ok", provenBy: "GET /v3/catalog/products?limit=1" });
    expect(report.missingScopes).toEqual(["store_v2_information_read_only", "store_v2_orders", "store_v2_customers_read_only"]);
  });

  it("every result line names the scope its request needs, and every problem names a scope as the control panel shows it", async () => {
    for (const token of [NO_INFO, PRODUCTS_ONLY, "unknowntoken0123456789abcdefghi"]) {
      const report = await runApiCheck(settingsFor(token, ["information", "orders_modify", "products", "customers", "channel_settings"]));
      expect(report.lines.length).toBeGreaterThan(0);
      // describeScope knows the scope's family: "<scope> (<control panel name>: read-only|modify)".
      for (const line of report.lines) expect(describeScope(line.scope)).toMatch(/^store_\w+ \([^:]+: (read-only|modify)\)$/);
      expect(report.problems.length).toBeGreaterThan(0);
      for (const problem of report.problems) expect(problem.message).toMatch(/store_\w+ \([^:)]+: (read-only|modify)\)/);
    }
  });
});
