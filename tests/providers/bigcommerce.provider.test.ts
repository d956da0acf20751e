// The dynamic provider's check/diff/create/update/read against the BigCommerce emulator.

import { createBigCommerceApiCheckDynamicProvider, legacyTokenFingerprint, tokenFingerprint, type BigCommerceApiCheckInputs } from "../../dynamic-providers/bigcommerce";
import { ENGINE_UNKNOWN } from "../../dynamic-providers/bigcommerce/logic";
import { forgetReports } from "../../dynamic-providers/bigcommerce/reuse";
import { IOM_SCOPES, DEMO_STORE, startBigCommerceEmulator, type BigCommerceEmulator } from "../../emulators/bigcommerce";
import { checkInputs, createFailure, FINGERPRINT_KEY } from "../support/bigcommerce";

const GOOD = "goodtoken0123456789abcdefghijkl";
const OTHER_STORE = "otherstore0123456789abcdefghijk";
const DEFAULT_SCOPES = [
  "store_v2_information_read_only",
  "store_v2_orders",
  "store_v2_products_read_only",
  "store_v2_customers_read_only",
];
const LABELS: Record<string, string> = {
  store_v2_information_read_only: "store_v2_information_read_only (Information & Settings: read-only)",
  store_v2_orders: "store_v2_orders (Orders: modify)",
  store_v2_products_read_only: "store_v2_products_read_only (Products: read-only)",
  store_v2_customers_read_only: "store_v2_customers_read_only (Customers: read-only)",
};
const REQUESTS: Record<string, string> = {
  store_v2_information_read_only: "GET /v2/store",
  store_v2_orders: "PUT /v2/orders/0",
  store_v2_products_read_only: "GET /v3/catalog/products?limit=1",
  store_v2_customers_read_only: "GET /v3/customers?limit=1",
};

// Short timeouts and backoffs so failure paths take milliseconds, not the production 10 s.
const FAST = { timeoutMs: 300, maxRetries: 2, backoffBaseMs: 5, backoffMaxMs: 20, maxRateLimitWaitMs: 2_000 };
const provider = createBigCommerceApiCheckDynamicProvider({ tuning: FAST, checkTuning: FAST });
// For tests that add latency: a timeout a loaded CI machine cannot hit, so no request is retried.
const PATIENT = { ...FAST, timeoutMs: 5_000 };
const patientProvider = createBigCommerceApiCheckDynamicProvider({ tuning: PATIENT, checkTuning: PATIENT });

/** Every token ever handed to the provider in this file: none may come back out. */
const tokensUsed = new Set<string>([GOOD, OTHER_STORE]);
let tokenCounter = 0;

describe("BigCommerceApiCheck provider", () => {
  let emu: BigCommerceEmulator;

  const inputs = (over: Partial<BigCommerceApiCheckInputs> = {}) => checkInputs(emu.url, GOOD, over);

  /** A fresh token with exactly these scopes for store abc123. */
  const tokenWith = (scopes: string[], storeHash = "abc123"): string => {
    tokenCounter += 1;
    const token = `scoped${tokenCounter}tok0123456789abcdefghij`;
    emu.addToken({ token, storeHash, scopes });
    tokensUsed.add(token);
    return token;
  };

  const createError = async (i: BigCommerceApiCheckInputs): Promise<string> => {
    const message = await createFailure(provider, i);
    for (const t of tokensUsed) expect(message).not.toContain(t);
    return message;
  };

  beforeAll(async () => {
    emu = await startBigCommerceEmulator({
      stores: [{ ...DEMO_STORE }, { ...DEMO_STORE, hash: "xyz789", name: "Other Store", storeId: 2002 }],
      tokens: [
        { token: GOOD, storeHash: "abc123", scopes: IOM_SCOPES },
        { token: OTHER_STORE, storeHash: "xyz789", scopes: IOM_SCOPES },
      ],
    });
  });
  afterAll(() => emu.close());
  beforeEach(() => {
    emu.resetLog();
    // Each test is a new `pulumi up`: a new provider process, which has kept no report.
    forgetReports();
  });
  afterEach(() => emu.clearFaults());

  describe("create with a valid token", () => {
    it("returns the store's details and the verified scopes, with one concurrent request per scope plus one", async () => {
      // A barrier, not latency: every answer is held until all the requests have arrived, so they
      // are in flight together however loaded the machine is.
      const release = emu.holdAnswers();
      const creating = patientProvider.create(inputs());
      try {
        for (const until = Date.now() + 10_000; emu.requests.length < DEFAULT_SCOPES.length + 1 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 5));
      } finally {
        release();
      }
      const result = await creating;
      expect(result.id).toBe("abc123");
      expect(result.outs).toMatchObject({
        storeId: 1001234,
        storeName: "Contoso Outdoor",
        domain: "contoso-outdoor.example",
        planName: "Plus",
        status: "live",
        scopesVerified: DEFAULT_SCOPES,
        tokenFingerprint: tokenFingerprint(FINGERPRINT_KEY, GOOD),
      });
      expect(result.outs?.tokenFingerprint).toMatch(/^hmac-sha256:[0-9a-f]{32}$/);
      expect(Date.parse(result.outs?.checkedAt ?? "")).toBeGreaterThan(Date.now() - 60_000);
      expect(emu.requests).toHaveLength(DEFAULT_SCOPES.length + 1);
      expect(emu.maxInFlight()).toBe(DEFAULT_SCOPES.length + 1);
      expect(emu.requests.every((r) => r.hadToken && r.accept === "application/json")).toBe(true);
    });

    it("accepts an empty order list (204) as proof of the orders scope", async () => {
      emu.store("abc123").orders = 0;
      try {
        const result = await provider.create(inputs({ requiredScopes: ["orders"] }));
        expect(result.outs?.scopesVerified).toContain("store_v2_orders_read_only");
        expect(emu.requests.find((r) => r.url.includes("/v2/orders"))?.status).toBe(204);
      } finally {
        emu.store("abc123").orders = DEMO_STORE.orders;
      }
    });

    it("accepts scope short forms and proves only the scopes asked for", async () => {
      const result = await provider.create(inputs({ requiredScopes: ["orders", "channel_settings"] }));
      expect(result.outs?.scopesVerified).toEqual(["store_v2_orders_read_only", "store_channel_settings_read_only"]);
      expect(result.outs?.storeName).toBeUndefined(); // information was not asked for
      expect(emu.requests.map((r) => r.url.replace(/^\/stores\/abc123/, "")).sort()).toEqual(["/v2/orders?limit=1", "/v3/channels"]);
    });
  });

  describe("create fails with one message that says what is wrong", () => {
    it("wrong token: 401, and says a wrong store hash can look the same", async () => {
      const message = await createError(inputs({ accessToken: "wrongtoken0123456789abcdefghijk" }));
      expect(message).toMatch(/token rejected \(401\)/);
      expect(message).toMatch(/wrong store hash can look the same/);
      expect(message).not.toMatch(/missing scope/);
    });

    it.each([401, 403, 404] as const)("wrong store hash answered with %d: says store hash or token, never 'missing scope'", async (status) => {
      const wrong = await startBigCommerceEmulator({ tokens: [{ token: GOOD, storeHash: "abc123", scopes: IOM_SCOPES }], wrongStoreStatus: status });
      try {
        const message = await createError(inputs({ storeHash: "abc124", apiBaseUrl: wrong.url }));
        expect(message).toMatch(
          status === 401 ? /token rejected \(401\).*wrong store hash/s : status === 404 ? /store hash or token wrong/ : /store hash 'abc124' and the token belong to different stores/,
        );
        expect(message).toContain("abc124");
        expect(message).not.toMatch(/missing scope/);
      } finally {
        await wrong.close();
      }
    });

    it("a token of another store is caught by expectedStoreName", async () => {
      const message = await createError(inputs({ storeHash: "xyz789", accessToken: OTHER_STORE, expectedStoreName: "Contoso Outdoor" }));
      expect(message).toMatch(/store name mismatch: store hash 'xyz789' belongs to 'Other Store', expected 'Contoso Outdoor'/);
    });

    it.each(DEFAULT_SCOPES)("missing %s: names the scope, the request that proved it, and that a new API account is needed", async (missing) => {
      const token = tokenWith(DEFAULT_SCOPES.filter((s) => s !== missing));
      const message = await createError(inputs({ accessToken: token }));
      expect(message).toContain(`missing scope ${LABELS[missing]}: ${REQUESTS[missing]} answered 403 "You don't have a required scope to access the endpoint"`);
      expect(message).toMatch(/1 problem\b/);
      expect(message).toMatch(/cannot be edited after it is created: create a new API account/);
      for (const other of DEFAULT_SCOPES.filter((s) => s !== missing)) expect(message).not.toContain(`missing scope ${other}`);
    });

    it("several missing scopes: one error lists them all", async () => {
      const token = tokenWith(["store_v2_information_read_only"]);
      const message = await createError(inputs({ accessToken: token }));
      expect(message).toMatch(/3 problems/);
      expect(message).toContain("1. missing scope store_v2_orders (Orders: modify): PUT /v2/orders/0 answered 403");
      expect(message).toContain("2. missing scope store_v2_products_read_only (Products: read-only): GET /v3/catalog/products?limit=1 answered 403");
      expect(message).toContain("3. missing scope store_v2_customers_read_only (Customers: read-only): GET /v3/customers?limit=1 answered 403");
      expect(message.match(/create a new API account/g)).toHaveLength(1);
    });

    it("a modify scope proves the read-only one", async () => {
      const token = tokenWith(["store_v2_information", "store_v2_orders", "store_v2_products", "store_v2_customers"]);
      const result = await provider.create(inputs({ accessToken: token }));
      expect(result.outs?.scopesVerified).toEqual(DEFAULT_SCOPES);
    });

    it("a store that is not live", async () => {
      emu.store("abc123").status = "maintenance";
      try {
        const message = await createError(inputs());
        expect(message).toMatch(/store 'Contoso Outdoor' \(abc123\) is not open for orders: GET \/v2\/store reports status 'maintenance'/);
      } finally {
        emu.store("abc123").status = "live";
      }
    });

    it("every problem at once: wrong name, not live and a missing scope in one message", async () => {
      emu.store("abc123").status = "suspended";
      try {
        const token = tokenWith(["store_v2_information_read_only", "store_v2_orders", "store_v2_products_read_only"]);
        const message = await createError(inputs({ accessToken: token, expectedStoreName: "Fabrikam" }));
        expect(message).toMatch(/3 problems/);
        expect(message).toMatch(/missing scope store_v2_customers_read_only/);
        expect(message).toMatch(/is not open for orders/);
        expect(message).toMatch(/store name mismatch/);
      } finally {
        emu.store("abc123").status = "live";
      }
    });
  });

  describe("transient failures", () => {
    it("429 storm then success: waits the reset time the headers give, then succeeds", async () => {
      emu.setRateLimit({ quota: 2, windowMs: 250 });
      try {
        const started = Date.now();
        const result = await provider.create(inputs());
        expect(result.outs?.scopesVerified).toEqual(DEFAULT_SCOPES);
        const throttled = emu.requests.filter((r) => r.status === 429);
        expect(throttled.length).toBeGreaterThanOrEqual(1);
        expect(Date.now() - started).toBeGreaterThanOrEqual(200); // waited for the window to refill
        // 4 answered 200, the write probe 404 (no order 0: scope granted).
        expect(emu.requests.filter((r) => r.status === 200 || r.status === 204 || r.status === 404)).toHaveLength(5);
      } finally {
        emu.setRateLimit({ quota: 150, windowMs: 30_000 });
      }
    });

    it("5xx then success: retries the failed request only", async () => {
      emu.addFault({ path: "/v2/store", status: 503, times: 2 });
      const result = await provider.create(inputs());
      expect(result.outs?.storeName).toBe("Contoso Outdoor");
      const storeCalls = emu.requests.filter((r) => r.url.endsWith("/v2/store"));
      expect(storeCalls.map((r) => r.status)).toEqual([503, 503, 200]);
      expect(emu.requests).toHaveLength(7);
    });

    it("a dropped connection is retried", async () => {
      emu.addFault({ path: "/v3/customers", drop: true, times: 1 });
      const result = await provider.create(inputs());
      expect(result.outs?.scopesVerified).toEqual(DEFAULT_SCOPES);
    });

    it("a timeout: bounded retries, then an error that says so and suggests running again", async () => {
      // Answers that would take 10 s each: giving up after 3 attempts of 300 ms takes about 1 s,
      // so the 4 s bound tells the two apart with room for a loaded machine.
      emu.addFault({ path: "/v2/orders/0", delayMs: 10_000, times: 10 });
      const started = Date.now();
      const message = await createError(inputs());
      expect(Date.now() - started).toBeLessThan(4_000);
      expect(message).toMatch(/store_v2_orders \(Orders: modify\) not verified: PUT \/v2\/orders\/0: no answer within 300 ms after 3 attempts/);
      expect(message).toMatch(/run the check again/);
      expect(emu.requests.filter((r) => r.url.includes("/v2/orders/0")).length).toBeLessThanOrEqual(3);
    });

    it("a store that keeps answering 503 fails after bounded retries", async () => {
      emu.addFault({ status: 503, times: 100 });
      const message = await createError(inputs());
      expect(message).toMatch(/store unavailable: GET \/v2\/store answered 503 "Service Unavailable" after 3 attempts \[scope store_v2_information_read_only/);
      expect(emu.requests).toHaveLength(15); // 5 probes x 3 attempts
    });
  });

  describe("check (runs in preview too)", () => {
    it("rejects malformed inputs offline, naming the property, without any request", async () => {
      const result = await provider.check({} as BigCommerceApiCheckInputs, {
        storeHash: "https://api.bigcommerce.com/stores/abc123/v3",
        accessToken: "",
        requiredScopes: ["orders", "store_v2_order_read_only", "store_v2_products"],
        apiBaseUrl: "http://api.example.com",
      });
      const byProperty = (p: string): string[] => (result.failures ?? []).filter((f) => f.property === p).map((f) => f.reason);
      expect(byProperty("storeHash")).toEqual([expect.stringMatching(/use 'abc123'/)]);
      expect(byProperty("accessToken")).toEqual([expect.stringMatching(/is required/)]);
      expect(byProperty("requiredScopes")).toEqual([
        expect.stringMatching(/unknown scope 'store_v2_order_read_only'/),
        expect.stringMatching(/'store_v2_products' is a modify scope/),
      ]);
      expect(byProperty("apiBaseUrl")).toEqual([expect.stringMatching(/must be https:\/\/api\.bigcommerce\.com: the token travels in a header, over https only/)]);
      expect(emu.requests).toHaveLength(0);
    });

    it("fills in defaults and passes good inputs after probing them", async () => {
      const result = await provider.check({} as BigCommerceApiCheckInputs, inputs());
      expect(result.failures).toEqual([]);
      expect(result.inputs?.requiredScopes).toEqual(DEFAULT_SCOPES);
      expect(emu.requests).toHaveLength(5);
    });

    it("a wrong key fails the preview already, on the accessToken property", async () => {
      const result = await provider.check({} as BigCommerceApiCheckInputs, inputs({ accessToken: "wrongtoken0123456789abcdefghijk" }));
      expect(result.failures?.map((f) => f.property)).toEqual(["accessToken"]);
      expect(result.failures?.[0].reason).toMatch(/token rejected \(401\)/);
    });

    it("missing scopes fail the preview on requiredScopes", async () => {
      const token = tokenWith(["store_v2_information_read_only", "store_v2_orders_read_only"]);
      const result = await provider.check({} as BigCommerceApiCheckInputs, inputs({ accessToken: token }));
      const reasons = (result.failures ?? []).filter((f) => f.property === "requiredScopes").map((f) => f.reason);
      expect(reasons.join("\n")).toMatch(/missing scope store_v2_products_read_only[^]*missing scope store_v2_customers_read_only[^]*create a new one/);
    });

    it("an unreachable or failing API does not block a preview (create decides)", async () => {
      emu.addFault({ status: 503, times: 100 });
      const result = await provider.check({} as BigCommerceApiCheckInputs, inputs());
      expect(result.failures).toEqual([]);
      expect(emu.requests.length).toBeGreaterThan(0);
    });

    it("values unknown during preview are not judged and nothing is probed", async () => {
      const result = await provider.check({} as BigCommerceApiCheckInputs, inputs({ accessToken: ENGINE_UNKNOWN }));
      expect(result.failures).toEqual([]);
      expect(emu.requests).toHaveLength(0);
    });

    it("does not probe when built with probeInCheck: false", async () => {
      const offline = createBigCommerceApiCheckDynamicProvider({ probeInCheck: false });
      const result = await offline.check({} as BigCommerceApiCheckInputs, inputs({ accessToken: "wrongtoken0123456789abcdefghijk" }));
      expect(result?.failures).toEqual([]);
      expect(emu.requests).toHaveLength(0);
    });
  });

  describe("diff", () => {
    let olds: Awaited<ReturnType<typeof provider.create>>["outs"];
    beforeAll(async () => {
      olds = (await provider.create(inputs())).outs;
    });
    const diff = (news: BigCommerceApiCheckInputs) => provider.diff("abc123", olds!, news);

    it("no change when nothing relevant changed (scope order and defaults ignored)", async () => {
      expect((await diff(inputs()))?.changes).toBe(false);
      expect((await diff(inputs({ requiredScopes: [...DEFAULT_SCOPES].reverse() })))?.changes).toBe(false);
    });

    it("a new token (different fingerprint) asks for a re-check, in place", async () => {
      const result = await diff(inputs({ accessToken: "rotated0123456789abcdefghijklmn" }));
      expect(result).toMatchObject({ changes: true, replaces: [] });
    });

    it("changed scopes ask for a re-check", async () => {
      expect((await diff(inputs({ requiredScopes: [...DEFAULT_SCOPES, "channel_settings"] })))?.changes).toBe(true);
    });

    it("a different store hash replaces the check", async () => {
      expect(await diff(inputs({ storeHash: "xyz789" }))).toMatchObject({ changes: true, replaces: ["storeHash"] });
    });

    it("a token unknown during preview counts as a change", async () => {
      expect((await diff(inputs({ accessToken: ENGINE_UNKNOWN })))?.changes).toBe(true);
    });

    it("diff never probes", async () => {
      emu.resetLog();
      await diff(inputs({ accessToken: "rotated0123456789abcdefghijklmn" }));
      expect(emu.requests).toHaveLength(0);
    });
  });

  describe("update and read re-probe", () => {
    it("update probes again and returns fresh outputs", async () => {
      const created = await provider.create(inputs());
      emu.resetLog();
      const updated = await provider.update("abc123", created.outs!, inputs({ expectedStoreName: "Contoso Outdoor" }));
      expect(updated?.outs).toMatchObject({ storeName: "Contoso Outdoor", expectedStoreName: "Contoso Outdoor" });
      expect(emu.requests).toHaveLength(5);
    });

    it("read (pulumi refresh) reveals a revoked token, using the token from the stack config", async () => {
      const token = tokenWith(IOM_SCOPES);
      const p = createBigCommerceApiCheckDynamicProvider({ tuning: FAST });
      const key = "iom-bigcommerce:bigcommerceAccessToken";
      await p.configure({ config: { get: (k: string) => (k === key ? token : undefined), require: () => token } });
      const created = await p.create(inputs({ accessToken: token, accessTokenConfigKey: key }));
      const fresh = await p.read("abc123", created.outs);
      expect(fresh?.props?.scopesVerified).toEqual(DEFAULT_SCOPES);
      emu.revokeToken(token);
      await expect(p.read("abc123", created.outs)).rejects.toThrow(/token rejected \(401\)/);
    });

    it("read uses BIGCOMMERCE_ACCESS_TOKEN when the config has no token", async () => {
      const token = tokenWith(["store_v2_information_read_only"]);
      const p = createBigCommerceApiCheckDynamicProvider({ tuning: FAST });
      const created = await p.create(inputs({ accessToken: token, requiredScopes: ["information"] }));
      const saved = process.env.BIGCOMMERCE_ACCESS_TOKEN;
      process.env.BIGCOMMERCE_ACCESS_TOKEN = token;
      try {
        emu.resetLog();
        await p.read("abc123", created.outs);
        expect(emu.requests.map((r) => r.url)).toEqual(["/stores/abc123/v2/store"]);
      } finally {
        if (saved === undefined) delete process.env.BIGCOMMERCE_ACCESS_TOKEN;
        else process.env.BIGCOMMERCE_ACCESS_TOKEN = saved;
      }
    });

    it("read of a state whose apiBaseUrl is another host refuses it and sends the token nowhere", async () => {
      const created = await provider.create(inputs());
      const p = createBigCommerceApiCheckDynamicProvider({ tuning: FAST });
      await p.configure({ config: { get: () => GOOD, require: () => GOOD } });
      emu.resetLog();
      // A state written when any https host was accepted (or edited by hand).
      const old = { ...created.outs!, apiBaseUrl: "https://api.bigcommerce.com.attacker.example" };
      await expect(p.read("abc123", old)).rejects.toThrow(/the state cannot be checked again: apiBaseUrl must be https:\/\/api\.bigcommerce\.com, BigCommerce's API host: a store's token goes to no other host \(got api\.bigcommerce\.com\.attacker\.example\)/);
      expect(emu.requests).toHaveLength(0);
    });

    it("read of a keyed state probes with the stack's token and keeps the state's fingerprint (read gets no key)", async () => {
      const created = await provider.create(inputs());
      const p = createBigCommerceApiCheckDynamicProvider({ tuning: FAST });
      await p.configure({ config: { get: () => GOOD, require: () => GOOD } });
      emu.resetLog();
      const result = await p.read("abc123", created.outs);
      expect(emu.requests).toHaveLength(5);
      expect(result?.props).toMatchObject({ tokenFingerprint: created.outs?.tokenFingerprint, fingerprintKeyId: created.outs?.fingerprintKeyId, scopesVerified: DEFAULT_SCOPES });
    });

    it("read of a state written before issue 17 leaves it alone when the only token at hand is not the one it describes", async () => {
      const created = await provider.create(inputs());
      const { fingerprintKeyId: _k, ...rest } = created.outs!;
      const legacy = { ...rest, tokenFingerprint: legacyTokenFingerprint(GOOD) };
      const p = createBigCommerceApiCheckDynamicProvider({ tuning: FAST });
      await p.configure({ config: { get: () => "anothertoken0123456789abcdefghij", require: () => "x" } });
      emu.resetLog();
      const result = await p.read("abc123", legacy);
      expect(result?.props).toEqual(legacy);
      expect(emu.requests).toHaveLength(0);
    });
  });

  it("no token in anything the provider returns: outputs, diffs, reads, check failures, errors", async () => {
    const collected: unknown[] = [];
    const created = await provider.create(inputs());
    collected.push(created);
    collected.push(await provider.update("abc123", created.outs!, inputs()));
    collected.push(await provider.diff("abc123", created.outs!, inputs({ accessToken: "rotated0123456789abcdefghijklmn" })));
    const p = createBigCommerceApiCheckDynamicProvider({ tuning: FAST });
    await p.configure({ config: { get: () => GOOD, require: () => GOOD } });
    collected.push(await p.read("abc123", created.outs));
    const bad = tokenWith(["store_v2_orders_read_only"]);
    collected.push((await provider.check({} as BigCommerceApiCheckInputs, inputs({ accessToken: bad }))).failures);
    collected.push(await createError(inputs({ accessToken: bad })));
    collected.push(await createError(inputs({ accessToken: "wrongtoken0123456789abcdefghijk" })));
    const text = JSON.stringify(collected);
    for (const t of [...tokensUsed, "wrongtoken0123456789abcdefghijk", FINGERPRINT_KEY]) expect(text).not.toContain(t);
    expect(Object.keys(created.outs ?? {})).not.toContain("accessToken");
    expect(Object.keys(created.outs ?? {})).not.toContain("fingerprintKey");
    expect(text).toContain(tokenFingerprint(FINGERPRINT_KEY, GOOD));
  });
});
