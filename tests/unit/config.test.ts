/**
 * config/ against each committed stack and against bad configurations: every bad value is
 * rejected with a message naming the key and the stack, and all problems come at once.
 */
import { ConfigError, parseStackConfig } from "../../config";
import { DEV_ADOPTING, listStacks, loadStackFile, rawStackConfig, type ConfigChanges } from "../support/stack";

/** `text` overrides values after the CLI's own checks, as a value the CLI passes through would arrive. */
function problemsFor(stack: string, changes: ConfigChanges, text: Record<string, string> = {}): ConfigError {
  const { raw, secretKeys } = rawStackConfig(stack, changes);
  try {
    parseStackConfig(stack, { ...raw, ...text }, secretKeys);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected the configuration to be rejected");
}

describe("committed stacks", () => {
  test.each(listStacks())("%s is valid and derives names from environment, region and business unit", (stack) => {
    const file = (key: string) => loadStackFile(stack)[`iom-bigcommerce:${key}`];
    const config = parseStackConfig(stack, rawStackConfig(stack).raw);
    expect(config.naming).toEqual({ environment: file("environment"), regionCode: file("regionCode") ?? expect.stringMatching(/^[a-z0-9]{2,5}$/), businessUnit: file("businessUnit") });
    const { environment, regionCode } = config.naming;
    expect(config.storage.fileDropContainerName).toBe(file("fileDropContainerName") ?? `d365iomfiledrop${environment}${regionCode}`);
    expect(config.tags).toMatchObject({ environment, pulumiStack: `iom-bigcommerce/${stack}` });
    expect(config.bigcommerceStores).toEqual([]);
    expect(config.gateway?.registration).toBeUndefined();
  });
});

// Each case: a change to the dev stack, the key the error must name, and what it must say.
const badConfigs: [string, ConfigChanges, string, RegExp, Record<string, string>?][] = [
  ["environment with capitals and punctuation", { set: { environment: "Dev!" } }, "environment", /2-5 lowercase/],
  ["location written as a display name", { set: { location: "West Europe" } }, "location", /Azure region name/],
  ["a region without a built-in short code", { set: { location: "marsnorth" } }, "regionCode", /has no built-in short code/],
  ["business unit too long", { set: { businessUnit: "retailgroup1" } }, "businessUnit", /2-10 lowercase/],
  ["names that outgrow Azure's limits", { set: { businessUnit: "retailgrp", environment: "stage" } }, "businessUnit", /'stiomretailgrpstageweu<random>' too long/],
  ["organization id that is not a GUID", { set: { organizationId: "contoso" } }, "organizationId", /must be the Dataverse organization id \(a GUID\)/],
  ["unknown connectivity mode", { set: { connectivity: "vpn" } }, "connectivity", /one of dataGateway, powerPlatformVnet, both/],
  ["address space with host bits", { set: { vnetAddressSpace: "10.20.0.1/24" } }, "vnetAddressSpace", /without host bits/],
  ["subnet outside the VNet", { set: { privateEndpointSubnetPrefix: "10.99.0.0/27" } }, "privateEndpointSubnetPrefix", /not inside vnetAddressSpace/],
  ["overlapping subnets", { set: { gatewaySubnetPrefix: "10.20.0.16/28" } }, "gatewaySubnetPrefix", /overlaps privateEndpointSubnetPrefix/],
  ["private endpoint subnet too small", { set: { privateEndpointSubnetPrefix: "10.20.0.0/29" } }, "privateEndpointSubnetPrefix", /too small: use \/28/],
  ["VNet support without its subnet", { set: { connectivity: "both", powerPlatformGeo: "europe" } }, "powerPlatformSubnetPrefix", /required when connectivity is 'both'/],
  ["failover region without its address space", { set: { connectivity: "powerPlatformVnet", powerPlatformSubnetPrefix: "10.20.0.64/26", powerPlatformGeo: "europe", powerPlatformFailoverLocation: "northeurope" } }, "powerPlatformFailoverAddressSpace", /set together/],
  ["Power Platform settings on a gateway-only stack", { set: { powerPlatformSubnetPrefix: "10.20.0.64/26" } }, "powerPlatformSubnetPrefix", /only used when connectivity/],
  ["premium storage SKU", { set: { storageSku: "Premium_LRS" } }, "storageSku", /one of Standard_LRS/],
  ["blob soft delete of zero days", { set: { blobSoftDeleteDays: 0 } }, "blobSoftDeleteDays", /at least 1/],
  ["blob versioning as yes/no", {}, "blobVersioning", /true or false, got 'yes'/, { blobVersioning: "yes" }],
  ["vault soft delete beyond 90 days", { set: { keyVaultSoftDeleteDays: 120 } }, "keyVaultSoftDeleteDays", /at most 90/],
  ["a principal id that is not a GUID", { set: { blobDataContributorPrincipalIds: ["flow-connection-user"] } }, "blobDataContributorPrincipalIds", /\[0\] must be a GUID/],
  ["the same principal twice", { set: { keyVaultSecretsUserPrincipalIds: ["aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE"] } }, "keyVaultSecretsUserPrincipalIds", /same value twice/],
  ["a vault firewall entry that is not an address", { set: { keyVaultAllowedIpRanges: ["office"] } }, "keyVaultAllowedIpRanges", /IPv4 addresses or CIDR/],
  ["a private range in the vault firewall", { set: { keyVaultAllowedIpRanges: ["10.1.0.0/16"] } }, "keyVaultAllowedIpRanges", /private range/],
  ["gateway admins without unattended registration", { set: { gatewayAdminObjectIds: ["aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"] } }, "gatewayAdminObjectIds", /only takes effect with unattended registration/],
  ["no gateway VM", { set: { gatewayVmCount: 0 } }, "gatewayVmCount", /at least 1/],
  ["a gateway VM count in words", {}, "gatewayVmCount", /must be an integer, got 'two'/, { gatewayVmCount: "two" }],
  ["a list given as a plain string", {}, "gatewayZones", /must be a list/, { gatewayZones: "1,2" }],
  ["an availability zone that does not exist", { set: { gatewayZones: ["4"] } }, "gatewayZones", /zones "1", "2" or "3"/],
  ["a reserved administrator name", { set: { gatewayAdminUsername: "administrator" } }, "gatewayAdminUsername", /does not allow/],
  ["a gateway installer over plain http", { set: { gatewayInstallerUrl: "http://download.microsoft.com/GatewayInstall.exe" } }, "gatewayInstallerUrl", /https URL/],
  ["an empty installer command line", { set: { gatewayInstallerArguments: " " } }, "gatewayInstallerArguments", /command line on one line/],
  ["a subscription prerequisites mode that does not exist", { set: { subscriptionPrerequisites: "skip" } }, "subscriptionPrerequisites", /must be register .* or check/],
  ["a Bastion SKU that is not offered", { set: { bastionSku: "Developer" } }, "bastionSku", /Basic or Standard, or empty/],
  ["a Bastion without its subnet, with the first free /26 suggested", { set: { bastionSku: "Basic" } }, "bastionSubnetPrefix", /required with bastionSku: .*\(e\.g\. 10\.20\.0\.64\/26, the first free \/26\)/],
  ["a Bastion subnet smaller than /26", { set: { bastionSku: "Basic", bastionSubnetPrefix: "10.20.0.64/27" } }, "bastionSubnetPrefix", /too small: Azure Bastion needs \/26/],
  ["a Bastion subnet over the gateway's", { set: { bastionSku: "Basic", bastionSubnetPrefix: "10.20.0.0/26" } }, "bastionSubnetPrefix", /overlaps privateEndpointSubnetPrefix 10\.20\.0\.0\/27/],
  ["a Bastion subnet without a Bastion", { set: { bastionSubnetPrefix: "10.20.0.64/26" } }, "bastionSubnetPrefix", /only used with bastionSku/],
  ["a Bastion on a stack without a gateway", { set: { connectivity: "powerPlatformVnet", powerPlatformSubnetPrefix: "10.20.0.128/26", powerPlatformGeo: "europe", bastionSku: "Basic", bastionSubnetPrefix: "10.20.0.64/26" } }, "bastionSku", /only used when connectivity is 'dataGateway' or 'both'/],
  ["registration client id without its secret", { set: { gatewayRegistrationClientId: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d" } }, "gatewayRegistrationClientSecret", /client id, tenant id and secret go together/],
  ["a store hash without its token", { set: { bigcommerceStoreHash: "abc123" } }, "bigcommerceAccessToken", /set together/],
  ["a store hash that is a URL", { set: { bigcommerceStoreHash: "https://store-abc123.mybigcommerce.com" } }, "bigcommerceStoreHash", /not a URL or host name: use 'abc123'/],
  ["a scope the check cannot prove", { set: { bigcommerceStoreHash: "abc123", bigcommerceRequiredScopes: ["orders", "store_v2_products"] }, secrets: { bigcommerceAccessToken: "t" } }, "bigcommerceRequiredScopes", /modify scope/],
  ["BigCommerce settings without a store", { set: { bigcommerceExpectedStoreName: "Contoso" } }, "bigcommerceExpectedStoreName", /only used with bigcommerceStoreHash/],
  ["a tag overriding a program tag", { set: { extraTags: ["environment=prod"] } }, "extraTags", /set by the program/],
  ["a tag without a value separator", { set: { extraTags: ["costCenter"] } }, "extraTags", /key=value/],
  ["the same container twice", { set: { fileDropContainerName: "drop", errorFileDropContainerName: "drop" } }, "errorFileDropContainerName", /must differ/],
  ["a container name with capitals", { set: { fileDropContainerName: "FileDrop" } }, "fileDropContainerName", /lowercase/],
  ["a token set in plain text", { set: { bigcommerceStoreHash: "abc123", bigcommerceAccessToken: "tok-plain" } }, "bigcommerceAccessToken", /set in plain text: set it with 'pulumi config set --secret bigcommerceAccessToken <value>'/],
  ["a registration secret set in plain text", { set: { gatewayRegistrationClientId: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", gatewayRegistrationTenantId: "f0e1d2c3-b4a5-4968-8776-655443322110", gatewayRegistrationClientSecret: "plain" } }, "gatewayRegistrationClientSecret", /set in plain text/],
  ["a Dataverse URL that is not an environment", { set: { dataverseEnvironmentUrl: "https://make.powerapps.com/environments/x" } }, "dataverseEnvironmentUrl", /https:\/\/contoso\.crm4\.dynamics\.com/],
  ["a malformed schema override", { set: { dataverseUnitsSchema: "table" } }, "dataverseUnitsSchema", /is not key=value/],
  ["a schema override with an unknown key", { set: { dataverseProductsSchema: "tabel=abc_x" } }, "dataverseProductsSchema", /unknown key "tabel"/],
  ["a mappings folder outside the project", { set: { dataverseMappingsDir: "../elsewhere" } }, "dataverseMappingsDir", /inside the project/],
  ["mapping settings without a Dataverse", { set: { ...DEV_ADOPTING, dataverseEnvironmentUrl: "", dataverseAdoptExisting: true } }, "dataverseAdoptExisting", /only used with a Dataverse: dataverseEnvironmentUrl, or powerPlatformEnvironmentMode 'create'/],
  // The Power Platform environment (dev creates it).
  ["an unknown environment mode", { set: { powerPlatformEnvironmentMode: "import" } }, "powerPlatformEnvironmentMode", /must be create .* or adopt/],
  ["a Dataverse URL in create mode", { set: { dataverseEnvironmentUrl: "https://iom-retail-dev.crm4.dynamics.com" } }, "dataverseEnvironmentUrl", /must be empty: powerPlatformEnvironmentMode is 'create', so its Dataverse URL comes from the environment this stack creates/],
  ["an organization id in create mode", { set: { organizationId: "6f1d3c1e-2b7a-4c55-9a0e-5d2f8b3c4a10" } }, "organizationId", /must be empty: .* its organization id comes from the environment/],
  ["an environment id in create mode", { set: { powerPlatformEnvironmentId: "5d2e8a41-7c3b-4f9e-a1d6-0b4c7e9f2a13" } }, "powerPlatformEnvironmentId", /must be empty: .* the environment's id comes from the environment/],
  ["create mode without a geography", { set: { powerPlatformGeo: "" } }, "powerPlatformGeo", /required when powerPlatformEnvironmentMode is 'create': it is the environment's location/],
  ["create mode without a Dynamics 365 template", { set: { powerPlatformEnvironmentTemplates: [] } }, "powerPlatformEnvironmentTemplates", /at least one Dynamics 365 template/],
  ["an environment SKU that does not exist", { set: { powerPlatformEnvironmentSku: "Free" } }, "powerPlatformEnvironmentSku", /one of Trial, Sandbox, Production, Developer/],
  ["a domain name with capitals", { set: { powerPlatformDomainName: "IOM-Dev" } }, "powerPlatformDomainName", /lowercase letters, digits and '-'/],
  ["a currency in lower case", { set: { powerPlatformCurrencyCode: "eur" } }, "powerPlatformCurrencyCode", /ISO 4217/],
  ["a security group that is not a GUID", { set: { powerPlatformSecurityGroupId: "iom-users" } }, "powerPlatformSecurityGroupId", /security group id \(a GUID\)/],
  ["an application package name with spaces", { set: { iomApplicationPackage: "Intelligent Order Management" } }, "iomApplicationPackage", /unique name/],
  ["create mode on a BAP host of no known cloud", { set: { powerPlatformBapUrl: "https://bap.example.com" } }, "powerPlatformBapUrl", /is not a known Power Platform admin \(BAP\) host/],
  ["adopt mode without the environment id", { set: { ...DEV_ADOPTING, powerPlatformEnvironmentId: "" } }, "powerPlatformEnvironmentId", /required when powerPlatformEnvironmentMode is 'adopt'/],
  ["adopt mode without the organization id", { set: { ...DEV_ADOPTING, organizationId: "" } }, "organizationId", /required when powerPlatformEnvironmentMode is 'adopt'/],
  ["a create-only setting in adopt mode", { set: { ...DEV_ADOPTING, powerPlatformEnvironmentDeleteOnDestroy: true } }, "powerPlatformEnvironmentDeleteOnDestroy", /only used when powerPlatformEnvironmentMode is 'create' \(an adopted environment is never changed\)/],
  ["a mapping file size limit of 0", { set: { dataverseMappingFileMaxMB: 0 } }, "dataverseMappingFileMaxMB", /at least 1/],
  ["a mistyped key", { set: { storagesku: "Standard_LRS" } }, "storagesku", /not a setting of this program \(did you mean 'storageSku'\?\)/],
  ["a doctor flow entry without its provider", { set: { iomProviderFlows: ["BigCommerce Order Puller"] } }, "iomProviderFlows", /\[entry 0\]|entry 0 must be 'Provider\/Flow name'/],
  ["the same doctor flow twice", { set: { iomProviderFlows: ["BigCommerce/Puller", "bigcommerce/puller"] } }, "iomProviderFlows", /entry 1 names bigcommerce\/puller a second time/],
  ["doctor flows without an environment", { set: { ...DEV_ADOPTING, dataverseEnvironmentUrl: "", iomProviderFlows: ["BigCommerce/Puller"] } }, "iomProviderFlows", /only used with a Dataverse/],
  ["a doctor look-back beyond a week", { set: { doctorLookbackHours: 200 } }, "doctorLookbackHours", /at most 168/],
  ["a doctor secret threshold of zero days", { set: { doctorSecretExpiryDays: 0 } }, "doctorSecretExpiryDays", /at least 1/],
];

describe("bad configuration is rejected, naming key and stack", () => {
  test(`covers at least 15 distinct cases (has ${badConfigs.length})`, () => {
    expect(badConfigs.length).toBeGreaterThanOrEqual(15);
  });

  // A rest parameter: jest would take a fifth named parameter for a `done` callback.
  test.each(badConfigs)("%s", (_label, changes, key, message, ...text) => {
    const error = problemsFor("dev", changes, text[0]);
    expect(error.stackName).toBe("dev");
    const problem = error.problems.find((p) => p.key === key);
    expect(problem?.message).toMatch(message);
    expect(error.message).toContain(`Stack 'dev'`);
    expect(error.message).toContain(`iom-bigcommerce:${key}: `);
  });

  test("reports every problem at once", () => {
    const error = problemsFor("prod", { set: { environment: "PROD", storageSku: "Hot", gatewayVmCount: 0, organizationId: "x" } });
    expect(error.problems.map((p) => p.key).sort()).toEqual(["environment", "gatewayVmCount", "organizationId", "storageSku"]);
    expect(error.message).toMatch(/^Stack 'prod' has 4 configuration problems:/);
  });

  test("values of the wrong declared type are already refused by the Pulumi CLI, naming key and stack", () => {
    expect(() => rawStackConfig("dev", { set: { gatewayVmCount: "two" } })).toThrow("Stack 'dev' with configuration key 'gatewayVmCount' must be of type 'integer'");
    expect(() => rawStackConfig("dev", { remove: ["businessUnit"] })).toThrow("Stack 'dev' is missing configuration value 'businessUnit'");
  });

  test("reports a missing required key", () => {
    const { raw } = rawStackConfig("test");
    delete raw.organizationId;
    expect(() => parseStackConfig("test", raw)).toThrow(/iom-bigcommerce:organizationId: is required but not set/);
  });

  test("keeps the value of a secret out of the message", () => {
    const error = problemsFor("dev", { secrets: { bigcommerceAccessToken: "tok-very-secret-value" } });
    expect(error.message).toContain("bigcommerceStoreHash");
    expect(error.message).not.toContain("tok-very-secret-value");
  });
});

describe("valid options", () => {
  test("an unknown region works with an explicit region code", () => {
    const config = parseStackConfig("dev", rawStackConfig("dev", { set: { location: "italynorth", regionCode: "itn" } }).raw);
    expect(config.naming.regionCode).toBe("itn");
  });

  test("a service principal turns on unattended registration; its secret stays an Output", () => {
    const { raw, secretKeys } = rawStackConfig("dev", {
      set: { gatewayRegistrationClientId: "0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D", gatewayRegistrationTenantId: "f0e1d2c3-b4a5-4968-8776-655443322110" },
      secrets: { gatewayRegistrationClientSecret: "s3cret" },
    });
    const config = parseStackConfig("dev", raw, secretKeys);
    expect(config.gateway?.registration).toMatchObject({ clientId: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", adminObjectIds: [] });
    expect(JSON.stringify(config.gateway?.registration?.clientSecret)).not.toContain("s3cret");
  });
});

test("the doctor's settings: defaults, and flows named per provider", () => {
  const { raw, secretKeys } = rawStackConfig("dev", { set: { iomProviderFlows: ["BigCommerce/Order Puller", "Inventory Visibility/IV Writer", "bigcommerce/Status Update"] } });
  expect(parseStackConfig("dev", raw, secretKeys).doctor).toEqual({
    lookbackHours: 24,
    secretExpiryDays: 7,
    providerFlows: [
      { provider: "BigCommerce", flows: ["Order Puller", "Status Update"] },
      { provider: "Inventory Visibility", flows: ["IV Writer"] },
    ],
  });
});
