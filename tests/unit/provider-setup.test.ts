/**
 * The program's IOM provider setup, run under Pulumi's mocks with each stack's real config: every
 * stack plans the Inventory Visibility parameters from its own outputs (the Dataverse URL and
 * organization id from the environment it creates, or from config when it adopts one), every stack
 * with VNet support plans the policy link to its environment, other providers' parameters come from
 * config (secrets as secrets), and nextSteps lists only what is still manual.
 */
import { isSecretValue, plainOccurrences, runProgram, type ProgramRun } from "../support/program";
import { DEV_ADOPTING, listStacks, loadStackFile } from "../support/stack";

const STACKS = listStacks();
import { INVENTORY_VISIBILITY_PARAMETERS } from "../../dynamic-providers/iom-provider";

const PARAMS = "pulumi-nodejs:dynamic/iom:IomProviderParameters";
const LINK = "pulumi-nodejs:dynamic/powerplatform:PowerPlatformPolicyLink";
const POLICY = "azure-native:powerplatform:EnterprisePolicy";

const runs = new Map<string, ProgramRun>();
beforeAll(async () => {
  for (const stack of STACKS) runs.set(stack, await runProgram(stack));
}, 120_000);

describe.each(STACKS)("stack %s", (stack) => {
  const file = loadStackFile(stack);
  const r = () => runs.get(stack)!;

  const creates = file["iom-bigcommerce:powerPlatformEnvironmentMode"] === "create";
  /** Where the ids come from: the environment the stack created (create mode) or config (adopt mode). */
  const fromEnvironment = () => r().outputs.powerPlatform as { environmentId: string; dataverseUrl: string; organizationId: string };
  const dataverseUrl = () => (creates ? fromEnvironment().dataverseUrl : file["iom-bigcommerce:dataverseEnvironmentUrl"]);

  it("plans the Inventory Visibility parameters from its own outputs", () => {
    expect(dataverseUrl()).toMatch(/^https:\/\//);
    const params = r().one(PARAMS, "inventory-visibility").inputs;
    const iv = r().outputs.inventoryVisibility as Record<string, string>;
    expect(params).toMatchObject({ environmentUrl: dataverseUrl(), providerName: "Inventory Visibility", schemaOverride: "" });
    expect(isSecretValue(params.secretParameters)).toBe(true);
    expect(params.parameters).toEqual({
      [INVENTORY_VISIBILITY_PARAMETERS.fileDropLocation]: iv.fileDropLocation,
      [INVENTORY_VISIBILITY_PARAMETERS.errorFileDropLocation]: iv.errorFileDropLocation,
      [INVENTORY_VISIBILITY_PARAMETERS.organizationId]: creates ? fromEnvironment().organizationId : file["iom-bigcommerce:organizationId"],
    });
    expect(r().ofType(PARAMS)).toHaveLength(1);
  });

  const vnet = file["iom-bigcommerce:connectivity"] !== "dataGateway";
  it(vnet ? "plans the policy link to its environment, with the policy's systemId" : "has no VNet support, so no policy link", () => {
    const links = r().ofType(LINK);
    if (!vnet) {
      expect(links).toEqual([]);
      expect(r().outputs.powerPlatformPolicyLink).toBeUndefined();
      return;
    }
    const policy = r().one(POLICY);
    expect(links).toHaveLength(1);
    const environmentId = creates ? fromEnvironment().environmentId : file["iom-bigcommerce:powerPlatformEnvironmentId"];
    expect(environmentId).toMatch(/^[0-9a-f-]{36}$/);
    expect(links[0].inputs).toMatchObject({
      environmentId,
      policyArmId: policy.id,
      policyLocation: file["iom-bigcommerce:powerPlatformGeo"],
      bapUrl: "https://api.bap.microsoft.com",
    });
    expect(links[0].inputs.policySystemId).toMatch(new RegExp(`^/regions/${String(file["iom-bigcommerce:powerPlatformGeo"])}/providers/Microsoft\\.PowerPlatform/enterprisePolicies/`));
    expect((r().outputs.powerPlatformPolicyLink as { environmentId: string }).environmentId).toBe(environmentId);
  });

  it("nextSteps lists only what is still manual", () => {
    const steps = r().outputs.nextSteps as string[];
    expect(steps.join("\n")).not.toMatch(/paste inventoryVisibility/);
    expect(steps.join("\n")).not.toMatch(/Link the exported powerPlatformEnterprisePolicyId/);
    expect(steps.filter((s) => /Providers > Installed > Inventory Visibility: pulumi up has set its parameters; .*select Activate/.test(s))).toHaveLength(1);
    expect(steps.some((s) => /create an Azure Blob Storage connection/.test(s))).toBe(true);
    // Nothing about creating the environment, installing IOM or pasting ids is left; a new IOM's
    // system connections are (they need a person's consent), an adopted one's were done with it.
    expect(steps.join("\n")).not.toMatch(/create (a|the) (Power Platform )?environment|install (IOM|Intelligent Order Management)|powerPlatformEnvironmentId/i);
    expect(steps.filter((s) => /five system connections .* Activate System/.test(s))).toHaveLength(creates ? 1 : 0);
  });
});

describe("other providers' parameters from config", () => {
  const API_KEY = "bc-api-key-do-not-leak-42";

  it("one resource per provider; a secret entry reaches the resource only as a secret", async () => {
    const run = await runProgram("dev", {
      set: { iomProviderParameters: ["BigCommerce/Store Hash=abc123", "Inventory Visibility/Inventory Visibility Reservation Mode=soft"] },
      secrets: { iomProviderSecretParameters: [`BigCommerce/API Key=${API_KEY}`] as unknown as string },
    });
    const bc = run.one(PARAMS, "bigcommerce").inputs;
    expect(bc).toMatchObject({ providerName: "BigCommerce", parameters: { "Store Hash": "abc123" } });
    // The secret map is a secret as a whole; the plain map stays readable, so a preview shows its old -> new values.
    expect(isSecretValue(bc.secretParameters)).toBe(true);
    expect((bc.secretParameters as { value: unknown }).value).toEqual({ "API Key": API_KEY });
    expect(plainOccurrences(run.resources.map((x) => x.inputs), [API_KEY])).toEqual([]);
    expect(plainOccurrences(run.outputs, [API_KEY])).toEqual([]);
    // An extra parameter for Inventory Visibility joins its resource instead of making a second one.
    expect(Object.keys(run.one(PARAMS, "inventory-visibility").inputs.parameters as object)).toContain("Inventory Visibility Reservation Mode");
    expect(run.ofType(PARAMS)).toHaveLength(2);
  });

  it("one fingerprint key per stack, 32 random bytes, reaching every resource that fingerprints secrets only as a secret", async () => {
    const run = await runProgram("dev", {
      set: { bigcommerceStoreHash: "abc123" }, // the store sets its provider instance's Store Hash itself
      secrets: { bigcommerceAccessToken: "bc-token-0123456789abcdefghijklm", iomProviderSecretParameters: [`BigCommerce/API Key=${API_KEY}`] as unknown as string },
    });
    const keys = run.ofType("random:index/randomBytes:RandomBytes");
    expect(keys.map((k) => [k.name, k.inputs.length])).toEqual([["secret-fingerprint-key", 32]]);
    const users = [...run.ofType(PARAMS), ...run.ofType("pulumi-nodejs:dynamic/bigcommerce:ApiCheck")];
    expect(users).toHaveLength(3);
    const key = run.generatedSecrets.find((g) => users.every((u) => (u.inputs.fingerprintKey as { value?: unknown }).value === g));
    expect(key).toBeDefined();
    for (const u of users) expect(isSecretValue(u.inputs.fingerprintKey)).toBe(true);
    expect(plainOccurrences(run.resources.map((x) => x.inputs), [key!])).toEqual([]);
    expect(plainOccurrences(run.outputs, [key!])).toEqual([]);
    // No dynamic resource that keeps fingerprints, no key.
    expect((await runProgram("dev", { set: { ...DEV_ADOPTING, dataverseEnvironmentUrl: "" } })).ofType("random:index/randomBytes:RandomBytes")).toEqual([]);
  });

  it("refuses a secret list set in plain text and a malformed entry, without echoing the secret", async () => {
    const error = await runProgram("dev", {
      set: { iomProviderSecretParameters: [`BigCommerce/API Key=${API_KEY}`], iomProviderParameters: ["BigCommerce/Store Hash=abc", "no-slash-here"] },
    }).then(() => undefined, (e: Error) => e);
    expect(error?.message).toMatch(/iomProviderSecretParameters: holds a secret but was set in plain text: set it with 'pulumi config set --secret --path 'iomProviderSecretParameters\[0\]' <value>'/);
    expect(error?.message).toMatch(/iomProviderParameters: entry 1 must be 'Provider\/Parameter=value'/);
    expect(error?.message).not.toContain(API_KEY);
  });

  it("a parameter the program sets from its outputs cannot be set in config too", async () => {
    const error = await runProgram("dev", { set: { iomProviderParameters: ["Inventory Visibility/Inventory Visibility OrganizationId=x"] } }).then(() => undefined, (e: Error) => e);
    expect(error?.message).toMatch(/iomProviderParameters: entry 0 sets 'Inventory Visibility OrganizationId', which the program sets from the stack outputs/);
  });

  it("no Dataverse URL: no parameters resource, and the paste step stays", async () => {
    const run = await runProgram("dev", { set: { ...DEV_ADOPTING, dataverseEnvironmentUrl: "" } });
    expect(run.ofType(PARAMS)).toEqual([]);
    expect((run.outputs.nextSteps as string[]).some((s) => /paste inventoryVisibility\.fileDropLocation/.test(s))).toBe(true);
  });
});
