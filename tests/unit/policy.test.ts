/**
 * Each policy of the pack with a passing and a failing resource, called the way the policy
 * analyzer calls it, and the same rules run over the offline plan.
 */
import type { ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import * as fs from "fs";
import * as path from "path";
import { bastionSubnetRules } from "../../components/network";
import { planViolations } from "../../plan/cli";
import type { StackPlan } from "../../plan/capture";
import { resourcePolicies, stackPolicies } from "../../policy/policies";
import { PLAN_UNKNOWN, RESOURCE_RULES, STACK_RULES, type PolicyResource } from "../../policy/rules";
import { listStacks, ROOT } from "../support/stack";

type Props = Record<string, unknown>;

function violationsOf(policyName: string, type: string, props: Props): string[] {
  const policy = resourcePolicies.find((p) => p.name === policyName);
  if (!policy || typeof policy.validateResource !== "function") throw new Error(`no resource policy ${policyName}`);
  const messages: string[] = [];
  const args = { type, name: "subject", urn: `urn:pulumi:dev::iom-bigcommerce::${type}::subject`, props, opts: {} } as unknown as ResourceValidationArgs;
  policy.validateResource(args, (message) => { messages.push(message); });
  return messages;
}

const TAGS = { workload: "d365-iom", environment: "dev", businessUnit: "retail", managedBy: "pulumi" };
const secureStorage: Props = {
  accountName: "stiomretaildevweuab12c", publicNetworkAccess: "Disabled", networkRuleSet: { defaultAction: "Deny" },
  allowSharedKeyAccess: false, allowBlobPublicAccess: false, minimumTlsVersion: "TLS1_2", enableHttpsTrafficOnly: true, tags: TAGS,
};
const trustedVm: Props = {
  vmName: "vm-iom-retail-dev-weu-gw01", tags: TAGS,
  securityProfile: { securityType: "TrustedLaunch", uefiSettings: { secureBootEnabled: true, vTpmEnabled: true }, encryptionAtHost: true },
};
const rbacVault: Props = { vaultName: "kv-iomretaildevweuab12c", tags: TAGS, properties: { enableRbacAuthorization: true, enableSoftDelete: true } };

/** A gateway NSG: Power BI allowed, the given outbound allows, then deny-all. */
function gatewayNsg(...allows: [string, string[]][]): Props {
  return {
    securityRules: [
      { name: "Allow-PowerBI-Out", direction: "Outbound", access: "Allow", protocol: "Tcp", priority: 120, destinationAddressPrefix: "PowerBI", destinationPortRange: "443" },
      ...allows.map(([destination, ports], i) => ({ name: `Allow-${i}`, direction: "Outbound", access: "Allow", protocol: "Tcp", priority: 100 + i, destinationAddressPrefix: destination, destinationPortRanges: ports })),
      { name: "Deny-All-Outbound", direction: "Outbound", access: "Deny", protocol: "*", priority: 4096, destinationAddressPrefix: "*" },
    ],
  };
}

/** The NSG the landing puts on AzureBastionSubnet, and the same without one of Microsoft's rules. */
const bastionNsg: Props = { networkSecurityGroupName: "nsg-iom-retail-dev-weu-bas", securityRules: bastionSubnetRules() };
const withoutRule = (name: string): Props => ({ ...bastionNsg, securityRules: bastionSubnetRules().filter((r) => r.name !== name) });
const bastionHost: Props = { bastionHostName: "bas-iom-retail-dev-weu", sku: { name: "Basic" }, enableShareableLink: false, enableIpConnect: false, tags: TAGS };

// [policy, type, passing props, failing props, expected message]
const cases: [string, string, Props, Props, RegExp][] = [
  ["storage-private-network-only", "azure-native:storage:StorageAccount", secureStorage, { ...secureStorage, publicNetworkAccess: "Enabled" }, /publicNetworkAccess must be "Disabled"/],
  ["storage-no-shared-key-or-public-blobs", "azure-native:storage:StorageAccount", secureStorage, { ...secureStorage, allowSharedKeyAccess: undefined }, /allowSharedKeyAccess must be false \(is not set\)/],
  ["storage-tls-1-2", "azure-native:storage:StorageAccount", secureStorage, { ...secureStorage, minimumTlsVersion: "TLS1_0" }, /minimumTlsVersion must be "TLS1_2"/],
  ["nic-no-public-ip", "azure-native:network:NetworkInterface", { ipConfigurations: [{ name: "ipconfig1", subnet: { id: "s" } }] }, { ipConfigurations: [{ name: "ipconfig1", publicIPAddress: { id: "pip" } }] }, /ipConfigurations\[0\] has a public IP/],
  ["nsg-no-inbound-from-internet", "azure-native:network:NetworkSecurityGroup",
    { securityRules: [{ name: "Allow-Https-In", direction: "Inbound", access: "Allow", sourceAddressPrefixes: ["10.0.0.0/27"] }] },
    { securityRules: [{ name: "Rdp", direction: "Inbound", access: "Allow", sourceAddressPrefix: "Internet", destinationPortRange: "3389" }] }, /rule 'Rdp' allows inbound traffic from Internet/],
  ["nsg-no-inbound-from-internet", "azure-native:network:NetworkSecurityGroup", bastionNsg,
    // Bastion's own NSG takes TCP 443 from the internet and nothing else
    { securityRules: [...bastionSubnetRules(), { name: "Rdp", direction: "Inbound", access: "Allow", protocol: "Tcp", sourceAddressPrefix: "Internet", destinationPortRange: "3389", priority: 200 }] },
    /rule 'Rdp' allows inbound traffic from Internet/],
  ["nsg-no-inbound-from-internet", "azure-native:network:SecurityRule",
    { name: "Deny", direction: "Inbound", access: "Deny", sourceAddressPrefix: "*" },
    { name: "Any", direction: "Inbound", access: "Allow", sourceAddressPrefix: "*" }, /allows inbound traffic from \*/],
  ["nsg-remote-access-from-named-subnet", "azure-native:network:NetworkSecurityGroup",
    { securityRules: [{ name: "Allow-Rdp-From-Bastion-In", direction: "Inbound", access: "Allow", protocol: "Tcp", sourceAddressPrefix: "10.20.0.64/26", destinationPortRange: "3389" }] },
    { securityRules: [{ name: "Rdp", direction: "Inbound", access: "Allow", protocol: "Tcp", sourceAddressPrefix: "VirtualNetwork", destinationPortRanges: ["22", "3389"] }] },
    /rule 'Rdp' allows RDP\/SSH in from VirtualNetwork/],
  ["bastion-nsg-required-rules", "azure-native:network:NetworkSecurityGroup", bastionNsg, withoutRule("AllowGatewayManagerInbound"),
    /misses Microsoft's required Bastion rule AllowGatewayManagerInbound \(Inbound GatewayManager -> \*, ports 443\)/],
  ["bastion-nsg-required-rules", "azure-native:network:NetworkSecurityGroup", bastionNsg, withoutRule("AllowHttpOutbound"),
    /misses Microsoft's required Bastion rule AllowHttpOutbound \(Outbound \* -> Internet, ports 80\)/],
  ["bastion-host-baseline", "azure-native:network:BastionHost", bastionHost, { ...bastionHost, sku: { name: "Standard" }, enableShareableLink: true }, /enableShareableLink must be false/],
  ["vm-trusted-launch", "azure-native:compute:VirtualMachine", trustedVm, { ...trustedVm, securityProfile: { securityType: "TrustedLaunch", uefiSettings: { secureBootEnabled: true, vTpmEnabled: false } } }, /vTpmEnabled must be true/],
  ["key-vault-rbac-and-recoverable", "azure-native:keyvault:Vault", rbacVault, { ...rbacVault, properties: { enableSoftDelete: true } }, /enableRbacAuthorization must be true/],
  ["key-vault-rbac-and-recoverable", "azure-native:keyvault:Vault", { ...rbacVault, tags: { ...TAGS, environment: "prod" }, properties: { enableRbacAuthorization: true, enablePurgeProtection: true } },
    { ...rbacVault, tags: { ...TAGS, environment: "prod" } }, /enablePurgeProtection \(production\) must be true/],
  ["no-secret-in-vm-extension-settings", "azure-native:compute:VirtualMachineExtension", { settings: { fileUris: ["https://x/setup.ps1"] }, protectedSettings: { adminPassword: "p" } },
    { settings: { commandToExecute: "setup.ps1", adminPassword: "hunter2" } }, /settings.adminPassword looks like a secret/],
  ["no-secret-in-vm-extension-settings", "azure-native:compute:VirtualMachineRunCommandByVirtualMachine", { parameters: [{ name: "ClientSecretSecretName", value: "gateway-registration-client-secret" }] },
    { parameters: [{ name: "ClientSecret", value: "s3cret" }] }, /parameter 'ClientSecret' looks like a secret/],
  ["vm-encryption-at-host", "azure-native:compute:VirtualMachine", trustedVm,
    { ...trustedVm, securityProfile: { securityType: "TrustedLaunch", uefiSettings: { secureBootEnabled: true, vTpmEnabled: true } } }, /securityProfile.encryptionAtHost must be true \(is not set\)/],
  ["key-vault-secret-expiry", "azure-native:keyvault:Secret", { secretName: "s", properties: { value: "v", attributes: { enabled: true, expires: 1772928000 } } },
    { secretName: "s", properties: { value: "v", attributes: { enabled: true } } }, /properties.attributes.expires must be set/],
  ["gateway-nsg-allows-azure-relay", "azure-native:network:NetworkSecurityGroup", gatewayNsg(["AzureCloud", ["443", "5671-5672", "9350-9354"]]),
    gatewayNsg(["ServiceBus", ["443", "5671-5672", "9350-9354"]], ["AzureCloud", ["443"]]), /outbound TCP 5671-5672, 9350-9354 towards AzureCloud is not allowed/],
  ["names-follow-naming-function", "azure-native:storage:StorageAccount", secureStorage, { ...secureStorage, accountName: "mystorage01" }, /'mystorage01' does not follow stiom/],
  ["names-follow-naming-function", "azure-native:network:VirtualNetwork", { virtualNetworkName: "vnet-iom-retail-dev-weu", tags: TAGS }, { virtualNetworkName: "my-vnet", tags: TAGS }, /does not follow vnet-iom-/],
  ["tags-present", "azure-native:compute:VirtualMachine", trustedVm, { ...trustedVm, tags: { environment: "dev" } }, /missing tags: workload, businessUnit, managedBy/],
];

/** A stack policy's messages over `resources`, called as the analyzer calls it (property dependencies by name). */
function stackViolationsOf(policyName: string, resources: PolicyResource[]): string[] {
  const policy = stackPolicies.find((p) => p.name === policyName);
  if (!policy) throw new Error(`no stack policy ${policyName}`);
  const messages: string[] = [];
  const args = {
    resources: resources.map((r) => ({
      type: r.type, name: r.name, props: r.props, urn: `urn:${r.name}`, opts: {}, dependencies: [],
      propertyDependencies: Object.fromEntries(Object.entries(r.references ?? {}).map(([prop, names]) => [prop, names.map((name) => ({ name }))])),
    })),
  } as unknown as StackValidationArgs;
  policy.validateStack(args, (message) => { messages.push(message); });
  return messages;
}

/** The committed prod plan's resources, as a stack policy sees them; `without` drops the named ones. */
function prodResources(...without: string[]): PolicyResource[] {
  const plan = JSON.parse(fs.readFileSync(path.join(ROOT, "plan", "snapshots", "prod.json"), "utf8")) as StackPlan;
  return plan.resources.filter((r) => !without.includes(r.name)).map((r) => ({ type: r.type, name: r.name, props: r.inputs, references: r.references }));
}

const endpoint: PolicyResource = { type: "azure-native:network:PrivateEndpoint", name: "pe", props: { privateEndpointName: "pep-iom-retail-dev-weu-blob" } };
const zoneGroup: PolicyResource = { type: "azure-native:network:PrivateDnsZoneGroup", name: "g", props: { privateEndpointName: "pep-iom-retail-dev-weu-blob" } };

// [policy, passing resources, failing resources, expected message]; the monitoring rules have
// more cases in tests/unit/monitoring-plan.test.ts.
const stackCases: [string, PolicyResource[], PolicyResource[], RegExp][] = [
  ["private-endpoint-dns-zone-group", [endpoint, zoneGroup], [endpoint], /private endpoint 'pep-iom-retail-dev-weu-blob' has no private DNS zone group/],
  ["diagnostics-to-workspace", prodResources(), prodResources("monitoring-diag-vault"), /'vault-vault' has no diagnostic setting/],
  ["alerts-notify-action-group", prodResources(), prodResources("monitoring-action-group"), /notifies no action group/],
  ["vm-monitoring-agent", prodResources(), prodResources("monitoring-ama-01"), /VM 'gateway-vm-01' has no Azure Monitor Agent/],
];

describe("policy pack", () => {
  test("every rule is in the pack, mandatory", () => {
    expect(resourcePolicies.map((p) => p.name)).toEqual(RESOURCE_RULES.map((r) => r.name));
    expect(stackPolicies.map((p) => p.name)).toEqual(STACK_RULES.map((r) => r.name));
    for (const p of [...resourcePolicies, ...stackPolicies]) expect(p.enforcementLevel).toBe("mandatory");
  });

  test("every resource rule has a passing and a failing case here", () => {
    expect(new Set(cases.map((c) => c[0]))).toEqual(new Set(RESOURCE_RULES.map((r) => r.name)));
  });

  test.each(cases)("%s on %s", (policy, type, passing, failing, message) => {
    expect(violationsOf(policy, type, passing)).toEqual([]);
    const violations = violationsOf(policy, type, failing);
    expect(violations.length).toBeGreaterThan(0);
    expect(violations.join("\n")).toMatch(message);
  });

  test("values a preview does not know yet are not violations", () => {
    expect(violationsOf("storage-private-network-only", "azure-native:storage:StorageAccount", { ...secureStorage, publicNetworkAccess: PLAN_UNKNOWN })).toEqual([]);
    expect(violationsOf("names-follow-naming-function", "azure-native:storage:StorageAccount", { ...secureStorage, accountName: PLAN_UNKNOWN })).toEqual([]);
  });

  test("every stack rule has a passing and a failing case here", () => {
    expect(new Set(stackCases.map((c) => c[0]))).toEqual(new Set(STACK_RULES.map((r) => r.name)));
  });

  test.each(stackCases)("%s over the whole stack", (policy, passing, failing, message) => {
    expect(stackViolationsOf(policy, passing)).toEqual([]);
    const violations = stackViolationsOf(policy, failing);
    expect(violations.length).toBeGreaterThan(0);
    expect(violations.join("\n")).toMatch(message);
  });
});

describe("the offline plan runs the same rules", () => {
  const committed = (stack: string) => JSON.parse(fs.readFileSync(path.join(ROOT, "plan", "snapshots", `${stack}.json`), "utf8")) as StackPlan;

  test.each(listStacks())("the committed %s plan is clean", (stack) => {
    expect(planViolations(committed(stack))).toEqual([]);
  });

  test("a deliberately insecure change in a plan fixture is caught", () => {
    const plan = committed("dev");
    const account = plan.resources.find((r) => r.type === "azure-native:storage:StorageAccount");
    if (!account) throw new Error("dev plan has no storage account");
    account.inputs.publicNetworkAccess = "Enabled";
    const nsg = plan.resources.find((r) => r.name === "network-nsg-gw");
    (nsg?.inputs.securityRules as Props[]).push({ name: "Rdp", direction: "Inbound", access: "Allow", sourceAddressPrefix: "Internet", destinationPortRange: "3389", priority: 300 });
    const violations = planViolations(plan);
    expect(violations.map((v) => `${v.policy} ${v.resource}`).sort()).toEqual([
      "nsg-no-inbound-from-internet network-nsg-gw",
      "nsg-remote-access-from-named-subnet network-nsg-gw",
      "storage-private-network-only drop-account",
    ]);
  });
});
