/**
 * Declares one BigCommerce store's resources (stores.ts has the model): its API check, its IOM
 * provider instance's parameters (the store hash, and the `iomProviderParameters` entries naming
 * that instance) and its mapping sets, scoped to that instance. Its token's Key Vault secret is
 * declared by the KeyVault component, from storeVaultSecrets.
 *
 * Resource names come from storeResourceNames / mappingSetName: the `default` store's are the
 * single-store names, so a stack that keeps the single-store keys plans no replacement.
 */
import * as pulumi from "@pulumi/pulumi";
import type { VaultSecretArgs } from "./components/keyVault";
import type { ProviderSetupConfig, StackConfig } from "./config";
import { BigCommerceApiCheck } from "./dynamic-providers/bigcommerce";
import { IomMappingSet, MAPPING_KINDS } from "./dynamic-providers/dataverse";
import { IomProviderParameters, normalizeName } from "./dynamic-providers/iom-provider";
import { DEFAULT_STORE, mappingSetName, storeResourceNames, type MappingSource, type StoreConfig } from "./stores";

/** Each store's token as a vault secret, under the key storeResourceNames gives it. */
export function storeVaultSecrets(stores: readonly StoreConfig[]): Record<string, VaultSecretArgs> {
  return Object.fromEntries(stores.map((store) => {
    const names = storeResourceNames(store);
    // The single-store text is kept as it was, so an existing stack's secret shows no change.
    const about = store.name === DEFAULT_STORE ? "" : ` ('${store.name}', IOM provider '${store.providerName}')`;
    return [names.vaultSecretKey, { secretName: names.vaultSecretName, contentType: `BigCommerce API access token for store ${store.storeHash}${about}`, value: store.accessToken }];
  }));
}

export interface KeyedResource<R> {
  key: string;
  resource: R;
}

/** One mapping set per kind the folder has a file for, scoped to the folder's provider instance. */
export function declareMappingSets(source: MappingSource, dataverse: NonNullable<StackConfig["dataverse"]>, environmentUrl: pulumi.Input<string>, opts?: pulumi.CustomResourceOptions): KeyedResource<IomMappingSet>[] {
  return MAPPING_KINDS.flatMap((kind) => {
    const parsed = source.files[kind];
    if (!parsed) return [];
    return [{
      key: kind,
      resource: new IomMappingSet(mappingSetName(source.store, kind), {
        environmentUrl,
        kind,
        parsed,
        providerName: source.providerName,
        mappingGroup: dataverse.mappingGroup,
        adoptExisting: dataverse.adoptExisting,
        schemaOverride: dataverse.schemaOverrides[kind],
      }, opts),
    }];
  });
}

export interface DeclaredStore {
  store: StoreConfig;
  check: BigCommerceApiCheck;
  /** With a Dataverse environment only. */
  parameters?: IomProviderParameters;
  mappingSets: KeyedResource<IomMappingSet>[];
}

export interface StoreContext {
  dataverse?: StackConfig["dataverse"];
  providerSetup?: ProviderSetupConfig;
  storeHashParameter: string;
  /** The store's folder of mapping CSVs, loaded and validated (stores.ts loadMappingSources). */
  mappings?: MappingSource;
  /** The Dataverse URL: config's in adopt mode, the created environment's (through the IOM app) in create mode. */
  environmentUrl?: pulumi.Input<string>;
  /** The stack's fingerprint key (index.ts), made when the first resource asks for it. */
  fingerprintKey: () => pulumi.Output<string>;
}

/** The store's check, parameters and mapping sets. */
export function declareStore(store: StoreConfig, ctx: StoreContext): DeclaredStore {
  const names = storeResourceNames(store);
  // Proves the store hash, token and scopes before IOM is pointed at them: Power Automate shows a
  // BigCommerce connection as "Connected" even with a wrong key. Checks of different stores run at
  // once (no dependency between them); each store has its own BigCommerce quota.
  const check = new BigCommerceApiCheck(names.check, {
    storeHash: store.storeHash,
    accessToken: store.accessToken,
    requiredScopes: store.requiredScopes,
    expectedStoreName: store.expectedStoreName,
    acceptedStoreStatuses: store.acceptedStoreStatuses,
    accessTokenConfigKey: `${pulumi.getProject()}:${store.accessTokenConfigKey}`,
    fingerprintKey: ctx.fingerprintKey(),
  });
  if (!ctx.dataverse || !ctx.providerSetup || !ctx.environmentUrl) return { store, check, mappingSets: [] };

  // The provider instance's parameters: the store hash, plus the config entries naming this instance.
  const extras = ctx.providerSetup.providers.find((p) => normalizeName(p.name) === normalizeName(store.providerName));
  const parameters = new IomProviderParameters(names.parameters, {
    environmentUrl: ctx.environmentUrl,
    providerName: store.providerName,
    parameters: { [ctx.storeHashParameter]: store.storeHash, ...extras?.parameters },
    secretParameters: extras?.secretParameters,
    schemaOverride: ctx.providerSetup.schemaOverride,
    fingerprintKey: ctx.fingerprintKey(),
  });
  // After the parameters: a provider instance missing from IOM then fails once, with the catalog step.
  const mappingSets = ctx.mappings ? declareMappingSets(ctx.mappings, ctx.dataverse, ctx.environmentUrl, { dependsOn: [parameters] }) : [];
  return { store, check, parameters, mappingSets };
}
