/**
 * The one typed, validated view of a stack's configuration.
 *
 * `Pulumi.yaml` declares every key (type, description, default) and the Pulumi CLI applies the
 * defaults; this module checks values, the rules between them and every name derived from them,
 * and reports all problems at once, naming key and stack, before any resource is declared.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import type { DropStorageSettings } from "./components/dropStorage";
import type { AlertSettings } from "./components/monitoring";
import { contains, firstFreeBlock, isIpv4Address, overlaps, parseCidr, type Cidr } from "./cidr";
import type { BastionSku } from "./components/bastion";
import { normalizeScopes, normalizeStoreStatuses, storeHashProblem } from "./dynamic-providers/bigcommerce/logic";
import { MAPPING_KINDS, schemaOverrideConfigKey, type MappingKind } from "./dynamic-providers/dataverse/kinds";
import { parseSchemaOverride } from "./dynamic-providers/dataverse/schema";
import { INVENTORY_VISIBILITY_PARAMETERS, normalizeName, parseProviderParameterEntries, parseProviderSchemaOverride } from "./dynamic-providers/iom-provider";
import { endpointUrlProblem } from "./dynamic-providers/common";
import { CLOUDS, cloudOfBapHost, tokenEndpointProblem } from "./dynamic-providers/clouds";
import { DOMAIN_NAME_PATTERN, ENVIRONMENT_SKUS } from "./dynamic-providers/power-platform/environment-api";
import type { EnvironmentSpec } from "./dynamic-providers/power-platform";
import { STORES_KEY, STORES_SCHEMA, STORE_HASH_PARAMETER_SEARCH, buildStores, parseStoreEntries, type StoreConfig } from "./stores";
import {
  NAME_RULES,
  REGION_CODES,
  UNIQUE_SUFFIX_LENGTH,
  defaultContainerNames,
  gatewayComputerName,
  keyVaultName,
  powerPlatformDomainName,
  powerPlatformEnvironmentName,
  storageAccountName,
  type NamingContext,
} from "./naming";

export const PROJECT = "iom-bigcommerce";

/** Config value types as the Pulumi project file declares them. */
export type ConfigValueType = "string" | "integer" | "boolean" | "array";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const guid = z.string().regex(GUID, "must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
const cidr = z.string().refine((v) => parseCidr(v) !== undefined, "must be an IPv4 CIDR block such as 10.20.0.0/24, without host bits");
const optionalCidr = z.string().refine((v) => v === "" || parseCidr(v) !== undefined, "must be an IPv4 CIDR block such as 10.20.1.0/27, or empty");
const days = (min: number, max: number) => z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);
const uniqueList = <T extends z.ZodType<string>>(item: T) =>
  z.array(item).refine((list) => new Set(list.map((v) => v.toLowerCase())).size === list.length, "lists the same value twice");

/** A flat `key=logicalname;...` override of a mapping table's discovered schema. */
const schemaOverride = z.string().superRefine((v, ctx) => {
  try {
    parseSchemaOverride(v);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message });
  }
});
type SchemaOverrideKey = `dataverse${Capitalize<MappingKind>}Schema`;
const schemaOverrideKey = (kind: MappingKind): SchemaOverrideKey => schemaOverrideConfigKey(kind);

export const CONNECTIVITY_MODES = ["dataGateway", "powerPlatformVnet", "both"] as const;
export const STORAGE_SKUS = ["Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_GZRS", "Standard_RAGRS", "Standard_RAGZRS"] as const;
export const OS_DISK_TYPES = ["Premium_LRS", "Premium_ZRS", "StandardSSD_LRS", "StandardSSD_ZRS"] as const;
const PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8"].map((c) => parseCidr(c) as Cidr);
/** Tags the program sets itself; `extraTags` may not override them. */
const RESERVED_TAGS = ["workload", "environment", "businessUnit", "managedBy", "pulumiStack"];

/** Monitoring keys (docs/operations.md), kept in a block of their own. */
const percent = z.number().int().min(50, "must be at least 50").max(100, "must be at most 100");
const MONITORING_SCHEMA = {
  monitoringRetentionDays: { type: "integer", schema: days(30, 730) },
  monitoringAlertEmails: { type: "array", schema: uniqueList(z.string().regex(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, "must hold email addresses")) },
  monitoringAlertWebhookUrl: {
    type: "string",
    secret: true,
    schema: z.string().refine((v) => v === "" || /^https:\/\/[^\s/]+(\/\S*)?$/.test(v), "must be an https:// URL, or empty"),
  },
  monitoringCpuAlertPercent: { type: "integer", schema: percent },
  monitoringMemoryAlertPercent: { type: "integer", schema: percent },
  monitoringBlobAvailabilityPercent: { type: "integer", schema: percent },
  // Log search alerts look back at most two days (Azure Monitor's limit for a rule's window).
  monitoringFileDropSilenceHours: { type: "integer", schema: z.number().int().min(0, "must be 0 (off) or 1-48").max(48, "must be at most 48 (a log alert's longest window)") },
  monitoringMalwareScanning: { type: "boolean", schema: z.boolean() },
  monitoringMalwareScanningCapGbPerMonth: { type: "integer", schema: z.number().int().refine((v) => v === -1 || v >= 1, "must be -1 (no cap) or at least 1") },
  monitoringGatewayEventLog: { type: "string", schema: z.string().min(1, "must name the gateway's event log").regex(/^[^!*[\]]+$/, "must be an event log name without XPath characters (!, *, [ ])") },
  monitoringFlowLogStorageAccountId: {
    type: "string",
    schema: z.string().regex(/^(\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[^/]+\/providers\/Microsoft\.Storage\/storageAccounts\/[a-z0-9]{3,24})?$/i,
      "must be a storage account resource id (/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/<name>), or empty"),
  },
  monitoringNetworkWatcherResourceGroup: { type: "string", schema: z.string().regex(/^[-\w._()]{1,90}$/, "must be a resource group name") },
  monitoringNetworkWatcherName: { type: "string", schema: z.string().regex(/^([-\w._]{1,80})?$/, "must be a Network Watcher name, or empty for NetworkWatcher_<location>") },
} as const satisfies Record<string, { type: ConfigValueType; secret?: boolean; schema: z.ZodType }>;
// ---- IOM provider setup (IomProviderParameters, PowerPlatformPolicyLink) ---------------------------
const providerParameterEntries = z.array(z.string()).superRefine((entries, ctx) => {
  const problems: string[] = [];
  parseProviderParameterEntries(entries, problems, (i) => `entry ${i}`);
  for (const message of problems) ctx.addIssue({ code: "custom", message });
});
const PROVIDER_SETUP_SCHEMA = {
  iomInventoryVisibilityProvider: { type: "string", schema: z.string().min(1, "must name the Inventory Visibility provider as IOM lists it") },
  iomProviderParameters: { type: "array", schema: providerParameterEntries },
  iomProviderSecretParameters: { type: "array", secret: true, schema: providerParameterEntries },
  iomProviderSchema: {
    type: "string",
    schema: z.string().superRefine((v, ctx) => {
      try {
        parseProviderSchemaOverride(v);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message });
      }
    }),
  },
  powerPlatformEnvironmentId: { type: "string", schema: z.string().refine((v) => v === "" || GUID.test(v), "must be the Power Platform environment id (a GUID), or empty in create mode") },
} as const;
// ---- end IOM provider setup ------------------------------------------------------------------------
// ---- Gateway recovery key rotation (docs/azure-landing.md, "Secret rotation") -----------------------
const RECOVERY_KEY_SCHEMA = {
  gatewayRecoveryKeyRotation: { type: "boolean", schema: z.boolean() },
} as const;
// ---- Power Platform admin (BAP) endpoint, for sovereign clouds (docs/iom-provider-setup.md) ---------
const BAP_ENDPOINT_SCHEMA = {
  powerPlatformBapUrl: {
    type: "string",
    schema: z.string().superRefine((v, ctx) => {
      if (v === "") return;
      // The BAP token goes to this host: one of the table of clouds (dynamic-providers/clouds.ts), no
      // user name (`user@host` sends to `host`) or port. The admin API keeps only the origin: a path
      // would be dropped without a word, so it is refused too.
      const problem = endpointUrlProblem(v, "must be an https URL such as https://api.bap.microsoft.com, or empty for the public cloud") ??
        tokenEndpointProblem(v, "bap") ??
        (/^[a-z]+:\/\/[^/?#]+\/?$/i.test(v) ? undefined : "must be the endpoint's origin only (https://<host>), without a path, query or fragment");
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }),
  },
} as const;
// ---- end BAP endpoint -------------------------------------------------------------------------------
// ---- Power Platform environment: created or adopted (docs/power-platform-environment.md) -----------
export const ENVIRONMENT_MODES = ["create", "adopt"] as const;
const POWER_PLATFORM_ENVIRONMENT_SCHEMA = {
  powerPlatformEnvironmentMode: { type: "string", schema: z.enum(ENVIRONMENT_MODES, { message: "must be create (the stack creates the environment) or adopt (it reads an existing one)" }) },
  powerPlatformEnvironmentSku: { type: "string", schema: z.enum(ENVIRONMENT_SKUS, { message: `must be one of ${ENVIRONMENT_SKUS.join(", ")}` }) },
  powerPlatformEnvironmentDescription: { type: "string", schema: z.string().max(2000, "must be at most 2000 characters") },
  powerPlatformDomainName: {
    type: "string",
    schema: z.string().refine((v) => v === "" || (DOMAIN_NAME_PATTERN.test(v) && v.length <= 63), "must be lowercase letters, digits and '-' (starting with a letter or digit, at most 63), or empty for the name derived from the stack"),
  },
  powerPlatformLanguageCode: { type: "integer", schema: z.number().int().min(1, "must be a language LCID such as 1033") },
  powerPlatformCurrencyCode: { type: "string", schema: z.string().regex(/^[A-Z]{3}$/, "must be an ISO 4217 currency code such as EUR") },
  powerPlatformSecurityGroupId: { type: "string", schema: z.string().refine((v) => v === "" || GUID.test(v), "must be an Entra security group id (a GUID), or empty for none") },
  powerPlatformEnvironmentTemplates: { type: "array", schema: uniqueList(z.string().regex(/^[A-Za-z0-9_]+$/, "must hold Dynamics 365 template names such as D365_Sales")) },
  powerPlatformEnvironmentDeleteOnDestroy: { type: "boolean", schema: z.boolean() },
  powerPlatformManagedEnvironment: { type: "boolean", schema: z.boolean() },
  iomApplicationPackage: { type: "string", schema: z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, "must be an application package's unique name such as msdyn_IntelligentOrderManagementAnchor") },
} as const;
// ---- end Power Platform environment -----------------------------------------------------------------
// ---- Gateway installer and the way in: Azure Bastion (docs/operations.md) ---------------------------
export const BASTION_SKUS = ["Basic", "Standard"] as const satisfies readonly BastionSku[];
const GATEWAY_ACCESS_SCHEMA = {
  gatewayInstallerUrl: { type: "string", schema: z.string().regex(/^https:\/\/[^\s"'`]+$/, "must be an https URL of the gateway installer") },
  gatewayInstallerArguments: {
    type: "string",
    schema: z.string().regex(/^[^\r\n]*\S[^\r\n]*$/, "must be the installer's command line on one line (it runs unattended: keep its quiet switch)"),
  },
  bastionSku: { type: "string", schema: z.enum(["", ...BASTION_SKUS], { message: `must be ${BASTION_SKUS.join(" or ")}, or empty for no Azure Bastion` }) },
  bastionSubnetPrefix: { type: "string", schema: optionalCidr },
  // Subscription prerequisites (docs/azure-landing.md): the stack registers them, or only checks.
  subscriptionPrerequisites: {
    type: "string",
    schema: z.enum(["register", "check"], { message: "must be register (the stack registers the providers and features it needs) or check (it only checks them and names the commands)" }),
  },
} as const;
/** AzureBastionSubnet "must be /26 or larger" (Microsoft's Bastion configuration settings, "Azure Bastion subnet"). */
const BASTION_SUBNET_MAX_PREFIX = 26;
// ---- end gateway installer and Bastion -------------------------------------------------------------
// ---- The doctor (npm run doctor; docs/operations.md, "The doctor") -----------------------------------
/** `Provider/Flow name` entries: the provider is what ends at the first `/`, the flow's display name the rest. */
export function parseProviderFlowEntries(entries: readonly string[], problems: string[], describe: (index: number) => string): { provider: string; flow: string }[] {
  const out: { provider: string; flow: string }[] = [];
  const seen = new Set<string>();
  entries.forEach((entry, i) => {
    const slash = entry.indexOf("/");
    const provider = slash < 0 ? "" : entry.slice(0, slash).trim();
    const flow = slash < 0 ? "" : entry.slice(slash + 1).trim();
    if (!provider || !flow) {
      problems.push(`${describe(i)} must be 'Provider/Flow name' (e.g. 'BigCommerce/BigCommerce Order Puller')`);
      return;
    }
    const key = `${normalizeName(provider)}/${flow.toLowerCase()}`;
    if (seen.has(key)) problems.push(`${describe(i)} names ${provider}/${flow} a second time`);
    seen.add(key);
    out.push({ provider, flow });
  });
  return out;
}
const DOCTOR_SCHEMA = {
  iomProviderFlows: {
    type: "array",
    schema: z.array(z.string()).superRefine((entries, ctx) => {
      const problems: string[] = [];
      parseProviderFlowEntries(entries, problems, (i) => `entry ${i}`);
      for (const message of problems) ctx.addIssue({ code: "custom", message });
    }),
  },
  doctorLookbackHours: { type: "integer", schema: z.number().int().min(1, "must be at least 1").max(168, "must be at most 168 (a week)") },
  doctorSecretExpiryDays: { type: "integer", schema: z.number().int().min(1, "must be at least 1").max(90, "must be at most 90") },
} as const;
// ---- end doctor -------------------------------------------------------------------------------------

/**
 * Every key this program reads, with the type `Pulumi.yaml` declares for it. Tests keep this table and
 * `Pulumi.yaml` in step; docs/configuration.md is generated from both (npm run docs:config).
 */
export const CONFIG_SCHEMA = {
  environment: { type: "string", schema: z.string().regex(/^[a-z][a-z0-9]{1,4}$/, "must be 2-5 lowercase letters or digits, starting with a letter (dev, test, prod, ...)") },
  location: { type: "string", schema: z.string().regex(/^[a-z][a-z0-9]+$/, "must be an Azure region name such as westeurope") },
  businessUnit: { type: "string", schema: z.string().regex(/^[a-z][a-z0-9]{1,9}$/, "must be 2-10 lowercase letters or digits, starting with a letter") },
  organizationId: { type: "string", schema: z.string().refine((v) => v === "" || GUID.test(v), "must be the Dataverse organization id (a GUID), or empty in create mode") },
  regionCode: { type: "string", schema: z.string().regex(/^([a-z0-9]{2,4})?$/, "must be 2-4 lowercase letters or digits, or empty to derive it from location") },
  connectivity: { type: "string", schema: z.enum(CONNECTIVITY_MODES, { message: `must be one of ${CONNECTIVITY_MODES.join(", ")}` }) },
  vnetAddressSpace: { type: "string", schema: cidr },
  privateEndpointSubnetPrefix: { type: "string", schema: cidr },
  gatewaySubnetPrefix: { type: "string", schema: cidr },
  powerPlatformSubnetPrefix: { type: "string", schema: optionalCidr },
  powerPlatformGeo: { type: "string", schema: z.string().regex(/^([a-z]+)?$/, "must be a Power Platform geography such as unitedstates or europe, or empty") },
  powerPlatformFailoverLocation: { type: "string", schema: z.string().regex(/^([a-z][a-z0-9]+)?$/, "must be an Azure region name or empty") },
  powerPlatformFailoverAddressSpace: { type: "string", schema: optionalCidr },
  storageSku: { type: "string", schema: z.enum(STORAGE_SKUS, { message: `must be one of ${STORAGE_SKUS.join(", ")}` }) },
  blobVersioning: { type: "boolean", schema: z.boolean() },
  blobSoftDeleteDays: { type: "integer", schema: days(1, 365) },
  containerSoftDeleteDays: { type: "integer", schema: days(1, 365) },
  fileDropContainerName: { type: "string", schema: z.string() },
  errorFileDropContainerName: { type: "string", schema: z.string() },
  blobDataContributorPrincipalIds: { type: "array", schema: uniqueList(guid) },
  keyVaultSku: { type: "string", schema: z.enum(["standard", "premium"], { message: "must be standard or premium" }) },
  keyVaultPurgeProtection: { type: "boolean", schema: z.boolean() },
  keyVaultSoftDeleteDays: { type: "integer", schema: days(7, 90) },
  keyVaultSecretsUserPrincipalIds: { type: "array", schema: uniqueList(guid) },
  keyVaultAllowedIpRanges: {
    type: "array",
    schema: uniqueList(z.string().refine((v) => isIpv4Address(v) || parseCidr(v) !== undefined, "must hold public IPv4 addresses or CIDR blocks")),
  },
  gatewayVmSize: { type: "string", schema: z.string().regex(/^Standard_[A-Za-z0-9_]+$/, "must be an Azure VM size such as Standard_D4s_v5") },
  gatewayVmCount: { type: "integer", schema: z.number().int().min(1, "must be at least 1").max(10, "must be at most 10 (a gateway cluster's limit)") },
  gatewayZones: { type: "array", schema: uniqueList(z.enum(["1", "2", "3"], { message: "must hold availability zones \"1\", \"2\" or \"3\"" })) },
  gatewayOsDiskType: { type: "string", schema: z.enum(OS_DISK_TYPES, { message: `must be one of ${OS_DISK_TYPES.join(", ")}` }) },
  gatewayAdminUsername: {
    type: "string",
    schema: z.string().regex(/^[a-z][a-z0-9_-]{2,19}$/i, "must be 3-20 letters, digits, _ or -, starting with a letter")
      .refine((v) => !["admin", "administrator", "root", "user", "guest", "test"].includes(v.toLowerCase()), "is a name Azure does not allow for a VM administrator"),
  },
  gatewayOutboundInternetHttps: { type: "boolean", schema: z.boolean() },
  gatewayPowerShellVersion: { type: "string", schema: z.string().regex(/^7\.\d+\.\d+$/, "must be a PowerShell 7 version such as 7.4.6") },
  gatewayRegistrationClientId: { type: "string", schema: z.string().refine((v) => v === "" || GUID.test(v), "must be the service principal's application (client) id, a GUID, or empty") },
  gatewayRegistrationTenantId: { type: "string", schema: z.string().refine((v) => v === "" || GUID.test(v), "must be the Entra tenant id, a GUID, or empty") },
  gatewayRegistrationClientSecret: { type: "string", secret: true, schema: z.string() },
  gatewayRegionKey: { type: "string", schema: z.string().regex(/^([a-z0-9]+)?$/, "must be a gateway region key such as westeurope, or empty for the tenant's default") },
  gatewayAdminObjectIds: { type: "array", schema: uniqueList(guid) },
  // Hardening (issue 8): gateway egress on port 80, encryption at host, secret rotation, storage keys.
  gatewayOutboundInternetHttp: { type: "boolean", schema: z.boolean() },
  gatewayEncryptionAtHost: { type: "boolean", schema: z.boolean() },
  keyVaultSecretRotationDays: { type: "integer", schema: days(7, 365) },
  storageSharedKeyAccess: { type: "boolean", schema: z.boolean() },
  resourceLocks: { type: "boolean", schema: z.boolean() },
  extraTags: { type: "array", schema: z.array(z.string().regex(/^[^=<>%&\\?/]{1,512}=.{0,256}$/, "must hold key=value tags")) },
  bigcommerceStoreHash: {
    type: "string",
    schema: z.string().superRefine((v, ctx) => {
      const problem = v === "" ? undefined : storeHashProblem(v);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }),
  },
  bigcommerceAccessToken: { type: "string", secret: true, schema: z.string() },
  bigcommerceRequiredScopes: {
    type: "array",
    schema: z.array(z.string()).superRefine((scopes, ctx) => {
      for (const problem of normalizeScopes(scopes).problems) ctx.addIssue({ code: "custom", message: problem });
    }),
  },
  bigcommerceExpectedStoreName: { type: "string", schema: z.string() },
  bigcommerceAcceptedStoreStatuses: {
    type: "array",
    schema: z.array(z.string()).superRefine((statuses, ctx) => {
      for (const problem of normalizeStoreStatuses(statuses).problems) ctx.addIssue({ code: "custom", message: problem });
    }),
  },
  dataverseEnvironmentUrl: {
    type: "string",
    schema: z.string().superRefine((v, ctx) => {
      if (v === "") return;
      // The Dataverse token goes to this host: https, origin only, under a cloud's Dataverse domains (dynamic-providers/clouds.ts).
      const problem = /^https:\/\/[a-z0-9][a-z0-9.-]*\/?$/i.test(v) ? tokenEndpointProblem(v, "dataverse") : "not an https origin (https://<host>, without a path, query, port or user name)";
      if (problem) ctx.addIssue({ code: "custom", message: `must be the environment URL such as https://contoso.crm4.dynamics.com, or empty: ${problem}` });
    }),
  },
  dataverseProviderName: { type: "string", schema: z.string().min(1, "must name the IOM provider the mappings belong to") },
  dataverseMappingGroup: { type: "string", schema: z.string().min(1, "must name the default mapping group") },
  dataverseMappingsDir: { type: "string", schema: z.string().refine((v) => !v.startsWith("/") && !v.split(/[\\/]/).includes(".."), "must be a folder inside the project, or empty for mappings/<stack>") },
  dataverseAdoptExisting: { type: "boolean", schema: z.boolean() },
  dataverseMappingFileMaxMB: { type: "integer", schema: z.number().int().min(1, "must be at least 1 (MB)").max(1024, "must be at most 1024 (MB): a bigger file needs more memory than the program and the provider are built for") },
  ...Object.fromEntries(MAPPING_KINDS.map((kind) => [schemaOverrideKey(kind), { type: "string", schema: schemaOverride }])) as Record<SchemaOverrideKey, { type: "string"; schema: typeof schemaOverride }>,
  ...MONITORING_SCHEMA,
  ...PROVIDER_SETUP_SCHEMA,
  ...RECOVERY_KEY_SCHEMA,
  ...BAP_ENDPOINT_SCHEMA,
  ...POWER_PLATFORM_ENVIRONMENT_SCHEMA,
  ...GATEWAY_ACCESS_SCHEMA,
  ...DOCTOR_SCHEMA,
  ...STORES_SCHEMA,
} as const satisfies Record<string, { type: ConfigValueType; secret?: boolean; schema: z.ZodType }>;

export type ConfigKey = keyof typeof CONFIG_SCHEMA;

export type ConnectivityMode = (typeof CONNECTIVITY_MODES)[number];

export interface GatewayRegistration {
  clientId: string;
  tenantId: string;
  clientSecret: pulumi.Output<string>;
  regionKey?: string;
  adminObjectIds: string[];
}

export interface StackConfig {
  stack: string;
  environment: string;
  location: string;
  businessUnit: string;
  /** The Dataverse organization id from config: adopt mode only (create mode takes it from the environment). */
  organizationId?: string;
  naming: NamingContext;
  tags: Record<string, string>;
  connectivity: { mode: ConnectivityMode; dataGateway: boolean; powerPlatformVnet: boolean };
  network: {
    addressSpace: string;
    privateEndpointSubnetPrefix: string;
    gatewaySubnetPrefix: string;
    gatewayOutboundInternetHttps: boolean;
    gatewayOutboundInternetHttp: boolean;
  };
  /** Present when connectivity includes `powerPlatformVnet`. */
  powerPlatform?: {
    geo: string;
    subnetPrefix: string;
    failover?: { location: string; regionCode: string; addressSpace: string };
  };
  storage: DropStorageSettings & { sku: (typeof STORAGE_SKUS)[number] };
  keyVault: {
    sku: "standard" | "premium";
    purgeProtection: boolean;
    softDeleteDays: number;
    secretsUserPrincipalIds: string[];
    allowedIpRanges: string[];
    /** Length of a secret rotation window: secrets expire at its end, the admin password is then renewed. */
    secretRotationDays: number;
  };
  /** Present when connectivity includes `dataGateway`. */
  gateway?: {
    vmSize: string;
    vmCount: number;
    zones: string[];
    osDiskType: (typeof OS_DISK_TYPES)[number];
    adminUsername: string;
    powerShellVersion: string;
    encryptionAtHost: boolean;
    /** A new recovery key every rotation window (true), or one key until an operator replaces it (false). */
    recoveryKeyRotation: boolean;
    /** Unattended registration; absent means the VM is prepared and an admin registers it once. */
    registration?: GatewayRegistration;
    /** The gateway's installer, run unattended on every VM. */
    installer: { url: string; arguments: string };
  };
  /** Azure Bastion, the way in to the gateway VMs; absent unless the stack sets bastionSku. */
  bastion?: { sku: BastionSku; subnetPrefix: string };
  /** register: the stack registers the resource providers and features it needs; check: it only checks them. */
  subscriptionPrerequisites: "register" | "check";
  resourceLocks: boolean;
  /** Workspace, agent, alerts, Defender and workbook. */
  monitoring: MonitoringConfig;
  /**
   * The BigCommerce stores (stores.ts): the single-store keys' store (`default`) first, then
   * `bigcommerceStores`; empty when the stack has none. Absent scopes/statuses: the check's defaults.
   */
  bigcommerceStores: StoreConfig[];
  /** The store hash parameter's label in IOM's BigCommerce provider, or the words it is found by. */
  bigcommerceStoreHashParameter: string;
  /** Problems that do not stop the run (a token shared by two stores); index.ts logs them. */
  warnings: ConfigProblem[];
  /** Present when the stack has a Dataverse (create mode, or adopt mode with dataverseEnvironmentUrl): IOM's ID mappings are kept in sync. */
  dataverse?: {
    /** From config in adopt mode; undefined in create mode, where it is an output of the environment. */
    environmentUrl?: string;
    providerName: string;
    mappingGroup: string;
    /** Folder of the mapping CSVs, relative to the project. */
    mappingsDir: string;
    /** Largest mapping file accepted, in bytes (dataverseMappingFileMaxMB). */
    mappingFileMaxBytes: number;
    adoptExisting: boolean;
    schemaOverrides: Partial<Record<MappingKind, string>>;
  };
  /** IOM provider setup: present when the stack names a Dataverse environment (see providerSetupOf). */
  providerSetup?: ProviderSetupConfig;
  /** The stack's Power Platform environment: created by the stack or adopted (docs/power-platform-environment.md). */
  powerPlatformEnvironment: PowerPlatformEnvironmentConfig;
  /** BAP endpoint of the Power Platform cloud (origin only); undefined: the public cloud's. */
  powerPlatformBapUrl?: string;
  /** What `npm run doctor` looks at and how far back (it declares nothing). */
  doctor: DoctorConfig;
}

export interface DoctorConfig {
  /** Hours of flow runs and dropped files the doctor reads. */
  lookbackHours: number;
  /** A Key Vault secret expiring within this many days fails the doctor. */
  secretExpiryDays: number;
  /** Flows named in config per provider (iomProviderFlows), checked instead of the discovered ones. */
  providerFlows: { provider: string; flows: string[] }[];
}

export interface PowerPlatformEnvironmentConfig {
  mode: (typeof ENVIRONMENT_MODES)[number];
  /** Origin of the Power Platform API of the BAP endpoint's cloud (clouds.ts): application packages. */
  powerPlatformApiUrl: string;
  /** Adopt mode: the environment's id (lower case). */
  environmentId?: string;
  /** Create mode: what the environment is created with. */
  create?: EnvironmentSpec & {
    deleteOnDestroy: boolean;
    /** The IOM application package installed into it. */
    iomApplicationPackage: string;
  };
  /** Whether the stack makes it a Managed Environment: VNet support needs it, or powerPlatformManagedEnvironment asks. */
  managedEnvironment: boolean;
}

export interface ConfigProblem {
  key: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly stackName: string,
    readonly problems: ConfigProblem[],
  ) {
    const stack = stackName;
    super(
      `Stack '${stack}' has ${problems.length} configuration problem${problems.length === 1 ? "" : "s"}:\n` +
        problems.map((p) => `  - ${PROJECT}:${p.key}: ${p.message}`).join("\n") +
        `\nFix them with 'pulumi config set <key> <value> --stack ${stack}' (add --secret for secrets) or in Pulumi.${stack}.yaml.`,
    );
    this.name = "ConfigError";
  }
}

type Values = { [K in ConfigKey]: z.infer<(typeof CONFIG_SCHEMA)[K]["schema"]> };

/** Turns the CLI's string form of a value (arrays and numbers arrive as JSON text) into its declared type. */
function decode(key: string, type: ConfigValueType, text: string, problems: ConfigProblem[]): unknown {
  switch (type) {
    case "string":
      return text;
    case "integer":
      if (/^-?\d+$/.test(text.trim())) return Number(text);
      problems.push({ key, message: `must be an integer, got '${text}'` });
      return undefined;
    case "boolean":
      if (text === "true" || text === "false") return text === "true";
      problems.push({ key, message: `must be true or false, got '${text}'` });
      return undefined;
    case "array":
      try {
        const parsed: unknown = JSON.parse(text);
        if (Array.isArray(parsed)) return parsed;
      } catch {
        // reported below
      }
      problems.push({ key, message: `must be a list (in Pulumi.<stack>.yaml a YAML sequence; on the command line use --path '${key}[0]')` });
      return undefined;
  }
}

/**
 * Validates a stack's raw configuration: keys without the project prefix, values as the Pulumi CLI
 * hands them to the program (after applying the project file's defaults). Pure; throws ConfigError
 * listing every problem.
 */
export function parseStackConfig(
  stack: string,
  raw: Readonly<Record<string, string | undefined>>,
  secretKeys: ReadonlySet<string> = new Set(),
): StackConfig {
  const problems: ConfigProblem[] = [];
  // Structured keys (stores.ts) are not declared in Pulumi.yaml, which has no object type.
  const known = new Set<string>([...Object.keys(CONFIG_SCHEMA), STORES_KEY]);
  for (const key of Object.keys(raw)) {
    if (!known.has(key) && raw[key] !== undefined) {
      const hint = [...known].find((k) => k.toLowerCase() === key.toLowerCase());
      problems.push({ key, message: `is not a setting of this program${hint ? ` (did you mean '${hint}'?)` : ""}` });
    }
  }

  const values: Partial<Record<ConfigKey, unknown>> = {};
  for (const [key, spec] of Object.entries(CONFIG_SCHEMA) as [ConfigKey, (typeof CONFIG_SCHEMA)[ConfigKey]][]) {
    const text = raw[key];
    if (text === undefined) {
      problems.push({ key, message: "is required but not set (Pulumi.yaml declares it; set it in the stack's config)" });
      continue;
    }
    // Pulumi.yaml cannot mark these `secret` (the CLI refuses a plain-text default for a secret key),
    // so the program refuses a plain value itself.
    if ("secret" in spec && text !== "" && text !== "[]" && !secretKeys.has(key)) {
      const how = spec.type === "array" ? `--secret --path '${key}[0]' <value>` : `--secret ${key} <value>`;
      problems.push({ key, message: `holds a secret but was set in plain text: set it with 'pulumi config set ${how}'` });
    }
    const decoded = decode(key, spec.type, text, problems);
    if (decoded === undefined) continue;
    const result = (spec.schema as z.ZodType).safeParse(decoded);
    if (result.success) {
      values[key] = result.data;
    } else {
      for (const issue of result.error.issues) {
        const where = issue.path.length ? `[${issue.path.join(".")}] ` : "";
        problems.push({ key, message: `${where}${issue.message}${spec.type !== "array" && !("secret" in spec) ? ` (got '${text}')` : ""}` });
      }
    }
  }
  const storeEntries = parseStoreEntries(raw[STORES_KEY], secretKeys.has(STORES_KEY));
  problems.push(...storeEntries.problems);
  if (problems.length > 0) throw new ConfigError(stack, problems);

  const v = values as Values;
  checkRules(v, problems);
  checkMonitoring(v, problems);
  const stores = buildStores(storeEntries, storeDefaults(stack, v));
  problems.push(...stores.problems);
  if (problems.length > 0) throw new ConfigError(stack, problems);
  return { ...build(stack, v), bigcommerceStores: stores.stores, warnings: stores.warnings };
}

/** What every store shares, and the single-store keys (stores.ts). */
function storeDefaults(stack: string, v: Values): Parameters<typeof buildStores>[1] {
  const entries = (key: "iomProviderParameters" | "iomProviderSecretParameters") =>
    parseProviderParameterEntries(v[key], [], () => "").map((e, index) => ({ key, index, provider: e.provider, parameter: e.parameter }));
  return {
    single: {
      storeHash: v.bigcommerceStoreHash,
      accessToken: v.bigcommerceAccessToken,
      requiredScopes: v.bigcommerceRequiredScopes,
      expectedStoreName: v.bigcommerceExpectedStoreName,
      acceptedStoreStatuses: v.bigcommerceAcceptedStoreStatuses,
    },
    defaultProviderName: v.dataverseProviderName,
    stackMappingsDir: v.dataverseMappingsDir || `mappings/${stack}`,
    dataverse: hasDataverse(v),
    inventoryVisibilityProvider: v.iomInventoryVisibilityProvider,
    maxStores: v.bigcommerceMaxStores,
    storeHashParameter: v.bigcommerceStoreHashParameter,
    parameterEntries: [...entries("iomProviderParameters"), ...entries("iomProviderSecretParameters")],
  };
}

function regionCodeOf(v: Values): string {
  return v.regionCode || REGION_CODES[v.location] || "";
}

type AddProblem = (key: ConfigKey, message: string) => void;

const wantsGateway = (v: Values) => v.connectivity !== "powerPlatformVnet";
const wantsVnetSupport = (v: Values) => v.connectivity !== "dataGateway";

/** Rules between keys, and every derived name checked against Azure's rules. */
function checkRules(v: Values, problems: ConfigProblem[]): void {
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
  if (wantsVnetSupport(v) && v.powerPlatformSubnetPrefix) others.push(["powerPlatformSubnetPrefix", v.powerPlatformSubnetPrefix]);
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

const creates = (v: Values) => v.powerPlatformEnvironmentMode === "create";
/** Whether the stack has a Dataverse: the one it creates, or the one dataverseEnvironmentUrl names. */
const hasDataverse = (v: Values) => creates(v) || v.dataverseEnvironmentUrl !== "";

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
  if (wantsVnetSupport(v)) {
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
  if (wantsVnetSupport(v) && (v.powerPlatformFailoverLocation !== "") !== (v.powerPlatformFailoverAddressSpace !== "")) {
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

// ---- IOM provider setup (IomProviderParameters, PowerPlatformPolicyLink) ---------------------------

export interface ProviderSetupConfig {
  /** The Inventory Visibility provider as IOM lists it; its three parameters come from the stack outputs. */
  inventoryVisibilityProvider: string;
  /** Flat override of the discovered provider-table columns. */
  schemaOverride: string;
  /** Parameters from iomProviderParameters / iomProviderSecretParameters, grouped by provider. */
  providers: { name: string; parameters: Record<string, string>; secretParameters: Record<string, pulumi.Output<string>> }[];
}

const sameProvider = (a: string, b: string) => normalizeName(a) === normalizeName(b);

function checkProviderSetup(v: Values, add: AddProblem): void {
  if (!hasDataverse(v)) {
    for (const key of ["iomProviderParameters", "iomProviderSecretParameters"] as const) if (v[key].length > 0) add(key, "is only used with a Dataverse: dataverseEnvironmentUrl, or powerPlatformEnvironmentMode 'create'");
    if (v.iomProviderSchema !== "") add("iomProviderSchema", "is only used with a Dataverse: dataverseEnvironmentUrl, or powerPlatformEnvironmentMode 'create'");
  }
  const ignore: string[] = [];
  const plain = parseProviderParameterEntries(v.iomProviderParameters, ignore, () => "");
  const secret = parseProviderParameterEntries(v.iomProviderSecretParameters, ignore, () => "");
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

function providerSetupOf(v: Values): ProviderSetupConfig {
  const ignore: string[] = [];
  const providers: ProviderSetupConfig["providers"] = [];
  const add = (e: { provider: string; parameter: string; value: string }, secret: boolean) => {
    let p = providers.find((x) => sameProvider(x.name, e.provider));
    if (!p) providers.push((p = { name: e.provider, parameters: {}, secretParameters: {} }));
    if (secret) p.secretParameters[e.parameter] = pulumi.secret(e.value);
    else p.parameters[e.parameter] = e.value;
  };
  for (const e of parseProviderParameterEntries(v.iomProviderParameters, ignore, () => "")) add(e, false);
  for (const e of parseProviderParameterEntries(v.iomProviderSecretParameters, ignore, () => "")) add(e, true);
  return { inventoryVisibilityProvider: v.iomInventoryVisibilityProvider, schemaOverride: v.iomProviderSchema, providers };
}
// ---- end IOM provider setup ------------------------------------------------------------------------

function powerPlatformEnvironmentOf(v: Values, naming: NamingContext, vnetSupport: boolean): PowerPlatformEnvironmentConfig {
  const cloud = v.powerPlatformBapUrl ? cloudOfBapHost(new URL(v.powerPlatformBapUrl).hostname) : "public";
  return {
    mode: v.powerPlatformEnvironmentMode,
    powerPlatformApiUrl: `https://${CLOUDS[cloud ?? "public"].powerPlatformApiHost}`,
    environmentId: creates(v) ? undefined : v.powerPlatformEnvironmentId.toLowerCase(),
    create: creates(v)
      ? {
          displayName: powerPlatformEnvironmentName(naming),
          description: v.powerPlatformEnvironmentDescription,
          sku: v.powerPlatformEnvironmentSku,
          location: v.powerPlatformGeo,
          languageCode: v.powerPlatformLanguageCode,
          currencyCode: v.powerPlatformCurrencyCode,
          domainName: v.powerPlatformDomainName || powerPlatformDomainName(naming),
          securityGroupId: v.powerPlatformSecurityGroupId.toLowerCase(),
          templates: v.powerPlatformEnvironmentTemplates,
          deleteOnDestroy: v.powerPlatformEnvironmentDeleteOnDestroy,
          iomApplicationPackage: v.iomApplicationPackage,
        }
      : undefined,
    // An adopted environment is never changed unless the stack asks: the policy link then checks it is managed.
    managedEnvironment: (creates(v) && vnetSupport) || v.powerPlatformManagedEnvironment,
  };
}

function build(stack: string, v: Values): Omit<StackConfig, "bigcommerceStores" | "warnings"> {
  const naming: NamingContext = { businessUnit: v.businessUnit, environment: v.environment, regionCode: regionCodeOf(v) };
  const containers = defaultContainerNames(naming);
  const extraTags = Object.fromEntries(v.extraTags.map((t) => [t.slice(0, t.indexOf("=")), t.slice(t.indexOf("=") + 1)]));
  const dataGateway = v.connectivity !== "powerPlatformVnet";
  const powerPlatformVnet = v.connectivity !== "dataGateway";
  return {
    stack,
    environment: v.environment,
    location: v.location,
    businessUnit: v.businessUnit,
    organizationId: creates(v) ? undefined : v.organizationId.toLowerCase(),
    naming,
    tags: {
      ...extraTags,
      workload: "d365-iom",
      environment: v.environment,
      businessUnit: v.businessUnit,
      managedBy: "pulumi",
      pulumiStack: `${PROJECT}/${stack}`,
    },
    connectivity: { mode: v.connectivity, dataGateway, powerPlatformVnet },
    network: {
      addressSpace: v.vnetAddressSpace,
      privateEndpointSubnetPrefix: v.privateEndpointSubnetPrefix,
      gatewaySubnetPrefix: v.gatewaySubnetPrefix,
      gatewayOutboundInternetHttps: v.gatewayOutboundInternetHttps,
      gatewayOutboundInternetHttp: v.gatewayOutboundInternetHttp,
    },
    powerPlatform: powerPlatformVnet
      ? {
          geo: v.powerPlatformGeo,
          subnetPrefix: v.powerPlatformSubnetPrefix,
          failover: v.powerPlatformFailoverLocation
            ? {
                location: v.powerPlatformFailoverLocation,
                regionCode: REGION_CODES[v.powerPlatformFailoverLocation],
                addressSpace: v.powerPlatformFailoverAddressSpace,
              }
            : undefined,
        }
      : undefined,
    storage: {
      sku: v.storageSku,
      versioning: v.blobVersioning,
      blobSoftDeleteDays: v.blobSoftDeleteDays,
      containerSoftDeleteDays: v.containerSoftDeleteDays,
      fileDropContainerName: v.fileDropContainerName || containers.fileDrop,
      errorFileDropContainerName: v.errorFileDropContainerName || containers.errorFileDrop,
      blobDataContributorPrincipalIds: v.blobDataContributorPrincipalIds.map((id) => id.toLowerCase()),
      sharedKeyAccess: v.storageSharedKeyAccess,
    },
    keyVault: {
      sku: v.keyVaultSku,
      purgeProtection: v.keyVaultPurgeProtection,
      softDeleteDays: v.keyVaultSoftDeleteDays,
      secretsUserPrincipalIds: v.keyVaultSecretsUserPrincipalIds.map((id) => id.toLowerCase()),
      allowedIpRanges: v.keyVaultAllowedIpRanges,
      secretRotationDays: v.keyVaultSecretRotationDays,
    },
    gateway: dataGateway
      ? {
          vmSize: v.gatewayVmSize,
          vmCount: v.gatewayVmCount,
          zones: v.gatewayZones,
          osDiskType: v.gatewayOsDiskType,
          adminUsername: v.gatewayAdminUsername,
          powerShellVersion: v.gatewayPowerShellVersion,
          encryptionAtHost: v.gatewayEncryptionAtHost,
          recoveryKeyRotation: v.gatewayRecoveryKeyRotation,
          registration: v.gatewayRegistrationClientId
            ? {
                clientId: v.gatewayRegistrationClientId.toLowerCase(),
                tenantId: v.gatewayRegistrationTenantId.toLowerCase(),
                clientSecret: pulumi.secret(v.gatewayRegistrationClientSecret),
                regionKey: v.gatewayRegionKey || undefined,
                adminObjectIds: v.gatewayAdminObjectIds.map((id) => id.toLowerCase()),
              }
            : undefined,
          installer: { url: v.gatewayInstallerUrl, arguments: v.gatewayInstallerArguments.trim() },
        }
      : undefined,
    bastion: v.bastionSku ? { sku: v.bastionSku, subnetPrefix: v.bastionSubnetPrefix } : undefined,
    subscriptionPrerequisites: v.subscriptionPrerequisites,
    resourceLocks: v.resourceLocks,
    monitoring: buildMonitoring(v),
    dataverse: hasDataverse(v)
      ? {
          environmentUrl: creates(v) ? undefined : v.dataverseEnvironmentUrl.replace(/\/$/, ""),
          providerName: v.dataverseProviderName,
          mappingGroup: v.dataverseMappingGroup,
          mappingsDir: v.dataverseMappingsDir || `mappings/${stack}`,
          mappingFileMaxBytes: v.dataverseMappingFileMaxMB * 1024 * 1024,
          adoptExisting: v.dataverseAdoptExisting,
          schemaOverrides: Object.fromEntries(MAPPING_KINDS.filter((k) => v[schemaOverrideKey(k)] !== "").map((k) => [k, v[schemaOverrideKey(k)]])),
        }
      : undefined,
    providerSetup: hasDataverse(v) ? providerSetupOf(v) : undefined,
    powerPlatformEnvironment: powerPlatformEnvironmentOf(v, naming, powerPlatformVnet),
    powerPlatformBapUrl: v.powerPlatformBapUrl ? new URL(v.powerPlatformBapUrl).origin : undefined,
    doctor: doctorOf(v),
    bigcommerceStoreHashParameter: v.bigcommerceStoreHashParameter || STORE_HASH_PARAMETER_SEARCH,
  };
}

function doctorOf(v: Values): DoctorConfig {
  const providerFlows: DoctorConfig["providerFlows"] = [];
  for (const { provider, flow } of parseProviderFlowEntries(v.iomProviderFlows, [], () => "")) {
    let p = providerFlows.find((x) => normalizeName(x.provider) === normalizeName(provider));
    if (!p) providerFlows.push((p = { provider, flows: [] }));
    p.flows.push(flow);
  }
  return { lookbackHours: v.doctorLookbackHours, secretExpiryDays: v.doctorSecretExpiryDays, providerFlows };
}

export interface MonitoringConfig extends AlertSettings {
  retentionDays: number;
  /** Secret; absent when no webhook is configured. */
  webhookUrl?: pulumi.Output<string>;
  /** Present when Defender for Storage with on-upload malware scanning is on. */
  malwareScanning?: { capGbPerMonth: number };
  gatewayEventLog: string;
  /** Present when VNet flow logs are on. */
  flowLogs?: { storageAccountId: string; networkWatcherResourceGroup: string; networkWatcherName: string };
}

/** Rules between the monitoring keys. */
function checkMonitoring(v: Values, problems: ConfigProblem[]): void {
  const add: AddProblem = (key, message) => problems.push({ key, message });
  if (v.monitoringFlowLogStorageAccountId === "" && v.monitoringNetworkWatcherName !== "") {
    add("monitoringNetworkWatcherName", "is only used with monitoringFlowLogStorageAccountId (VNet flow logs)");
  }
}

function buildMonitoring(v: Values): MonitoringConfig {
  return {
    retentionDays: v.monitoringRetentionDays,
    emails: v.monitoringAlertEmails,
    webhookUrl: v.monitoringAlertWebhookUrl ? pulumi.secret(v.monitoringAlertWebhookUrl) : undefined,
    cpuAlertPercent: v.monitoringCpuAlertPercent,
    memoryAlertPercent: v.monitoringMemoryAlertPercent,
    blobAvailabilityPercent: v.monitoringBlobAvailabilityPercent,
    fileDropSilenceHours: v.monitoringFileDropSilenceHours > 0 ? v.monitoringFileDropSilenceHours : undefined,
    malwareScanning: v.monitoringMalwareScanning ? { capGbPerMonth: v.monitoringMalwareScanningCapGbPerMonth } : undefined,
    gatewayEventLog: v.monitoringGatewayEventLog,
    flowLogs: v.monitoringFlowLogStorageAccountId
      ? {
          storageAccountId: v.monitoringFlowLogStorageAccountId,
          networkWatcherResourceGroup: v.monitoringNetworkWatcherResourceGroup,
          networkWatcherName: v.monitoringNetworkWatcherName || `NetworkWatcher_${v.location}`,
        }
      : undefined,
  };
}

/**
 * Which config keys the CLI decrypted: the SDK reads the list the CLI passes
 * (PULUMI_CONFIG_SECRET_KEYS) but exposes it only internally, so it is looked up defensively.
 */
function isConfigSecret(fullKey: string): boolean {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const internals = require("@pulumi/pulumi/runtime/config") as { isConfigSecret?: (key: string) => boolean };
  return typeof internals.isConfigSecret === "function" ? internals.isConfigSecret(fullKey) : true;
}

/** Reads the running stack's configuration from the Pulumi engine and validates it. */
export function loadStackConfig(): StackConfig {
  const prefix = `${PROJECT}:`;
  const raw: Record<string, string> = {};
  const secretKeys = new Set<string>();
  for (const [fullKey, value] of Object.entries(pulumi.runtime.allConfig())) {
    if (!fullKey.startsWith(prefix)) continue;
    raw[fullKey.slice(prefix.length)] = value;
    if (isConfigSecret(fullKey)) secretKeys.add(fullKey.slice(prefix.length));
  }
  return parseStackConfig(pulumi.getStack(), raw, secretKeys);
}
