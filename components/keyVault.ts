import * as keyvault from "@pulumi/azure-native/keyvault";
import * as pulumi from "@pulumi/pulumi";
import { keyVaultName } from "../naming";
import { privateLinkFor, type PrivateEndpointPlacement } from "./privateLink";
import type { LandingPlacement } from "./landing";
import { grantRole, protectFromDeletion } from "./roles";

/** Secrets to store, by a stable key used in the Pulumi resource name; a key left undefined stores nothing. */
export type VaultSecretSet = Record<string, VaultSecretArgs | undefined>;

/** What the vault stored, under the same keys as the VaultSecretSet it was given. */
export type StoredSecrets<S extends VaultSecretSet> = {
  [K in keyof S]-?: S[K] extends VaultSecretArgs ? StoredSecret : StoredSecret | undefined;
};

export interface KeyVaultArgs<S extends VaultSecretSet = VaultSecretSet> extends LandingPlacement {
  uniqueSuffix: pulumi.Input<string>;
  tenantId: pulumi.Input<string>;
  subscriptionId: pulumi.Input<string>;
  sku: "standard" | "premium";
  purgeProtection: boolean;
  softDeleteDays: number;
  /** Operators who may read secrets (Key Vault Secrets User). */
  secretsUserPrincipalIds: string[];
  /** Public addresses let through the firewall; empty keeps the vault private-endpoint only. */
  allowedIpRanges: string[];
  privateEndpoint: PrivateEndpointPlacement;
  lock: boolean;
  /** Secrets to store, keyed by a stable name used for the Pulumi resource. */
  secrets: S;
  /** Expiry of every secret (`attributes.exp`), seconds since the epoch: the end of its rotation window. */
  secretExpiresOn: number;
}

export interface VaultSecretArgs {
  secretName: string;
  value: pulumi.Input<string>;
  contentType: string;
}

export interface StoredSecret {
  secretName: string;
  /** ARM id, also the scope for a role assignment on this one secret. */
  id: pulumi.Output<string>;
}

/**
 * The Key Vault that holds this landing's credentials: RBAC authorization (no access policies),
 * soft delete, purge protection per stack, reachable through a private endpoint.
 */
export class KeyVault<S extends VaultSecretSet = VaultSecretSet> extends pulumi.ComponentResource {
  readonly vaultName: pulumi.Output<string>;
  readonly vaultId: pulumi.Output<string>;
  readonly vaultUri: pulumi.Output<string>;
  /** The stored secrets, typed by the keys the caller gave (never their values). */
  readonly secrets: StoredSecrets<S>;

  constructor(name: string, args: KeyVaultArgs<S>, opts?: pulumi.ComponentResourceOptions) {
    super("iom:vault:KeyVault", name, {}, opts);
    const child = { parent: this };

    const publicAccess = args.allowedIpRanges.length > 0;
    const vault = new keyvault.Vault(`${name}-vault`, {
      resourceGroupName: args.resourceGroupName,
      location: args.location,
      vaultName: pulumi.output(args.uniqueSuffix).apply((suffix) => keyVaultName(args.naming, suffix)),
      properties: {
        tenantId: args.tenantId,
        sku: { family: "A", name: args.sku },
        enableRbacAuthorization: true,
        enableSoftDelete: true,
        softDeleteRetentionInDays: args.softDeleteDays,
        // The API accepts only `true` or nothing: once on, purge protection can never be turned off.
        enablePurgeProtection: args.purgeProtection ? true : undefined,
        enabledForDeployment: false,
        enabledForDiskEncryption: false,
        enabledForTemplateDeployment: false,
        publicNetworkAccess: publicAccess ? "Enabled" : "Disabled",
        networkAcls: {
          defaultAction: "Deny",
          bypass: "AzureServices",
          ipRules: args.allowedIpRanges.map((value) => ({ value })),
          virtualNetworkRules: [],
        },
      },
      tags: args.tags,
    }, child);

    privateLinkFor(this, name, args, {
      targetResourceId: vault.id,
      groupId: "vault",
      memberName: "default",
      zoneName: "privatelink.vaultcore.azure.net",
    });

    grantRole(this, `${name}-secrets-user`, "keyVaultSecretsUser", vault.id, args.subscriptionId,
      args.secretsUserPrincipalIds.map((id) => ({ key: id, principalId: id })));
    if (args.lock) protectFromDeletion(this, `${name}-lock`, vault.id, "Credential vault");

    // Written through Azure Resource Manager, so the deploying identity needs neither a data-plane
    // role nor a network path to the private vault.
    const stored: Record<string, StoredSecret> = {};
    for (const [key, secret] of Object.entries(args.secrets)) {
      if (!secret) continue;
      const resource = new keyvault.Secret(`${name}-secret-${key}`, {
        resourceGroupName: args.resourceGroupName,
        vaultName: vault.name,
        secretName: secret.secretName,
        properties: { value: pulumi.secret(secret.value), contentType: secret.contentType, attributes: { enabled: true, expires: args.secretExpiresOn } },
        tags: args.tags,
      }, child);
      stored[key] = { secretName: secret.secretName, id: resource.id };
    }
    this.secrets = stored as StoredSecrets<S>; // every key S requires was stored just above

    this.vaultName = vault.name;
    this.vaultId = vault.id;
    this.vaultUri = pulumi.interpolate`https://${vault.name}.vault.azure.net/`;
    this.registerOutputs({ vaultName: this.vaultName, vaultId: this.vaultId, vaultUri: this.vaultUri });
  }
}
