// Issue 17 item 6: the token's fingerprint is keyed with the stack's fingerprint key, a secret input
// the provider never returns, so the state alone cannot test a guess; states with the unkeyed
// sha256 fingerprint migrate with one update and no other change.

import { createBigCommerceApiCheckDynamicProvider, legacyTokenFingerprint, tokenFingerprint, type BigCommerceApiCheckInputs, type BigCommerceApiCheckOutputs } from "../../dynamic-providers/bigcommerce";
import { ENGINE_UNKNOWN } from "../../dynamic-providers/bigcommerce/logic";
import { forgetReports } from "../../dynamic-providers/bigcommerce/reuse";
import { IOM_SCOPES, startBigCommerceEmulator, type BigCommerceEmulator } from "../../emulators/bigcommerce";
import { checkInputs, createFailure, FINGERPRINT_KEY } from "../support/bigcommerce";

const FAST = { timeoutMs: 5_000, maxRetries: 1, backoffBaseMs: 5, backoffMaxMs: 20 };
const provider = createBigCommerceApiCheckDynamicProvider({ tuning: FAST, checkTuning: FAST });
const TOKEN = "fingerprinttoken0123456789abcde";
const ROTATED = "fingerprintrotated0123456789abc";
const OTHER_STACK_KEY = Buffer.alloc(32, 9).toString("base64");

describe("the token's fingerprint", () => {
  let emu: BigCommerceEmulator;
  const inputs = (over: Partial<BigCommerceApiCheckInputs> = {}) => checkInputs(emu.url, TOKEN, over);

  beforeAll(async () => {
    emu = await startBigCommerceEmulator({
      tokens: [
        { token: TOKEN, storeHash: "abc123", scopes: IOM_SCOPES },
        { token: ROTATED, storeHash: "abc123", scopes: ["store_v2_orders_read_only"] },
      ],
    });
  });
  afterAll(() => emu.close());
  beforeEach(() => {
    emu.resetLog();
    forgetReports();
  });

  it("is keyed: another stack's key gives another fingerprint, and the key is in nothing the provider returns", async () => {
    const here = (await provider.create(inputs())).outs!;
    forgetReports();
    const there = (await provider.create(inputs({ fingerprintKey: OTHER_STACK_KEY }))).outs!;
    expect(here.tokenFingerprint).toMatch(/^hmac-sha256:[0-9a-f]{32}$/);
    expect(here.tokenFingerprint).not.toBe(there.tokenFingerprint);
    expect(here.tokenFingerprint).toBe(tokenFingerprint(FINGERPRINT_KEY, TOKEN));
    // Without the key the state holds nothing to compare a guessed token with: not the unkeyed hash.
    expect(here.tokenFingerprint).not.toContain(legacyTokenFingerprint(TOKEN).slice("sha256:".length));
    // (check hands its inputs back, key and token included, as the engine's secret inputs: not here.)
    const failures = (await provider.check(inputs(), inputs({ accessToken: ROTATED }))).failures;
    expect(failures?.length).toBeGreaterThan(0);
    const returned = JSON.stringify([here, there, failures, await createFailure(provider, inputs({ accessToken: ROTATED }))]);
    for (const hidden of [FINGERPRINT_KEY, OTHER_STACK_KEY, TOKEN, ROTATED]) expect(returned).not.toContain(hidden);
  });

  it("a state with the unkeyed sha256 fingerprint migrates: one update, then no change", async () => {
    const created = (await provider.create(inputs())).outs!;
    const { fingerprintKeyId: _k, ...rest } = created;
    const legacy: BigCommerceApiCheckOutputs = { ...rest, tokenFingerprint: legacyTokenFingerprint(TOKEN) };
    // The same token, compared the old way: a change only to rewrite the fingerprint keyed.
    expect(await provider.diff("abc123", legacy, inputs())).toMatchObject({ changes: true, replaces: [] });
    // The preview that creates the key: still one change, and nothing replaced.
    expect(await provider.diff("abc123", legacy, inputs({ fingerprintKey: ENGINE_UNKNOWN }))).toMatchObject({ changes: true, replaces: [] });
    emu.resetLog();
    const migrated = (await provider.update("abc123", legacy, inputs())).outs!;
    expect(migrated.tokenFingerprint).toBe(tokenFingerprint(FINGERPRINT_KEY, TOKEN));
    expect(migrated.fingerprintKeyId).toBe(created.fingerprintKeyId);
    expect(emu.dataChanges()).toBe(0);
    expect((await provider.diff("abc123", migrated, inputs()))?.changes).toBe(false);
  });

  it("a keyed state: a new token is a change, the same token under the same key is none, another key asks for one update", async () => {
    const outs = (await provider.create(inputs())).outs!;
    expect((await provider.diff("abc123", outs, inputs()))?.changes).toBe(false);
    expect((await provider.diff("abc123", outs, inputs({ accessToken: ROTATED })))?.changes).toBe(true);
    expect((await provider.diff("abc123", outs, inputs({ fingerprintKey: OTHER_STACK_KEY })))?.changes).toBe(true);
    expect((await provider.diff("abc123", outs, inputs({ fingerprintKey: ENGINE_UNKNOWN })))?.changes).toBe(true);
  });

  it("a missing or short key fails check and create, naming the property, never quoting it", async () => {
    const short = "shortkey123";
    const checked = await provider.check(inputs(), inputs({ fingerprintKey: short }));
    expect(checked.failures).toEqual([{ property: "fingerprintKey", reason: expect.stringMatching(/at least 32 characters/) }]);
    expect(JSON.stringify(checked.failures)).not.toContain(short);
    const { fingerprintKey: _f, ...withoutKey } = inputs();
    expect((await provider.check(inputs(), withoutKey as BigCommerceApiCheckInputs)).failures?.map((f) => f.property)).toEqual(["fingerprintKey"]);
    emu.resetLog();
    await expect(provider.create(inputs({ fingerprintKey: short }))).rejects.toThrow(/fingerprintKey must be at least 32 characters/);
    expect(emu.requests).toHaveLength(0);
  });
});
