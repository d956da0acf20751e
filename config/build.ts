/**
 * The typed view of a stack's configuration, built from what the Pulumi CLI hands the program:
 * every key parsed (schema.ts), the rules between keys checked (rules.ts), all problems reported at
 * once naming key and stack, before any resource is declared; then `StackConfig` assembled.
 */
import * as pulumi from "@pulumi/pulumi";
import { MAPPING_KINDS } from "../dynamic-providers/dataverse/kinds";
import { normalizeName, parseIomProviderParameterEntries } from "../dynamic-providers/iom-provider";
import { CLOUDS, cloudOfBapHost } from "../dynamic-providers/clouds";
import { STORES_KEY, STORE_HASH_PARAMETER_SEARCH, buildStores, parseStoreEntries } from "../stores";
import { REGION_CODES, defaultContainerNames, powerPlatformDomainName, powerPlatformEnvironmentName, type NamingContext } from "../naming";
import {
  ConfigError,
  PROJECT,
  parseProviderFlowEntries,
  parseValues,
  schemaOverrideKey,
  type ConfigProblem,
  type DoctorConfig,
  type MonitoringConfig,
  type PowerPlatformEnvironmentConfig,
  type ProviderSetupConfig,
  type StackConfig,
  type Values,
} from "./schema";
import { checkRules, creates, hasDataverse, regionCodeOf, sameProvider } from "./rules";

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
  const values = parseValues(raw, secretKeys, problems);
  const storeEntries = parseStoreEntries(raw[STORES_KEY], secretKeys.has(STORES_KEY));
  problems.push(...storeEntries.problems);
  if (problems.length > 0) throw new ConfigError(stack, problems);

  const v = values as Values;
  checkRules(v, problems);
  const stores = buildStores(storeEntries, storeDefaults(stack, v));
  problems.push(...stores.problems);
  if (problems.length > 0) throw new ConfigError(stack, problems);
  return { ...build(stack, v), bigcommerceStores: stores.stores, warnings: stores.warnings };
}

/** What every store shares, and the single-store keys (stores.ts). */
function storeDefaults(stack: string, v: Values): Parameters<typeof buildStores>[1] {
  const entries = (key: "iomProviderParameters" | "iomProviderSecretParameters") =>
    parseIomProviderParameterEntries(v[key], [], () => "").map((e, index) => ({ key, index, provider: e.provider, parameter: e.parameter }));
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

function providerSetupOf(v: Values): ProviderSetupConfig {
  const ignore: string[] = [];
  const providers: ProviderSetupConfig["providers"] = [];
  const add = (e: { provider: string; parameter: string; value: string }, secret: boolean) => {
    let p = providers.find((x) => sameProvider(x.name, e.provider));
    if (!p) providers.push((p = { name: e.provider, parameters: {}, secretParameters: {} }));
    if (secret) p.secretParameters[e.parameter] = pulumi.secret(e.value);
    else p.parameters[e.parameter] = e.value;
  };
  for (const e of parseIomProviderParameterEntries(v.iomProviderParameters, ignore, () => "")) add(e, false);
  for (const e of parseIomProviderParameterEntries(v.iomProviderSecretParameters, ignore, () => "")) add(e, true);
  return { inventoryVisibilityProvider: v.iomInventoryVisibilityProvider, schemaOverride: v.iomProviderSchema, providers };
}

function powerPlatformEnvironmentOf(v: Values, naming: NamingContext, powerPlatformVnet: boolean): PowerPlatformEnvironmentConfig {
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
    managedEnvironment: (creates(v) && powerPlatformVnet) || v.powerPlatformManagedEnvironment,
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
    powerPlatformVnet: powerPlatformVnet
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
    gateway: dataGateway ? gatewayOf(v) : undefined,
    bastion: v.bastionSku ? { sku: v.bastionSku, subnetPrefix: v.bastionSubnetPrefix } : undefined,
    subscriptionPrerequisites: v.subscriptionPrerequisites,
    resourceLocks: v.resourceLocks,
    monitoring: buildMonitoring(v),
    dataverse: hasDataverse(v) ? dataverseOf(stack, v) : undefined,
    providerSetup: hasDataverse(v) ? providerSetupOf(v) : undefined,
    powerPlatformEnvironment: powerPlatformEnvironmentOf(v, naming, powerPlatformVnet),
    powerPlatformBapUrl: v.powerPlatformBapUrl ? new URL(v.powerPlatformBapUrl).origin : undefined,
    doctor: doctorOf(v),
    bigcommerceStoreHashParameter: v.bigcommerceStoreHashParameter || STORE_HASH_PARAMETER_SEARCH,
  };
}

/** The gateway VMs, when connectivity includes dataGateway. */
function gatewayOf(v: Values): NonNullable<StackConfig["gateway"]> {
  return {
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
  };
}

/** The Dataverse the mappings sync to, when the stack has one. */
function dataverseOf(stack: string, v: Values): NonNullable<StackConfig["dataverse"]> {
  return {
    environmentUrl: creates(v) ? undefined : v.dataverseEnvironmentUrl.replace(/\/$/, ""),
    providerName: v.dataverseProviderName,
    mappingGroup: v.dataverseMappingGroup,
    mappingsDir: v.dataverseMappingsDir || `mappings/${stack}`,
    mappingFileMaxBytes: v.dataverseMappingFileMaxMB * 1024 * 1024,
    adoptExisting: v.dataverseAdoptExisting,
    schemaOverrides: Object.fromEntries(MAPPING_KINDS.filter((k) => v[schemaOverrideKey(k)] !== "").map((k) => [k, v[schemaOverrideKey(k)]])),
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
