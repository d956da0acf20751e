/**
 * The unit tests' view of a program run (plan/harness.ts runs it): every resource the program
 * declares with made-up ids, and every stack output it exports.
 */
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { runProgramUnderMocks, skipProviderSerialization, type HarnessMocks } from "../../plan/harness";
import type { ConfigChanges } from "./stack";

// These tests check the program's wiring; the providers' serialized text is tested on its own.
skipProviderSerialization();

export const SUBSCRIPTION_ID = "11111111-2222-3333-4444-555555555555";
export const TENANT_ID = "99999999-8888-7777-6666-555555555555";
/** The mocked random suffix every globally unique name gets. */
export const MOCK_SUFFIX = "x7k2q";


export interface MockedResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  id: string;
}

export interface ProgramRun {
  resources: MockedResource[];
  outputs: Record<string, unknown>;
  secretOutputs: string[];
  /** Plain-text values of every generated secret (random passwords) seen during the run. */
  generatedSecrets: string[];
  ofType(type: string): MockedResource[];
  /** The single resource of `type` whose logical name ends with `suffix`; throws otherwise. */
  one(type: string, suffix?: string): MockedResource;
}

export function isSecretValue(value: unknown): value is { value: unknown } {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[specialSigKey] === specialSecretSig;
}

/** Unwraps secret markers, for asserting on a secret input's content. */
export function reveal(value: unknown): unknown {
  if (isSecretValue(value)) return reveal(value.value);
  if (Array.isArray(value)) return value.map(reveal);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reveal(v)]));
  }
  return value;
}

/** Paths of plain (unmarked) strings in `value` that contain any of `needles`. */
export function plainOccurrences(value: unknown, needles: string[], at = "$"): string[] {
  if (isSecretValue(value)) return [];
  if (typeof value === "string") return needles.some((n) => n && value.includes(n)) ? [at] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => plainOccurrences(v, needles, `${at}[${i}]`));
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => plainOccurrences(v, needles, `${at}.${k}`));
  }
  return [];
}

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

/** Made-up ids, names and identities, so tests can follow references between resources. */
function mocksFor(generatedSecrets: string[]): HarnessMocks {
  return {
    newResource(args) {
      const inputs = args.inputs as Record<string, unknown>;
      const nameKey = NAME_INPUTS[args.type];
      const azureName = (nameKey && typeof inputs[nameKey] === "string" ? inputs[nameKey] : args.name) as string;
      const id = args.type.startsWith("azure-native:")
        ? `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/mock/providers/${args.type.split(":")[1]}/${args.type.split(":")[2]}/${azureName}`
        : `${args.name}-id`;
      const state: Record<string, unknown> = { ...inputs, name: azureName };
      if (args.type === "random:index/randomString:RandomString") state.result = MOCK_SUFFIX;
      if (args.type === "random:index/randomPassword:RandomPassword") {
        // Like the random provider: new keepers, new value.
        const keepers = inputs.keepers ? `@${Object.values(inputs.keepers as Record<string, string>).join("/")}` : "";
        const value = `Gen3rated!${args.name}#${"z".repeat(8)}${keepers}`;
        generatedSecrets.push(value);
        state.result = value;
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

/**
 * Runs index.ts for `stack` (with `changes` to its committed config) through the one harness.
 * Not a preview: a mocked preview leaves outputs unknown, and the engine-side preview is not what
 * these tests check (the offline plan is). Rejects with a ProgramError when the program throws.
 */
export async function runProgram(stack: string, changes: ConfigChanges = {}): Promise<ProgramRun> {
  const generatedSecrets: string[] = [];
  const run = await runProgramUnderMocks(stack, { changes, preview: false, mocks: mocksFor(generatedSecrets) });
  const resources: MockedResource[] = run.resources
    .filter((r) => r.type !== "pulumi:pulumi:Stack")
    .map((r) => ({ type: r.type, name: r.name, inputs: r.inputs, id: r.id as string }));
  const outputs = Object.fromEntries(Object.entries(run.outputs).map(([k, o]) => [k, o.value]));
  return {
    resources,
    outputs,
    secretOutputs: Object.keys(run.outputs).filter((k) => run.outputs[k].secret),
    generatedSecrets,
    ofType: (type) => resources.filter((r) => r.type === type),
    one(type, suffix) {
      const matches = resources.filter((r) => r.type === type && (suffix === undefined || r.name.endsWith(suffix)));
      if (matches.length !== 1) {
        throw new Error(`expected one ${type}${suffix ? ` named *${suffix}` : ""}, found ${matches.map((m) => m.name).join(", ") || "none"}`);
      }
      return matches[0];
    },
  };
}
