import * as storage from "@pulumi/azure-native/storage";
import * as pulumi from "@pulumi/pulumi";
import { storageAccountName } from "../naming";
import { privateLinkFor, type PrivateEndpointPlacement } from "./privateLink";
import type { LandingPlacement } from "./landing";
import { grantRole, protectFromDeletion } from "./roles";

/** The drop account's settings, exactly as the stack config (`StackConfig.storage`) holds them. */
export interface DropStorageSettings {
  sku: string;
  versioning: boolean;
  blobSoftDeleteDays: number;
  containerSoftDeleteDays: number;
  fileDropContainerName: string;
  errorFileDropContainerName: string;
  /** Who the Power Automate Blob connection signs in as ("Azure AD Integrated"). */
  blobDataContributorPrincipalIds: string[];
  /** Shared key (account key, SAS) authorization; false keeps the account on Entra ID only. */
  sharedKeyAccess: boolean;
}

export interface DropStorageArgs extends LandingPlacement, DropStorageSettings {
  /** Random suffix that makes the globally unique account name unique. */
  uniqueSuffix: pulumi.Input<string>;
  subscriptionId: pulumi.Input<string>;
  privateEndpoint: PrivateEndpointPlacement;
  lock: boolean;
}

/**
 * The Inventory Visibility provider's Blob account: reachable only through its private endpoint,
 * Entra ID only (no shared keys, no SAS from keys), TLS 1.2, infrastructure encryption, soft delete,
 * and the File Drop and Error File Drop containers.
 */
export class DropStorage extends pulumi.ComponentResource {
  readonly accountName: pulumi.Output<string>;
  readonly accountId: pulumi.Output<string>;
  readonly fileDropLocation: pulumi.Output<string>;
  readonly errorFileDropLocation: pulumi.Output<string>;
  readonly privateEndpointIp: pulumi.Output<string>;

  constructor(name: string, args: DropStorageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iom:storage:DropStorage", name, {}, opts);
    const child = { parent: this };
    const { resourceGroupName, tags } = args;

    const account = new storage.StorageAccount(`${name}-account`, {
      resourceGroupName,
      location: args.location,
      accountName: pulumi.output(args.uniqueSuffix).apply((suffix) => storageAccountName(args.naming, suffix)),
      kind: "StorageV2",
      sku: { name: args.sku },
      accessTier: "Hot",
      publicNetworkAccess: "Disabled",
      networkRuleSet: { defaultAction: "Deny", bypass: "AzureServices", ipRules: [], virtualNetworkRules: [] },
      allowBlobPublicAccess: false,
      allowSharedKeyAccess: args.sharedKeyAccess, // the policy flags true
      defaultToOAuthAuthentication: true,
      allowCrossTenantReplication: false,
      allowedCopyScope: "PrivateLink",
      isLocalUserEnabled: false,
      isSftpEnabled: false,
      isHnsEnabled: false,
      minimumTlsVersion: "TLS1_2",
      enableHttpsTrafficOnly: true,
      encryption: {
        keySource: "Microsoft.Storage",
        requireInfrastructureEncryption: true,
        services: { blob: { enabled: true, keyType: "Account" }, file: { enabled: true, keyType: "Account" } },
      },
      tags,
    }, child);

    const blobService = new storage.BlobServiceProperties(`${name}-blob-service`, {
      resourceGroupName,
      accountName: account.name,
      blobServicesName: "default",
      deleteRetentionPolicy: { enabled: true, days: args.blobSoftDeleteDays },
      containerDeleteRetentionPolicy: { enabled: true, days: args.containerSoftDeleteDays },
      isVersioningEnabled: args.versioning,
    }, child);

    const containers = [
      { key: "file-drop", containerName: args.fileDropContainerName },
      { key: "error-file-drop", containerName: args.errorFileDropContainerName },
    ].map(({ key, containerName }) =>
      new storage.BlobContainer(`${name}-${key}`, {
        resourceGroupName,
        accountName: account.name,
        containerName,
        publicAccess: "None",
      }, { ...child, dependsOn: [blobService] }),
    );

    const link = privateLinkFor(this, name, args, {
      targetResourceId: account.id,
      groupId: "blob",
      memberName: "blob",
      zoneName: "privatelink.blob.core.windows.net",
    });

    grantRole(this, `${name}-blob-data-contributor`, "storageBlobDataContributor", account.id, args.subscriptionId,
      args.blobDataContributorPrincipalIds.map((id) => ({ key: id, principalId: id })));
    if (args.lock) protectFromDeletion(this, `${name}-lock`, account.id, "Inventory Visibility drop storage");

    const containerUrl = (container: storage.BlobContainer) =>
      pulumi.interpolate`https://${account.name}.blob.core.windows.net/${container.name}`;
    this.accountName = account.name;
    this.accountId = account.id;
    this.fileDropLocation = containerUrl(containers[0]);
    this.errorFileDropLocation = containerUrl(containers[1]);
    this.privateEndpointIp = link.privateIpAddress;
    this.registerOutputs({
      accountName: this.accountName,
      accountId: this.accountId,
      fileDropLocation: this.fileDropLocation,
      errorFileDropLocation: this.errorFileDropLocation,
      privateEndpointIp: this.privateEndpointIp,
    });
  }
}
