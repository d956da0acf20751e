/**
 * Each store's IOM provider instance gets its own store hash: the parameter resources the program
 * plans for a stack with two stores (run under mocks) are created against IOM's provider tables in
 * the Dataverse emulator, holding one BigCommerce instance per store. The store hash parameter's
 * label is not published, so it is found by the words "Store Hash" or named in
 * bigcommerceStoreHashParameter; a store whose instance was never added gets the catalog step.
 */
import { FAST, TOKEN } from "../../emulators/dataverse-harness";
import { startIomEnvironment, type SeededIom } from "../../emulators/iom-provider-tables";
import { createIomProviderParametersDynamicProvider, type IomProviderParametersInputs, type IomProviderParametersOutputs } from "../../dynamic-providers/iom-provider";
import { captureConsolePerTest } from "../support/console";
import { reveal, runProgram } from "../support/program";
import type { ConfigChanges } from "../support/stack";
import { STORE_HASHES, TWO_STORES, storeEntry, storeProvider, withStores } from "../support/stores";

const PARAMS = "pulumi-nodejs:dynamic/iom:IomProviderParameters";
const provider = createIomProviderParametersDynamicProvider({ client: FAST });

/** The stores' parameter resources as the program plans them, pointed at the emulator. */
async function plannedStoreParameters(env: SeededIom, changes: ConfigChanges): Promise<IomProviderParametersInputs[]> {
  const run = await runProgram("dev", changes);
  return run.ofType(PARAMS)
    .filter((r) => r.name !== "iom-provider-parameters-inventory-visibility")
    .map((r) => ({ ...(reveal(r.inputs) as unknown as IomProviderParametersInputs), environmentUrl: env.url }));
}

describe("two stores' provider instances in one IOM environment", () => {
  let env: SeededIom | undefined;
  captureConsolePerTest();
  beforeAll(() => {
    process.env.DATAVERSE_ACCESS_TOKEN = TOKEN;
  });
  afterEach(async () => {
    await env?.stop();
    env = undefined;
  });

  test("each instance gets its own store's hash, found by a label that contains 'Store Hash'; the first instance is untouched", async () => {
    env = await startIomEnvironment({ token: TOKEN, bigCommerceParameters: ["BigCommerce Store Hash", "Order Sync Interval"] });
    const ids = { outdoor: env.addBigCommerceInstance(storeProvider("outdoor")), winter: env.addBigCommerceInstance(storeProvider("winter")) };
    const planned = await plannedStoreParameters(env, TWO_STORES);
    expect(planned.map((p) => [p.providerName, p.parameters])).toEqual([
      ["BigCommerce Outdoor", { "Store Hash": STORE_HASHES.outdoor }],
      ["BigCommerce Winter", { "Store Hash": STORE_HASHES.winter }],
    ]);
    const created = await Promise.all(planned.map((p) => provider.create(p)));
    expect(env.value(ids.outdoor, "BigCommerce Store Hash")).toBe(STORE_HASHES.outdoor);
    expect(env.value(ids.winter, "BigCommerce Store Hash")).toBe(STORE_HASHES.winter);
    expect(env.value(env.bcProviderId, "BigCommerce Store Hash")).toBeNull();
    expect(env.value(ids.outdoor, "Order Sync Interval")).toBeNull();
    expect(created.map((c) => (c.outs as IomProviderParametersOutputs).providerLabel)).toEqual(["BigCommerce Outdoor", "BigCommerce Winter"]);
  });

  test("a label without 'Store Hash' is reported with the instance's parameters; bigcommerceStoreHashParameter names it exactly", async () => {
    env = await startIomEnvironment({ token: TOKEN, bigCommerceParameters: ["Shop Identifier", "Order Sync Interval"] });
    const outdoor = env.addBigCommerceInstance(storeProvider("outdoor"));
    env.addBigCommerceInstance(storeProvider("winter"));
    const [searched] = await plannedStoreParameters(env, TWO_STORES);
    await expect(provider.create(searched)).rejects.toThrow('IOM provider "BigCommerce Outdoor" has no parameter "Store Hash". Its parameters: "Order Sync Interval", "Shop Identifier".');
    const [named] = await plannedStoreParameters(env, withStores([storeEntry("outdoor"), storeEntry("winter")], { bigcommerceStoreHashParameter: "Shop Identifier" }));
    await provider.create(named);
    expect(env.value(outdoor, "Shop Identifier")).toBe(STORE_HASHES.outdoor);
  });

  test("a store whose instance was never added gets the catalog step, naming the instance to add and its tile", async () => {
    env = await startIomEnvironment({ token: TOKEN });
    env.addBigCommerceInstance(storeProvider("outdoor"));
    const [outdoor, winter] = await plannedStoreParameters(env, TWO_STORES);
    await provider.create(outdoor);
    await expect(provider.create(winter)).rejects.toThrow(
      'IOM provider "BigCommerce Winter" has not been added from IOM\'s catalog in this environment. In Intelligent Order Management go to Providers > Library (Catalog), select the "BigCommerce" tile, accept the terms, and name the new instance "BigCommerce Winter" (one instance per store or source), then run \'pulumi up\' again.',
    );
  });
});
