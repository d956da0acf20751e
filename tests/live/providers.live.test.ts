/**
 * Live: each dynamic provider against the real service, through its own methods as the engine calls
 * them: create -> diff (no change: a second `up` would do nothing) -> update -> read -> delete, and
 * nothing left behind. Run only by `npm run test:live` (scripts/test-live.ts) with the variables
 * README.md lists; each optional part says why it is skipped when its variables are missing.
 *
 * What they touch: the BigCommerce store is only read (plus the harmless `PUT /v2/orders/0`); in
 * Dataverse one IOM provider parameter is set to a marker and put back, and mapping rows are created
 * in a dedicated mapping group and deleted; the Power Platform environment gets the policy linked
 * and unlinked, and only when it had no link before.
 */
import { randomBytes, randomUUID } from "crypto";
import { createBigCommerceApiCheckDynamicProvider } from "../../dynamic-providers/bigcommerce";
import { createDataverseClient, createIomMappingSetDynamicProvider, type IomMappingSetInputs } from "../../dynamic-providers/dataverse";
import { createIomProviderParametersDynamicProvider, discoverIomProviderSchema, findIomProvider, readParameters, type IomProviderParametersInputs } from "../../dynamic-providers/iom-provider";
import { createAdminApi, createPowerPlatformPolicyLinkDynamicProvider, DEFAULT_BAP_URL } from "../../dynamic-providers/power-platform";

const env = process.env;
const stamp = `${Date.now().toString(36)}${randomUUID().slice(0, 4)}`;
const environmentUrl = env.IOM_LIVE_DATAVERSE_URL!;
/** A fresh fingerprint key per run (the stack keeps its own as a secret): 32 random bytes, as index.ts makes it. */
const LIVE_FINGERPRINT_KEY = randomBytes(32).toString("base64");

/** A test that runs when `needs` are all set, else is skipped with the reason printed once. */
function liveTest(name: string, needs: string[], fn: () => Promise<void>): void {
  const missing = needs.filter((k) => !env[k]);
  if (missing.length) {
    console.info(`skipped "${name}": set ${missing.join(", ")}`);
    test.skip(name, fn);
  } else test(name, fn);
}

describe("BigCommerceApiCheck against the sandbox store", () => {
  liveTest("create, diff (no change), update, read, delete", [], async () => {
    const p = createBigCommerceApiCheckDynamicProvider({ reuseTtlMs: 0 });
    const inputs = { storeHash: env.IOM_LIVE_BIGCOMMERCE_STORE_HASH!, accessToken: env.IOM_LIVE_BIGCOMMERCE_ACCESS_TOKEN! };
    const checked = await p.check({} as never, inputs);
    expect(checked.failures ?? []).toEqual([]);
    const checkedInputs = checked.inputs!;
    const created = await p.create(checkedInputs);
    const id = created.id;
    const outs = created.outs!;
    expect(outs.scopesVerified.length).toBeGreaterThan(0);
    expect((await p.diff(id, outs, checkedInputs)).changes).toBe(false);
    const narrower = (await p.check({} as never, { ...inputs, requiredScopes: ["information", "orders"] })).inputs!;
    expect((await p.diff(id, outs, narrower)).changes).toBe(true);
    const updated = (await p.update(id, outs, narrower)).outs!;
    expect(updated.requiredScopes).toEqual(["store_v2_information_read_only", "store_v2_orders_read_only"]);
    const previous = env.BIGCOMMERCE_ACCESS_TOKEN;
    env.BIGCOMMERCE_ACCESS_TOKEN = inputs.accessToken; // read (refresh) takes the token from config or here
    try {
      expect((await p.read(id, updated)).props).toMatchObject({ storeHash: inputs.storeHash, tokenFingerprint: updated.tokenFingerprint });
    } finally {
      if (previous === undefined) delete env.BIGCOMMERCE_ACCESS_TOKEN;
      else env.BIGCOMMERCE_ACCESS_TOKEN = previous;
    }
    await p.delete(id, updated);
    expect(JSON.stringify([outs, updated])).not.toContain(inputs.accessToken);
  });
});

describe("IomProviderParameters against the IOM environment", () => {
  const providerName = env.IOM_LIVE_IOM_PROVIDER ?? "Inventory Visibility";
  const parameter = env.IOM_LIVE_IOM_PARAMETER ?? "Inventory Visibility Error File Drop Location";

  liveTest(`one parameter of ${providerName} set, changed, read and left as it was`, [], async () => {
    const client = createDataverseClient({ environmentUrl });
    const schema = await discoverIomProviderSchema(client);
    const row = await findIomProvider(client, schema, providerName);
    const original = (await readParameters(client, schema, row, [parameter])).get(parameter)!.value;
    const p = createIomProviderParametersDynamicProvider();
    const inputs = (value: string): IomProviderParametersInputs => ({ environmentUrl, providerName, parameters: { [parameter]: value }, secretParameters: {}, schemaOverride: "", fingerprintKey: LIVE_FINGERPRINT_KEY });
    try {
      const first = inputs(`https://pulumilive${stamp}.blob.core.windows.net/live-a`);
      const created = await p.create(first);
      const id = created.id;
      const outs = created.outs!;
      expect(outs.written).toEqual([parameter]);
      expect((await p.diff(id, outs, first)).changes).toBe(false);
      const second = inputs(`https://pulumilive${stamp}.blob.core.windows.net/live-b`);
      const updated = (await p.update(id, outs, second)).outs!;
      expect(updated.applied[parameter]).toBe(second.parameters[parameter]);
      expect((await p.read(id, updated)).props?.drift).toEqual([]);
      await p.delete(id, updated);
    } finally {
      // Put the value back with the provider itself (it writes only what differs).
      await p.create(inputs(original));
    }
    expect((await readParameters(client, schema, row, [parameter])).get(parameter)!.value).toBe(original);
  });
});

describe("IomMappingSet in a dedicated mapping group", () => {
  liveTest("rows created, diffed, updated, read and deleted", ["IOM_LIVE_MAPPING_GROUP", "IOM_LIVE_MAPPING_UNIT"], async () => {
    const p = createIomMappingSetDynamicProvider();
    const base: Omit<IomMappingSetInputs, "rows"> = {
      environmentUrl,
      kind: "units",
      targetKeyColumn: "name",
      mappingGroup: env.IOM_LIVE_MAPPING_GROUP!,
      providerName: env.IOM_LIVE_MAPPING_PROVIDER ?? "BigCommerce",
      adoptExisting: false,
      schemaOverride: env.IOM_LIVE_MAPPING_SCHEMA ?? "",
      ownerSeed: `live-${stamp}`,
    };
    const unit = env.IOM_LIVE_MAPPING_UNIT!;
    const one = { ...base, rows: { [`unit=pulumi-live-${stamp}-a`]: unit } };
    const checked = await p.check({} as never, one);
    expect(checked.failures ?? []).toEqual([]);
    const created = await p.create(one);
    const id = created.id;
    const outs = created.outs!;
    try {
      expect((await p.diff(id, outs, one)).changes).toBe(false);
      const two = { ...base, rows: { ...one.rows, [`unit=pulumi-live-${stamp}-b`]: unit } };
      const updated = (await p.update(id, outs, two)).outs!;
      expect((await p.diff(id, updated, two)).changes).toBe(false);
      expect((await p.read(id, updated)).props?.drift).toMatchObject({ missing: 0, changed: 0 });
      await p.delete(id, updated);
      // Read after delete: both rows are gone from Dataverse.
      expect((await p.read(id, updated)).props?.drift).toMatchObject({ missing: 2 });
    } catch (e) {
      await p.delete(id, outs).catch(() => undefined);
      throw e;
    }
  });
});

describe("PowerPlatformPolicyLink on the Power Platform environment", () => {
  liveTest("linked, diffed, read and unlinked, on an environment that had no link", ["IOM_LIVE_POLICY_SYSTEM_ID", "IOM_LIVE_POLICY_ARM_ID", "IOM_LIVE_POLICY_LOCATION"], async () => {
    const bapUrl = env.IOM_LIVE_BAP_URL ?? DEFAULT_BAP_URL;
    const environmentId = env.IOM_LIVE_POWER_PLATFORM_ENVIRONMENT_ID!;
    const before = await createAdminApi({ bapUrl }).getEnvironment(environmentId);
    if (before.vnets) throw new Error(`environment ${environmentId} is already linked to ${before.vnets.id}; the live test only links an environment without a link (it would have to unlink yours)`);
    const p = createPowerPlatformPolicyLinkDynamicProvider();
    const inputs = { environmentId, policySystemId: env.IOM_LIVE_POLICY_SYSTEM_ID!, policyArmId: env.IOM_LIVE_POLICY_ARM_ID!, policyLocation: env.IOM_LIVE_POLICY_LOCATION!, bapUrl };
    const created = await p.create(inputs);
    const id = created.id;
    const outs = created.outs!;
    try {
      expect(outs).toMatchObject({ linked: true });
      expect((await p.diff(id, outs, inputs)).changes).toBe(false);
      const read = (await p.read(id, outs)).props!;
      expect(read.linked).toBe(true);
      expect((await p.update(id, read, inputs)).outs!.linked).toBe(true);
    } finally {
      await p.delete(id, outs);
    }
    expect((await createAdminApi({ bapUrl }).getEnvironment(environmentId)).vnets).toBeUndefined();
  });
});
