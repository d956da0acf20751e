// Issue 8 item 5: which store statuses pass the check (a free-trial store that is not launched yet
// must pass: IOM's guide builds on one), which fail, and the setting that changes the list.

import { ConfigError, parseStackConfig } from "../../config";
import { createBigCommerceApiCheckDynamicProvider, type BigCommerceApiCheckInputs, type BigCommerceApiCheckOutputs } from "../../dynamic-providers/bigcommerce";
import { DEFAULT_ACCEPTED_STORE_STATUSES, validateInputs } from "../../dynamic-providers/bigcommerce/logic";
import { forgetReports } from "../../dynamic-providers/bigcommerce/reuse";
import { IOM_SCOPES, startBigCommerceEmulator, type BigCommerceEmulator } from "../../emulators/bigcommerce";
import { checkInputs, createFailure } from "../support/bigcommerce";
import { rawStackConfig, type ConfigChanges } from "../support/stack";

const TOKEN = "statustoken0123456789abcdefghij";
const FAST = { timeoutMs: 500, maxRetries: 1, backoffBaseMs: 5, backoffMaxMs: 20 };
const provider = createBigCommerceApiCheckDynamicProvider({ tuning: FAST, checkTuning: FAST });

describe("store status", () => {
  let emu: BigCommerceEmulator;
  const inputs = (over: Partial<BigCommerceApiCheckInputs> = {}) => checkInputs(emu.url, TOKEN, over);
  const withStatus = async <T>(status: string, fn: () => Promise<T>): Promise<T> => {
    emu.store("abc123").status = status;
    try {
      return await fn();
    } finally {
      emu.store("abc123").status = "live";
    }
  };
  const failure = (i: BigCommerceApiCheckInputs) => createFailure(provider, i);

  beforeAll(async () => {
    emu = await startBigCommerceEmulator({ tokens: [{ token: TOKEN, storeHash: "abc123", scopes: IOM_SCOPES }] });
  });
  afterAll(() => emu.close());
  beforeEach(() => forgetReports());

  it("the default accepts a live store, a store not launched yet, and a trial", () => {
    expect(DEFAULT_ACCEPTED_STORE_STATUSES).toEqual(["live", "prelaunch", "pre-launch", "trial"]);
  });

  it.each([...DEFAULT_ACCEPTED_STORE_STATUSES, "Live"])("status %j passes by default", async (status) => {
    const result = await withStatus(status, () => provider.create(inputs()));
    expect(result.outs).toMatchObject({ status, acceptedStoreStatuses: DEFAULT_ACCEPTED_STORE_STATUSES });
  });

  it.each(["maintenance", "hibernation", "suspended", "inactive", ""])("status %j fails by default, naming it, the list and the setting", async (status) => {
    const message = await withStatus(status, () => failure(inputs()));
    expect(message).toContain(`store 'Contoso Outdoor' (abc123) is not open for orders: GET /v2/store reports status '${status || "(empty)"}'`);
    expect(message).toContain("accepted: live, prelaunch, pre-launch, trial");
    expect(message).toContain("bigcommerceAcceptedStoreStatuses");
  });

  it("fails the preview (check) too, on the property that changes it", async () => {
    const checked = await withStatus("maintenance", () => provider.check({} as BigCommerceApiCheckInputs, inputs()));
    expect(checked.failures).toEqual([{ property: "acceptedStoreStatuses", reason: expect.stringMatching(/status 'maintenance'/) }]);
  });

  it("a configured list replaces the default: live only refuses a pre-launch store", async () => {
    const message = await withStatus("prelaunch", () => failure(inputs({ acceptedStoreStatuses: ["live"] })));
    expect(message).toContain("reports status 'prelaunch', accepted: live.");
  });

  it("a configured list can accept another status, case and spaces ignored", async () => {
    const result = await withStatus("maintenance", () => provider.create(inputs({ acceptedStoreStatuses: [" Live", "MAINTENANCE"] })));
    expect(result.outs?.acceptedStoreStatuses).toEqual(["live", "maintenance"]);
  });

  it("a free-trial store not launched yet (as in IOM's guide) passes, and is reported as a trial", async () => {
    emu.store("abc123").planIsTrial = true;
    try {
      const result = await withStatus("prelaunch", () => provider.create(inputs()));
      expect(result.outs).toMatchObject({ status: "prelaunch", planIsTrial: true });
    } finally {
      emu.store("abc123").planIsTrial = false;
    }
    forgetReports(); // a later `pulumi up`
    expect((await provider.create(inputs())).outs?.planIsTrial).toBe(false);
  });

  it("a changed list is a change (update); a state from before the setting is not", async () => {
    const created = await provider.create(inputs());
    const outs = created.outs as BigCommerceApiCheckOutputs;
    const checked = await provider.check({} as BigCommerceApiCheckInputs, inputs());
    expect((await provider.diff("abc123", outs, checked.inputs as BigCommerceApiCheckInputs)).changes).toBe(false);
    expect((await provider.diff("abc123", outs, { ...(checked.inputs as BigCommerceApiCheckInputs), acceptedStoreStatuses: ["live"] })).changes).toBe(true);
    const { acceptedStoreStatuses: _absent, ...older } = outs;
    const unchanged = await provider.diff("abc123", older as BigCommerceApiCheckOutputs, checked.inputs as BigCommerceApiCheckInputs);
    expect(unchanged.changes).toBe(false);
  });

  it("inputs: bad entries, an empty list, or no information scope are refused before any request", () => {
    const reasons = (raw: Record<string, unknown>): string[] =>
      validateInputs({ storeHash: "abc123", accessToken: TOKEN, ...raw }).failures.filter((f) => f.property === "acceptedStoreStatuses").map((f) => f.reason);
    expect(reasons({ acceptedStoreStatuses: ["live", "no such!"] })).toEqual([expect.stringMatching(/'no such!' is not a store status/)]);
    expect(reasons({ acceptedStoreStatuses: [] })).toEqual([expect.stringMatching(/non-empty list/)]);
    expect(reasons({ acceptedStoreStatuses: ["live"], requiredScopes: ["orders"] })).toEqual([expect.stringMatching(/store_v2_information_read_only/)]);
  });
});

describe("config key bigcommerceAcceptedStoreStatuses", () => {
  const STORE: ConfigChanges = { set: { bigcommerceStoreHash: "abc123" }, secrets: { bigcommerceAccessToken: "t0ken" } };
  const parse = (changes: ConfigChanges) => {
    const { raw, secretKeys } = rawStackConfig("dev", changes);
    return parseStackConfig("dev", raw, secretKeys);
  };
  const problem = (changes: ConfigChanges): string => {
    try {
      parse(changes);
    } catch (e) {
      if (e instanceof ConfigError) return e.problems.filter((p) => p.key === "bigcommerceAcceptedStoreStatuses").map((p) => p.message).join("\n");
      throw e;
    }
    throw new Error("expected the configuration to be rejected");
  };

  it("reaches the check resource's settings; unset leaves the default to the check", () => {
    expect(parse(STORE).bigcommerceStores[0].acceptedStoreStatuses).toBeUndefined();
    const set = parse({ ...STORE, set: { ...STORE.set, bigcommerceAcceptedStoreStatuses: ["live"] } });
    expect(set.bigcommerceStores[0].acceptedStoreStatuses).toEqual(["live"]);
  });

  it("is refused without a store, with a bad value, or with scopes that leave out information", () => {
    expect(problem({ set: { bigcommerceAcceptedStoreStatuses: ["live"] } })).toMatch(/only used with bigcommerceStoreHash/);
    expect(problem({ ...STORE, set: { ...STORE.set, bigcommerceAcceptedStoreStatuses: ["li ve"] } })).toMatch(/not a store status/);
    expect(problem({ ...STORE, set: { ...STORE.set, bigcommerceAcceptedStoreStatuses: ["live"], bigcommerceRequiredScopes: ["orders_modify"] } })).toMatch(
      /needs store_v2_information_read_only/,
    );
  });
});
