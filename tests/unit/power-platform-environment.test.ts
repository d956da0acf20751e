/**
 * The stack's Power Platform environment in the program, with each stack's real config: what a
 * created environment is created with (names from naming.ts, location from powerPlatformGeo), the
 * Managed Environment only where VNet support needs it or the stack asks, the IOM app, and one
 * source of truth: in create mode the Dataverse URL, organization id and environment id reach the
 * mappings, the provider parameters, the Inventory Visibility outputs and the policy link from these
 * resources (the preview's references show the chain); in adopt mode they come from config and the
 * environment resource is told what to check them against.
 */
import { capturePlan, runProgram } from "../support/program";
import { loadStackFile } from "../support/stack";

const ENV = "pulumi-nodejs:dynamic/powerplatform:Environment";
const MANAGED = "pulumi-nodejs:dynamic/powerplatform:ManagedEnvironment";
const APP = "pulumi-nodejs:dynamic/powerplatform:ApplicationPackage";
const MAPPINGS = "pulumi-nodejs:dynamic/dataverse:IomMappingSet";
const PARAMS = "pulumi-nodejs:dynamic/iom:IomProviderParameters";
const LINK = "pulumi-nodejs:dynamic/powerplatform:PowerPlatformPolicyLink";

describe("create mode (dev: no VNet support)", () => {
  it("creates the environment with the stack's names, geography, language, currency and templates", async () => {
    const run = await runProgram("dev");
    expect(run.one(ENV).inputs).toEqual(expect.objectContaining({
      mode: "create",
      displayName: "iom-retail-dev-weu",
      domainName: "iom-retail-dev-weu",
      location: "europe",
      sku: "Sandbox",
      languageCode: 1033,
      currencyCode: "EUR",
      securityGroupId: "",
      templates: ["D365_CDSSampleApp"],
      deleteOnDestroy: true,
      bapUrl: "https://api.bap.microsoft.com",
    }));
    // in create mode the environment's id is an output, not an input
    expect(run.one(ENV).inputs.environmentId).toBeUndefined();
    expect(run.one(APP).inputs).toMatchObject({ uniqueName: "msdyn_IntelligentOrderManagementAnchor", powerPlatformApiUrl: "https://api.powerplatform.com" });
    // no VNet support and not asked: no Managed Environment
    expect(run.ofType(MANAGED)).toEqual([]);
  });

  it("the preview's chain: environment -> IOM app -> mappings and provider parameters; IV's organization id from the environment", async () => {
    const plan = await capturePlan("dev");
    const refs = (name: string) => plan.resources.find((r) => r.name === name)?.references ?? {};
    expect(refs("iom-app").environmentId).toEqual(["powerplatform-environment"]);
    for (const kind of ["accounts", "pricelists", "products", "units"]) expect(refs(`iom-mappings-${kind}`).environmentUrl).toEqual(["iom-app"]);
    expect(refs("iom-provider-parameters-inventory-visibility").environmentUrl).toEqual(["iom-app"]);
    expect(refs("iom-provider-parameters-inventory-visibility").parameters).toContain("powerplatform-environment");
    expect(plan.outputs.inventoryVisibility).toMatchObject({ organizationId: "[unknown]" });
  });

  it("a stack that names its domain gets it; asking for a Managed Environment plans one", async () => {
    const run = await runProgram("dev", { set: { powerPlatformDomainName: "contoso-iom-dev", powerPlatformManagedEnvironment: true } });
    expect(run.one(ENV).inputs.domainName).toBe("contoso-iom-dev");
    expect(run.one(MANAGED).inputs.environmentId).toBe((run.outputs.powerPlatform as { environmentId: string }).environmentId);
  });
});

describe("create mode with VNet support (test)", () => {
  it("environment -> Managed Environment -> IOM app and policy link", async () => {
    const plan = await capturePlan("test");
    const refs = (name: string) => plan.resources.find((r) => r.name === name)?.references ?? {};
    expect(refs("powerplatform-managed-environment").environmentId).toEqual(["powerplatform-environment"]);
    expect(refs("iom-app").environmentId).toEqual(["powerplatform-managed-environment"]);
    expect(refs("powerplatform-policy-link").environmentId).toEqual(["powerplatform-managed-environment"]);
    expect(refs("iom-mappings-products").environmentUrl).toEqual(["iom-app"]);
  });
});

describe("adopt mode (prod)", () => {
  const file = loadStackFile("prod");
  const setting = (key: string) => String(file[`iom-bigcommerce:${key}`]);

  it("reads the configured environment and checks the configured Dataverse URL and organization id against it", async () => {
    const run = await runProgram("prod");
    expect(run.one(ENV).inputs).toEqual(expect.objectContaining({
      mode: "adopt",
      environmentId: setting("powerPlatformEnvironmentId"),
      expectedInstanceUrl: setting("dataverseEnvironmentUrl"),
      expectedOrganizationId: setting("organizationId"),
    }));
    // nothing about creating it is an input
    for (const key of ["displayName", "domainName", "templates", "sku", "deleteOnDestroy"]) expect(run.one(ENV).inputs[key]).toBeUndefined();
    // no IOM install, and an adopted environment is not made managed unless the stack asks
    expect(run.ofType(APP)).toEqual([]);
    expect(run.ofType(MANAGED)).toEqual([]);
    // the ids still come from config
    expect(run.one(MAPPINGS, "products").inputs.environmentUrl).toBe(setting("dataverseEnvironmentUrl"));
    expect(run.one(PARAMS, "inventory-visibility").inputs.environmentUrl).toBe(setting("dataverseEnvironmentUrl"));
    expect(run.one(LINK).inputs.environmentId).toBe(setting("powerPlatformEnvironmentId"));
    expect((run.outputs.inventoryVisibility as { organizationId: string }).organizationId).toBe(setting("organizationId"));
  });

  it("asked for a Managed Environment, the policy link comes after it", async () => {
    const plan = await capturePlan("prod", { set: { powerPlatformManagedEnvironment: true } });
    const link = plan.resources.find((r) => r.name === "powerplatform-policy-link");
    expect(link?.references?.environmentId).toEqual(["powerplatform-managed-environment"]);
  });
});
