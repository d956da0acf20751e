/**
 * The program server's side of tests/support/program.ts: runs index.ts through the one harness
 * (plan/harness.ts) with the unit tests' mocks, made-up ids, names and identities so tests can
 * follow references between resources, and returns plain data.
 */
import { runProgramUnderMocks, type HarnessMocks } from "../../plan/harness";
import type { ConfigChanges } from "../../stack-config";
import { MOCK_SUFFIX, SUBSCRIPTION_ID, TENANT_ID, type MockedResource, type ProgramRunData } from "./program";

/** The input that carries each Azure resource type's own name, so mocked state has a realistic `name`. */
const NAME_INPUTS: Record<string, string> = {
  "azure-native:resources:ResourceGroup": "resourceGroupName",
  "azure-native:network:VirtualNetwork": "virtualNetworkName",
  "azure-native:network:Subnet": "subnetName",
  "azure-native:network:NetworkSecurityGroup": "networkSecurityGroupName",
  "azure-native:network:PublicIPAddress": "publicIpAddressName",
  "azure-native:network:NatGateway": "natGatewayName",
  "azure-native:network:PrivateEndpoint": "privateEndpointName",
  "azure-native:network:PrivateDnsZoneGroup": "privateDnsZoneGroupName",
  "azure-native:network:NetworkInterface": "networkInterfaceName",
  "azure-native:network:VirtualNetworkPeering": "virtualNetworkPeeringName",
  "azure-native:privatedns:PrivateZone": "privateZoneName",
  "azure-native:privatedns:VirtualNetworkLink": "virtualNetworkLinkName",
  "azure-native:storage:StorageAccount": "accountName",
  "azure-native:storage:BlobContainer": "containerName",
  "azure-native:storage:BlobServiceProperties": "blobServicesName",
  "azure-native:keyvault:Vault": "vaultName",
  "azure-native:keyvault:Secret": "secretName",
  "azure-native:compute:VirtualMachine": "vmName",
  "azure-native:compute:VirtualMachineExtension": "vmExtensionName",
  "azure-native:compute:VirtualMachineRunCommandByVirtualMachine": "runCommandName",
  "azure-native:powerplatform:EnterprisePolicy": "enterprisePolicyName",
  "azure-native:authorization:ManagementLockByScope": "lockName",
  "azure-native:operationalinsights:Workspace": "workspaceName",
  "azure-native:monitor:DiagnosticSetting": "name",
  "azure-native:monitor:DataCollectionRule": "dataCollectionRuleName",
  "azure-native:monitor:DataCollectionRuleAssociation": "associationName",
  "azure-native:monitor:ActionGroup": "actionGroupName",
  "azure-native:monitor:ScheduledQueryRule": "ruleName",
  "azure-native:monitor:MetricAlert": "ruleName",
  "azure-native:security:DefenderForStorage": "settingName",
  "azure-native:applicationinsights:Workbook": "resourceName",
  "azure-native:network:FlowLog": "flowLogName",
};

function principalIdFor(name: string): string {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `aaaaaaaa-0000-4000-8000-${h.toString(16).padStart(12, "0").slice(-12)}`;
}

/**
 * What the Power Platform dynamic resources output once they exist: a created environment gets an
 * id, a Dataverse at its domain and an organization id; an adopted one is what config names; the
 * IOM app reports the Dataverse of the environment it was installed in.
 */
function powerPlatformOutputs(type: string, name: string, inputs: Record<string, unknown>, dataverseOf: Map<string, string>): Record<string, unknown> {
  if (type === "pulumi-nodejs:dynamic/powerplatform:Environment") {
    const created = inputs.mode === "create";
    const environmentId = created ? principalIdFor(`${name}-environment`) : String(inputs.environmentId);
    const instanceUrl = created ? `https://${String(inputs.domainName)}.crm4.dynamics.com` : String(inputs.expectedInstanceUrl);
    dataverseOf.set(environmentId, instanceUrl);
    return { environmentId, instanceUrl, organizationId: created ? principalIdFor(`${name}-organization`) : inputs.expectedOrganizationId, version: "9.2.24031.00206" };
  }
  if (type === "pulumi-nodejs:dynamic/powerplatform:ManagedEnvironment") return { protectionLevel: "Standard" };
  if (type === "pulumi-nodejs:dynamic/powerplatform:ApplicationPackage") {
    return { state: "Installed", version: "9.2.24031.1", name: "Dynamics 365 Intelligent Order Management", instanceUrl: dataverseOf.get(String(inputs.environmentId)) };
  }
  return {};
}

/** Made-up ids, names and identities, so tests can follow references between resources. */
function mocksFor(generatedSecrets: string[]): HarnessMocks {
  const dataverseOf = new Map<string, string>();
  return {
    newResource(args) {
      const inputs = args.inputs as Record<string, unknown>;
      const nameKey = NAME_INPUTS[args.type];
      const azureName = (nameKey && typeof inputs[nameKey] === "string" ? inputs[nameKey] : args.name) as string;
      const id = args.type.startsWith("azure-native:")
        ? `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/mock/providers/${args.type.split(":")[1]}/${args.type.split(":")[2]}/${azureName}`
        : `${args.name}-id`;
      const state: Record<string, unknown> = { ...inputs, name: azureName, ...powerPlatformOutputs(args.type, args.name, inputs, dataverseOf) };
      if (args.type === "random:index/randomString:RandomString") state.result = MOCK_SUFFIX;
      if (args.type === "random:index/randomPassword:RandomPassword") {
        // Like the random provider: new keepers, new value.
        const keepers = inputs.keepers ? `@${Object.values(inputs.keepers as Record<string, string>).join("/")}` : "";
        const value = `Gen3rated!${args.name}#${"z".repeat(8)}${keepers}`;
        generatedSecrets.push(value);
        state.result = value;
      }
      if (args.type === "random:index/randomBytes:RandomBytes") {
        // Like the random provider: `length` bytes, as base64 and hex; the same ones every run (no keepers).
        const bytes = Buffer.alloc(Number(inputs.length), `${args.name}#`);
        generatedSecrets.push(bytes.toString("base64"));
        state.base64 = bytes.toString("base64");
        state.hex = bytes.toString("hex");
      }
      if (args.type === "azure-native:compute:VirtualMachine") {
        state.identity = { type: "SystemAssigned", principalId: principalIdFor(args.name), tenantId: TENANT_ID };
      }
      if (args.type === "azure-native:powerplatform:EnterprisePolicy") {
        // An output Azure assigns: /regions/<location>/providers/Microsoft.PowerPlatform/enterprisePolicies/<guid>.
        state.systemId = `/regions/${String(inputs.location)}/providers/Microsoft.PowerPlatform/enterprisePolicies/${principalIdFor(args.name)}`;
      }
      return { id, state };
    },
    call(args) {
      if (args.token === "azure-native:authorization:getClientConfig") {
        return { subscriptionId: SUBSCRIPTION_ID, tenantId: TENANT_ID, clientId: "cccccccc-0000-0000-0000-000000000000", objectId: "dddddddd-0000-0000-0000-000000000000" };
      }
      throw new Error(`unexpected invoke ${args.token}: the mocks know only what the program is expected to call`);
    },
  };
}


/** One run with the mocks above, as plain data (what the program server sends). */
export async function runProgramWithMocks(stack: string, changes: ConfigChanges): Promise<ProgramRunData> {
  const generatedSecrets: string[] = [];
  const run = await runProgramUnderMocks(stack, { changes, preview: false, mocks: mocksFor(generatedSecrets) });
  const resources: MockedResource[] = run.resources
    .filter((r) => r.type !== "pulumi:pulumi:Stack")
    .map((r) => ({
      type: r.type, name: r.name, inputs: r.inputs, id: r.id as string,
      ...(r.dependsOn ? { dependsOn: r.dependsOn } : {}), ...(r.retainOnDelete ? { retainOnDelete: true } : {}),
    }));
  return {
    resources,
    outputs: Object.fromEntries(Object.entries(run.outputs).map(([k, o]) => [k, o.value])),
    secretOutputs: Object.keys(run.outputs).filter((k) => run.outputs[k].secret),
    generatedSecrets,
  };
}

