// Pure logic: offline validation, scope mapping, shapes, report and message.

import { errorDetail, parseSuccess, redact, type ProbeOutcome } from "../../dynamic-providers/bigcommerce/client";
import {
  buildReport,
  formatFailure,
  normalizeScopes,
  planProbes,
  tokenFingerprint,
  validateInputs,
  DEFAULT_ACCEPTED_STORE_STATUSES,
  DEFAULT_REQUIRED_SCOPES,
  UNKNOWN,
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
      acceptedStoreStatuses: DEFAULT_ACCEPTED_STORE_STATUSES,
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

  it("apiBaseUrl: https, or http only for localhost; host only", () => {
    expect(reasons({ ...valid, apiBaseUrl: "http://api.bigcommerce.com" }, "apiBaseUrl")).toEqual([expect.stringMatching(/https/)]);
    expect(reasons({ ...valid, apiBaseUrl: "not a url" }, "apiBaseUrl")).toEqual([expect.stringMatching(/absolute URL/)]);
    expect(reasons({ ...valid, apiBaseUrl: "https://api.bigcommerce.com/stores/abc123/v3" }, "apiBaseUrl")).toEqual([expect.stringMatching(/host only/)]);
    expect(validateInputs({ ...valid, apiBaseUrl: "http://127.0.0.1:4010/" }).settings?.apiBaseUrl).toBe("http://127.0.0.1:4010");
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
    const v = validateInputs({ storeHash: UNKNOWN, accessToken: UNKNOWN, requiredScopes: [UNKNOWN] });
    expect(v).toMatchObject({ failures: [], hasUnknowns: true, settings: undefined });
  });
});

describe("scopes to requests", () => {
  it("maps each scope to the request that proves it, plus the credential baseline", () => {
    const plan = planProbes(["store_v2_information_read_only", "store_v2_orders", "store_v2_products_read_only", "store_v2_customers_read_only", "store_channel_settings_read_only"]);
    expect(plan.baseline).toBe("time");
    expect(plan.scopes.map((p) => p.endpoint)).toEqual(["store", "order-write", "products", "customers", "channels"]);
  });
});

describe("response shapes", () => {
  it("204 is an empty list for v2 lists only", () => {
    expect(parseSuccess("v2-list", 204, "")).toEqual({ ok: true });
    expect(parseSuccess("v3-envelope", 204, "").ok).toBe(false);
  });
  it("v3 envelope needs data and meta; v2 time needs a number", () => {
    expect(parseSuccess("v3-envelope", 200, '{"data":[],"meta":{"pagination":{}}}').ok).toBe(true);
    expect(parseSuccess("v3-envelope", 200, "[]").ok).toBe(false);
    expect(parseSuccess("v2-time", 200, '{"time":"x"}').ok).toBe(false);
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
  const outcome = (o: Partial<ProbeOutcome>): ProbeOutcome => ({ endpoint: "time", request: "GET /v2/time", kind: "ok", status: 200, attempts: 1, durationMs: 1, ...o });

  it("fingerprints tokens without revealing them", () => {
    expect(tokenFingerprint(TOKEN)).toMatch(/^sha256:[0-9a-f]{12}$/);
    expect(tokenFingerprint(TOKEN)).toBe(tokenFingerprint(TOKEN));
    expect(tokenFingerprint(TOKEN)).not.toBe(tokenFingerprint(`${TOKEN}x`));
  });

  it("a 403 after a rejected baseline is not reported as a missing scope", () => {
    const report = buildReport({
      settings,
      baseline: outcome({ status: 403, kind: "http-error" }),
      scopes: [{ scope: "store_v2_orders_read_only", outcome: outcome({ endpoint: "orders", request: "GET /v2/orders?limit=1", status: 403, kind: "http-error" }) }],
      stats,
      checkedAt: "t",
      durationMs: 1,
    });
    expect(report.missingScopes).toEqual([]);
    expect(report.problems).toEqual([expect.objectContaining({ kind: "credentials", property: "storeHash", definitive: true })]);
    expect(report.lines.map((l) => l.verdict)).toEqual(["rejected", "rejected"]);
  });

  it("a timeout is not definitive and the message suggests running again", () => {
    const report = buildReport({
      settings,
      baseline: outcome({}),
      scopes: [{ scope: "store_v2_orders_read_only", outcome: outcome({ endpoint: "orders", request: "GET /v2/orders?limit=1", status: undefined, kind: "timeout", attempts: 4, detail: "no answer within 10000 ms" }) }],
      stats,
      checkedAt: "t",
      durationMs: 1,
    });
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject({ kind: "unverified", definitive: false });
    const message = formatFailure(report);
    expect(message).toMatch(/no answer within 10000 ms after 4 attempts/);
    expect(message).toMatch(/run the check again/);
    expect(message).not.toContain(TOKEN);
  });
});
