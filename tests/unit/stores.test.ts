/**
 * Several BigCommerce stores in one stack (stores.ts, declareStore.ts), through the real program
 * under mocks and the offline plan: per store a check, a vault secret, its IOM provider instance's
 * parameters and its own mapping sets; every problem of the store list at once, before anything is
 * declared; and a stack on the single-store keys keeps every resource it had, unchanged.
 */
import * as fs from "fs";
import * as path from "path";
import { ConfigError, parseStackConfig } from "../../config";
import { decodeApplied } from "../../dynamic-providers/dataverse/sync";
import { serializePlan } from "../../plan/cli";
import { capturePlan, isSecretValue, plainOccurrences, reveal, runProgram, type ProgramRun } from "../support/program";
import { DEV_ADOPTING, ROOT, rawStackConfig, type ConfigChanges } from "../support/stack";
import { STORE_TOKENS, TWO_STORES, storeEntry, withStores } from "../support/stores";

type Obj = Record<string, unknown>;
const CHECK = "pulumi-nodejs:dynamic/bigcommerce:ApiCheck";
const SECRET = "azure-native:keyvault:Secret";
const PARAMS = "pulumi-nodejs:dynamic/iom:IomProviderParameters";
const MAPPING_SET = "pulumi-nodejs:dynamic/dataverse:IomMappingSet";

const TOKENS = { ...STORE_TOKENS, single: "bc-single-token-0123456789abcdefghijk" };
const entry = storeEntry;
const SINGLE: ConfigChanges = { set: { ...DEV_ADOPTING, bigcommerceStoreHash: "abc123", bigcommerceExpectedStoreName: "Contoso Outdoor" }, secrets: { bigcommerceAccessToken: TOKENS.single } };

function problemsOf(changes: ConfigChanges): ConfigError {
  const { raw, secretKeys } = rawStackConfig("dev", changes);
  try {
    parseStackConfig("dev", raw, secretKeys);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected the configuration to be rejected");
}
const programError = (changes: ConfigChanges) => runProgram("dev", changes).then(() => undefined, (e: Error & { declaredResources: number }) => e);

describe("two stores", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram("dev", TWO_STORES);
  });

  test("plan two checks, each with its own store, token (a secret) and refresh key", () => {
    const checks = Object.fromEntries(run.ofType(CHECK).map((c) => [c.name, c.inputs]));
    expect(Object.keys(checks).sort()).toEqual(["bigcommerce-api-check-outdoor", "bigcommerce-api-check-winter"]);
    expect(checks["bigcommerce-api-check-winter"]).toMatchObject({ storeHash: "win456", requiredScopes: ["orders_modify", "information"], expectedStoreName: "Contoso Winter", accessTokenConfigKey: "iom-bigcommerce:bigcommerceStores" });
    expect(checks["bigcommerce-api-check-outdoor"]).toMatchObject({ storeHash: "out123", accessTokenConfigKey: "iom-bigcommerce:bigcommerceStores" });
    for (const [name, inputs] of Object.entries(checks)) {
      expect(isSecretValue(inputs.accessToken)).toBe(true);
      expect(reveal(inputs.accessToken)).toBe(name.endsWith("outdoor") ? TOKENS.outdoor : TOKENS.winter);
    }
  });

  test("plan two vault secrets, named after their store, holding each store's token as a secret", () => {
    const secrets = run.ofType(SECRET).filter((s) => String(s.inputs.secretName).startsWith("bigcommerce-"));
    expect(secrets.map((s) => [s.name, s.inputs.secretName]).sort()).toEqual([
      ["vault-secret-bigcommerceAccessToken-outdoor", "bigcommerce-access-token-outdoor"],
      ["vault-secret-bigcommerceAccessToken-winter", "bigcommerce-access-token-winter"],
    ]);
    for (const s of secrets) {
      const props = reveal(s.inputs.properties) as Obj;
      expect(isSecretValue(s.inputs.properties)).toBe(true);
      expect(props.value).toBe(s.name.endsWith("outdoor") ? TOKENS.outdoor : TOKENS.winter);
      expect(props.contentType).toContain(s.name.endsWith("outdoor") ? "out123 ('outdoor', IOM provider 'BigCommerce Outdoor')" : "win456");
    }
    expect(run.outputs.keyVaultSecretNames).toMatchObject({ "bigcommerceAccessToken-outdoor": "bigcommerce-access-token-outdoor", "bigcommerceAccessToken-winter": "bigcommerce-access-token-winter" });
  });

  test("plan two parameter resources, one per provider instance, each setting its store hash", () => {
    const params = run.ofType(PARAMS).filter((p) => p.name !== "iom-provider-parameters-inventory-visibility");
    expect(params.map((p) => [p.name, p.inputs.providerName, p.inputs.parameters]).sort()).toEqual([
      ["iom-provider-parameters-bigcommerce-outdoor", "BigCommerce Outdoor", { "Store Hash": "out123" }],
      ["iom-provider-parameters-bigcommerce-winter", "BigCommerce Winter", { "Store Hash": "win456" }],
    ]);
  });

  test("plan each store's mapping sets from its own folder, scoped to its own provider instance", () => {
    const sets = run.ofType(MAPPING_SET).map((s) => [s.name, s.inputs.providerName, Object.keys(decodeApplied(s.inputs.rows as string)).sort()]);
    expect(sets.sort()).toEqual([
      // The stack's own files, as before: dataverseProviderName's.
      ["iom-mappings-accounts", "BigCommerce", ["ProviderName=BigCommerce"]],
      ["iom-mappings-outdoor-products", "BigCommerce Outdoor", ["sku=OUT-STOVE", "sku=OUT-TENT"]],
      ["iom-mappings-outdoor-units", "BigCommerce Outdoor", ["unit=each"]],
      ["iom-mappings-products", "BigCommerce", ["sku=ABS"]],
      ["iom-mappings-winter-products", "BigCommerce Winter", ["sku=OUT-TENT", "sku=WIN-SKI"]],
    ]);
  });

  test("export every store's results under its name, and one nextSteps entry per store", () => {
    const stores = run.outputs.bigcommerceStores as Record<string, Obj>;
    expect(Object.keys(stores).sort()).toEqual(["outdoor", "winter"]);
    expect(stores.winter).toMatchObject({ providerName: "BigCommerce Winter", storeHash: "win456", accessTokenSecretName: "bigcommerce-access-token-winter" });
    expect(Object.keys(stores.winter.check as Obj).sort()).toEqual(["checkedAt", "domain", "planName", "scopesVerified", "status", "storeId", "storeName", "tokenFingerprint"]);
    expect(Object.keys(stores.outdoor.mappings as Obj).sort()).toEqual(["products", "units"]);
    expect(run.outputs.bigcommerce).toBeUndefined(); // the single-store keys' store: there is none
    const steps = (run.outputs.nextSteps as string[]).filter((s) => s.startsWith("BigCommerce store"));
    expect(steps).toHaveLength(2);
    expect(steps[0]).toMatch(/^BigCommerce store 'outdoor' \(out123\): in IOM, Providers > Installed > BigCommerce Outdoor > Connections, create its BigCommerce connection with the API key in Key Vault 'kv-[^']+', secret 'bigcommerce-access-token-outdoor', then Activate/);
    expect(steps[1]).toContain("secret 'bigcommerce-access-token-winter'");
  });

  test("no token appears in plain text in any input or output", () => {
    for (const resource of run.resources) expect(plainOccurrences(resource.inputs, Object.values(TOKENS))).toEqual([]);
    for (const token of Object.values(TOKENS)) expect(JSON.stringify(run.outputs)).not.toContain(token);
    expect(run.secretOutputs).toEqual([]);
  });
});

describe("three stores in the offline plan", () => {
  test("the plan shows every store's check, secret, parameters and mapping sets, and no token", async () => {
    const plan = await capturePlan("dev", withStores([entry("outdoor"), entry("winter"), entry("spring")]));
    const names = (type: string) => plan.resources.filter((r) => r.type === type).map((r) => r.name).sort();
    expect(names(CHECK)).toEqual(["bigcommerce-api-check-outdoor", "bigcommerce-api-check-spring", "bigcommerce-api-check-winter"]);
    expect(names(SECRET).filter((n) => n.includes("bigcommerce"))).toEqual(["vault-secret-bigcommerceAccessToken-outdoor", "vault-secret-bigcommerceAccessToken-spring", "vault-secret-bigcommerceAccessToken-winter"]);
    expect(names(PARAMS)).toEqual(["iom-provider-parameters-bigcommerce-outdoor", "iom-provider-parameters-bigcommerce-spring", "iom-provider-parameters-bigcommerce-winter", "iom-provider-parameters-inventory-visibility"]);
    // spring has no folder yet: no mapping sets, and no error (a folder is optional unless configured)
    expect(names(MAPPING_SET)).toEqual(["iom-mappings-accounts", "iom-mappings-outdoor-products", "iom-mappings-outdoor-units", "iom-mappings-products", "iom-mappings-winter-products"]);
    const spring = plan.resources.find((r) => r.name === "bigcommerce-api-check-spring");
    expect(spring?.inputs).toMatchObject({ storeHash: "spr789", accessToken: "[secret]" });
    expect(Object.keys(plan.outputs.bigcommerceStores as Obj).sort()).toEqual(["outdoor", "spring", "winter"]);
    const text = serializePlan(plan);
    for (const token of Object.values(TOKENS)) expect(text).not.toContain(token);
  });
});

describe("the store list is checked before anything is declared, every problem at once", () => {
  test("duplicate names, hashes and provider instances, plain tokens and too many stores, each naming its key", () => {
    const error = problemsOf({
      set: {
        bigcommerceMaxStores: 2,
        bigcommerceStores: [
          entry("outdoor"),
          entry("winter", { storeHash: "out123" }),
          entry("spring", { providerName: "bigcommerce-outdoor" }),
          { ...entry("outdoor", { storeHash: "xyz999", providerName: "BigCommerce Other" }) },
        ],
      },
    });
    const byKey = Object.fromEntries(error.problems.map((p) => [p.key, p.message]));
    expect(byKey["bigcommerceStores[1].storeHash"]).toBe("is 'out123', as is bigcommerceStores[0].storeHash: one entry per BigCommerce store");
    expect(byKey["bigcommerceStores[2].providerName"]).toMatch(/^names the IOM provider instance 'bigcommerce-outdoor', as does bigcommerceStores\[0\]\.providerName: each store needs its own instance/);
    expect(byKey["bigcommerceStores[3].name"]).toBe("is 'outdoor', as is bigcommerceStores[0].name: store names are unique");
    expect(byKey.bigcommerceStores).toMatch(/^configures 4 stores, more than bigcommerceMaxStores \(2\)/);
    expect(error.message).toContain("iom-bigcommerce:bigcommerceStores[1].storeHash: is 'out123'");
  });

  test("tokens set in plain text are refused with the command that encrypts them, never echoed", () => {
    const plain = { ...entry("outdoor"), accessToken: TOKENS.outdoor };
    const error = problemsOf({ set: { bigcommerceStores: [plain, { ...entry("winter"), accessToken: TOKENS.winter }] } });
    expect(error.problems).toEqual([
      { key: "bigcommerceStores[0].accessToken", message: "holds a secret but was set in plain text: set it with 'pulumi config set --secret --path 'bigcommerceStores[0].accessToken' <token>'" },
      { key: "bigcommerceStores[1].accessToken", message: "holds a secret but was set in plain text: set it with 'pulumi config set --secret --path 'bigcommerceStores[1].accessToken' <token>'" },
    ]);
    for (const token of Object.values(TOKENS)) expect(error.message).not.toContain(token);
  });

  test("bad fields of an entry are named by index and field, with the problems of other keys", () => {
    const error = problemsOf({ set: { environment: "Dev!", bigcommerceStores: [{ name: "Outdoor", storeHash: "https://store-abc123.mybigcommerce.com", accessToken: { secure: "t" }, colour: "red" }, "winter"] } });
    const keys = error.problems.map((p) => p.key);
    expect(keys).toEqual(expect.arrayContaining(["environment", "bigcommerceStores[0].name", "bigcommerceStores[0].storeHash", "bigcommerceStores[0]", "bigcommerceStores[1]"]));
    expect(error.problems.find((p) => p.key === "bigcommerceStores[0].storeHash")?.message).toMatch(/use 'abc123'/);
    expect(error.problems.find((p) => p.key === "bigcommerceStores[0]")?.message).toMatch(/colour/);
  });

  test("no store can be pointed at another API host: the key is refused, naming it and the stack, before anything is declared", async () => {
    const error = await programError({ set: { bigcommerceStores: [entry("outdoor", { apiBaseUrl: "https://api.bigcommerce.com.attacker.example" })], bigcommerceApiBaseUrl: "https://api.bigcommerce.com@attacker.example" } });
    expect(error?.message).toMatch(/^Stack 'dev' has 2 configuration problems:/);
    expect(error?.message).toContain("iom-bigcommerce:bigcommerceStores[0].apiBaseUrl: is not a setting: every store's token goes only to BigCommerce's API host, https://api.bigcommerce.com");
    expect(error?.message).toContain("iom-bigcommerce:bigcommerceApiBaseUrl: is not a setting: every store's token goes only to BigCommerce's API host");
    expect(error?.declaredResources).toBe(0);
  });

  test("the program stops before declaring anything", async () => {
    const error = await programError({ set: { bigcommerceStores: [entry("outdoor"), entry("winter", { storeHash: "out123" })] } });
    expect(error?.message).toContain("iom-bigcommerce:bigcommerceStores[1].storeHash");
    expect(error?.declaredResources).toBe(0);
  });

  test("a token shared by two stores is a warning naming both keys, not an error", () => {
    const { raw, secretKeys } = rawStackConfig("dev", withStores([entry("outdoor"), entry("winter", { accessToken: { secure: TOKENS.outdoor } })]));
    const config = parseStackConfig("dev", raw, secretKeys);
    expect(config.bigcommerceStores.map((s) => s.name)).toEqual(["outdoor", "winter"]);
    expect(config.warnings).toEqual([{ key: "bigcommerceStores[1].accessToken", message: expect.stringMatching(/^is the same access token as bigcommerceStores\[0\]\.accessToken \(store 'outdoor'\): BigCommerce issues one token per API account/) }]);
    expect(JSON.stringify(config.warnings)).not.toContain(TOKENS.outdoor);
  });

  test("a mappings folder for a store that is not configured stops the program, naming the folder", async () => {
    const error = await programError({ set: { dataverseMappingsDir: "tests/fixtures/stores/orphan", bigcommerceStores: [entry("outdoor")] } });
    expect(error?.message).toContain(`${path.join("tests/fixtures/stores/orphan", "spring")}: bigcommerceStores: a mappings folder for store 'spring', which is not configured (stores: outdoor)`);
    expect(error?.declaredResources).toBe(0);
  });

  test("a configured mappings folder that does not exist, and an entry setting a store's hash parameter, are refused", async () => {
    const error = await programError(withStores([entry("outdoor", { mappingsDir: "tests/fixtures/stores/nowhere" })]));
    expect(error?.message).toContain("tests/fixtures/stores/nowhere: bigcommerceStores[0].mappingsDir: the folder does not exist");
    const entries = problemsOf(withStores([entry("outdoor")], { iomProviderParameters: ["BigCommerce Outdoor/Store Hash=abc"] }));
    expect(entries.problems).toEqual([{ key: "iomProviderParameters", message: "entry 0 sets 'Store Hash' of store 'outdoor''s provider, which the program sets from its storeHash; remove it" }]);
  });
});

describe("migration from the single-store keys", () => {
  const baseline = JSON.parse(fs.readFileSync(path.join(ROOT, "tests/fixtures/stores/single-store-baseline.json"), "utf8")) as { resources: { type: string; name: string; inputs: Obj }[] };
  const pick = (inputs: Obj, keys: string[]) => Object.fromEntries(keys.map((k) => [k, inputs[k]]));

  test("a stack on the single-store keys plans every resource it had, with the same name and inputs: no replacement", async () => {
    const plan = await capturePlan("dev", SINGLE);
    for (const before of baseline.resources) {
      const now = plan.resources.find((r) => r.type === before.type && r.name === before.name);
      expect({ name: before.name, inputs: now && pick(now.inputs, Object.keys(before.inputs)) }).toEqual({ name: before.name, inputs: before.inputs });
    }
    // What the store model adds: its provider instance's parameters, and the store in bigcommerceStores.
    const added = plan.resources.filter((r) => /bigcommerce|iom-mappings-/.test(r.name) && !baseline.resources.some((b) => b.name === r.name));
    expect(added.map((r) => [r.name, r.inputs.providerName, r.inputs.parameters])).toEqual([["iom-provider-parameters-bigcommerce", "BigCommerce", { "Store Hash": "abc123" }]]);
    expect(Object.keys(plan.outputs.bigcommerceStores as Obj)).toEqual(["default"]);
    expect(plan.outputs.keyVaultSecretNames).toMatchObject({ bigcommerceAccessToken: "bigcommerce-access-token" });
  });

  test("moving the store into bigcommerceStores as 'default' keeps every name and input but the refresh key", async () => {
    const single = await capturePlan("dev", SINGLE);
    const listed = await capturePlan("dev", { set: { ...DEV_ADOPTING, bigcommerceStores: [{ name: "default", storeHash: "abc123", expectedStoreName: "Contoso Outdoor", accessToken: { secure: TOKENS.single } }] } });
    const storeResources = (plan: typeof single) => plan.resources.filter((r) => /bigcommerce|iom-mappings-/.test(r.name));
    expect(storeResources(listed).map((r) => r.name)).toEqual(storeResources(single).map((r) => r.name));
    for (const r of storeResources(listed)) {
      const before = single.resources.find((s) => s.name === r.name)!;
      // The check re-reads its token from the list on refresh: an update of that one input, no replacement.
      const except = r.type === CHECK ? { accessTokenConfigKey: "iom-bigcommerce:bigcommerceStores" } : {};
      expect({ name: r.name, inputs: r.inputs }).toEqual({ name: r.name, inputs: { ...before.inputs, ...except } });
    }
  });

  test("adding a second store to a single-store stack leaves the first store's resources as they were", async () => {
    const single = await capturePlan("dev", SINGLE);
    const both = await capturePlan("dev", { set: { ...SINGLE.set, bigcommerceStores: [entry("winter", { mappingsDir: "tests/fixtures/stores/mappings/winter" })] }, secrets: SINGLE.secrets });
    for (const before of single.resources.filter((r) => /bigcommerce|iom-mappings-/.test(r.name))) {
      expect({ name: before.name, inputs: both.resources.find((r) => r.name === before.name)?.inputs }).toEqual({ name: before.name, inputs: before.inputs });
    }
    expect(both.resources.filter((r) => r.name.includes("winter")).map((r) => r.name).sort()).toEqual([
      "bigcommerce-api-check-winter", "iom-mappings-winter-products", "iom-provider-parameters-bigcommerce-winter", "vault-secret-bigcommerceAccessToken-winter",
    ]);
    expect(Object.keys(both.outputs.bigcommerceStores as Obj)).toEqual(["default", "winter"]);
  });
});
