/**
 * The security baseline as pure functions over a resource's type and properties. The policy pack
 * (policy/index.ts) runs them inside `pulumi preview --policy-pack policy`; the offline plan runs the
 * same functions over its captured resources, so both report the same violations.
 *
 * Values a preview does not know yet (`undefined`, or the plan's `[unknown]`) never count as a
 * violation: the deployment that knows them is checked again.
 */

import { NAME_PATTERNS, NAMING_PLACEHOLDERS, keyVaultName, resourceName, storageAccountName } from "./naming";

export interface PolicyResource {
  type: string;
  /** Logical name (Pulumi), for messages. */
  name: string;
  props: Record<string, unknown>;
  /**
   * Per input property, the logical names of the resources its value came from (the engine's
   * property dependencies). Recorded for REFERENCE_TYPES: the way to tell, during a preview when ids
   * are still unknown, which resource a diagnostic setting, extension or association belongs to.
   */
  references?: Record<string, string[]>;
}

export interface ResourceRule {
  name: string;
  description: string;
  /** Resource types the rule applies to. */
  types: string[];
  check(resource: PolicyResource): string[];
}

export interface StackRule {
  name: string;
  description: string;
  check(resources: PolicyResource[]): { resource: PolicyResource; message: string }[];
}

export interface Violation {
  policy: string;
  resource: string;
  type: string;
  message: string;
}

type Obj = Record<string, unknown>;
/**
 * The offline plan's text for a value only a deployment knows (plan/capture.ts writes it in place of
 * the engine's unknown). Not the engine's own marker (ENGINE_UNKNOWN, dynamic-providers/common.ts),
 * which a dynamic provider sees during a real preview. Here because the policy pack stands alone and
 * the offline plan imports it from here.
 */
export const PLAN_UNKNOWN = "[unknown]";
const known = (v: unknown) => v !== undefined && v !== PLAN_UNKNOWN;
const obj = (v: unknown): Obj => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Fails when a known value differs from what the baseline requires. */
function expectValue(label: string, actual: unknown, required: unknown): string[] {
  return known(actual) && actual !== required ? [`${label} must be ${JSON.stringify(required)} (is ${JSON.stringify(actual)})`] : [];
}

/** Checks a nested settings object only once the preview knows it. */
function whenKnown(value: unknown, check: (settings: Obj) => string[]): string[] {
  return value === PLAN_UNKNOWN ? [] : check(obj(value));
}

/** Fails when the value is missing as well: settings whose Azure default is insecure. */
function requireValue(label: string, actual: unknown, required: unknown): string[] {
  if (actual === PLAN_UNKNOWN || actual === required) return [];
  return [`${label} must be ${JSON.stringify(required)} (is ${actual === undefined ? "not set" : JSON.stringify(actual)})`];
}

export const T = {
  storageAccount: "azure-native:storage:StorageAccount",
  nic: "azure-native:network:NetworkInterface",
  nsg: "azure-native:network:NetworkSecurityGroup",
  securityRule: "azure-native:network:SecurityRule",
  privateEndpoint: "azure-native:network:PrivateEndpoint",
  zoneGroup: "azure-native:network:PrivateDnsZoneGroup",
  vm: "azure-native:compute:VirtualMachine",
  vmExtension: "azure-native:compute:VirtualMachineExtension",
  runCommand: "azure-native:compute:VirtualMachineRunCommandByVirtualMachine",
  vault: "azure-native:keyvault:Vault",
  secret: "azure-native:keyvault:Secret",
  workspace: "azure-native:operationalinsights:Workspace",
  diagnosticSetting: "azure-native:monitor:DiagnosticSetting",
  dcrAssociation: "azure-native:monitor:DataCollectionRuleAssociation",
  actionGroup: "azure-native:monitor:ActionGroup",
  logAlert: "azure-native:monitor:ScheduledQueryRule",
  metricAlert: "azure-native:monitor:MetricAlert",
  bastionHost: "azure-native:network:BastionHost",
} as const;

/** Types whose property references the offline plan records (see PolicyResource.references). */
export const REFERENCE_TYPES: string[] = [T.diagnosticSetting, T.dcrAssociation, T.vmExtension, T.logAlert, T.metricAlert];

/** Log categories a diagnostic setting must send for each kind of resource (or a category group covering them). */
const REQUIRED_LOGS: Record<string, { logs: string[]; groups: string[] }> = {
  [T.storageAccount]: { logs: ["StorageRead", "StorageWrite", "StorageDelete"], groups: ["allLogs", "audit"] },
  [T.vault]: { logs: ["AuditEvent"], groups: ["allLogs", "audit"] },
};
const AZURE_MONITOR_AGENT_WINDOWS = { publisher: "Microsoft.Azure.Monitor", type: "AzureMonitorWindowsAgent" };

const INTERNET_SOURCES = new Set(["*", "internet", "any", "0.0.0.0/0", "::/0"]);
/** A setting's name that says it holds a secret, as opposed to naming one (…SecretName, …KeyId). */
const SECRET_NAME = /(password|passwd|secret|token|recoverykey|clientkey|accesskey|apikey|sas|connectionstring)$/i;

function secretLookingKeys(value: unknown, at: string): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => secretLookingKeys(v, `${at}[${i}]`));
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => [
      ...(SECRET_NAME.test(k) && v !== "" && v !== null ? [`${at}.${k}`] : []),
      ...secretLookingKeys(v, `${at}.${k}`),
    ]);
  }
  return [];
}

function inboundFromInternet(rule: Obj): boolean {
  if (rule.direction !== "Inbound" || rule.access !== "Allow") return false;
  const sources = [rule.sourceAddressPrefix, ...arr(rule.sourceAddressPrefixes)].filter((s): s is string => typeof s === "string");
  return sources.some((s) => INTERNET_SOURCES.has(s.toLowerCase()));
}

const sourcesOf = (rule: Obj): string[] =>
  [rule.sourceAddressPrefix, ...arr(rule.sourceAddressPrefixes)].filter((s): s is string => typeof s === "string");
const destinationsOf = (rule: Obj): string[] =>
  [rule.destinationAddressPrefix, ...arr(rule.destinationAddressPrefixes)].filter((s): s is string => typeof s === "string");

/** An NSG's rules; undefined while a preview does not know them yet, so no rule judges them. */
const nsgRules = (props: Obj): Obj[] | undefined => (props.securityRules === PLAN_UNKNOWN ? undefined : arr(props.securityRules).map(obj));

/**
 * The NSG of an AzureBastionSubnet: named for it by the naming function (`nsg-...-bas`), or admitting
 * Bastion's control plane (GatewayManager), which Microsoft requires of it and no other subnet needs.
 */
const isBastionNsg = (rules: Obj[], name?: unknown) =>
  (typeof name === "string" && name.endsWith("-bas")) ||
  rules.some((r) => r.direction === "Inbound" && r.access === "Allow" && sourcesOf(r).some((s) => s.toLowerCase() === "gatewaymanager"));

/**
 * What an NSG on AzureBastionSubnet must allow (Microsoft, "Configure NSG rules for Azure Bastion":
 * "If you apply an NSG ... you must create all of the following ingress and egress traffic rules").
 */
const BASTION_REQUIRED: { name: string; direction: "Inbound" | "Outbound"; source: string; destination: string; ports: number[] }[] = [
  { name: "AllowHttpsInbound", direction: "Inbound", source: "Internet", destination: "*", ports: [443] },
  { name: "AllowGatewayManagerInbound", direction: "Inbound", source: "GatewayManager", destination: "*", ports: [443] },
  { name: "AllowBastionHostCommunication", direction: "Inbound", source: "VirtualNetwork", destination: "VirtualNetwork", ports: [8080, 5701] },
  { name: "AllowAzureLoadBalancerInbound", direction: "Inbound", source: "AzureLoadBalancer", destination: "*", ports: [443] },
  { name: "AllowSshRdpOutbound", direction: "Outbound", source: "*", destination: "VirtualNetwork", ports: [22, 3389] },
  { name: "AllowAzureCloudOutbound", direction: "Outbound", source: "*", destination: "AzureCloud", ports: [443] },
  { name: "AllowBastionCommunication", direction: "Outbound", source: "VirtualNetwork", destination: "VirtualNetwork", ports: [8080, 5701] },
  { name: "AllowHttpOutbound", direction: "Outbound", source: "*", destination: "Internet", ports: [80] },
];

/** Whether the only port an inbound rule opens is TCP 443 (what Bastion takes from the internet). */
const onlyHttps = (rule: Obj) => rule.protocol === "Tcp" && portRanges(rule).length === 1 && portRanges(rule)[0][0] === 443 && portRanges(rule)[0][1] === 443;

/** Sources that name no particular subnet: anything in the VNet, or the internet. */
const BROAD_SOURCES = new Set([...INTERNET_SOURCES, "virtualnetwork"]);
const REMOTE_ACCESS_PORTS = [22, 3389];

/** Port ranges ("443", "5671-5672", "*") as [from, to] pairs. */
function portRanges(rule: Obj): [number, number][] {
  const ranges = [rule.destinationPortRange, ...arr(rule.destinationPortRanges)].filter((r): r is string => typeof r === "string");
  return ranges.map((r) => {
    if (r === "*") return [0, 65535];
    const [from, to] = r.split("-").map(Number);
    return [from, to ?? from];
  });
}

/** TCP ports the on-premises data gateway uses towards Azure Relay (Microsoft: gateway communication settings). */
export const AZURE_RELAY_PORT_RANGES: [number, number][] = [[443, 443], [5671, 5672], [9350, 9354]];
const RELAY_DESTINATION = /^azurecloud(\.[a-z0-9]+)?$/i;

/** Relay port ranges that no outbound allow rule opens towards AzureCloud ahead of an outbound deny-all. */
function relayPortsNotAllowed(rules: Obj[]): string[] {
  const denyAll = Math.min(...rules
    .filter((r) => r.direction === "Outbound" && r.access === "Deny" && r.destinationAddressPrefix === "*")
    .map((r) => (typeof r.priority === "number" ? r.priority : 4096)), 4097);
  const allows = rules.filter((r) => r.direction === "Outbound" && r.access === "Allow" && (r.protocol === "Tcp" || r.protocol === "*")
    && (typeof r.priority !== "number" || r.priority < denyAll)
    && [r.destinationAddressPrefix, ...arr(r.destinationAddressPrefixes)].some((d) => typeof d === "string" && RELAY_DESTINATION.test(d)));
  return AZURE_RELAY_PORT_RANGES
    .filter(([from, to]) => !allows.some((rule) => portRanges(rule).some(([a, b]) => a <= from && to <= b)))
    .map(([from, to]) => (from === to ? String(from) : `${from}-${to}`));
}

/** Azure names the naming function produces, per type and name property. */
const NAMING: { type: string; property: string; pattern: RegExp; example: string }[] = [
  { type: "azure-native:resources:ResourceGroup", property: "resourceGroupName", pattern: NAME_PATTERNS.resource("rg", false), example: resourceName(NAMING_PLACEHOLDERS, "rg") },
  { type: "azure-native:network:VirtualNetwork", property: "virtualNetworkName", pattern: NAME_PATTERNS.resource("vnet", false), example: resourceName(NAMING_PLACEHOLDERS, "vnet") },
  { type: "azure-native:network:NetworkSecurityGroup", property: "networkSecurityGroupName", pattern: NAME_PATTERNS.resource("nsg", true), example: resourceName(NAMING_PLACEHOLDERS, "nsg", "<purpose>") },
  { type: T.privateEndpoint, property: "privateEndpointName", pattern: NAME_PATTERNS.resource("pep", true), example: resourceName(NAMING_PLACEHOLDERS, "pep", "<service>") },
  { type: T.storageAccount, property: "accountName", pattern: NAME_PATTERNS.storageAccount, example: storageAccountName(NAMING_PLACEHOLDERS, "<random>") },
  { type: T.vault, property: "vaultName", pattern: NAME_PATTERNS.keyVault, example: keyVaultName(NAMING_PLACEHOLDERS, "<random>") },
  { type: T.vm, property: "vmName", pattern: NAME_PATTERNS.resource("vm", true), example: resourceName(NAMING_PLACEHOLDERS, "vm", "gw<nn>") },
];

/** Resource types that take tags, and the tags every one of them carries. */
export const TAGGABLE = [
  "azure-native:resources:ResourceGroup", "azure-native:network:VirtualNetwork", "azure-native:network:NetworkSecurityGroup",
  "azure-native:network:PublicIPAddress", "azure-native:network:NatGateway", "azure-native:network:PrivateEndpoint",
  "azure-native:network:NetworkInterface", "azure-native:privatedns:PrivateZone", "azure-native:privatedns:VirtualNetworkLink",
  "azure-native:storage:StorageAccount", "azure-native:keyvault:Vault", "azure-native:keyvault:Secret",
  "azure-native:compute:VirtualMachine", "azure-native:compute:VirtualMachineExtension",
  "azure-native:compute:VirtualMachineRunCommandByVirtualMachine", "azure-native:powerplatform:EnterprisePolicy",
  "azure-native:operationalinsights:Workspace", "azure-native:monitor:DataCollectionRule", "azure-native:monitor:ActionGroup",
  "azure-native:monitor:ScheduledQueryRule", "azure-native:monitor:MetricAlert", "azure-native:applicationinsights:Workbook",
  "azure-native:network:FlowLog", T.bastionHost,
];
export const REQUIRED_TAGS = ["workload", "environment", "businessUnit", "managedBy"];

export const RESOURCE_RULES: ResourceRule[] = [
  {
    name: "storage-private-network-only",
    description: "Storage accounts take no traffic from public networks.",
    types: [T.storageAccount],
    check: ({ props }) => [
      ...requireValue("publicNetworkAccess", props.publicNetworkAccess, "Disabled"),
      ...expectValue("networkRuleSet.defaultAction", obj(props.networkRuleSet).defaultAction, "Deny"),
    ],
  },
  {
    name: "storage-no-shared-key-or-public-blobs",
    description: "Storage accounts accept Entra ID only and never serve anonymous blobs.",
    types: [T.storageAccount],
    check: ({ props }) => [
      ...requireValue("allowSharedKeyAccess", props.allowSharedKeyAccess, false),
      ...requireValue("allowBlobPublicAccess", props.allowBlobPublicAccess, false),
    ],
  },
  {
    name: "storage-tls-1-2",
    description: "Storage accounts require TLS 1.2 and HTTPS.",
    types: [T.storageAccount],
    check: ({ props }) => [
      ...requireValue("minimumTlsVersion", props.minimumTlsVersion, "TLS1_2"),
      ...expectValue("enableHttpsTrafficOnly", props.enableHttpsTrafficOnly, true),
    ],
  },
  {
    name: "nic-no-public-ip",
    description: "No network interface has a public IP address.",
    types: [T.nic],
    check: ({ props }) =>
      arr(props.ipConfigurations).flatMap((c, i) => (obj(c).publicIPAddress !== undefined ? [`ipConfigurations[${i}] has a public IP address`] : [])),
  },
  {
    name: "nsg-no-inbound-from-internet",
    description: "No security rule allows inbound traffic from the internet, but TCP 443 to Azure Bastion's own subnet (its NSG admits GatewayManager), which Bastion requires.",
    types: [T.nsg, T.securityRule],
    check: ({ type, props }) => {
      const rules = type === T.securityRule ? [props] : arr(props.securityRules).map(obj);
      const bastion = type === T.nsg && isBastionNsg(rules, props.networkSecurityGroupName);
      return rules.filter((r) => inboundFromInternet(r) && !(bastion && onlyHttps(r)))
        .map((r) => `rule '${String(r.name ?? "?")}' allows inbound traffic from ${String(r.sourceAddressPrefix ?? arr(r.sourceAddressPrefixes).join(","))}`);
    },
  },
  {
    name: "nsg-remote-access-from-named-subnet",
    description: "RDP (3389) and SSH (22) are allowed in only from named address ranges (the Bastion subnet), never from the whole VNet or the internet.",
    types: [T.nsg, T.securityRule],
    check: ({ type, props }) => {
      const rules = type === T.securityRule ? [props] : nsgRules(props);
      if (!rules) return [];
      return rules
        .filter((r) => r.direction === "Inbound" && r.access === "Allow" && portRanges(r).some(([a, b]) => REMOTE_ACCESS_PORTS.some((p) => a <= p && p <= b)))
        .filter((r) => sourcesOf(r).length === 0 || sourcesOf(r).some((s) => BROAD_SOURCES.has(s.toLowerCase())))
        .map((r) => `rule '${String(r.name ?? "?")}' allows RDP/SSH in from ${sourcesOf(r).join(",") || "any source"}; allow it from the Bastion subnet's range only`);
    },
  },
  {
    name: "bastion-nsg-required-rules",
    description: "An NSG on AzureBastionSubnet has every rule Microsoft requires of it, ahead of any deny-all; without them Bastion stops receiving platform updates.",
    types: [T.nsg],
    check: ({ props }) => {
      const rules = nsgRules(props);
      if (!rules || !isBastionNsg(rules, props.networkSecurityGroupName)) return [];
      const denyAllAt = (direction: string) => Math.min(4097, ...rules
        .filter((r) => r.direction === direction && r.access === "Deny" && sourcesOf(r).includes("*") && destinationsOf(r).includes("*"))
        .map((r) => (typeof r.priority === "number" ? r.priority : 4096)));
      return BASTION_REQUIRED.filter((req) => !rules.some((r) =>
        r.direction === req.direction && r.access === "Allow" &&
        (typeof r.priority !== "number" || r.priority < denyAllAt(req.direction)) &&
        sourcesOf(r).some((s) => s.toLowerCase() === req.source.toLowerCase()) &&
        destinationsOf(r).some((d) => d.toLowerCase() === req.destination.toLowerCase()) &&
        req.ports.every((p) => portRanges(r).some(([a, b]) => a <= p && p <= b))))
        .map((req) => `misses Microsoft's required Bastion rule ${req.name} (${req.direction} ${req.source} -> ${req.destination}, ports ${req.ports.join(", ")})`);
    },
  },
  {
    name: "bastion-host-baseline",
    description: "Azure Bastion hands out no shareable links (sessions without Azure sign-in) and makes no IP-based connections beyond the stack's VMs.",
    types: [T.bastionHost],
    check: ({ props }) => [
      ...(props.enableShareableLink === true ? ["enableShareableLink must be false: a shareable link opens a session to anyone who has it"] : []),
      ...(props.enableIpConnect === true ? ["enableIpConnect must be false: the stack's Bastion connects to its own VMs only"] : []),
    ],
  },
  {
    name: "vm-trusted-launch",
    description: "Virtual machines use Trusted Launch with secure boot and vTPM.",
    types: [T.vm],
    check: ({ props }) => whenKnown(props.securityProfile, (security) => [
      ...requireValue("securityProfile.securityType", security.securityType, "TrustedLaunch"),
      ...requireValue("securityProfile.uefiSettings.secureBootEnabled", obj(security.uefiSettings).secureBootEnabled, true),
      ...requireValue("securityProfile.uefiSettings.vTpmEnabled", obj(security.uefiSettings).vTpmEnabled, true),
    ]),
  },
  {
    name: "key-vault-rbac-and-recoverable",
    description: "Key Vaults use RBAC, keep soft delete, and have purge protection in production (tag environment=prod).",
    types: [T.vault],
    check: ({ props }) => whenKnown(props.properties, (v) => [
      ...requireValue("properties.enableRbacAuthorization", v.enableRbacAuthorization, true),
      ...expectValue("properties.enableSoftDelete", v.enableSoftDelete, true),
      ...(obj(props.tags).environment === "prod" ? requireValue("properties.enablePurgeProtection (production)", v.enablePurgeProtection, true) : []),
    ]),
  },
  {
    name: "no-secret-in-vm-extension-settings",
    description: "VM extensions and run commands carry no secret in their public settings or parameters.",
    types: [T.vmExtension, T.runCommand],
    check: ({ type, props }) => {
      if (type === T.vmExtension) return secretLookingKeys(props.settings, "settings").map((at) => `${at} looks like a secret; use protectedSettings`);
      return arr(props.parameters).map(obj)
        .filter((param) => typeof param.name === "string" && SECRET_NAME.test(param.name))
        .map((param) => `parameter '${String(param.name)}' looks like a secret; use protectedParameters or read it from Key Vault`);
    },
  },
  {
    name: "gateway-nsg-allows-azure-relay",
    description: "An NSG that lets a data gateway reach Power BI also opens TCP 443, 5671-5672 and 9350-9354 towards AzureCloud: Azure Relay has no service tag and ServiceBus does not cover it.",
    types: [T.nsg],
    check: ({ props }) => {
      const rules = nsgRules(props);
      const isGateway = rules?.some((r) => r.direction === "Outbound" && r.access === "Allow" && r.destinationAddressPrefix === "PowerBI");
      if (!rules || !isGateway) return [];
      const missing = relayPortsNotAllowed(rules);
      return missing.length ? [`outbound TCP ${missing.join(", ")} towards AzureCloud is not allowed; the gateway cannot reach Azure Relay (no service tag of its own; ServiceBus does not cover it)`] : [];
    },
  },
  {
    name: "vm-encryption-at-host",
    description: "Virtual machines encrypt their temp disk and disk caches on the host (securityProfile.encryptionAtHost).",
    types: [T.vm],
    check: ({ props }) => whenKnown(props.securityProfile, (security) =>
      requireValue("securityProfile.encryptionAtHost", security.encryptionAtHost, true)),
  },
  {
    name: "key-vault-secret-expiry",
    description: "Key Vault secrets carry an expiry date (properties.attributes.expires, ARM's attributes.exp).",
    types: [T.secret],
    check: ({ props }) => {
      // A value a preview does not know yet, or a properties object masked whole, cannot be judged.
      if (typeof props.properties === "string" || obj(props.properties).attributes === PLAN_UNKNOWN) return [];
      const expires = obj(obj(props.properties).attributes).expires;
      if (expires === PLAN_UNKNOWN || typeof expires === "number") return [];
      return [`properties.attributes.expires must be set (is ${expires === undefined ? "not set" : JSON.stringify(expires)})`];
    },
  },
  {
    name: "names-follow-naming-function",
    description: "Azure names follow the naming function (workload, business unit, environment, region).",
    types: NAMING.map((n) => n.type),
    check: ({ type, props }) => {
      const rule = NAMING.find((n) => n.type === type);
      const name = rule ? props[rule.property] : undefined;
      if (!rule || typeof name !== "string" || name === PLAN_UNKNOWN) return [];
      return rule.pattern.test(name) ? [] : [`${rule.property} '${name}' does not follow ${rule.example}`];
    },
  },
  {
    name: "tags-present",
    description: `Taggable resources carry the tags ${REQUIRED_TAGS.join(", ")}.`,
    types: TAGGABLE,
    check: ({ props }) => {
      if (props.tags === PLAN_UNKNOWN) return [];
      const tags = obj(props.tags);
      const missing = REQUIRED_TAGS.filter((t) => typeof tags[t] !== "string" || tags[t] === "");
      return missing.length ? [`missing tags: ${missing.join(", ")}`] : [];
    },
  },
];

/** Does `resource`'s `property` point at `target`: by recorded reference, or by a known ARM id naming it? */
function pointsAt(resource: PolicyResource, property: string, target: PolicyResource, idSegment: string, nameProperty: string): boolean {
  if (resource.references?.[property]?.includes(target.name)) return true;
  const value = resource.props[property];
  const targetName = target.props[nameProperty];
  return typeof value === "string" && typeof targetName === "string" && known(targetName) &&
    value.toLowerCase().includes(`/${idSegment}/${targetName.toLowerCase()}`);
}

function sendsToWorkspace(setting: PolicyResource, workspaces: PolicyResource[]): boolean {
  // A value that came from resources of the stack must have come from a workspace among them.
  const from = setting.references?.workspaceId;
  if (from && from.length > 0) return workspaces.some((w) => from.includes(w.name));
  const id = setting.props.workspaceId;
  return typeof id === "string" && (id === PLAN_UNKNOWN || /\/providers\/microsoft\.operationalinsights\/workspaces\//i.test(id));
}

function enabledLogs(setting: PolicyResource): { categories: Set<string>; groups: Set<string> } {
  const logs = arr(setting.props.logs).map(obj).filter((l) => l.enabled === true);
  return {
    categories: new Set(logs.map((l) => l.category).filter((c): c is string => typeof c === "string")),
    groups: new Set(logs.map((l) => l.categoryGroup).filter((c): c is string => typeof c === "string")),
  };
}

export const STACK_RULES: StackRule[] = [
  {
    name: "private-endpoint-dns-zone-group",
    description: "Every private endpoint has a DNS zone group, so its service resolves to the private address.",
    check: (resources) => {
      const groups = resources.filter((r) => r.type === T.zoneGroup);
      return resources
        .filter((r) => r.type === T.privateEndpoint)
        .filter((pe) => {
          const peName = pe.props.privateEndpointName;
          if (!known(peName)) return false;
          return !groups.some((g) => g.props.privateEndpointName === peName || (typeof g.props.id === "string" && g.props.id.includes(`/privateEndpoints/${String(peName)}/`)));
        })
        .map((pe) => ({ resource: pe, message: `private endpoint '${String(pe.props.privateEndpointName)}' has no private DNS zone group` }));
    },
  },
  {
    name: "diagnostics-to-workspace",
    description: "Every storage account sends its blob read, write and delete logs, and every Key Vault its audit events, to a Log Analytics workspace through diagnostic settings.",
    check: (resources) => {
      const workspaces = resources.filter((r) => r.type === T.workspace);
      const settings = resources.filter((r) => r.type === T.diagnosticSetting && sendsToWorkspace(r, workspaces));
      return resources
        .filter((r) => r.type === T.storageAccount || r.type === T.vault)
        .flatMap((target) => {
          const [segment, nameProperty] = target.type === T.vault ? ["vaults", "vaultName"] : ["storageaccounts", "accountName"];
          const mine = settings.filter((d) => pointsAt(d, "resourceUri", target, segment, nameProperty));
          const required = REQUIRED_LOGS[target.type];
          const sent = mine.map(enabledLogs);
          const covered = sent.some((s) => [...s.groups].some((g) => required.groups.includes(g)));
          const missing = covered ? [] : required.logs.filter((c) => !sent.some((s) => s.categories.has(c)));
          if (mine.length === 0) return [{ resource: target, message: `'${target.name}' has no diagnostic setting sending to a Log Analytics workspace` }];
          return missing.length > 0 ? [{ resource: target, message: `'${target.name}' sends no ${missing.join(", ")} logs to a Log Analytics workspace` }] : [];
        });
    },
  },
  {
    name: "alerts-notify-action-group",
    description: "Every alert rule notifies an action group of the stack (or a known action group id).",
    check: (resources) => {
      const groups = resources.filter((r) => r.type === T.actionGroup).map((g) => g.name);
      return resources.filter((r) => r.type === T.logAlert || r.type === T.metricAlert).flatMap((rule) => {
        const ids = rule.type === T.logAlert
          ? arr(obj(rule.props.actions).actionGroups)
          : arr(rule.props.actions).map((a) => obj(a).actionGroupId);
        const byReference = (rule.references?.actions ?? []).some((n) => groups.includes(n));
        const byId = ids.some((id) => typeof id === "string" && /\/providers\/microsoft\.insights\/actiongroups\//i.test(id));
        return byReference || byId ? [] : [{ resource: rule, message: `alert rule '${rule.name}' notifies no action group` }];
      });
    },
  },
  {
    name: "vm-monitoring-agent",
    description: "Every virtual machine (the gateway VMs) runs the Azure Monitor Agent and is associated with a data collection rule.",
    check: (resources) => {
      const agents = resources.filter((r) => r.type === T.vmExtension &&
        r.props.publisher === AZURE_MONITOR_AGENT_WINDOWS.publisher && r.props.type === AZURE_MONITOR_AGENT_WINDOWS.type);
      const associations = resources.filter((r) => r.type === T.dcrAssociation &&
        (r.props.dataCollectionRuleId !== undefined || (r.references?.dataCollectionRuleId?.length ?? 0) > 0));
      return resources.filter((r) => r.type === T.vm).flatMap((vm) => {
        const problems: { resource: PolicyResource; message: string }[] = [];
        if (!agents.some((a) => pointsAt(a, "vmName", vm, "virtualmachines", "vmName") || (known(vm.props.vmName) && a.props.vmName === vm.props.vmName))) {
          problems.push({ resource: vm, message: `VM '${vm.name}' has no Azure Monitor Agent extension (${AZURE_MONITOR_AGENT_WINDOWS.publisher}/${AZURE_MONITOR_AGENT_WINDOWS.type})` });
        }
        if (!associations.some((a) => pointsAt(a, "resourceUri", vm, "virtualmachines", "vmName"))) {
          problems.push({ resource: vm, message: `VM '${vm.name}' is associated with no data collection rule` });
        }
        return problems;
      });
    },
  },
];

/** Runs every rule over a set of resources, as the offline plan does. */
export function evaluate(resources: PolicyResource[]): Violation[] {
  const violations: Violation[] = [];
  for (const resource of resources) {
    for (const rule of RESOURCE_RULES) {
      if (!rule.types.includes(resource.type)) continue;
      for (const message of rule.check(resource)) violations.push({ policy: rule.name, resource: resource.name, type: resource.type, message });
    }
  }
  for (const rule of STACK_RULES) {
    for (const { resource, message } of rule.check(resources)) violations.push({ policy: rule.name, resource: resource.name, type: resource.type, message });
  }
  return violations;
}
