/**
 * The options a stack can switch on, each run through the real program under mocks: unattended
 * gateway registration, a BigCommerce token, VNet support only, vault firewall exceptions and
 * data-plane role grants. Secrets given in config must reach Azure only as secrets.
 */
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { BUILT_IN_ROLES } from "../../components/roles";
import { decodeApplied } from "../../dynamic-providers/dataverse/sync";
import { PROVIDER_NOT_SERIALIZED } from "../../plan/harness";
import { SECRET_SIG, SECRET_SIG_KEY, isSecretValue, plainOccurrences, reveal, runProgram, type ProgramRun } from "../support/program";
import { DEV_ADOPTING } from "../support/stack";

type Obj = Record<string, unknown>;
const list = (v: unknown) => (v ?? []) as Obj[];

const SP_SECRET = "sp-Secret~value.that.must.never.leak";
const BC_TOKEN = "bc-token-abcdefghijklmnopqrstuvwxyz0123";
const CLIENT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const TENANT = "f0e1d2c3-b4a5-4968-8776-655443322110";
const ADMIN = "12345678-90ab-4cde-8f01-234567890abc";

/** The committed dev stack, run once for the tests below that compare a variation with it. */
let committedDev: Promise<ProgramRun> | undefined;
const devAsCommitted = () => (committedDev ??= runProgram("dev"));

test("the tests read a secret by the marker the SDK puts on it", () => {
  expect([SECRET_SIG_KEY, SECRET_SIG]).toEqual([specialSigKey, specialSecretSig]);
});

describe("unattended gateway registration with a service principal", () => {
  let run: Awaited<ReturnType<typeof runProgram>>;
  beforeAll(async () => {
    run = await runProgram("prod", {
      set: { gatewayRegistrationClientId: CLIENT_ID, gatewayRegistrationTenantId: TENANT, gatewayAdminObjectIds: [ADMIN], gatewayRegionKey: "westeurope" },
      secrets: { gatewayRegistrationClientSecret: SP_SECRET },
    });
  });

  test("the first node creates the cluster, the others join it, all with the same cluster name", () => {
    const commands = run.ofType("azure-native:compute:VirtualMachineRunCommandByVirtualMachine");
    const params = commands.map((c) => Object.fromEntries(list(c.inputs.parameters).map((p) => [p.name, p.value])));
    expect(params.map((p) => p.Mode)).toEqual(["create", "join"]);
    for (const p of params) {
      expect(p).toMatchObject({
        ClusterName: "gw-iom-retail-prod-weu",
        ClientId: CLIENT_ID,
        TenantId: TENANT,
        RegionKey: "westeurope",
        AdminObjectIds: ADMIN,
        RecoveryKeySecretName: "gateway-recovery-key",
        ClientSecretSecretName: "gateway-registration-client-secret",
      });
      expect(String(p.VaultName)).toMatch(/^kv-iomretailprodweu/);
    }
    expect(run.outputs.gatewayRegistrationMode).toBe("servicePrincipal");
    expect((run.outputs.nextSteps as string[]).join("\n")).not.toMatch(/Register the installed gateway/);
  });

  test("the client secret goes to Key Vault as a secret and nowhere else in plain text", () => {
    const stored = run.ofType("azure-native:keyvault:Secret").find((s) => s.inputs.secretName === "gateway-registration-client-secret");
    expect(isSecretValue(stored?.inputs.properties)).toBe(true);
    expect((reveal(stored?.inputs.properties) as Obj).value).toBe(SP_SECRET);
    for (const resource of run.resources) expect(plainOccurrences(resource.inputs, [SP_SECRET])).toEqual([]);
    // the run command never carries it, not even as a protected parameter
    for (const c of run.ofType("azure-native:compute:VirtualMachineRunCommandByVirtualMachine")) {
      expect(JSON.stringify(reveal(c.inputs))).not.toContain(SP_SECRET);
    }
    expect(JSON.stringify(run.outputs)).not.toContain(SP_SECRET);
  });

  test("each VM identity may read exactly the recovery key and the client secret", () => {
    const secretIds = Object.fromEntries(run.ofType("azure-native:keyvault:Secret").map((s) => [s.inputs.secretName, s.id]));
    const grants = run.ofType("azure-native:authorization:RoleAssignment");
    const scopes = grants.map((g) => g.inputs.scope).sort();
    expect(scopes).toEqual([
      secretIds["gateway-recovery-key"], secretIds["gateway-recovery-key"],
      secretIds["gateway-registration-client-secret"], secretIds["gateway-registration-client-secret"],
    ].sort());
    expect(scopes).not.toContain(secretIds["gateway-vm-admin-password"]);
  });
});

describe("a BigCommerce access token in the stack's secrets", () => {
  /** A store with its token, the scopes it must have and the name it must bear. */
  const WITH_STORE = {
    set: { bigcommerceStoreHash: "abc123", bigcommerceRequiredScopes: ["orders", "products"], bigcommerceExpectedStoreName: "Contoso" },
    secrets: { bigcommerceAccessToken: BC_TOKEN },
  };

  test("is stored in Key Vault as a secret and never appears in plain inputs or outputs", async () => {
    const run = await runProgram("dev", WITH_STORE);
    const stored = run.ofType("azure-native:keyvault:Secret").find((s) => s.inputs.secretName === "bigcommerce-access-token");
    expect(isSecretValue(stored?.inputs.properties)).toBe(true);
    expect((reveal(stored?.inputs.properties) as Obj).value).toBe(BC_TOKEN);
    expect((reveal(stored?.inputs.properties) as Obj).contentType).toContain("abc123");
    for (const resource of run.resources) expect(plainOccurrences(resource.inputs, [BC_TOKEN])).toEqual([]);
    expect(JSON.stringify(run.outputs)).not.toContain(BC_TOKEN);
    expect(run.secretOutputs).toEqual([]);
    expect(run.outputs.keyVaultSecretNames).toMatchObject({ bigcommerceAccessToken: "bigcommerce-access-token" });
  });

  test("is checked against BigCommerce by the API check resource, which gets it only as a secret", async () => {
    const run = await runProgram("dev", WITH_STORE);
    const check = run.one("pulumi-nodejs:dynamic/bigcommerce:ApiCheck");
    expect(check.name).toBe("bigcommerce-api-check");
    expect(check.inputs).toMatchObject({ storeHash: "abc123", requiredScopes: ["orders", "products"], expectedStoreName: "Contoso", accessTokenConfigKey: "iom-bigcommerce:bigcommerceAccessToken" });
    expect(isSecretValue(check.inputs.accessToken)).toBe(true);
    expect(reveal(check.inputs.accessToken)).toBe(BC_TOKEN);
    // its serialized text is tested in tests/providers/bigcommerce.serialization.test.ts
    expect(check.inputs.__provider).toBe(PROVIDER_NOT_SERIALIZED);
    expect(plainOccurrences(check.inputs, [BC_TOKEN])).toEqual([]);
    expect(Object.keys(run.outputs.bigcommerce as object).sort()).toEqual(["checkedAt", "domain", "planName", "scopesVerified", "status", "storeId", "storeName", "tokenFingerprint"]);
  });

  test("stacks without a store declare no check", async () => {
    const run = await devAsCommitted();
    expect(run.ofType("pulumi-nodejs:dynamic/bigcommerce:ApiCheck")).toEqual([]);
    expect(run.outputs.bigcommerce).toBeUndefined();
  });

  test("must be set as a secret: the program refuses a plain value before declaring anything", async () => {
    const error = await runProgram("dev", { set: { bigcommerceStoreHash: "abc123", bigcommerceAccessToken: BC_TOKEN } }).then(() => undefined, (e: Error) => e);
    expect(error?.message).toContain("iom-bigcommerce:bigcommerceAccessToken: holds a secret but was set in plain text");
    expect(error?.message).not.toContain(BC_TOKEN);
    expect((error as Error & { declaredResources: number }).declaredResources).toBe(0);
  });
});

describe("connectivity powerPlatformVnet only", () => {
  test("deploys no gateway VM, gateway subnet or NAT, and exports the enterprise policy", async () => {
    const run = await runProgram("test", { set: { connectivity: "powerPlatformVnet" } });
    for (const type of ["azure-native:compute:VirtualMachine", "azure-native:network:NatGateway", "azure-native:network:PublicIPAddress", "azure-native:network:NetworkInterface"]) {
      expect(run.ofType(type)).toEqual([]);
    }
    expect(run.ofType("azure-native:network:Subnet").map((s) => s.name).sort()).toEqual(["network-snet-pep", "network-snet-pp"]);
    expect(run.ofType("azure-native:keyvault:Secret")).toEqual([]);
    expect(run.outputs.gatewayRegistrationMode).toBe("none");
    expect(run.outputs.gatewayVms).toBeUndefined();
    expect(run.outputs.powerPlatformEnterprisePolicyId).toBe(run.one("azure-native:powerplatform:EnterprisePolicy").id);
    // only the Power Platform subnets may reach the endpoints
    const rules = list(run.one("azure-native:network:NetworkSecurityGroup", "nsg-pep").inputs.securityRules);
    expect(rules.find((r) => r.access === "Allow")?.sourceAddressPrefixes).toEqual(["10.21.0.64/26", "10.121.0.0/26"]);
  });
});

describe("operator access", () => {
  const blobUser = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
  const operator = "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff";
  /** Both kinds of operator access at once: vault firewall exceptions and data-plane role grants. */
  const OPERATOR_ACCESS = {
    set: { keyVaultAllowedIpRanges: ["203.0.113.10", "198.51.100.0/24"], blobDataContributorPrincipalIds: [blobUser], keyVaultSecretsUserPrincipalIds: [operator] },
  };

  test("keyVaultAllowedIpRanges opens the vault firewall to exactly those ranges, still deny by default", async () => {
    const run = await runProgram("dev", OPERATOR_ACCESS);
    expect((run.one("azure-native:keyvault:Vault").inputs.properties as Obj)).toMatchObject({
      publicNetworkAccess: "Enabled",
      networkAcls: { defaultAction: "Deny", ipRules: [{ value: "203.0.113.10" }, { value: "198.51.100.0/24" }] },
    });
  });

  test("listed principals get Storage Blob Data Contributor on the account and Key Vault Secrets User on the vault", async () => {
    const run = await runProgram("dev", OPERATOR_ACCESS);
    const grants = run.ofType("azure-native:authorization:RoleAssignment").map((g) => g.inputs);
    expect(grants).toContainEqual(expect.objectContaining({
      principalId: blobUser,
      scope: run.one("azure-native:storage:StorageAccount").id,
      roleDefinitionId: `/subscriptions/11111111-2222-3333-4444-555555555555/providers/Microsoft.Authorization/roleDefinitions/${BUILT_IN_ROLES.storageBlobDataContributor}`,
    }));
    expect(grants).toContainEqual(expect.objectContaining({
      principalId: operator,
      scope: run.one("azure-native:keyvault:Vault").id,
      roleDefinitionId: expect.stringMatching(new RegExp(`${BUILT_IN_ROLES.keyVaultSecretsUser}$`)),
    }));
  });
});

describe("bad configuration", () => {
  test("stops the program before any resource is declared, naming the key and the stack", async () => {
    const error = await runProgram("prod", { set: { storageSku: "Premium_LRS" } }).then(() => undefined, (e: Error) => e);
    expect(error?.message).toMatch(/Stack 'prod'.*\n.*iom-bigcommerce:storageSku: must be one of/);
    expect((error as Error & { declaredResources: number }).declaredResources).toBe(0);
  });
});

describe("IOM mapping sets", () => {
  test("each stack keeps one set per mapping file, in the Dataverse its IOM app was installed in (create mode)", async () => {
    const run = await devAsCommitted();
    const sets = run.ofType("pulumi-nodejs:dynamic/dataverse:IomMappingSet");
    expect(sets.map((s) => s.name).sort()).toEqual(["iom-mappings-accounts", "iom-mappings-pricelists", "iom-mappings-products", "iom-mappings-units"]);
    const products = run.one("pulumi-nodejs:dynamic/dataverse:IomMappingSet", "products").inputs;
    expect(products).toMatchObject({
      // the mocks give the IOM app the Dataverse of the environment dev creates, at its derived domain
      environmentUrl: "https://iom-retail-dev-weu.crm4.dynamics.com",
      kind: "products",
      providerName: "BigCommerce",
      mappingGroup: "Default Mapping Group",
      adoptExisting: false,
    });
    // the guide's sample: sku ABS -> Accu Scale, keyed so a preview shows each mapping
    expect(Object.entries(decodeApplied(products.rows as string))).toEqual([["sku=ABS", "Accu Scale"]]);
    expect(Object.keys(run.outputs.mappings as object).sort()).toEqual(["accounts", "pricelists", "products", "units"]);
  });

  test("schema overrides and adoption reach the sets; without an environment there are none", async () => {
    const run = await runProgram("dev", { set: { dataverseProductsSchema: "table=abc_productmapping;target=abc_product", dataverseAdoptExisting: true } });
    expect(run.one("pulumi-nodejs:dynamic/dataverse:IomMappingSet", "products").inputs).toMatchObject({ schemaOverride: "table=abc_productmapping;target=abc_product", adoptExisting: true });
    expect(run.one("pulumi-nodejs:dynamic/dataverse:IomMappingSet", "units").inputs.schemaOverride).toBe("");
    const none = await runProgram("dev", { set: { ...DEV_ADOPTING, dataverseEnvironmentUrl: "" } });
    expect(none.ofType("pulumi-nodejs:dynamic/dataverse:IomMappingSet")).toEqual([]);
    expect(none.outputs.mappings).toBeUndefined();
  });

  test("malformed mapping files stop the program before any resource, every problem with file and line", async () => {
    const error = await runProgram("dev", { set: { dataverseMappingsDir: "tests/fixtures/mappings-bad" } }).then(() => undefined, (e: Error) => e);
    expect((error as Error & { declaredResources: number }).declaredResources).toBe(0);
    const message = String(error?.message);
    expect(message).toMatch(/tests\/fixtures\/mappings-bad\/products\.csv:3: .*/);
    expect(message).toMatch(/tests\/fixtures\/mappings-bad\/products\.csv:4: .*/);
    expect(message).toMatch(/tests\/fixtures\/mappings-bad\/units\.csv:2: .*/);
    expect(message).toMatch(/tests\/fixtures\/mappings-bad\/warehouses\.csv.*/);
  });
});
