/**
 * Composition root: stack config -> Azure components -> stack outputs that fill IOM's provider setup.
 */
import * as authorization from "@pulumi/azure-native/authorization";
import * as resources from "@pulumi/azure-native/resources";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { hostAddress, parseCidr, type Cidr } from "./cidr";
import { Bastion } from "./components/bastion";
import { DataGateway } from "./components/dataGateway";
import { DropStorage } from "./components/dropStorage";
import { KeyVault } from "./components/keyVault";
import { Monitoring, loadLandingWorkbook } from "./components/monitoring";
import { Network } from "./components/network";
import { PowerPlatformVnet } from "./components/powerPlatformVnet";
import { SubscriptionPrerequisites, subscriptionPrerequisitesOf } from "./components/subscriptionPrerequisites";
import { PROJECT, loadStackConfig } from "./config";
import { declareMappingSets, declareStore, storeVaultSecrets, type DeclaredStore, type KeyedResource } from "./declareStore";
import { armUrlFor } from "./dynamic-providers/azure";
import type { IomMappingSet } from "./dynamic-providers/dataverse";
import { INVENTORY_VISIBILITY_PARAMETERS, IomProviderParameters, normalizeName } from "./dynamic-providers/iom-provider";
import { PowerPlatformApplicationPackage, PowerPlatformEnvironment, PowerPlatformManagedEnvironment, PowerPlatformPolicyLink } from "./dynamic-providers/power-platform";
import { UNIQUE_SUFFIX_LENGTH, resourceName } from "./naming";
import { rotationClock, rotationWindow } from "./rotation";
import { DEFAULT_STORE, loadMappingSources, providerSlug, storeResourceNames } from "./stores";

const config = loadStackConfig();
const { naming, tags, location } = config;
for (const warning of config.warnings) pulumi.log.warn(`${PROJECT}:${warning.key}: ${warning.message}`);
// Every mapping file and every store's mappings folder is validated here, all problems at once with
// file and line, before anything is declared or any call is made.
const mappingSources = config.dataverse
  ? loadMappingSources({ stackDir: config.dataverse.mappingsDir, defaultProviderName: config.dataverse.providerName, mappingGroup: config.dataverse.mappingGroup, stores: config.bigcommerceStores, maxFileBytes: config.dataverse.mappingFileMaxBytes })
  : [];
// The workbook definition is a reviewed file: a broken one stops the run before anything is declared.
const landingWorkbook = loadLandingWorkbook({ fileDrop: config.storage.fileDropContainerName, errorFileDrop: config.storage.errorFileDropContainerName });
const client = authorization.getClientConfigOutput();

const landingGroup = new resources.ResourceGroup("landing", {
  resourceGroupName: resourceName(naming, "rg"),
  location,
  tags,
});
export const resourceGroupName = landingGroup.name;

// Globally unique names (storage account, key vault) get a short random suffix, stable in state.
const uniqueSuffix = new random.RandomString("unique-suffix", {
  length: UNIQUE_SUFFIX_LENGTH,
  lower: true,
  upper: false,
  numeric: true,
  special: false,
}).result;

// Resource providers and preview features the stack needs, registered (or checked) before what needs them.
const prerequisites = new SubscriptionPrerequisites("subscription", {
  subscriptionId: client.subscriptionId,
  mode: config.subscriptionPrerequisites,
  prerequisites: subscriptionPrerequisitesOf({ powerPlatformVnet: !!config.powerPlatformVnet, encryptionAtHost: !!config.gateway?.encryptionAtHost }),
  armUrl: armUrlFor(new pulumi.Config("azure-native").get("environment")),
});

const net = new Network("network", {
  resourceGroupName,
  location,
  naming,
  tags,
  addressSpace: config.network.addressSpace,
  privateEndpointSubnetPrefix: config.network.privateEndpointSubnetPrefix,
  gateway: config.gateway
    ? {
        subnetPrefix: config.network.gatewaySubnetPrefix,
        outboundInternetHttps: config.network.gatewayOutboundInternetHttps,
        outboundInternetHttp: config.network.gatewayOutboundInternetHttp,
      }
    : undefined,
  powerPlatformVnet: config.powerPlatformVnet
    ? { subnetPrefix: config.powerPlatformVnet.subnetPrefix, failover: config.powerPlatformVnet.failover, after: prerequisites.dependencyFor("Microsoft.PowerPlatform") }
    : undefined,
  bastion: config.bastion && config.gateway ? { subnetPrefix: config.bastion.subnetPrefix } : undefined,
});

// The operator's way in to the gateway VMs (no public IP) for registering the gateway by hand.
const bastion = config.bastion && net.bastion
  ? new Bastion("bastion", { resourceGroupName, location, naming, tags, sku: config.bastion.sku, subnetId: net.bastion.subnetId })
  : undefined;

// Private endpoints get fixed addresses (the first usable ones), so their IPs are known at preview.
const endpointSubnet = parseCidr(config.network.privateEndpointSubnetPrefix) as Cidr;
const privateEndpointPlacement = (offset: number) => ({
  subnetId: net.privateEndpointSubnetId,
  privateIpAddress: hostAddress(endpointSubnet, offset),
  vnets: net.dnsLinkedVnets,
});

const drop = new DropStorage("drop", {
  resourceGroupName,
  location,
  naming,
  tags,
  uniqueSuffix,
  ...config.storage,
  subscriptionId: client.subscriptionId,
  privateEndpoint: privateEndpointPlacement(4),
  lock: config.resourceLocks,
});

// Credentials the landing generates or is given, all kept in the vault. Every secret expires when
// the current rotation window ends; the admin password is renewed in the first run after that, the
// recovery key only when gatewayRecoveryKeyRotation asks for it (see recoveryKey below).
const rotation = rotationWindow(config.keyVault.secretRotationDays, rotationClock());
const rotationKeepers = { rotationWindow: rotation.id };
/**
 * The gateway cluster keeps using its recovery key until an operator changes it on the gateway, so
 * by default (`gatewayRecoveryKeyRotation: false`) the key carries no window keeper and keeps its
 * value; only the vault secret's expiry follows the window. `ignoreChanges: ["keepers"]` keeps the
 * keepers a stack already has in state (an earlier window's, or none) instead of diffing them away:
 * without it, dropping the keeper from a stack deployed with one would replace the key once more.
 * With rotation on, today's window keeper renews the key each window (and at once, when the state
 * holds another window's or none).
 */
function recoveryKey(rotate: boolean): random.RandomPassword {
  return rotate
    ? new random.RandomPassword("gateway-recovery-key", { length: 40, special: false, keepers: rotationKeepers })
    : new random.RandomPassword("gateway-recovery-key", { length: 40, special: false }, { ignoreChanges: ["keepers"] });
}
const gatewaySecrets = config.gateway
  ? {
      gatewayAdminPassword: {
        secretName: "gateway-vm-admin-password",
        contentType: `Local administrator '${config.gateway.adminUsername}' of the data gateway VMs`,
        value: new random.RandomPassword("gateway-admin-password", {
          length: 32, minUpper: 2, minLower: 2, minNumeric: 2, minSpecial: 2, overrideSpecial: "!#%*()-_=+[]{}:?", keepers: rotationKeepers,
        }).result,
      },
      gatewayRecoveryKey: {
        secretName: "gateway-recovery-key",
        contentType: "On-premises data gateway cluster recovery key",
        value: recoveryKey(config.gateway.recoveryKeyRotation).result,
      },
      gatewayRegistrationSecret: config.gateway.registration
        ? {
            secretName: "gateway-registration-client-secret",
            contentType: `Client secret of service principal ${config.gateway.registration.clientId}`,
            value: config.gateway.registration.clientSecret,
          }
        : undefined,
    }
  : undefined;
const vaultSecrets = {
  gatewayAdminPassword: gatewaySecrets?.gatewayAdminPassword,
  gatewayRecoveryKey: gatewaySecrets?.gatewayRecoveryKey,
  gatewayRegistrationSecret: gatewaySecrets?.gatewayRegistrationSecret,
  // One per BigCommerce store: `bigcommerceAccessToken` for the single-store keys' store.
  ...storeVaultSecrets(config.bigcommerceStores),
};

const vault = new KeyVault("vault", {
  resourceGroupName,
  location,
  naming,
  tags,
  uniqueSuffix,
  tenantId: client.tenantId,
  subscriptionId: client.subscriptionId,
  sku: config.keyVault.sku,
  purgeProtection: config.keyVault.purgeProtection,
  softDeleteDays: config.keyVault.softDeleteDays,
  secretsUserPrincipalIds: config.keyVault.secretsUserPrincipalIds,
  allowedIpRanges: config.keyVault.allowedIpRanges,
  privateEndpoint: privateEndpointPlacement(5),
  lock: config.resourceLocks,
  secrets: vaultSecrets,
  secretExpiresOn: rotation.endsAtEpochSeconds,
});

// The recovery key and registration secret are stored exactly when the gateway's config asks for them.
const { gatewayRecoveryKey, gatewayRegistrationSecret } = vault.secrets;
const gateway = config.gateway && net.gateway && gatewaySecrets && gatewayRecoveryKey
  ? new DataGateway("gateway", {
      resourceGroupName,
      location,
      naming,
      tags,
      subnetId: net.gateway.subnetId,
      subscriptionId: client.subscriptionId,
      vmSize: config.gateway.vmSize,
      vmCount: config.gateway.vmCount,
      zones: config.gateway.zones,
      osDiskType: config.gateway.osDiskType,
      adminUsername: config.gateway.adminUsername,
      adminPassword: gatewaySecrets.gatewayAdminPassword.value,
      adminPasswordRotation: rotation.id,
      encryptionAtHost: config.gateway.encryptionAtHost,
      after: prerequisites.dependencyFor("Microsoft.Compute"),
      powerShellVersion: config.gateway.powerShellVersion,
      installer: config.gateway.installer,
      vaultName: vault.vaultName,
      adminPasswordSecretName: gatewaySecrets.gatewayAdminPassword.secretName,
      bastionHostName: bastion?.hostName,
      recoveryKeySecret: gatewayRecoveryKey,
      registration: config.gateway.registration && gatewayRegistrationSecret
        ? {
            clientId: config.gateway.registration.clientId,
            tenantId: config.gateway.registration.tenantId,
            clientSecretSecret: gatewayRegistrationSecret,
            regionKey: config.gateway.registration.regionKey,
            adminObjectIds: config.gateway.registration.adminObjectIds,
          }
        : undefined,
    })
  : undefined;

const powerPlatformVnet = config.powerPlatformVnet
  ? new PowerPlatformVnet("powerplatform", {
      resourceGroupName,
      naming,
      tags,
      geo: config.powerPlatformVnet.geo,
      subnets: net.powerPlatformSubnets,
      after: prerequisites.dependencyFor("Microsoft.PowerPlatform"),
    })
  : undefined;

// ---- Monitoring: workspace, diagnostics, agent, alerts, Defender, workbook (docs/operations.md) ---

const monitoring = new Monitoring("monitoring", {
  resourceGroupName,
  location,
  naming,
  tags,
  retentionDays: config.monitoring.retentionDays,
  dropStorage: {
    accountId: drop.accountId,
    accountName: drop.accountName,
    fileDropContainerName: config.storage.fileDropContainerName,
    errorFileDropContainerName: config.storage.errorFileDropContainerName,
  },
  vaultId: vault.vaultId,
  gatewayVms: gateway?.vms.map((vm) => ({ name: vm.name, id: vm.id, after: vm.setup })) ?? [],
  gatewayEventLog: config.monitoring.gatewayEventLog,
  alerts: {
    emails: config.monitoring.emails,
    webhookUrl: config.monitoring.webhookUrl,
    cpuAlertPercent: config.monitoring.cpuAlertPercent,
    memoryAlertPercent: config.monitoring.memoryAlertPercent,
    blobAvailabilityPercent: config.monitoring.blobAvailabilityPercent,
    fileDropSilenceHours: config.monitoring.fileDropSilenceHours,
  },
  malwareScanning: config.monitoring.malwareScanning,
  flowLogs: config.monitoring.flowLogs ? { ...config.monitoring.flowLogs, vnetId: net.vnetId } : undefined,
  workbook: { definition: landingWorkbook, key: `${pulumi.getProject()}/${pulumi.getStack()}` },
});

// ---- Power Platform environment: created or adopted, then Managed Environment and the IOM app ------
// (docs/power-platform-environment.md). In create mode the Dataverse URL, organization id and
// environment id are outputs of these resources and flow into everything below; in adopt mode they
// come from config, and the environment resource checks that config names one environment.

const pp = config.powerPlatformEnvironment;
const bapUrl = config.powerPlatformBapUrl;
const powerPlatformEnvironment = new PowerPlatformEnvironment("powerplatform-environment", pp.create
  ? { mode: "create", bapUrl, ...pp.create }
  : { mode: "adopt", bapUrl, environmentId: pp.environmentId, expectedInstanceUrl: config.dataverse?.environmentUrl, expectedOrganizationId: config.organizationId });
// VNet support needs a Managed Environment (Power Platform docs, "vnet-support-setup-configure").
const managedEnvironment = pp.managedEnvironment
  ? new PowerPlatformManagedEnvironment("powerplatform-managed-environment", { environmentId: powerPlatformEnvironment.environmentId, bapUrl })
  : undefined;
/** The environment id for what follows: through the Managed Environment when there is one, so it comes after. */
const environmentId = managedEnvironment?.environmentId ?? powerPlatformEnvironment.environmentId;
const iomApp = pp.create
  ? new PowerPlatformApplicationPackage("iom-app", { environmentId, uniqueName: pp.create.iomApplicationPackage, bapUrl, powerPlatformApiUrl: pp.powerPlatformApiUrl })
  : undefined;
/** Where IOM's tables are: the Dataverse the IOM app was installed in (create mode), or the configured one. */
const dataverseUrl: pulumi.Input<string> | undefined = iomApp ? iomApp.instanceUrl : config.dataverse?.environmentUrl;
const organizationId: pulumi.Input<string> = pp.create ? powerPlatformEnvironment.organizationId : (config.organizationId as string);

// ---- Dynamic resources: checks and records outside Azure ------------------------------------------

// The key of the fingerprints the dynamic providers keep in the state instead of secrets (the
// BigCommerce token, secret IOM provider parameters): 32 random bytes, made once per stack when a
// resource needs them, which the engine keeps encrypted and hands to the providers as a secret
// input. Without it a state file cannot test a guess of a secret (docs/iom-provider-setup.md, "Secret
// fingerprints").
let fingerprintKeyBytes: random.RandomBytes | undefined;
const fingerprintKey = (): pulumi.Output<string> => (fingerprintKeyBytes ??= new random.RandomBytes("secret-fingerprint-key", { length: 32 })).base64;

// Per BigCommerce store (stores.ts): its API check, its IOM provider instance's parameters and its
// ID mapping sets from its folder, scoped to that instance. The preview lists every mapping added,
// changed or removed; rows the stack did not create are never deleted.
const stores: DeclaredStore[] = config.bigcommerceStores.map((store) =>
  declareStore(store, {
    dataverse: config.dataverse,
    providerSetup: config.dataverse ? config.providerSetup : undefined,
    storeHashParameter: config.bigcommerceStoreHashParameter,
    mappings: mappingSources.find((source) => source.store === store.name),
    environmentUrl: dataverseUrl,
    fingerprintKey,
  }),
);
const defaultStore = stores.find((s) => s.store.name === DEFAULT_STORE);
// The stack's own mapping files (mappings/<stack>/*.csv): the `default` store's, else dataverseProviderName's.
const ownMappings = mappingSources.find((source) => source.store === DEFAULT_STORE);
const mappingSets: KeyedResource<IomMappingSet>[] = defaultStore?.mappingSets ?? (config.dataverse && ownMappings && dataverseUrl ? declareMappingSets(ownMappings, config.dataverse, dataverseUrl) : []);

// ---- IOM provider setup: parameters set, and the VNet policy linked, by `pulumi up` ----------------

// The Inventory Visibility provider's parameters from the stack outputs (plus any extra ones the
// stack names for it), each store's provider instance's (declared with the store, above), and every
// other provider's parameters from config. Only the named parameters are touched; delete leaves them
// as they are.
const providerSetup = config.dataverse ? config.providerSetup : undefined;
const inventoryVisibilityExtras = providerSetup?.providers.find((p) => normalizeName(p.name) === normalizeName(providerSetup.inventoryVisibilityProvider));
const ownedByStore = (name: string) => config.bigcommerceStores.some((s) => normalizeName(s.providerName) === normalizeName(name));
const providerParameters = dataverseUrl && providerSetup
  ? [
      {
        key: "inventoryVisibility",
        resource: new IomProviderParameters("iom-provider-parameters-inventory-visibility", {
          environmentUrl: dataverseUrl,
          providerName: providerSetup.inventoryVisibilityProvider,
          parameters: {
            [INVENTORY_VISIBILITY_PARAMETERS.fileDropLocation]: drop.fileDropLocation,
            [INVENTORY_VISIBILITY_PARAMETERS.errorFileDropLocation]: drop.errorFileDropLocation,
            [INVENTORY_VISIBILITY_PARAMETERS.organizationId]: organizationId,
            ...inventoryVisibilityExtras?.parameters,
          },
          secretParameters: inventoryVisibilityExtras?.secretParameters,
          schemaOverride: providerSetup.schemaOverride,
          fingerprintKey: fingerprintKey(),
        }),
      },
      ...stores.flatMap((s) => (s.parameters ? [{ key: s.store.providerName, resource: s.parameters }] : [])),
      ...providerSetup.providers
        .filter((p) => p !== inventoryVisibilityExtras && !ownedByStore(p.name))
        .map((p) => ({
          key: p.name,
          resource: new IomProviderParameters(`iom-provider-parameters-${providerSlug(p.name)}`, {
            environmentUrl: dataverseUrl,
            providerName: p.name,
            parameters: p.parameters,
            secretParameters: p.secretParameters,
            schemaOverride: providerSetup.schemaOverride,
            fingerprintKey: fingerprintKey(),
          }),
        })),
    ]
  : [];

// VNet support: the NetworkInjection policy linked to the (Managed) environment.
const policyLink = powerPlatformVnet && config.powerPlatformVnet
  ? new PowerPlatformPolicyLink("powerplatform-policy-link", {
      environmentId,
      policySystemId: powerPlatformVnet.enterprisePolicySystemId,
      policyArmId: powerPlatformVnet.enterprisePolicyId,
      policyLocation: config.powerPlatformVnet.geo,
      bapUrl,
    })
  : undefined;

// ---- Stack outputs -------------------------------------------------------------------------------

/** One stack output entry per keyed resource (mapping kind, IOM provider), under the same key. */
function summaryByKey<R, S>(entries: { key: string; resource: R }[], summary: (resource: R) => S): Record<string, S> {
  return Object.fromEntries(entries.map(({ key, resource }) => [key, summary(resource)]));
}

/** The Inventory Visibility provider's three parameters, exactly as its parameter form wants them. */
export const inventoryVisibility = {
  fileDropLocation: drop.fileDropLocation,
  errorFileDropLocation: drop.errorFileDropLocation,
  organizationId,
};
/** The stack's Power Platform environment (created or adopted) and, in create mode, the IOM app installed in it. */
export const powerPlatform = {
  mode: pp.mode,
  environmentId: powerPlatformEnvironment.environmentId,
  dataverseUrl: powerPlatformEnvironment.instanceUrl,
  organizationId: powerPlatformEnvironment.organizationId,
  domainName: powerPlatformEnvironment.domainName,
  version: powerPlatformEnvironment.version,
  managedEnvironment: managedEnvironment ? managedEnvironment.protectionLevel : undefined,
  iomApp: iomApp ? { version: iomApp.version, state: iomApp.state } : undefined,
};
export const storageAccountName = drop.accountName;
export const storageAccountId = drop.accountId;
export const blobPrivateEndpointIp = drop.privateEndpointIp;
export const keyVaultName = vault.vaultName;
export const keyVaultUri = vault.vaultUri;
/** Names (never values) of the secrets in the vault. */
export const keyVaultSecretNames = Object.fromEntries(
  Object.entries(vault.secrets).flatMap(([key, stored]) => (stored ? [[key, stored.secretName]] : [])),
);
export const connectivity = config.connectivity.mode;
export const gatewayRegistrationMode = gateway?.registrationMode ?? "none";
export const gatewayClusterName = gateway?.clusterName;
export const gatewayVms = gateway?.vms.map((vm) => ({ name: vm.name, id: vm.id, identityPrincipalId: vm.principalId }));
/** The Azure Bastion host operators connect to the gateway VMs through (Connect > Bastion); absent without one. */
export const bastionHostName = bastion?.hostName;
export const powerPlatformEnterprisePolicyId = powerPlatformVnet?.enterprisePolicyId;
/** Where the landing's logs, alerts and workbook are (receivers never appear here: the webhook is a secret). */
export const monitoringSummary = {
  workspaceName: monitoring.workspaceName,
  workspaceId: monitoring.workspaceId,
  alertRules: monitoring.alertRuleNames,
  alertReceivers: monitoring.receiverCount,
  workbookName: monitoring.workbookName,
  malwareScanning: monitoring.malwareScanning,
};
/** What a BigCommerce API check proved (the token only as a fingerprint). */
const checkSummary = (check: DeclaredStore["check"]) => ({
  storeId: check.storeId,
  storeName: check.storeName,
  domain: check.domain,
  planName: check.planName,
  status: check.status,
  scopesVerified: check.scopesVerified,
  tokenFingerprint: check.tokenFingerprint,
  checkedAt: check.checkedAt,
});
const mappingSummary = (sets: KeyedResource<IomMappingSet>[]) =>
  summaryByKey(sets, (set) => ({ rows: set.rowCount, owned: set.ownedCount, adopted: set.adoptedCount, drift: set.drift }));

/** What the `default` store's (the single-store keys') API check proved; every store's is in bigcommerceStores. */
export const bigcommerce = defaultStore ? checkSummary(defaultStore.check) : undefined;

/** Per kind, for the stack's own mapping files: how many mappings it keeps, how many rows it created or adopted, and drift seen by refresh. */
export const mappings = config.dataverse ? mappingSummary(mappingSets) : undefined;

/** Per BigCommerce store: its IOM provider instance, what its check proved, its vault secret, its parameters and mappings. */
export const bigcommerceStores = stores.length
  ? Object.fromEntries(stores.map(({ store, check, parameters, mappingSets: sets }) => [store.name, {
      providerName: store.providerName,
      storeHash: store.storeHash,
      accessTokenSecretName: storeResourceNames(store).vaultSecretName,
      check: checkSummary(check),
      iomProvider: parameters ? { activationStatus: parameters.activationStatus, written: parameters.written } : undefined,
      mappings: config.dataverse ? mappingSummary(sets) : undefined,
    }]))
  : undefined;

/** Per IOM provider the stack sets parameters on: its activation status, what the last `up` wrote, and parameters changed outside Pulumi (names only). */
export const iomProviders = providerParameters.length
  ? summaryByKey(providerParameters, (resource) => ({
      provider: resource.providerLabel,
      activationStatus: resource.activationStatus,
      written: resource.written,
      drift: resource.drift.apply((d) => (d ?? []).map((x) => x.name)),
    }))
  : undefined;
/** The NetworkInjection policy's link to the environment, as last read. */
export const powerPlatformPolicyLink = policyLink
  ? { environmentId, linked: policyLink.linked, linkStatus: policyLink.linkStatus }
  : undefined;

/** What an operator does next, in order. */
export const nextSteps = pulumi
  .all([drop.accountName, vault.vaultName, providerParameters[0]?.resource.activationStatus ?? null])
  .apply(([account, vaultName, inventoryVisibilityStatus]) => [
    ...(gateway?.manualStep ? [gateway.manualStep] : []),
    // A new IOM has none of its system connections: they need a person's consent (Power Automate
    // connections created by hand), as the deployment guide's "Configure system connections" shows.
    ...(pp.create
      ? ["In Intelligent Order Management (the environment's Published Apps), Get up and running > Configure settings: create the five system connections (IOM Data Transformer, Microsoft Dataverse three times, Power Automate Management) in Power Automate, paste their URLs, then select Activate System."]
      : []),
    `In Power Automate create an Azure Blob Storage connection with Microsoft Entra ID ('Azure AD Integrated') authentication to account '${account}'` +
      (gateway ? ` through gateway cluster '${gateway.clusterName}'.` : " (VNet support routes it privately)."),
    // Activation deploys the provider's flows and has no documented API; "Activated" is the status
    // IOM's setup pages tell an operator to look for under Providers > Installed.
    ...(!providerParameters.length
      ? ["In IOM, Providers > Inventory Visibility > Parameters: paste inventoryVisibility.fileDropLocation, errorFileDropLocation and organizationId, then Save and Activate."]
      : String(inventoryVisibilityStatus ?? "").toLowerCase() === "activated"
        ? []
        : [`In IOM, Providers > Installed > ${config.providerSetup?.inventoryVisibilityProvider ?? "Inventory Visibility"}: pulumi up has set its parameters; set up its connections and select Activate (status now: ${inventoryVisibilityStatus ?? "unknown"}).`]),
    // Connections have no documented API (IOM's BigCommerce setup page: Connections > Retrieve Connection Link).
    ...stores.map(({ store, parameters }) =>
      `BigCommerce store '${store.name}' (${store.storeHash}): in IOM, Providers > Installed > ${store.providerName} > Connections, create its BigCommerce connection ` +
      `with the API key in Key Vault '${vaultName}', secret '${storeResourceNames(store).vaultSecretName}'` +
      (parameters ? ", then Activate the provider (pulumi up has set its store hash)." : `; in its Parameters tab set the store hash to '${store.storeHash}', then Activate the provider.`)),
    ...(monitoring.receiverCount === 0
      ? ["Alerts reach nobody: the action group has no receiver. Set monitoringAlertEmails and/or the secret monitoringAlertWebhookUrl, then run pulumi up again."]
      : []),
  ]);
