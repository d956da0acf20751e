/**
 * Issue 17's table, rows 1-5, 9 and 10, for the Power Platform policy link (the BAP admin API),
 * through the hostile servers of tests/support, with small deadlines (1 s per request, 2.5 s per
 * operation, Retry-After up to 2 s); and item 8c: a token for the wrong audience is explained in
 * the BAP's terms, not Dataverse's.
 */
import { ENV_ID, POLICY_ARM_ID, POLICY_SYSTEM_ID, PowerPlatformAdminEmulator, startAdminEmulator } from "../../emulators/power-platform-admin";
import { createPowerPlatformPolicyLinkDynamicProvider, type PowerPlatformPolicyLinkInputs } from "../../dynamic-providers/power-platform";
import { describeHostileServers } from "../support/hostile-servers-table";

const TOKEN = "bap-token";
const LIMITS = { requestTimeoutMs: 1000, operationTimeoutMs: 2500, maxRetryAfterMs: 2000 };
const inputs = (bapUrl: string): PowerPlatformPolicyLinkInputs => ({ environmentId: ENV_ID, policySystemId: POLICY_SYSTEM_ID, policyArmId: POLICY_ARM_ID, policyLocation: "europe", bapUrl });
const saved = { token: process.env.POWER_PLATFORM_ACCESS_TOKEN, timeout: process.env.POWER_PLATFORM_OPERATION_TIMEOUT_MS };

beforeEach(() => {
  process.env.POWER_PLATFORM_ACCESS_TOKEN = TOKEN;
  // The provider reads the operation's deadline from the environment (no input, not in the state).
  process.env.POWER_PLATFORM_OPERATION_TIMEOUT_MS = String(LIMITS.operationTimeoutMs);
});
afterAll(() => {
  for (const [k, v] of [["POWER_PLATFORM_ACCESS_TOKEN", saved.token], ["POWER_PLATFORM_OPERATION_TIMEOUT_MS", saved.timeout]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

describeHostileServers("the policy link (PowerPlatformPolicyLink create)", {
  token: TOKEN,
  startService: async () => {
    const emu = await startAdminEmulator();
    emu.pollsPerOperation = 1_000_000; // an operation that keeps running: only the client's rules end the polling
    return { url: emu.url, stop: () => emu.stop() };
  },
  limits: LIMITS,
  followsLinks: true,
  polls: {
    isStart: (method, path) => method === "POST" && path.endsWith("/NetworkInjection/link"),
    isPoll: (method, path) => method === "GET" && path.includes("/lifecycleOperations/"),
  },
  run: (url) => createPowerPlatformPolicyLinkDynamicProvider({ client: { timeoutMs: LIMITS.requestTimeoutMs, maxRetryAfterMs: LIMITS.maxRetryAfterMs, retryBaseMs: 2, retryMaxMs: 20 } }).create(inputs(url)),
});

describe("row 5: a BAP endpoint of no known cloud gets no token, and is refused at once", () => {
  const provider = createPowerPlatformPolicyLinkDynamicProvider();

  it.each(["https://evil.example.com", "https://api.bap.microsoft.com@evil.example.com", "https://api.bap.microsoft.com:8443"])("%s, without POWER_PLATFORM_ACCESS_TOKEN: no retries, no network error", async (bapUrl) => {
    delete process.env.POWER_PLATFORM_ACCESS_TOKEN;
    const started = Date.now();
    const e = (await provider.create(inputs(bapUrl)).catch((x: unknown) => x)) as Error;
    expect(Date.now() - started).toBeLessThan(1000);
    expect(e.message).toMatch(/check powerPlatformBapUrl/);
    expect(e.message).not.toMatch(/network|retry/i);
  });

  it("with POWER_PLATFORM_ACCESS_TOKEN set: refused before any request, the token nowhere", async () => {
    const started = Date.now();
    const e = (await provider.create(inputs("https://evil.example.com")).catch((x: unknown) => x)) as Error;
    expect(Date.now() - started).toBeLessThan(1000);
    expect(e.message).toMatch(/https:\/\/evil\.example\.com is not a known Power Platform admin \(BAP\) host .*check powerPlatformBapUrl \(no token is sent there\)/);
    expect(e.message).not.toContain(TOKEN);
  });

  it("check() refuses it too, on the bapUrl property", async () => {
    const r = await provider.check!(inputs("https://evil.example.com"), inputs("https://evil.example.com"));
    expect(r.failures).toEqual([{ property: "bapUrl", reason: expect.stringMatching(/not a known Power Platform admin \(BAP\) host/) }]);
  });
});

describe("item 8c: the BAP refusing a token's audience", () => {
  let emu: PowerPlatformAdminEmulator;
  beforeEach(async () => {
    emu = await startAdminEmulator();
  });
  afterEach(() => emu.stop());
  const jwt = (claims: Record<string, unknown>) => `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;

  it("names the BAP, its audience and the scope to ask for, not a Dataverse environment", async () => {
    // A token for a Dataverse environment, the mistake the old message invited.
    process.env.POWER_PLATFORM_ACCESS_TOKEN = jwt({ aud: "https://contoso.crm4.dynamics.com", appid: "11111111-2222-3333-4444-555555555555", tid: "t", idtyp: "app", exp: Math.floor(Date.now() / 1000) + 3600 });
    const provider = createPowerPlatformPolicyLinkDynamicProvider({ client: { retryBaseMs: 2, retryMaxMs: 20 } });
    const e = (await provider.create(inputs(emu.url)).catch((x: unknown) => x)) as Error;
    expect(e.message).toContain(`The Power Platform admin API (BAP) at ${emu.url} refused GET /providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/${ENV_ID} with HTTP 401`);
    expect(e.message).toContain("Token from the POWER_PLATFORM_ACCESS_TOKEN environment variable: application id 11111111-2222-3333-4444-555555555555");
    expect(e.message).toContain("Expected audience: https://service.powerapps.com (request the token with scope https://service.powerapps.com/.default)");
    expect(e.message).toContain("Fix: the token is for another resource; get one for https://service.powerapps.com/.default");
    expect(e.message).not.toMatch(/Dataverse environment|application user/);
    expect(emu.log).toHaveLength(1); // not retried
  });

  it("a 403 advises the administrator role, not a Dataverse application user", async () => {
    process.env.POWER_PLATFORM_ACCESS_TOKEN = TOKEN;
    emu.fault({ kind: "403", times: 1 });
    const provider = createPowerPlatformPolicyLinkDynamicProvider({ client: { retryBaseMs: 2, retryMaxMs: 20 } });
    const e = (await provider.create(inputs(emu.url)).catch((x: unknown) => x)) as Error;
    expect(e.message).toMatch(/refused GET .* with HTTP 403/);
    expect(e.message).toMatch(/Power Platform administrator role/);
    expect(e.message).not.toMatch(/Dataverse environment|application user/);
  });
});
