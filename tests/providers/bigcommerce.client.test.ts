// The emulator's contract (it must reject what BigCommerce rejects) and the client's HTTP
// behaviour: retries, rate limits, redirects, shapes.

import * as http from "http";
import type { AddressInfo } from "net";
import { createBigCommerceClient, type ClientTuning } from "../../dynamic-providers/bigcommerce/client";
import { ALL_READ_SCOPES, MISSING_SCOPE_BODY, startBigCommerceEmulator, type BigCommerceEmulator } from "../../emulators/bigcommerce";

const TOKEN = "clienttoken0123456789abcdefghij";
const FAST: ClientTuning = { timeoutMs: 300, maxRetries: 2, backoffBaseMs: 5, backoffMaxMs: 20, maxRateLimitWaitMs: 3_000 };

describe("BigCommerce emulator follows the documented contract", () => {
  let emu: BigCommerceEmulator;
  beforeAll(async () => {
    emu = await startBigCommerceEmulator({ tokens: [{ token: TOKEN, storeHash: "abc123", scopes: ["store_v2_orders_read_only"] }] });
  });
  afterAll(() => emu.close());

  const get = (path: string, headers: Record<string, string> = { "X-Auth-Token": TOKEN, Accept: "application/json" }, method = "GET") =>
    fetch(`${emu.url}${path}`, { method, headers });

  it("401 without X-Auth-Token or with an unknown token", async () => {
    expect((await get("/stores/abc123/v2/time", { Accept: "application/json" })).status).toBe(401);
    expect((await get("/stores/abc123/v2/time", { "X-Auth-Token": "nope" })).status).toBe(401);
  });

  it("403 with BigCommerce's missing-scope body for a scope the token lacks, and for a v3 path with a trailing slash", async () => {
    const missing = await get("/stores/abc123/v3/catalog/products?limit=1");
    expect(missing.status).toBe(403);
    expect(await missing.json()).toEqual(MISSING_SCOPE_BODY);
    const slash = await get("/stores/abc123/v3/customers/");
    expect(slash.status).toBe(403);
  });

  it("GET /v2/time needs Information & Settings: 403 without it, 200 with its read-only form", async () => {
    // api-accounts.mdx lists "Time V2" under Information & Settings, next to Store Information V2.
    const missing = await get("/stores/abc123/v2/time");
    expect(missing.status).toBe(403);
    expect(await missing.json()).toEqual(MISSING_SCOPE_BODY);
    emu.addToken({ token: "infotoken0123456789abcdefghijkl", storeHash: "abc123", scopes: ["store_v2_information_read_only"] });
    const granted = await get("/stores/abc123/v2/time", { "X-Auth-Token": "infotoken0123456789abcdefghijkl", Accept: "application/json" });
    expect(granted.status).toBe(200);
    expect(await granted.json()).toEqual({ time: expect.any(Number) });
  });

  it("a token used against another store hash is refused", async () => {
    expect((await get("/stores/zzz999/v2/time")).status).toBe(404);
  });

  it("answers v2 shapes, and 204 with no body for an empty order list", async () => {
    const orders = await get("/stores/abc123/v2/orders?limit=1");
    expect(orders.status).toBe(200);
    expect(Array.isArray(await orders.json())).toBe(true);
    emu.store("abc123").orders = 0;
    const empty = await get("/stores/abc123/v2/orders?limit=1");
    expect(empty.status).toBe(204);
    expect(await empty.text()).toBe("");
    emu.store("abc123").orders = 3;
  });

  it("refuses other methods, unknown paths and out-of-range limits", async () => {
    expect((await get("/stores/abc123/v2/orders", undefined, "DELETE")).status).toBe(405);
    expect((await get("/stores/abc123/v2/nothing")).status).toBe(404);
    expect((await get("/v2/time")).status).toBe(404);
    expect((await get("/stores/abc123/v2/orders?limit=251")).status).toBe(422);
  });

  it("sends rate-limit headers, runs out of quota with 429, and refills after the window", async () => {
    // The window runs on a clock the test moves: a slow request cannot let it expire early.
    let now = 1_000_000;
    emu.setRateLimit({ quota: 2, windowMs: 200, now: () => now });
    try {
      const a = await get("/stores/abc123/v2/orders?limit=1");
      expect(a.headers.get("x-rate-limit-requests-quota")).toBe("2");
      expect(a.headers.get("x-rate-limit-requests-left")).toBe("1");
      expect(Number(a.headers.get("x-rate-limit-time-reset-ms"))).toBeLessThanOrEqual(200);
      expect(a.headers.get("x-rate-limit-time-window-ms")).toBe("200");
      expect((await get("/stores/abc123/v2/orders?limit=1")).status).toBe(200);
      const limited = await get("/stores/abc123/v2/orders?limit=1");
      expect(limited.status).toBe(429);
      expect(limited.headers.get("x-rate-limit-requests-left")).toBe("0");
      now += 199;
      expect((await get("/stores/abc123/v2/orders?limit=1")).status).toBe(429);
      now += 1;
      expect((await get("/stores/abc123/v2/orders?limit=1")).status).toBe(200);
    } finally {
      emu.setRateLimit({ quota: 150, windowMs: 30_000 });
    }
  });
});

describe("BigCommerce client", () => {
  let emu: BigCommerceEmulator;
  beforeAll(async () => {
    emu = await startBigCommerceEmulator({ tokens: [{ token: TOKEN, storeHash: "abc123", scopes: ALL_READ_SCOPES }] });
  });
  afterAll(() => emu.close());
  beforeEach(() => {
    emu.resetLog();
    emu.clearFaults();
    emu.setRateLimit({ quota: 150, windowMs: 30_000 });
  });

  const client = (tuning: ClientTuning = FAST, token = TOKEN, base?: string) =>
    createBigCommerceClient({ storeHash: "abc123", accessToken: token, apiBaseUrl: base ?? emu.url, ...tuning });

  it("parses the v2 store object", async () => {
    // A timeout a loaded machine cannot hit: this is about the answer, not about retries.
    const c = await client({ ...FAST, timeoutMs: 5_000 });
    const o = await c.call("store");
    expect(o).toMatchObject({ kind: "ok", status: 200, attempts: 1, store: { id: "abc123", name: "Contoso Outdoor", status: "live", storeId: 1001234 } });
  });

  it("slows down before Requests-Left reaches zero instead of running into 429", async () => {
    emu.setRateLimit({ quota: 4, windowMs: 400 });
    const c = await client({ ...FAST, reserve: 1, slowDownBelow: 3 });
    for (let i = 0; i < 6; i += 1) expect((await c.call("store")).kind).toBe("ok");
    expect(emu.requests.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    // Counted by the emulator, not timed: the reserve was never spent (6 requests at 3 per window
    // take two windows, however slow the machine), which only waiting for the refill achieves.
    expect(Math.min(...emu.requests.map((r) => r.requestsLeft ?? 0))).toBeGreaterThanOrEqual(1);
    expect(c.stats().rateLimit).toMatchObject({ throttled429: 0, quota: 4 });
  });

  it("on 429 waits X-Rate-Limit-Time-Reset-Ms, then succeeds", async () => {
    emu.setRateLimit({ quota: 1, windowMs: 300 });
    const c = await client();
    const started = Date.now();
    const outcomes = await Promise.all([c.call("store"), c.call("customers"), c.call("orders")]);
    expect(outcomes.map((o) => o.kind)).toEqual(["ok", "ok", "ok"]);
    expect(c.stats().rateLimit.throttled429).toBeGreaterThanOrEqual(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it("on 429 without quota headers waits X-Retry-After seconds", async () => {
    emu.addFault({ path: "/v2/store", status: 429, headers: { "X-Retry-After": "1" }, times: 1 });
    const c = await client();
    const started = Date.now();
    expect(await c.call("store")).toMatchObject({ kind: "ok", attempts: 2 });
    // Read as milliseconds (or ignored for a short backoff), the retry would come at once.
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it("on 429 with neither header backs off and retries", async () => {
    emu.addFault({ path: "/v2/store", status: 429, times: 2 });
    const c = await client();
    expect(await c.call("store")).toMatchObject({ kind: "ok", attempts: 3 });
    expect(c.stats().rateLimit.throttled429).toBe(2);
  });

  it("gives up on 429 after its bounded retries", async () => {
    emu.addFault({ path: "/v2/store", status: 429, times: 10 });
    const c = await client({ ...FAST, maxRateLimitRetries: 2 });
    expect(await c.call("store")).toMatchObject({ kind: "http-error", status: 429, attempts: 3 });
  });

  it("retries 5xx a bounded number of times", async () => {
    emu.addFault({ path: "/v2/store", status: 500, times: 10 });
    const c = await client({ ...FAST, maxRetries: 2 });
    expect(await c.call("store")).toMatchObject({ kind: "http-error", status: 500, attempts: 3 });
    expect(emu.requests).toHaveLength(3);
  });

  it("does not retry 401 or 403", async () => {
    const c = await client(FAST, "wrongtoken0123456789abcdefghijk");
    expect(await c.call("store")).toMatchObject({ kind: "http-error", status: 401, attempts: 1, detail: "Invalid credentials." });
    expect(emu.requests).toHaveLength(1);
  });

  it("times out slow answers and says so", async () => {
    emu.addFault({ path: "/v2/store", delayMs: 1_000, times: 1 });
    // Retries to spare: on a loaded machine a normal answer can take longer than 300 ms too.
    const c = await client({ ...FAST, maxRetries: 3 });
    const o = await c.call("store");
    expect(o).toMatchObject({ kind: "ok" }); // a retry got a normal answer
    expect(o.attempts).toBeGreaterThanOrEqual(2);
    expect(emu.requests[0].status).toBe(0); // the slow one was given up
    emu.addFault({ path: "/v2/store", delayMs: 1_000, times: 5 });
    const failed = await (await client({ ...FAST, maxRetries: 1 })).call("store");
    expect(failed).toMatchObject({ kind: "timeout", attempts: 2, detail: "no answer within 300 ms" });
  });

  it("reports a network error without leaking the request (and its token)", async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const c = await client({ ...FAST, maxRetries: 1 }, TOKEN, `http://127.0.0.1:${port}`);
    const o = await c.call("store");
    expect(o).toMatchObject({ kind: "network", attempts: 2, detail: "network error ECONNREFUSED" });
    expect(JSON.stringify(o)).not.toContain(TOKEN);
  });

  it("never follows a redirect (it could carry the token elsewhere)", async () => {
    let followed = 0;
    const target = http.createServer((_req, res) => {
      followed += 1;
      res.end("{}");
    });
    await new Promise<void>((r) => target.listen(0, "127.0.0.1", r));
    const targetPort = (target.address() as AddressInfo).port;
    const redirecting = http.createServer((_req, res) => {
      res.writeHead(302, { Location: `http://127.0.0.1:${targetPort}/steal` });
      res.end();
    });
    await new Promise<void>((r) => redirecting.listen(0, "127.0.0.1", r));
    try {
      const c = await client(FAST, TOKEN, `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}`);
      expect(await c.call("store")).toMatchObject({ kind: "http-error", status: 302 });
      expect(followed).toBe(0);
    } finally {
      redirecting.close();
      target.close();
    }
  });

  it("flags a 200 that is not BigCommerce's shape (e.g. a proxy page)", async () => {
    const proxy = http.createServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end("<html>login</html>");
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    try {
      const c = await client(FAST, TOKEN, `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`);
      expect(await c.call("customers")).toMatchObject({ kind: "bad-shape", status: 200 });
    } finally {
      proxy.close();
    }
  });
});
