// Pure logic: offline validation, scope mapping, shapes, report and message.

import { errorDetail, parseSuccess, redact, type ProbeOutcome } from "../../dynamic-providers/bigcommerce/client";
import {
  buildReport,
  formatFailure,
  normalizeScopes,
  planProbes,
  tokenFingerprint,
  validateInputs,
  DEFAULT_REQUIRED_SCOPES,
  ENGINE_UNKNOWN,
  type CheckSettings,
} from "../../dynamic-providers/bigcommerce/logic";

const TOKEN = "logictoken0123456789abcdefghijk";
const valid = { storeHash: "abc123", accessToken: TOKEN };

const reasons = (raw: Record<string, unknown>, property: string): string[] =>
  validateInputs(raw).failures.filter((f) => f.property === property).map((f) => f.reason);

describe("validateInputs", () => {
  it("accepts minimal inputs and applies the defaults", () => {
    const v = validateInputs(valid);
    expect(v.failures).toEqual([]);
    expect(v.settings).toEqual({
      storeHash: "abc123",
      accessToken: TOKEN,
      requiredScopes: DEFAULT_REQUIRED_SCOPES,
      apiBaseUrl: "https://api.bigcommerce.com",
      expectedStoreName: undefined,
      accessTokenConfigKey: undefined,
      acceptedStoreStatuses: ["live", "prelaunch", "pre-launch", "trial"],
    });
  });

  it.each([
    ["", /is required/],
    ["ABC123", /lowercase/],
    [" abc123", /spaces/],
    ["https://api.bigcommerce.com/stores/abc123/v3/", /use 'abc123'/],
    ["store-abc123.mybigcommerce.com", /use 'abc123'/],
    ["ab", /3-32 lowercase letters and digits/],
    ["abc_123", /3-32 lowercase letters and digits/],
  ])("rejects store hash %j", (storeHash, reason) => {
    expect(reasons({ ...valid, storeHash }, "storeHash")).toEqual([expect.stringMatching(reason)]);
  });

  it.each([
    [undefined, /is required/],
    ["   ", /is required/],
    [`${TOKEN}\n`, /whitespace/],
  ])("rejects token %j without quoting it", (accessToken, reason) => {
    const r = reasons({ ...valid, accessToken }, "accessToken");
    expect(r).toEqual([expect.stringMatching(reason)]);
    expect(r.join()).not.toContain(TOKEN);
  });

  it("normalizes scope short forms and duplicates, and explains what it cannot prove", () => {
    expect(normalizeScopes(["orders", "store_v2_orders_read_only", " products "])).toEqual({
      scopes: ["store_v2_orders_read_only", "store_v2_products_read_only"],
      problems: [],
    });
    const { problems } = normalizeScopes(["store_v2_ordres_read_only", "store_v2_products", "store_cart_read_only"]);
    expect(problems).toEqual([
      expect.stringMatching(/unknown scope 'store_v2_ordres_read_only'/),
      expect.stringMatching(/'store_v2_products' is a modify scope.*require 'store_v2_products_read_only'/),
      expect.stringMatching(/'store_cart_read_only' is a valid BigCommerce scope but this check has no probe/),
    ]);
  });

  it("rejects an empty or non-list requiredScopes", () => {
    expect(reasons({ ...valid, requiredScopes: [] }, "requiredScopes")).toEqual([expect.stringMatching(/must not be empty/)]);
    expect(reasons({ ...valid, requiredScopes: "orders" }, "requiredScopes")).toEqual([expect.stringMatching(/list/)]);
  });

  // BigCommerce's API reference documents one host for the REST Management API (v2 and v3):
  // api.bigcommerce.com/stores/{store_hash}/... (bigcommerce/docs, "API Reference" server table).
  it.each([
    ["http://api.bigcommerce.com", /over https only/],
    ["not a url", /not a URL/],
    ["https://api.bigcommerce.com/stores/abc123/v3", /without a path/],
    ["https://api.bigcommerce.co", /BigCommerce's API host: a store's token goes to no other host \(got api\.bigcommerce\.co\)/],
    ["https://api.bigcommerce.com.attacker.example", /no other host \(got api\.bigcommerce\.com\.attacker\.example\)/],
    ["https://payments.bigcommerce.com", /no other host/],
    ["https://api.bigcommerce.com@attacker.example", /user name in the URL/],
    ["https://api.bigcommerce.com:8443", /without a port/],
    ["https://api.bigcommerce.com/?x=1", /without a path, query/],
    ["https://127.0.0.1", /no other host \(got 127\.0\.0\.1\)/],
    ["http://user:pw@127.0.0.1:4010", /user name in the URL/],
  ])("apiBaseUrl %s is refused", (apiBaseUrl, reason) => {
    expect(reasons({ ...valid, apiBaseUrl }, "apiBaseUrl")).toEqual([expect.stringMatching(reason)]);
  });

  it("apiBaseUrl: BigCommerce's host, or plain http to this machine (the emulators)", () => {
    expect(validateInputs({ ...valid, apiBaseUrl: "https://api.bigcommerce.com/" }).settings?.apiBaseUrl).toBe("https://api.bigcommerce.com");
    expect(validateInputs({ ...valid, apiBaseUrl: "https://API.BigCommerce.com" }).settings?.apiBaseUrl).toBe("https://API.BigCommerce.com");
    expect(validateInputs({ ...valid, apiBaseUrl: "http://127.0.0.1:4010/" }).settings?.apiBaseUrl).toBe("http://127.0.0.1:4010");
    expect(validateInputs({ ...valid, apiBaseUrl: "http://localhost:4010" }).settings?.apiBaseUrl).toBe("http://localhost:4010");
  });

  it("expectedStoreName needs the information scope", () => {
    expect(reasons({ ...valid, expectedStoreName: "Contoso", requiredScopes: ["orders"] }, "expectedStoreName")).toEqual([
      expect.stringMatching(/store_v2_information_read_only/),
    ]);
    expect(reasons({ ...valid, expectedStoreName: "Contoso" }, "expectedStoreName")).toEqual([]);
    // Normalized, so a stray space in the stack config does not show as a change on every diff.
    expect(validateInputs({ ...valid, expectedStoreName: " Contoso " }).normalized.expectedStoreName).toBe("Contoso");
  });

  it("reports every problem at once", () => {
    const v = validateInputs({ storeHash: "X", accessToken: "", requiredScopes: ["nope"], apiBaseUrl: "ftp://x" });
    expect(v.failures.map((f) => f.property)).toEqual(["storeHash", "accessToken", "requiredScopes", "apiBaseUrl"]);
    expect(v.settings).toBeUndefined();
  });

  it("does not judge values unknown during preview", () => {
    const v = validateInputs({ storeHash: ENGINE_UNKNOWN, accessToken: ENGINE_UNKNOWN, requiredScopes: [ENGINE_UNKNOWN] });
    expect(v).toMatchObject({ failures: [], hasUnknowns: true, settings: undefined });
  });
});

describe("scopes to requests", () => {
  it("maps each scope to the request that proves it; a write probe gets its read-only GET first, no request needs a scope the check does not ask for", () => {
    const plan = planProbes([...DEFAULT_REQUIRED_SCOPES, "store_channel_settings_read_only"]);
    expect(plan.probes.map((p) => [p.scope, p.endpoint, p.supporting ?? false])).toEqual([
      ["store_v2_information_read_only", "store", false],
      ["store_v2_orders_read_only", "orders", true],
      ["store_v2_orders", "order-write", false],
      ["store_v2_products_read_only", "products", false],
      ["store_v2_customers_read_only", "customers", false],
      ["store_channel_settings_read_only", "channels", false],
    ]);
    expect(planProbes(["products"].map((s) => `store_v2_${s}_read_only`)).probes.map((p) => p.endpoint)).toEqual(["products"]);
  });
});

describe("response shapes", () => {
  it("204 is an empty list for v2 lists only", () => {
    expect(parseSuccess("v2-list", 204, "")).toEqual({ ok: true });
    expect(parseSuccess("v3-envelope", 204, "").ok).toBe(false);
  });
  it("v3 envelope needs data and meta", () => {
    expect(parseSuccess("v3-envelope", 200, '{"data":[],"meta":{"pagination":{}}}').ok).toBe(true);
    expect(parseSuccess("v3-envelope", 200, "[]").ok).toBe(false);
    expect(parseSuccess("v2-list", 200, "<html/>")).toEqual({ ok: false, problem: expect.stringMatching(/not JSON/) });
  });
  it("reads v3 and v2 error bodies", () => {
    expect(errorDetail('{"status":403,"title":"You don\'t have a required scope to access the endpoint"}')).toMatch(/required scope/);
    expect(errorDetail('[{"status":404,"message":"The requested resource was not found."}]')).toMatch(/not found/);
  });
  it("redacts a secret wherever it appears", () => {
    expect(redact(`a ${TOKEN} b ${TOKEN}`, TOKEN)).toBe("a [redacted] b [redacted]");
  });
});

describe("report and message", () => {
  const settings: CheckSettings = { storeHash: "abc123", accessToken: TOKEN, requiredScopes: ["store_v2_orders_read_only"], apiBaseUrl: "https://api.bigcommerce.com", acceptedStoreStatuses: ["live"] };
  const stats = { requests: 2, maxConcurrent: 2, rateLimit: { throttled429: 0, waitedMs: 0 } };
  const orders = (o: Partial<ProbeOutcome>): ProbeOutcome => ({ endpoint: "orders", request: "GET /v2/orders?limit=1", kind: "ok", status: 200, attempts: 1, durationMs: 1, ...o });
  const report = (probes: Parameters<typeof buildReport>[0]["probes"], over: Partial<CheckSettings> = {}) =>
    buildReport({ settings: { ...settings, ...over }, probes, stats, checkedAt: "t", durationMs: 1 });

  it("fingerprints tokens without revealing them: keyed, stable under one key, another under another", () => {
    const key = "k".repeat(44);
    expect(tokenFingerprint(key, TOKEN)).toMatch(/^hmac-sha256:[0-9a-f]{32}$/);
    expect(tokenFingerprint(key, TOKEN)).toBe(tokenFingerprint(key, TOKEN));
    expect(tokenFingerprint(key, TOKEN)).not.toBe(tokenFingerprint(key, `${TOKEN}x`));
    expect(tokenFingerprint(key, TOKEN)).not.toBe(tokenFingerprint("j".repeat(44), TOKEN));
  });

  it("a 403 on every request is not reported as a missing scope: it names both causes and every scope asked for", () => {
    const r = report([{ scope: "store_v2_orders_read_only", outcome: orders({ status: 403, kind: "http-error" }) }]);
    expect(r.missingScopes).toEqual([]);
    expect(r.problems).toEqual([expect.objectContaining({ kind: "credentials", property: "accessToken", definitive: true })]);
    expect(r.problems[0].message).toMatch(/every request answered 403[^]*store hash 'abc123' and the token belong to different stores[^]*store_v2_orders_read_only \(Orders: read-only\)/);
    expect(r.lines.map((l) => l.verdict)).toEqual(["rejected"]);
    expect(r.credentials).toEqual({ verdict: "rejected" });
  });

  it("any success proves the credentials, so a 403 elsewhere is that scope's result", () => {
    const r = report(
      [
        { scope: "store_v2_information_read_only", outcome: { endpoint: "store", request: "GET /v2/store", kind: "http-error", status: 403, attempts: 1, durationMs: 1 } },
        { scope: "store_v2_orders_read_only", outcome: orders({}) },
      ],
      { requiredScopes: ["store_v2_information_read_only", "store_v2_orders_read_only"] },
    );
    expect(r.credentials).toEqual({ verdict: "ok", provenBy: "GET /v2/orders?limit=1" });
    expect(r.missingScopes).toEqual(["store_v2_information_read_only"]);
    expect(r.scopesVerified).toEqual(["store_v2_orders_read_only"]);
  });

  it("every line and every problem names the scope its request needs", () => {
    const r = report(
      [
        { scope: "store_v2_orders_read_only", outcome: orders({ status: 401, kind: "http-error" }), supporting: true },
        { scope: "store_v2_orders", outcome: { endpoint: "order-write", request: "PUT /v2/orders/0", kind: "http-error", status: 401, attempts: 1, durationMs: 1 } },
      ],
      { requiredScopes: ["store_v2_orders"] },
    );
    expect(r.lines.map((l) => l.scope)).toEqual(["store_v2_orders_read_only", "store_v2_orders"]);
    expect(r.problems[0].message).toMatch(/^token rejected \(401\): GET \/v2\/orders\?limit=1 answered 401 \[scope store_v2_orders_read_only \(Orders: read-only\)\]/);
    const timedOut = report([{ scope: "store_v2_orders_read_only", outcome: orders({ status: undefined, kind: "timeout", attempts: 4, detail: "no answer within 10000 ms" }) }]);
    expect(timedOut.problems.map((p) => p.message).join("\n")).toContain("[scope store_v2_orders_read_only (Orders: read-only)]");
  });

  it("a timeout is not definitive and the message suggests running again", () => {
    const r = report([
      { scope: "store_v2_orders_read_only", outcome: orders({ status: undefined, kind: "timeout", attempts: 4, detail: "no answer within 10000 ms" }) },
    ]);
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatchObject({ kind: "unverified", definitive: false });
    const message = formatFailure(r);
    expect(message).toMatch(/no answer within 10000 ms after 4 attempts/);
    expect(message).toMatch(/run the check again/);
    expect(message).not.toContain(TOKEN);
  });
});
