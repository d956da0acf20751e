/**
 * One key at a time: the keys this program reads (`CONFIG_SCHEMA`, each with the type `Pulumi.yaml`
 * declares and its zod rule), the typed view they become (`StackConfig`), and the parsing of the
 * CLI's string values against them. Rules between keys are in rules.ts, the typed view is built in
 * build.ts.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import type { DropStorageSettings } from "../components/dropStorage";
import type { AlertSettings } from "../components/monitoring";
import { isIpv4Address, parseCidr } from "../cidr";
import type { BastionSku } from "../components/bastion";
import { normalizeScopes, normalizeStoreStatuses, storeHashProblem } from "../dynamic-providers/bigcommerce/logic";
import { MAPPING_KINDS, schemaOverrideConfigKey, type MappingKind } from "../dynamic-providers/dataverse/kinds";
import { parseSchemaOverride } from "../dynamic-providers/dataverse/schema";
import { normalizeName, parseIomProviderParameterEntries, parseIomProviderSchemaOverride } from "../dynamic-providers/iom-provider";
import { endpointUrlProblem } from "../dynamic-providers/common";
import { tokenEndpointProblem } from "../dynamic-providers/clouds";
import { DOMAIN_NAME_PATTERN, ENVIRONMENT_SKUS } from "../dynamic-providers/power-platform/environment-api";
import type { EnvironmentSpec } from "../dynamic-providers/power-platform";
import { API_HOST_NOT_CONFIGURABLE, STORES_KEY, STORES_SCHEMA, isApiHostKey, type StoreConfig } from "../stores";
import type { NamingContext } from "../naming";

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
export const schemaOverrideKey = (kind: MappingKind): SchemaOverrideKey => schemaOverrideConfigKey(kind);

export const CONNECTIVITY_MODES = ["dataGateway", "powerPlatformVnet", "both"] as const;
export const STORAGE_SKUS = ["Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_GZRS", "Standard_RAGRS", "Standard_RAGZRS"] as const;
export const OS_DISK_TYPES = ["Premium_LRS", "Premium_ZRS", "StandardSSD_LRS", "StandardSSD_ZRS"] as const;

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

// IOM provider setup (IomProviderParameters, PowerPlatformPolicyLink)
const providerParameterEntries = z.array(z.string()).superRefine((entries, ctx) => {
  const problems: string[] = [];
  parseIomProviderParameterEntries(entries, problems, (i) => `entry ${i}`);
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
        parseIomProviderSchemaOverride(v);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message });
      }
    }),
  },
  powerPlatformEnvironmentId: { type: "string", schema: z.string().refine((v) => v === "" || GUID.test(v), "must be the Power Platform environment id (a GUID), or empty in create mode") },
} as const;

// Gateway recovery key rotation (docs/azure-landing.md, "Secret rotation")
const RECOVERY_KEY_SCHEMA = {
  gatewayRecoveryKeyRotation: { type: "boolean", schema: z.boolean() },
} as const;

// Power Platform admin (BAP) endpoint, for sovereign clouds (docs/iom-provider-setup.md)
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

// Power Platform environment: created or adopted (docs/power-platform-environment.md)
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

// Gateway installer and the way in: Azure Bastion (docs/operations.md)
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

// The doctor (npm run doctor; docs/operations.md, "The doctor")
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
  powerPlatformVnet?: {
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

export interface ProviderSetupConfig {
  /** The Inventory Visibility provider as IOM lists it; its three parameters come from the stack outputs. */
  inventoryVisibilityProvider: string;
  /** Flat override of the discovered provider-table columns. */
  schemaOverride: string;
  /** Parameters from iomProviderParameters / iomProviderSecretParameters, grouped by provider. */
  providers: { name: string; parameters: Record<string, string>; secretParameters: Record<string, pulumi.Output<string>> }[];
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

/** The values of every key, as their schemas parse them. */
export type Values = { [K in ConfigKey]: z.infer<(typeof CONFIG_SCHEMA)[K]["schema"]> };

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
 * Parses each key's value on its own: unknown keys, missing keys, plain-text secrets, values that do
 * not decode to their declared type or fail their schema. Returns the values that passed; every
 * problem goes to `problems`.
 */
export function parseValues(raw: Readonly<Record<string, string | undefined>>, secretKeys: ReadonlySet<string>, problems: ConfigProblem[]): Partial<Values> {
  // Structured keys (stores.ts) are not declared in Pulumi.yaml, which has no object type.
  const known = new Set<string>([...Object.keys(CONFIG_SCHEMA), STORES_KEY]);
  for (const key of Object.keys(raw)) {
    if (!known.has(key) && raw[key] !== undefined) {
      const hint = [...known].find((k) => k.toLowerCase() === key.toLowerCase());
      problems.push({ key, message: /^bigcommerce/i.test(key) && isApiHostKey(key) ? API_HOST_NOT_CONFIGURABLE : `is not a setting of this program${hint ? ` (did you mean '${hint}'?)` : ""}` });
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
  return values as Partial<Values>;
}
