// Issue 8 item 6: one probe per `pulumi up`. The engine calls check and then create or update in
// the same provider process; a successful check is reused for identical inputs and token, briefly.
// (Through Pulumi's own dynamic-provider host: bigcommerce.host.test.ts.)

import { createBigCommerceApiCheckDynamicProvider, type BigCommerceApiCheckInputs, type BigCommerceApiCheckOutputs } from "../../dynamic-providers/bigcommerce";
import { forgetReports } from "../../dynamic-providers/bigcommerce/reuse";
import { IOM_SCOPES, startBigCommerceEmulator, type BigCommerceEmulator } from "../../emulators/bigcommerce";
import { waitFor } from "../support/barrier";
import { DEFAULT_CHECK_REQUESTS, checkInputs } from "../support/bigcommerce";

const TOKEN = "reusetoken0123456789abcdefghijk";
const ROTATED = "rotatedreuse0123456789abcdefghi";
// No test here is about timeouts: a timeout a loaded CI machine cannot hit, so no slow answer turns
// into a retry that changes the request counts these tests assert.
const FAST = { timeoutMs: 5_000, maxRetries: 1, backoffBaseMs: 5, backoffMaxMs: 20 };
const PROBE = DEFAULT_CHECK_REQUESTS;

describe("a successful check is reused within the process", () => {
  let emu: BigCommerceEmulator;
  const inputs = (over: Partial<BigCommerceApiCheckInputs> = {}) => checkInputs(emu.url, TOKEN, over);
  const provider = createBigCommerceApiCheckDynamicProvider({ tuning: FAST, checkTuning: FAST });

  beforeAll(async () => {
    emu = await startBigCommerceEmulator({
      tokens: [
        { token: TOKEN, storeHash: "abc123", scopes: IOM_SCOPES },
        { token: ROTATED, storeHash: "abc123", scopes: IOM_SCOPES },
      ],
      latencyMs: 20,
    });
  });
  afterAll(() => emu.close());
  beforeEach(() => {
    emu.resetLog();
    forgetReports();
  });

  it("check then create with the same inputs (an `up`): one probe, at most one request per scope plus one, in one round trip", async () => {
    // "All at once": every request is sent before any answer comes back. Answers are held until
    // all have arrived (a client that waits for one answer before the next request never gets
    // there), rather than timed against the emulator's latency (flaky at load 8).
    const release = emu.holdAnswers();
    const checking = provider.check({} as BigCommerceApiCheckInputs, inputs());
    try {
      await waitFor(() => emu.requests.length >= PROBE, `${PROBE} requests before any answer`);
      expect(emu.requests).toHaveLength(PROBE);
    } finally {
      release();
    }
    const checked = await checking;
    expect(checked.failures).toEqual([]);
    const created = await provider.create(checked.inputs as BigCommerceApiCheckInputs);
    expect(emu.requests).toHaveLength(PROBE);
    expect(created.outs).toMatchObject({ storeName: "Contoso Outdoor", scopesVerified: expect.any(Array) });
  });

  it("check then update (a changed setting after a first up) reuses too", async () => {
    const checked = await provider.check({} as BigCommerceApiCheckInputs, inputs({ expectedStoreName: "Contoso Outdoor" }));
    const updated = await provider.update("abc123", {} as BigCommerceApiCheckOutputs, checked.inputs as BigCommerceApiCheckInputs);
    expect(updated.outs?.expectedStoreName).toBe("Contoso Outdoor");
    expect(emu.requests).toHaveLength(PROBE);
  });

  it("different inputs or another token probe again", async () => {
    await provider.check({} as BigCommerceApiCheckInputs, inputs());
    await provider.create(inputs({ accessToken: ROTATED }));
    await provider.create(inputs({ requiredScopes: ["information", "orders_modify"] }));
    await provider.create(inputs({ acceptedStoreStatuses: ["live"] }));
    expect(emu.requests).toHaveLength(PROBE + PROBE + 3 + PROBE);
  });

  it("a failed check is not kept: after the token gains the scope, create probes again and passes", async () => {
    const token = "gainsscope0123456789abcdefghijk";
    emu.addToken({ token, storeHash: "abc123", scopes: ["store_v2_information_read_only"] });
    const checked = await provider.check({} as BigCommerceApiCheckInputs, inputs({ accessToken: token }));
    expect(checked.failures?.length).toBeGreaterThan(0);
    emu.addToken({ token, storeHash: "abc123", scopes: IOM_SCOPES });
    await expect(provider.create(inputs({ accessToken: token }))).resolves.toMatchObject({ id: "abc123" });
    expect(emu.requests).toHaveLength(2 * PROBE);
  });

  it("refresh (read) always probes again: it looks for drift", async () => {
    const configured = createBigCommerceApiCheckDynamicProvider({ tuning: FAST, checkTuning: FAST });
    await configured.configure({ config: { get: (k: string) => (k === "p:token" ? TOKEN : undefined), require: () => TOKEN } } as never);
    const created = await configured.create(inputs({ accessTokenConfigKey: "p:token" }));
    await configured.read("abc123", created.outs);
    expect(emu.requests).toHaveLength(2 * PROBE);
  });

  it("is kept briefly: after the TTL, or with reuse off, create probes again", async () => {
    const short = createBigCommerceApiCheckDynamicProvider({ tuning: FAST, checkTuning: FAST, reuseTtlMs: 50 });
    await short.check({} as BigCommerceApiCheckInputs, inputs());
    await new Promise((r) => setTimeout(r, 80));
    await short.create(inputs());
    expect(emu.requests).toHaveLength(2 * PROBE);

    emu.resetLog();
    const off = createBigCommerceApiCheckDynamicProvider({ tuning: FAST, checkTuning: FAST, reuseTtlMs: 0 });
    await off.check({} as BigCommerceApiCheckInputs, inputs());
    await off.create(inputs());
    expect(emu.requests).toHaveLength(2 * PROBE);
  });

  it("keeps nothing secret: keys are HMACs, values hold the token only as its fingerprint", async () => {
    await provider.check({} as BigCommerceApiCheckInputs, inputs());
    const registry = (globalThis as unknown as Record<symbol, { entries: Map<string, unknown> } | undefined>)[
      Symbol.for("iom-bigcommerce.apiCheck.reusedReports.v1")
    ];
    expect(registry?.entries.size).toBe(1);
    const [key] = [...(registry?.entries.keys() ?? [])];
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify([...(registry?.entries ?? [])])).not.toContain(TOKEN);
  });
});
