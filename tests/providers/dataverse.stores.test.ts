/**
 * Each store's mappings land on its own IOM provider instance: the mapping sets the program plans
 * for a stack with two stores (run under mocks, tests/support/program.ts) are created against the
 * Dataverse emulator, which holds one provider row per instance. The same external value (a SKU both
 * stores sell) maps to different products per store, and the instance the stack's own files belong
 * to keeps exactly those.
 */
import { EMULATOR_MAPPING_TABLE } from "../../emulators/dataverse-schema";
import { startHarness, type Harness } from "../../emulators/dataverse-harness";
import type { IomMappingSetInputs } from "../../dynamic-providers/dataverse";
import { captureConsolePerTest } from "../support/console";
import { runProgram, type MockedResource } from "../support/program";
import { TWO_STORES, storeProvider } from "../support/stores";

const MAPPING_SET = "pulumi-nodejs:dynamic/dataverse:IomMappingSet";

describe("mappings of two stores in one IOM environment", () => {
  let h: Harness;
  let sets: MockedResource[];
  const providerIds: Record<string, string> = {};
  captureConsolePerTest();

  beforeAll(async () => {
    h = await startHarness();
    providerIds.BigCommerce = h.seeded.providerId;
    // One BigCommerce instance per store, added from IOM's catalog (each a row of the provider table).
    for (const name of ["outdoor", "winter"] as const) providerIds[storeProvider(name)] = h.emu.insert("msdyn_iomprovider", { zq1_providerlabel: storeProvider(name) });
    const run = await runProgram("dev", TWO_STORES);
    sets = run.ofType(MAPPING_SET);
  });
  afterAll(() => h.stop());

  test("each set's rows carry its store's provider instance, and the same SKU maps per store", async () => {
    const url = String(h.inputs({}).environmentUrl);
    for (const set of sets) {
      const { __provider: _serialized, ...planned } = set.inputs;
      await h.provider.create({ ...(planned as unknown as IomMappingSetInputs), environmentUrl: url });
    }
    const productNumber = new Map([...h.seeded.products].map(([number, id]) => [id, number]));
    const providerName = new Map(Object.entries(providerIds).map(([name, id]) => [id, name]));
    const products = h.mappingRows("products").map((r) => [providerName.get(String(r.zq1_prov)), r.zq1_extval, productNumber.get(String(r.zq1_prod))]);
    expect(products.sort()).toEqual([
      ["BigCommerce Outdoor", "OUT-STOVE", "P-000002"],
      ["BigCommerce Outdoor", "OUT-TENT", "P-000001"],
      ["BigCommerce Winter", "OUT-TENT", "P-000004"],
      ["BigCommerce Winter", "WIN-SKI", "P-000003"],
      ["BigCommerce", "ABS", "Accu Scale"],
    ]);
    const units = h.emu.rows(EMULATOR_MAPPING_TABLE.units.table).map((r) => [providerName.get(String(r.zq1_prov)), r.zq1_extval]);
    expect(units).toEqual([["BigCommerce Outdoor", "each"]]);
    const accounts = h.emu.rows(EMULATOR_MAPPING_TABLE.accounts.table).map((r) => providerName.get(String(r.zq1_prov)));
    expect(accounts).toEqual(["BigCommerce"]);
    // No row is scoped to the provider no store names.
    const everything = Object.values(EMULATOR_MAPPING_TABLE).flatMap((t) => h.emu.rows(t.table));
    expect(everything.filter((r) => r.zq1_prov === h.seeded.otherProviderId)).toEqual([]);
  });

  test("a store whose provider instance was never added fails with the catalog step, naming that instance", async () => {
    const spring = sets.find((s) => s.name === "iom-mappings-winter-products")!;
    const { __provider: _serialized, ...planned } = spring.inputs;
    const inputs = { ...(planned as unknown as IomMappingSetInputs), environmentUrl: String(h.inputs({}).environmentUrl), providerName: "BigCommerce Spring" };
    await expect(h.provider.create(inputs)).rejects.toThrow(/IOM provider "BigCommerce Spring" not found in msdyn_iomprovider\.zq1_providerlabel: it has not been added from IOM's catalog in this environment \(Providers > Library \(Catalog\), its tile; a further instance of the same tile for each store, named "BigCommerce Spring"\)/);
  });
});
