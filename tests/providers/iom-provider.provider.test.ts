/**
 * IomProviderParameters against the Dataverse emulator holding IOM's provider tables with columns
 * nobody can guess: discovery, create -> diff -> update -> refresh -> delete, secrets, and the
 * errors an operator relies on.
 */
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { createHash, randomBytes } from "crypto";
import { FAST, TOKEN } from "../../emulators/dataverse-harness";
import { BC_PARAMS, IOM_COLUMNS, IV_PARAMS, SeededIom, startIomEnvironment } from "../../emulators/iom-provider-tables";
import { createIomProviderParametersDynamicProvider, type IomProviderParametersInputs, type IomProviderParametersOutputs } from "../../dynamic-providers/iom-provider";
import { createDataverseClient } from "../../dynamic-providers/dataverse/client";
import { discoverIomProviderSchema, parseIomProviderSchemaOverride } from "../../dynamic-providers/iom-provider/discovery";
import { legacyScryptFingerprint } from "../../dynamic-providers/iom-provider/parameters";
import { SECRET_CHANGED } from "../../dynamic-providers/iom-provider/provider";
import { ENGINE_UNKNOWN, isUnknown, keyedFingerprint } from "../../dynamic-providers/common";
import { captureConsolePerTest } from "../support/console";

const provider = createIomProviderParametersDynamicProvider({ client: FAST });
let env: SeededIom;

const IV = {
  "Inventory Visibility File Drop Location": "https://stretaildevweu1.blob.core.windows.net/d365iomfiledropdevweu",
  "Inventory Visibility Error File Drop Location": "https://stretaildevweu1.blob.core.windows.net/d365iomerrorfiledevweu",
  // The guide's form spells it "OrganizationId"; Microsoft's page "Organization ID": the same parameter.
  "Inventory Visibility OrganizationId": "6f1d3c1e-2b7a-4c55-9a0e-5d2f8b3c4a10",
};

/** The stack's fingerprint key, as index.ts makes one (32 random bytes, base64); another stack has another. */
const KEY = randomBytes(32).toString("base64");
const OTHER_STACK_KEY = randomBytes(32).toString("base64");

function inputs(extra: Partial<IomProviderParametersInputs> = {}): IomProviderParametersInputs {
  return { environmentUrl: env.url, providerName: "Inventory Visibility", parameters: { ...IV }, secretParameters: {}, schemaOverride: "", fingerprintKey: KEY, ...extra };
}

beforeEach(async () => {
  process.env.DATAVERSE_ACCESS_TOKEN = TOKEN;
  env = await startIomEnvironment({ token: TOKEN });
});
afterEach(() => env.stop());

test("the providers' unknown marker is the one the SDK hands them in a preview", () => {
  expect(ENGINE_UNKNOWN).toBe(unknownValue);
  expect(isUnknown(unknownValue)).toBe(true);
});

describe("discovery of IOM's provider tables", () => {
  it("finds every column from metadata, though none has a guessable name", async () => {
    const s = await discoverIomProviderSchema(createDataverseClient({ environmentUrl: env.url, ...FAST }));
    expect(s.provider).toMatchObject({ entitySet: "msdyn_iomproviders", name: IOM_COLUMNS.providerName, status: IOM_COLUMNS.providerStatus, definition: { attribute: IOM_COLUMNS.providerDefinition, nav: "msdyn_R9d2vk" } });
    expect(s.definitionParameter).toMatchObject({ label: IOM_COLUMNS.defParamDisplay, name: IOM_COLUMNS.defParamName, definition: { attribute: IOM_COLUMNS.defParamDefinition } });
    expect(s.parameter).toMatchObject({ value: IOM_COLUMNS.paramValue, provider: { attribute: IOM_COLUMNS.paramProvider, nav: "msdyn_Pp5b1t" }, definitionParameter: { attribute: IOM_COLUMNS.paramDefinition } });
  });

  it("an override wins, and a wrong one is reported with the table's columns", async () => {
    const client = createDataverseClient({ environmentUrl: env.url, ...FAST });
    const s = await discoverIomProviderSchema(client, parseIomProviderSchemaOverride(`definitionParameterName=${IOM_COLUMNS.defParamName}`));
    expect(s.definitionParameter.label).toBe(IOM_COLUMNS.defParamName);
    await expect(discoverIomProviderSchema(client, { parameterValue: "msdyn_nosuch" })).rejects.toThrow(/override parameterValue=msdyn_nosuch is not one of its columns/);
    expect(() => parseIomProviderSchemaOverride("colour=red")).toThrow(/unknown key "colour"/);
  });
});

describe("create -> diff -> update -> refresh -> delete", () => {
  it("sets exactly the named parameters, then changes only what changed", async () => {
    const created = await provider.create(inputs());
    const outs = created.outs as IomProviderParametersOutputs;
    expect(env.value(env.ivProviderId, IV_PARAMS[0])).toBe(IV["Inventory Visibility File Drop Location"]);
    expect(env.value(env.ivProviderId, IV_PARAMS[2])).toBe(IV["Inventory Visibility OrganizationId"]);
    expect(outs.written).toHaveLength(3);
    expect(outs.activationStatus).toBe("Inactive");
    expect(env.value(env.bcProviderId, "Store Hash")).toBe("other-team-store"); // another provider: untouched

    // No change: the diff says so (this is what a preview runs).
    expect((await provider.diff!(created.id, outs, inputs())).changes).toBe(false);

    // One parameter changed: diff names it, update writes one value and nothing else.
    const changed = inputs({ parameters: { ...IV, "Inventory Visibility Error File Drop Location": "https://stretaildevweu1.blob.core.windows.net/errors2" } });
    const d = await provider.diff!(created.id, outs, changed);
    expect(d.changes).toBe(true);
    expect(d.replaces).toEqual([]);
    expect(Object.keys((d as { detailedDiff: object }).detailedDiff)).toEqual(['parameters["Inventory Visibility Error File Drop Location"]']);
    env.emu.resetStats();
    const updated = (await provider.update!(created.id, outs, changed)).outs as IomProviderParametersOutputs;
    expect(env.emu.stats.byMethod.PATCH).toBe(1);
    expect(env.emu.stats.byMethod.POST ?? 0).toBe(0);
    expect(updated.written).toEqual(["Inventory Visibility Error File Drop Location"]);
    expect(env.value(env.ivProviderId, IV_PARAMS[1])).toBe("https://stretaildevweu1.blob.core.windows.net/errors2");

    // Someone edits a value in the portal: refresh reports it, and hands back the actual value as input.
    env.setValue(env.ivProviderId, IV_PARAMS[0], "https://elsewhere.blob.core.windows.net/x");
    const read = await provider.read!(created.id, updated);
    const props = read.props as IomProviderParametersOutputs;
    expect(props.drift).toEqual([{ name: "Inventory Visibility File Drop Location", applied: IV["Inventory Visibility File Drop Location"], actual: "https://elsewhere.blob.core.windows.net/x" }]);
    expect((read.inputs as unknown as IomProviderParametersInputs).parameters["Inventory Visibility File Drop Location"]).toBe("https://elsewhere.blob.core.windows.net/x");
    expect((await provider.diff!(created.id, props, changed)).changes).toBe(true);

    // Delete leaves every value as it is and calls nothing.
    env.emu.resetStats();
    await provider.delete!(created.id, props);
    expect(env.emu.stats.requests).toBe(0);
    expect(env.value(env.ivProviderId, IV_PARAMS[1])).toBe("https://stretaildevweu1.blob.core.windows.net/errors2");
  });

  it("creates a parameter row the provider lacks, bound to the right provider and definition", async () => {
    const rowId = env.rows.iv.get(IV_PARAMS[1])!;
    env.emu.table("msdyn_iomproviderparameter").rows.delete(rowId);
    await provider.create(inputs());
    const rows = env.emu.rows("msdyn_iomproviderparameter").filter((r) => r[IOM_COLUMNS.paramProvider] === env.ivProviderId);
    expect(rows).toHaveLength(3);
    expect(rows.find((r) => r[IOM_COLUMNS.paramValue] === IV["Inventory Visibility Error File Drop Location"])).toBeDefined();
  });

  it("waits out 429s (Retry-After) and still writes each value once", async () => {
    env.emu.fault("429", 3);
    env.emu.setOptions({ windowMs: 100 }); // Retry-After of 0.01 s
    const created = await provider.create(inputs());
    // The 3 injected 429s, plus the parallel reads already on the wire when the first one came
    // back: the emulator throttles those too, as the service extends a pause for requests inside it.
    expect(env.emu.stats.throttled).toBeGreaterThanOrEqual(3);
    expect((created.outs as IomProviderParametersOutputs).written).toHaveLength(3);
    expect(env.emu.stats.byMethod.PATCH).toBe(3);
  });
});

describe("secrets", () => {
  const bc = (value: string, extra: Partial<IomProviderParametersInputs> = {}): IomProviderParametersInputs => ({
    environmentUrl: env.url,
    providerName: "BigCommerce",
    parameters: { "Store Hash": "abc123" },
    secretParameters: { "API Key": value },
    schemaOverride: "",
    fingerprintKey: KEY,
    ...extra,
  });
  const logs = captureConsolePerTest();

  it("a secret parameter is written, but only a keyed fingerprint is in the state, and neither it nor the key is logged", async () => {
    const secret = "bc-api-key-0123456789";
    const created = await provider.create(bc(secret));
    const outs = created.outs as IomProviderParametersOutputs;
    expect(env.value(env.bcProviderId, "API Key")).toBe(secret);
    expect(JSON.stringify(outs)).not.toContain(secret);
    expect(JSON.stringify(outs)).not.toContain(KEY);
    expect(Object.keys(outs)).not.toContain("fingerprintKey");
    expect(outs.applied["API Key"]).toMatch(/^hmac-sha256:[0-9a-f]{32}$/);
    expect(outs.applied["Store Hash"]).toBe("abc123");
    expect(outs.fingerprintSalt).toBeUndefined();
    expect((await provider.diff!(created.id, outs, bc(secret))).changes).toBe(false);
    expect((await provider.diff!(created.id, outs, bc("rotated-key"))).changes).toBe(true);
    expect(logs.join("\n")).toMatch(/set API Key \(secret\), Store Hash/);
    for (const hidden of [secret, KEY]) expect(logs.join("\n")).not.toContain(hidden);

    // Drift on a secret is detected without the value, or the key, reaching the provider's read:
    // the row's version (ETag) changed since the apply.
    env.setValue(env.bcProviderId, "API Key", "typed-in-the-portal");
    const read = await provider.read!(created.id, outs);
    const text = JSON.stringify(read);
    expect(text).not.toContain("typed-in-the-portal");
    expect(text).not.toContain(secret);
    const props = read.props as IomProviderParametersOutputs;
    expect(props.drift).toEqual([{ name: "API Key", applied: outs.applied["API Key"], actual: SECRET_CHANGED }]);
    expect((read.inputs as unknown as IomProviderParametersInputs).secretParameters).toEqual({ "API Key": "(secret changed outside Pulumi)" });
    // The next preview shows the secret as changed; `up` puts it back and a refresh then finds none.
    expect((await provider.diff!(created.id, props, bc(secret))) as { detailedDiff: object }).toMatchObject({ changes: true, detailedDiff: { 'parameters["API Key"]': { kind: "UPDATE" } } });
    const repaired = (await provider.update!(created.id, props, bc(secret))).outs as IomProviderParametersOutputs;
    expect(env.value(env.bcProviderId, "API Key")).toBe(secret);
    expect(((await provider.read!(created.id, repaired)).props as IomProviderParametersOutputs).drift).toEqual([]);
    expect(BC_PARAMS).toContain("API Key");
  });

  it("our own write is not drift: the versions kept are the rows' versions after the write", async () => {
    const created = (await provider.create(bc("first-key"))).outs as IomProviderParametersOutputs;
    const updated = (await provider.update!("id", created, bc("second-key"))).outs as IomProviderParametersOutputs;
    expect(updated.written).toEqual(["API Key"]);
    expect(((await provider.read!("id", updated)).props as IomProviderParametersOutputs).drift).toEqual([]);
  });

  it("a state file alone cannot test a guess: the fingerprint depends on the stack's key, which the state does not hold", async () => {
    const pin = "4821"; // a 4-digit secret: 10,000 candidates, what scrypt with a stored salt gave up in 155 s
    const here = (await provider.create(bc(pin))).outs as IomProviderParametersOutputs;
    const there = (await provider.create(bc(pin, { fingerprintKey: OTHER_STACK_KEY }))).outs as IomProviderParametersOutputs;
    // The same secret in two stacks: two fingerprints.
    expect(here.applied["API Key"]).not.toBe(there.applied["API Key"]);
    // Every string in the state long enough to be a key, tried as the key (and no key at all): no
    // candidate matches; nor is the fingerprint a plain hash of one.
    const state = JSON.stringify(here);
    const fromState = [...new Set(state.match(/[A-Za-z0-9+/=:_-]{32,}/g) ?? [])];
    expect(fromState).not.toContain(KEY);
    const candidates = Array.from({ length: 10_000 }, (_, i) => String(i).padStart(4, "0"));
    const stored = here.applied["API Key"];
    const hits = (key: string) => candidates.filter((c) => keyedFingerprint(key, "iom provider parameter apikey", c) === stored);
    for (const guessKey of ["", ...fromState]) expect(hits(guessKey)).toEqual([]);
    const digits = stored.slice("hmac-sha256:".length);
    expect(candidates.filter((c) => createHash("sha256").update(c).digest("hex").startsWith(digits))).toEqual([]);
    // Only the key, which the engine keeps encrypted, makes the search possible: it finds the pin.
    expect(hits(KEY)).toEqual([pin]);
  });

  it("states with scrypt fingerprints migrate: compared the old way, then one update rewrites them keyed and writes nothing to IOM", async () => {
    const secret = "bc-api-key-0123456789";
    const created = (await provider.create(bc(secret))).outs as IomProviderParametersOutputs;
    // The state the code before issue 17 wrote: a scrypt fingerprint with its salt next to it.
    const salt = "3f0c1f7e-5d6a-4c1b-9a47-2d8e6b1f0a93";
    const { fingerprintKeyId: _k, secretVersions: _v, ...rest } = created;
    const legacy: IomProviderParametersOutputs = { ...rest, applied: { ...created.applied, "API Key": legacyScryptFingerprint(secret, salt) }, fingerprintSalt: salt };

    // Same secret: no parameter shows as changed; one change, the fingerprint key, asks for the rewrite.
    const same = (await provider.diff!("id", legacy, bc(secret))) as { changes: boolean; detailedDiff: object };
    expect(same).toMatchObject({ changes: true, replaces: [] });
    expect(same.detailedDiff).toEqual({ fingerprintKey: { kind: "UPDATE", inputDiff: true } });
    // A changed secret is still seen, through the old scheme.
    expect(Object.keys(((await provider.diff!("id", legacy, bc("rotated"))) as { detailedDiff: object }).detailedDiff).sort()).toEqual(["fingerprintKey", 'parameters["API Key"]']);
    // The preview that creates the key (not known yet) compares the old way too.
    const pending = (await provider.diff!("id", legacy, bc(secret, { fingerprintKey: unknownValue }))) as { detailedDiff: object };
    expect(pending.detailedDiff).toEqual({ fingerprintKey: { kind: "UPDATE", inputDiff: true } });
    // Refresh of a legacy state still sees drift, the old way.
    expect(((await provider.read!("id", legacy)).props as IomProviderParametersOutputs).drift).toEqual([]);

    env.emu.resetStats();
    const migrated = (await provider.update!("id", legacy, bc(secret))).outs as IomProviderParametersOutputs;
    expect(env.emu.stats.byMethod.PATCH ?? 0).toBe(0);
    expect(migrated.written).toEqual([]);
    expect(migrated.applied["API Key"]).toMatch(/^hmac-sha256:/);
    expect(migrated.fingerprintSalt).toBeUndefined();
    expect(JSON.stringify(migrated)).not.toContain("scrypt:");
    expect((await provider.diff!("id", migrated, bc(secret))).changes).toBe(false);
  });

  it("another key (or one not known yet) shows as that, not as changed secrets, and its update writes nothing", async () => {
    const outs = (await provider.create(bc("stable-secret"))).outs as IomProviderParametersOutputs;
    for (const fingerprintKey of [OTHER_STACK_KEY, unknownValue]) {
      const d = (await provider.diff!("id", outs, bc("stable-secret", { fingerprintKey }))) as { changes: boolean; detailedDiff: object };
      expect(d.detailedDiff).toEqual({ fingerprintKey: { kind: "UPDATE", inputDiff: true } });
    }
    // A resource without secrets needs no key to compare: a new key changes nothing there.
    const plain = (await provider.create(inputs())).outs as IomProviderParametersOutputs;
    expect((await provider.diff!("id", plain, inputs({ fingerprintKey: OTHER_STACK_KEY }))).changes).toBe(false);
    env.emu.resetStats();
    const rekeyed = (await provider.update!("id", outs, bc("stable-secret", { fingerprintKey: OTHER_STACK_KEY }))).outs as IomProviderParametersOutputs;
    expect(env.emu.stats.byMethod.PATCH ?? 0).toBe(0);
    expect((await provider.diff!("id", rekeyed, bc("stable-secret", { fingerprintKey: OTHER_STACK_KEY }))).changes).toBe(false);
  });

  it("a missing or short key is refused before any call, without quoting it", async () => {
    const short = "short-key-1234";
    const r = await provider.check!(bc("x"), bc("x", { fingerprintKey: short }));
    expect(r.failures).toEqual([{ property: "fingerprintKey", reason: expect.stringMatching(/at least 32 characters/) }]);
    expect(JSON.stringify(r.failures)).not.toContain(short);
    expect((await provider.check!(bc("x"), bc("x", { fingerprintKey: "" }))).failures?.map((f) => f.property)).toEqual(["fingerprintKey"]);
    env.emu.resetStats();
    await expect(provider.create(bc("x", { fingerprintKey: short }))).rejects.toThrow(/fingerprintKey must be at least 32 characters/);
    expect(env.emu.stats.requests).toBe(0);
  });
});

describe("what an operator is told", () => {
  it("a provider never added from the catalog: the error names the catalog step and the tile", async () => {
    await env.stop();
    env = await startIomEnvironment({ token: TOKEN, installIv: false });
    await expect(provider.create(inputs())).rejects.toThrow(/has not been added from IOM's catalog.*Providers > Library \(Catalog\), select the "Dynamics 365 Inventory Visibility" tile/);
  });

  it("an exact provider name wins over a partial or catalog-name match, and only that instance is written", async () => {
    // Two more instances of the Inventory Visibility tile: one named after the tile, and a test one.
    // The tile's name also matches the seeded "Inventory Visibility" (by its definition), and the
    // test instance contains it: only the exact name may decide.
    const tileNamed = env.addProvider("Dynamics 365 Inventory Visibility", "Dynamics 365 Inventory Visibility");
    const testInstance = env.addProvider("Dynamics 365 Inventory Visibility (Test)", "Dynamics 365 Inventory Visibility");
    const created = await provider.create(inputs({ providerName: "Dynamics 365 Inventory Visibility" }));
    expect((created.outs as IomProviderParametersOutputs).providerId).toBe(tileNamed);
    expect(env.value(tileNamed, IV_PARAMS[0])).toBe(IV["Inventory Visibility File Drop Location"]);
    expect(env.value(testInstance, IV_PARAMS[0])).toBeNull();
    expect(env.value(env.ivProviderId, IV_PARAMS[0])).toBeNull();

    // Names equal but for punctuation: the one written exactly as configured wins.
    const spaced = env.addProvider("Inventory Visibility Test", "Dynamics 365 Inventory Visibility");
    const parenthesized = env.addProvider("Inventory Visibility (Test)", "Dynamics 365 Inventory Visibility");
    const picked = await provider.create(inputs({ providerName: "Inventory Visibility (Test)" }));
    expect((picked.outs as IomProviderParametersOutputs).providerId).toBe(parenthesized);
    expect(env.value(spaced, IV_PARAMS[0])).toBeNull();
  });

  it("an ambiguous name: the error lists every candidate by its exact name, and nothing is written", async () => {
    const testInstance = env.addProvider("Inventory Visibility (Test)", "Dynamics 365 Inventory Visibility");
    env.emu.resetStats();
    const failure = provider.create(inputs({ providerName: "Visibility" }));
    await expect(failure).rejects.toThrow(/more than one IOM provider matches "Visibility"\. Candidates, by their exact names: /);
    await expect(failure).rejects.toThrow(`"Inventory Visibility" (from "Dynamics 365 Inventory Visibility") [id ${env.ivProviderId}]`);
    await expect(failure).rejects.toThrow(`"Inventory Visibility (Test)" (from "Dynamics 365 Inventory Visibility") [id ${testInstance}]`);
    await expect(failure).rejects.toThrow(/Set the provider name to one of these exactly/);
    expect(env.emu.stats.byMethod.PATCH ?? 0).toBe(0);

    // The advice can be followed: each exact name selects its instance.
    expect(((await provider.create(inputs({ providerName: "Inventory Visibility" }))).outs as IomProviderParametersOutputs).providerId).toBe(env.ivProviderId);
    expect(((await provider.create(inputs({ providerName: "Inventory Visibility (Test)" }))).outs as IomProviderParametersOutputs).providerId).toBe(testInstance);
  });

  it("two instances with the same name: the error says to rename one", async () => {
    env.addProvider("Inventory Visibility", "Dynamics 365 Inventory Visibility");
    await expect(provider.create(inputs())).rejects.toThrow(/Two of them have the same name: rename one/);
  });

  it("a parameter the provider does not have: the error lists the ones it has, and nothing is written", async () => {
    env.emu.resetStats();
    await expect(provider.create(inputs({ parameters: { ...IV, "Inventory Visibility Colour": "blue" } }))).rejects.toThrow(
      /no parameter "Inventory Visibility Colour"\. Its parameters: "Inventory Visibility File Drop Location", "Inventory Visibility Error File Drop Location", "Inventory Visibility Organization ID"/,
    );
    expect(env.emu.stats.byMethod.PATCH ?? 0).toBe(0);
  });

  it("check refuses bad inputs before any call", async () => {
    const r = await provider.check!(inputs(), inputs({ environmentUrl: "http://contoso.crm4.dynamics.com", providerName: " ", secretParameters: { "Inventory Visibility OrganizationId": "x" } }));
    expect(r.failures!.map((f) => f.property).sort()).toEqual(["environmentUrl", "providerName", "secretParameters"]);
    const dup = await provider.check!(inputs(), inputs({ parameters: { "Store Hash": "a", "store-hash": "b" } }));
    expect(dup.failures![0].reason).toMatch(/name the same parameter/);
    // In a preview a secret map may not be known yet: check lets it through, diff reports a change.
    const pending = { ...inputs({ parameters: {} }), secretParameters: unknownValue } as unknown as IomProviderParametersInputs;
    expect((await provider.check!(inputs(), pending)).failures).toBeUndefined();
    const created = await provider.create(inputs());
    expect((await provider.diff!(created.id, created.outs as IomProviderParametersOutputs, pending)).changes).toBe(true);
  });
});
