/**
 * Several stores' API checks through Pulumi's dynamic-provider host, as a `pulumi preview` of a
 * stack with several stores makes them (one Check per store's resource, all registered at once, no
 * dependency between them): the checks are in flight together, each within its own store's quota;
 * a store whose token falls short fails its own check only; and `pulumi refresh` finds each store's
 * token in the structured key `bigcommerceStores`.
 */
import { ALL_READ_SCOPES, DEMO_STORE, IOM_SCOPES, startBigCommerceEmulator, type BigCommerceEmulator } from "../../emulators/bigcommerce";
import { FINGERPRINT_KEY } from "../support/bigcommerce";
import { serializedProvider } from "../support/program";
import { hostCalls, startProviderHost, type HostCalls, type ProviderHost } from "../support/provider-host";

const STORES = [
  { name: "outdoor", hash: "out123", token: "storetoken-outdoor-0123456789abcdef", scopes: IOM_SCOPES },
  { name: "winter", hash: "win456", token: "storetoken-winter-0123456789abcdefg", scopes: IOM_SCOPES },
  // Read-only orders: IOM writes order statuses back, so this store's check must fail.
  { name: "spring", hash: "spr789", token: "storetoken-spring-0123456789abcdefg", scopes: ALL_READ_SCOPES },
];
type Store = (typeof STORES)[number];
/** GET /v2/time and one request per default scope. */
const PROBE = 5;
const CONFIG_KEY = "iom-bigcommerce:bigcommerceStores";
const urn = (s: Store) => `urn:pulumi:dev::iom-bigcommerce::pulumi-nodejs:dynamic/bigcommerce:ApiCheck::bigcommerce-api-check-${s.name}`;

describe("several stores' API checks through the dynamic-provider host", () => {
  let emu: BigCommerceEmulator;
  let host: ProviderHost;
  let calls: HostCalls;
  let providerText: string;
  /** The rate-limit window's clock (an emulator control): each test starts a new window. */
  let clock = 0;

  beforeAll(async () => {
    emu = await startBigCommerceEmulator({
      stores: STORES.map((s, i) => ({ ...DEMO_STORE, hash: s.hash, storeId: 2000 + i, name: `Contoso ${s.name}` })),
      tokens: STORES.map((s) => ({ token: s.token, storeHash: s.hash, scopes: s.scopes })),
      // Each store has its own quota (BigCommerce's rate limit is per store): one check fits in it,
      // three do not, so a check that drew on another store's quota would be throttled.
      rateLimit: { quota: PROBE + 1, windowMs: 60_000, now: () => clock },
    });
    providerText = (await serializedProvider("bigCommerceApiCheckDynamicProvider")).text;
    host = await startProviderHost();
    calls = hostCalls(host.client);
    // The stack config as the engine hands it over: the list of stores, tokens included.
    await calls.configure({ [CONFIG_KEY]: JSON.stringify(STORES.map((s) => ({ name: s.name, providerName: `BigCommerce ${s.name}`, storeHash: s.hash, accessToken: s.token }))) });
  }, 20_000);

  afterAll(async () => {
    host?.stop();
    await emu.close();
  });
  beforeEach(() => {
    emu.resetLog();
    clock += 60_000;
  });

  const inputs = (s: Store) => ({ storeHash: s.hash, accessToken: s.token, apiBaseUrl: emu.url, accessTokenConfigKey: CONFIG_KEY, fingerprintKey: FINGERPRINT_KEY, __provider: providerText });
  const requestsOf = (s: Store) => emu.requests.filter((r) => r.url.startsWith(`/stores/${s.hash}/`));

  it("run at once, each store within its own quota; one failing store fails only its own check", async () => {
    // Every store's requests arrive before any answer is sent: the checks are in flight together.
    const release = emu.holdAnswers();
    const checks = STORES.map((s) => calls.check(urn(s), inputs(s)));
    try {
      for (const until = Date.now() + 5_000; emu.requests.length < STORES.length * PROBE && Date.now() < until; ) await new Promise((r) => setTimeout(r, 5));
      expect(STORES.map((s) => requestsOf(s).length)).toEqual([PROBE, PROBE, PROBE]);
    } finally {
      release();
    }
    const [outdoor, winter, spring] = await Promise.all(checks);
    expect(outdoor.failures).toEqual([]);
    expect(winter.failures).toEqual([]);
    expect(outdoor.inputs).toMatchObject({ storeHash: "out123" });
    expect(winter.inputs).toMatchObject({ storeHash: "win456" });
    expect(spring.failures.map((f) => f.property)).toContain("requiredScopes");
    expect(spring.failures[0].reason).toMatch(/missing scope store_v2_orders \(Orders: modify\)/);
    // The failure is about its own store only, and carries no token.
    const reasons = JSON.stringify(spring.failures);
    for (const other of ["out123", "win456", ...STORES.map((s) => s.token)]) expect(reasons).not.toContain(other);
    // Within each store's own quota: nothing throttled, and every store has quota left.
    expect(emu.requests.filter((r) => r.status === 429)).toEqual([]);
    for (const s of STORES) expect(Math.min(...requestsOf(s).map((r) => r.requestsLeft ?? 0))).toBe(1);
  });

  it("refresh reads each store's token from the list of stores, and keeps none in the state", async () => {
    const winter = STORES[1];
    const created = await calls.create(urn(winter), inputs(winter));
    emu.resetLog();
    // `read` gets only the stored outputs: the token is the one in the list whose fingerprint matches.
    const refreshed = await calls.read(urn(winter), created.id, created.properties);
    expect(requestsOf(winter)).toHaveLength(PROBE);
    expect(emu.requests).toHaveLength(PROBE);
    expect(refreshed).toMatchObject({ storeHash: "win456", storeName: "Contoso winter" });
    const state = JSON.stringify({ ...created.properties, __provider: undefined, refreshed: { ...refreshed, __provider: undefined } });
    for (const s of STORES) expect(state).not.toContain(s.token);
  });
});
