/**
 * IomProviderParameters against the Dataverse emulator holding IOM's provider tables with columns
 * nobody can guess: discovery, create -> diff -> update -> refresh -> delete, secrets, and the
 * errors an operator relies on.
 */
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { FAST, TOKEN } from "../emulators/dataverse-harness";
import { BC_PARAMS, IOM_COLUMNS, IV_PARAMS, SeededIom, startIomEnvironment } from "../emulators/iom-provider-tables";
import { createIomProviderParametersProvider, type IomProviderParametersInputs, type IomProviderParametersOutputs } from "../../dynamic-providers/iom-provider";
import { createDataverseClient } from "../../dynamic-providers/dataverse/client";
import { discoverProviderSchema, parseProviderSchemaOverride } from "../../dynamic-providers/iom-provider/discovery";

const provider = createIomProviderParametersProvider({ client: FAST });
let env: SeededIom;

const IV = {
  "Inventory Visibility File Drop Location": "https://stretaildevweu1.blob.core.windows.net/d365iomfiledropdevweu",
  "Inventory Visibility Error File Drop Location": "https://stretaildevweu1.blob.core.windows.net/d365iomerrorfiledevweu",
  // The guide's form spells it "OrganizationId"; Microsoft's page "Organization ID": the same parameter.
  "Inventory Visibility OrganizationId": "6f1d3c1e-2b7a-4c55-9a0e-5d2f8b3c4a10",
};

function inputs(extra: Partial<IomProviderParametersInputs> = {}): IomProviderParametersInputs {
  return { environmentUrl: env.url, providerName: "Inventory Visibility", parameters: { ...IV }, secretParameters: {}, schemaOverride: "", ...extra };
}

beforeEach(async () => {
  process.env.DATAVERSE_ACCESS_TOKEN = TOKEN;
  env = await startIomEnvironment({ token: TOKEN });
});
afterEach(() => env.stop());

describe("discovery of IOM's provider tables", () => {
  it("finds every column from metadata, though none has a guessable name", async () => {
    const s = await discoverProviderSchema(createDataverseClient({ environmentUrl: env.url, ...FAST }));
    expect(s.provider).toMatchObject({ entitySet: "msdyn_iomproviders", name: IOM_COLUMNS.providerName, status: IOM_COLUMNS.providerStatus, definition: { attribute: IOM_COLUMNS.providerDefinition, nav: "msdyn_R9d2vk" } });
    expect(s.definitionParameter).toMatchObject({ label: IOM_COLUMNS.defParamDisplay, name: IOM_COLUMNS.defParamName, definition: { attribute: IOM_COLUMNS.defParamDefinition } });
    expect(s.parameter).toMatchObject({ value: IOM_COLUMNS.paramValue, provider: { attribute: IOM_COLUMNS.paramProvider, nav: "msdyn_Pp5b1t" }, definitionParameter: { attribute: IOM_COLUMNS.paramDefinition } });
  });

  it("an override wins, and a wrong one is reported with the table's columns", async () => {
    const client = createDataverseClient({ environmentUrl: env.url, ...FAST });
    const s = await discoverProviderSchema(client, parseProviderSchemaOverride(`definitionParameterName=${IOM_COLUMNS.defParamName}`));
    expect(s.definitionParameter.label).toBe(IOM_COLUMNS.defParamName);
    await expect(discoverProviderSchema(client, { parameterValue: "msdyn_nosuch" })).rejects.toThrow(/override parameterValue=msdyn_nosuch is not one of its columns/);
    expect(() => parseProviderSchemaOverride("colour=red")).toThrow(/unknown key "colour"/);
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
  it("a secret parameter is written, but only a salted fingerprint is in the state", async () => {
    const secret = "bc-api-key-0123456789";
    const bc = (value: string): IomProviderParametersInputs => ({ environmentUrl: env.url, providerName: "BigCommerce", parameters: { "Store Hash": "abc123" }, secretParameters: { "API Key": value }, schemaOverride: "" });
    const created = await provider.create(bc(secret));
    const outs = created.outs as IomProviderParametersOutputs;
    expect(env.value(env.bcProviderId, "API Key")).toBe(secret);
    expect(JSON.stringify(outs)).not.toContain(secret);
    expect(outs.applied["API Key"]).toMatch(/^scrypt:/);
    expect(outs.applied["Store Hash"]).toBe("abc123");
    expect((await provider.diff!(created.id, outs, bc(secret))).changes).toBe(false);
    expect((await provider.diff!(created.id, outs, bc("rotated-key"))).changes).toBe(true);

    // Drift on a secret is detected without the value ever leaving Dataverse.
    env.setValue(env.bcProviderId, "API Key", "typed-in-the-portal");
    const read = await provider.read!(created.id, outs);
    const text = JSON.stringify(read);
    expect(text).not.toContain("typed-in-the-portal");
    expect(text).not.toContain(secret);
    expect((read.props as IomProviderParametersOutputs).drift.map((x) => x.name)).toEqual(["API Key"]);
    expect(BC_PARAMS).toContain("API Key");
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
