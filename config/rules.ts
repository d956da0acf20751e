/**
 * Rules between keys: what one key means given another (connectivity, the environment mode, a
 * Dataverse), the address plan, and every name derived from the values checked against Azure's
 * rules. Each check adds its problems, naming the key, so all of them are reported at once.
 */
import { contains, firstFreeBlock, overlaps, parseCidr, type Cidr } from "../cidr";
import { normalizeScopes } from "../dynamic-providers/bigcommerce/logic";
import { MAPPING_KINDS } from "../dynamic-providers/dataverse/kinds";
import { INVENTORY_VISIBILITY_PARAMETERS, normalizeName, parseIomProviderParameterEntries } from "../dynamic-providers/iom-provider";
import {
  NAME_RULES,
  REGION_CODES,
  UNIQUE_SUFFIX_LENGTH,
  defaultContainerNames,
  gatewayComputerName,
  keyVaultName,
  storageAccountName,
} from "../naming";
import { schemaOverrideKey, type ConfigKey, type ConfigProblem, type Values } from "./schema";

/** Private, shared and loopback ranges, which the vault firewall does not take. */
const PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8"].map((c) => parseCidr(c) as Cidr);
/** Tags the program sets itself; `extraTags` may not override them. */
const RESERVED_TAGS = ["workload", "environment", "businessUnit", "managedBy", "pulumiStack"];
/** AzureBastionSubnet "must be /26 or larger" (Microsoft's Bastion configuration settings, "Azure Bastion subnet"). */
const BASTION_SUBNET_MAX_PREFIX = 26;

/** The short region code in every name: regionCode, or the one built in for location. */
export function regionCodeOf(v: Values): string {
  return v.regionCode || REGION_CODES[v.location] || "";
}

type AddProblem = (key: ConfigKey, message: string) => void;

const wantsGateway = (v: Values) => v.connectivity !== "powerPlatformVnet";
const wantsPowerPlatformVnet = (v: Values) => v.connectivity !== "dataGateway";

export const creates = (v: Values) => v.powerPlatformEnvironmentMode === "create";
/** Whether the stack has a Dataverse: the one it creates, or the one dataverseEnvironmentUrl names. */
export const hasDataverse = (v: Values) => creates(v) || v.dataverseEnvironmentUrl !== "";
export const sameProvider = (a: string, b: string) => normalizeName(a) === normalizeName(b);

/** Rules between keys, and every derived name checked against Azure's rules. */
export function checkRules(v: Values, problems: ConfigProblem[]): void {
  const add: AddProblem = (key, message) => problems.push({ key, message });
  if (!regionCodeOf(v)) {
    add("regionCode", `must be set: '${v.location}' has no built-in short code (known: ${Object.keys(REGION_CODES).join(", ")})`);
  }
  checkAddressPlan(v, add);
  checkGateway(v, add);
  checkVaultFirewall(v, add);
  for (const tag of v.extraTags) {
    const key = tag.slice(0, tag.indexOf("="));
    if (RESERVED_TAGS.includes(key)) add("extraTags", `'${key}' is set by the program and cannot be overridden`);
  }
  checkIntegrations(v, add);
  checkProviderSetup(v, add);
  checkRecoveryKeyAndBapEndpoint(v, add);
  checkPowerPlatformEnvironment(v, add);
  checkBastion(v, add);
  if (!hasDataverse(v) && v.iomProviderFlows.length > 0) add("iomProviderFlows", "is only used with a Dataverse: dataverseEnvironmentUrl, or powerPlatformEnvironmentMode 'create'");
  checkDerivedNames(v, add);
  checkMonitoring(v, add);
}

/** Azure Bastion: only with a gateway to reach, in its own /26 or larger inside the VNet. */
function checkBastion(v: Values, add: AddProblem): void {
  if (v.bastionSku === "") {
    if (v.bastionSubnetPrefix !== "") add("bastionSubnetPrefix", "is only used with bastionSku");
    return;
  }
  if (!wantsGateway(v)) add("bastionSku", "is only used when connectivity is 'dataGateway' or 'both' (it is the way in to the gateway VMs)");
  const vnet = parseCidr(v.vnetAddressSpace) as Cidr;
  const others: [ConfigKey, string][] = [["privateEndpointSubnetPrefix", v.privateEndpointSubnetPrefix], ["gatewaySubnetPrefix", v.gatewaySubnetPrefix]];
  if (wantsPowerPlatformVnet(v) && v.powerPlatformSubnetPrefix) others.push(["powerPlatformSubnetPrefix", v.powerPlatformSubnetPrefix]);
  const taken = others.map(([, text]) => parseCidr(text)).filter((c): c is Cidr => c !== undefined);
  if (v.bastionSubnetPrefix === "") {
    const free = firstFreeBlock(vnet, taken, BASTION_SUBNET_MAX_PREFIX);
    add("bastionSubnetPrefix", `is required with bastionSku: AzureBastionSubnet, /${BASTION_SUBNET_MAX_PREFIX} or larger inside vnetAddressSpace ` +
      (free ? `(e.g. ${free.text}, the first free /${BASTION_SUBNET_MAX_PREFIX})` : `(${v.vnetAddressSpace} has no free /${BASTION_SUBNET_MAX_PREFIX} left)`));
    return;
  }
  const block = parseCidr(v.bastionSubnetPrefix) as Cidr;
  if (!contains(vnet, block)) add("bastionSubnetPrefix", `${v.bastionSubnetPrefix} is not inside vnetAddressSpace ${v.vnetAddressSpace}`);
  if (block.prefixLength > BASTION_SUBNET_MAX_PREFIX) add("bastionSubnetPrefix", `${v.bastionSubnetPrefix} is too small: Azure Bastion needs /${BASTION_SUBNET_MAX_PREFIX} or larger`);
  for (const [key, text] of others) {
    const other = parseCidr(text);
    if (other && overlaps(block, other)) add("bastionSubnetPrefix", `${v.bastionSubnetPrefix} overlaps ${key} ${text}`);
  }
}

/** The recovery key rotation only where there is a gateway. */
function checkRecoveryKeyAndBapEndpoint(v: Values, add: AddProblem): void {
  if (v.gatewayRecoveryKeyRotation && !wantsGateway(v)) add("gatewayRecoveryKeyRotation", "is only used when connectivity is 'dataGateway' or 'both'");
}


/**
 * One source of truth for the environment: in create mode its id, Dataverse URL and organization id
 * are outputs, so config may not name them; in adopt mode config names them (and the stack checks
 * they belong together). Create-only keys are refused in adopt mode.
 */
function checkPowerPlatformEnvironment(v: Values, add: AddProblem): void {
  if (creates(v)) {
    const fromEnvironment = [
      ["powerPlatformEnvironmentId", "the environment's id"],
      ["dataverseEnvironmentUrl", "its Dataverse URL"],
      ["organizationId", "its organization id"],
    ] as const;
    for (const [key, what] of fromEnvironment) {
      if (v[key] !== "") add(key, `must be empty: powerPlatformEnvironmentMode is 'create', so ${what} comes from the environment this stack creates (remove the key, or set the mode to 'adopt')`);
    }
    if (v.powerPlatformGeo === "") add("powerPlatformGeo", "is required when powerPlatformEnvironmentMode is 'create': it is the environment's location (a Power Platform geography such as europe)");
    if (v.powerPlatformEnvironmentTemplates.length === 0) {
      add("powerPlatformEnvironmentTemplates", "must name at least one Dynamics 365 template when powerPlatformEnvironmentMode is 'create': templates enable Dynamics 365 apps, which IOM needs (a preview lists the ones your licences offer)");
    }
    // An unknown powerPlatformBapUrl is refused for every stack (clouds.ts); in create mode a loopback one
    // (the emulators) finds its application-package API through the same table.
    return;
  }
  if (v.powerPlatformEnvironmentId === "") add("powerPlatformEnvironmentId", "is required when powerPlatformEnvironmentMode is 'adopt' (Power Platform admin center > Environments > the environment > Environment ID), or set the mode to 'create'");
  if (v.organizationId === "") add("organizationId", "is required when powerPlatformEnvironmentMode is 'adopt' (the Dataverse organization id of the IOM environment)");
  const createOnly = [
    ["powerPlatformEnvironmentDescription", v.powerPlatformEnvironmentDescription !== ""],
    ["powerPlatformDomainName", v.powerPlatformDomainName !== ""],
    ["powerPlatformSecurityGroupId", v.powerPlatformSecurityGroupId !== ""],
    ["powerPlatformEnvironmentTemplates", v.powerPlatformEnvironmentTemplates.length > 0],
    ["powerPlatformEnvironmentDeleteOnDestroy", v.powerPlatformEnvironmentDeleteOnDestroy],
  ] as const;
  for (const [key, set] of createOnly) if (set) add(key, "is only used when powerPlatformEnvironmentMode is 'create' (an adopted environment is never changed)");
}

/** The address plan: every subnet inside the VNet, none overlapping, big enough for what it hosts. */
function checkAddressPlan(v: Values, add: AddProblem): void {
  const vnet = parseCidr(v.vnetAddressSpace) as Cidr;
  const subnets: [ConfigKey, string, number][] = [
    ["privateEndpointSubnetPrefix", v.privateEndpointSubnetPrefix, 28],
    ["gatewaySubnetPrefix", v.gatewaySubnetPrefix, 29],
  ];
  if (wantsPowerPlatformVnet(v)) {
    if (!v.powerPlatformSubnetPrefix) add("powerPlatformSubnetPrefix", `is required when connectivity is '${v.connectivity}'`);
    else subnets.push(["powerPlatformSubnetPrefix", v.powerPlatformSubnetPrefix, 27]);
    if (!v.powerPlatformGeo) add("powerPlatformGeo", `is required when connectivity is '${v.connectivity}' (the Power Platform geography of the environment, e.g. unitedstates)`);
  } else {
    for (const key of ["powerPlatformSubnetPrefix", "powerPlatformFailoverLocation", "powerPlatformFailoverAddressSpace"] as const) {
      if (v[key]) add(key, "is only used when connectivity is 'powerPlatformVnet' or 'both'");
    }
    if (v.powerPlatformGeo && !creates(v)) add("powerPlatformGeo", "is only used when connectivity is 'powerPlatformVnet' or 'both', or when powerPlatformEnvironmentMode is 'create'");
  }
  const parsed: [ConfigKey, Cidr][] = [];
  for (const [key, text, maxPrefix] of subnets) {
    const block = parseCidr(text) as Cidr;
    if (!contains(vnet, block)) add(key, `${text} is not inside vnetAddressSpace ${v.vnetAddressSpace}`);
    if (block.prefixLength > maxPrefix) add(key, `${text} is too small: use /${maxPrefix} or larger`);
    for (const [otherKey, other] of parsed) {
      if (overlaps(block, other)) add(key, `${text} overlaps ${otherKey} ${other.text}`);
    }
    parsed.push([key, block]);
  }
  checkFailoverNetwork(v, vnet, add);
}

/** The Power Platform failover VNet: both keys or neither, another known region, its own range. */
function checkFailoverNetwork(v: Values, vnet: Cidr, add: AddProblem): void {
  if (wantsPowerPlatformVnet(v) && (v.powerPlatformFailoverLocation !== "") !== (v.powerPlatformFailoverAddressSpace !== "")) {
    add(v.powerPlatformFailoverLocation ? "powerPlatformFailoverAddressSpace" : "powerPlatformFailoverLocation",
      "powerPlatformFailoverLocation and powerPlatformFailoverAddressSpace are set together or not at all");
  }
  if (v.powerPlatformFailoverLocation && !REGION_CODES[v.powerPlatformFailoverLocation]) {
    add("powerPlatformFailoverLocation", `'${v.powerPlatformFailoverLocation}' is not a region this program knows (known: ${Object.keys(REGION_CODES).join(", ")})`);
  }
  if (v.powerPlatformFailoverLocation && v.powerPlatformFailoverLocation === v.location) {
    add("powerPlatformFailoverLocation", "must be a different region from location (the geography's paired region)");
  }
  if (v.powerPlatformFailoverAddressSpace) {
    const failover = parseCidr(v.powerPlatformFailoverAddressSpace) as Cidr;
    if (overlaps(failover, vnet)) add("powerPlatformFailoverAddressSpace", `overlaps vnetAddressSpace ${v.vnetAddressSpace}; peered networks need distinct ranges`);
    if (failover.prefixLength > 27) add("powerPlatformFailoverAddressSpace", "is too small: use /27 or larger");
  }
}

/** Gateway settings only mean something when the stack deploys a gateway. */
function checkGateway(v: Values, add: AddProblem): void {
  const registration = [v.gatewayRegistrationClientId, v.gatewayRegistrationTenantId, v.gatewayRegistrationClientSecret];
  if (registration.some((x) => x !== "") && registration.some((x) => x === "")) {
    for (const key of ["gatewayRegistrationClientId", "gatewayRegistrationTenantId", "gatewayRegistrationClientSecret"] as const) {
      if (v[key] === "") add(key, "is required for unattended gateway registration (client id, tenant id and secret go together)");
    }
  }
  if (v.gatewayAdminObjectIds.length > 0 && v.gatewayRegistrationClientId === "") {
    add("gatewayAdminObjectIds", "only takes effect with unattended registration (gatewayRegistrationClientId); add admins by hand when registering manually");
  }
  if (!wantsGateway(v) && registration.some((x) => x !== "")) {
    add("gatewayRegistrationClientId", "is only used when connectivity is 'dataGateway' or 'both'");
  }
  if (v.gatewayZones.length > 0 && v.gatewayVmCount > 1 && v.gatewayZones.length < 2) {
    add("gatewayZones", "lists one zone for several gateway VMs; list at least two so the cluster survives a zone outage");
  }
}

/** The vault firewall takes public addresses only. */
function checkVaultFirewall(v: Values, add: AddProblem): void {
  for (const range of v.keyVaultAllowedIpRanges) {
    const block = parseCidr(range.includes("/") ? range : `${range}/32`) as Cidr;
    if (PRIVATE_RANGES.some((p) => overlaps(p, block))) {
      add("keyVaultAllowedIpRanges", `${range} is a private range; the vault firewall takes public addresses (private traffic uses the private endpoint)`);
    }
  }
}

/** Dataverse and BigCommerce keys only mean something with the integration they belong to. */
function checkIntegrations(v: Values, add: AddProblem): void {
  if (!hasDataverse(v)) {
    const dataverseKeys = ["dataverseMappingsDir", "dataverseAdoptExisting", ...MAPPING_KINDS.map(schemaOverrideKey)] as const;
    for (const key of dataverseKeys) {
      if (v[key] !== "" && v[key] !== false) add(key, "is only used with a Dataverse: dataverseEnvironmentUrl, or powerPlatformEnvironmentMode 'create'");
    }
  }
  if (v.bigcommerceStoreHash === "") {
    const bigcommerceKeys = ["bigcommerceRequiredScopes", "bigcommerceExpectedStoreName", "bigcommerceAcceptedStoreStatuses"] as const;
    const used = bigcommerceKeys.find((key) => v[key].length > 0);
    if (used) add(used, "only used with bigcommerceStoreHash and bigcommerceAccessToken");
  }
  const requiredScopes = normalizeScopes(v.bigcommerceRequiredScopes).scopes;
  if (v.bigcommerceAcceptedStoreStatuses.length > 0 && requiredScopes.length > 0 && !requiredScopes.includes("store_v2_information_read_only")) {
    add("bigcommerceAcceptedStoreStatuses", "needs store_v2_information_read_only (information) in bigcommerceRequiredScopes: GET /v2/store returns the status");
  }
  if ((v.bigcommerceStoreHash === "") !== (v.bigcommerceAccessToken === "")) {
    add(v.bigcommerceStoreHash ? "bigcommerceAccessToken" : "bigcommerceStoreHash",
      "bigcommerceStoreHash and the secret bigcommerceAccessToken are set together or not at all");
  }
}

/** Derived names, checked with the longest random suffix so a deployment never fails on a name. */
function checkDerivedNames(v: Values, add: AddProblem): void {
  const naming = { businessUnit: v.businessUnit, environment: v.environment, regionCode: regionCodeOf(v) };
  if (naming.regionCode) {
    const placeholder = "x".repeat(UNIQUE_SUFFIX_LENGTH);
    const names: [ConfigKey, string, (n: string) => string | undefined][] = [
      ["businessUnit", storageAccountName(naming, placeholder), NAME_RULES.storageAccount],
      ["businessUnit", keyVaultName(naming, placeholder), NAME_RULES.keyVault],
    ];
    if (wantsGateway(v)) names.push(["environment", gatewayComputerName(naming, v.gatewayVmCount - 1), NAME_RULES.computerName]);
    for (const [key, name, rule] of names) {
      const reason = rule(name);
      if (reason) add(key, `makes the name '${name.replace(placeholder, "<random>")}' too long or invalid: it ${reason}; shorten businessUnit, environment or regionCode`);
    }
    const defaults = defaultContainerNames(naming);
    const containers: [ConfigKey, string][] = [
      ["fileDropContainerName", v.fileDropContainerName || defaults.fileDrop],
      ["errorFileDropContainerName", v.errorFileDropContainerName || defaults.errorFileDrop],
    ];
    for (const [key, name] of containers) {
      const reason = NAME_RULES.container(name);
      if (reason) add(key, `'${name}' ${reason}`);
    }
    if (containers[0][1] === containers[1][1]) add("errorFileDropContainerName", "must differ from fileDropContainerName");
  }
}

function checkProviderSetup(v: Values, add: AddProblem): void {
  if (!hasDataverse(v)) {
    for (const key of ["iomProviderParameters", "iomProviderSecretParameters"] as const) if (v[key].length > 0) add(key, "is only used with a Dataverse: dataverseEnvironmentUrl, or powerPlatformEnvironmentMode 'create'");
    if (v.iomProviderSchema !== "") add("iomProviderSchema", "is only used with a Dataverse: dataverseEnvironmentUrl, or powerPlatformEnvironmentMode 'create'");
  }
  const ignore: string[] = [];
  const plain = parseIomProviderParameterEntries(v.iomProviderParameters, ignore, () => "");
  const secret = parseIomProviderParameterEntries(v.iomProviderSecretParameters, ignore, () => "");
  const fromOutputs = Object.values(INVENTORY_VISIBILITY_PARAMETERS).map(normalizeName);
  for (const [key, entries] of [["iomProviderParameters", plain], ["iomProviderSecretParameters", secret]] as const) {
    entries.forEach((e, i) => {
      if (sameProvider(e.provider, v.iomInventoryVisibilityProvider) && fromOutputs.includes(normalizeName(e.parameter))) {
        add(key, `entry ${i} sets '${e.parameter}', which the program sets from the stack outputs; remove it`);
      }
    });
  }
  secret.forEach((e, i) => {
    if (plain.some((p) => sameProvider(p.provider, e.provider) && normalizeName(p.parameter) === normalizeName(e.parameter))) {
      add("iomProviderSecretParameters", `entry ${i} sets ${e.provider}/${e.parameter}, which iomProviderParameters sets too`);
    }
  });
}

/** Rules between the monitoring keys. */
function checkMonitoring(v: Values, add: AddProblem): void {
  if (v.monitoringFlowLogStorageAccountId === "" && v.monitoringNetworkWatcherName !== "") {
    add("monitoringNetworkWatcherName", "is only used with monitoringFlowLogStorageAccountId (VNet flow logs)");
  }
}
