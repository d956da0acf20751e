import * as compute from "@pulumi/azure-native/compute";
import * as network from "@pulumi/azure-native/network";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { gatewayClusterName, gatewayComputerName, resourceName } from "../naming";
import type { StoredSecret } from "./keyVault";
import type { LandingPlacement } from "./landing";
import { grantRole } from "./roles";

export interface DataGatewayArgs extends LandingPlacement {
  subnetId: pulumi.Input<string>;
  subscriptionId: pulumi.Input<string>;
  vmSize: string;
  vmCount: number;
  zones: string[];
  osDiskType: string;
  adminUsername: string;
  adminPassword: pulumi.Input<string>;
  /** Rotation window of `adminPassword`; a new window sets the new password on the running VMs. */
  adminPasswordRotation: string;
  /** securityProfile.encryptionAtHost (needs the subscription feature Microsoft.Compute/EncryptionAtHost). */
  encryptionAtHost: boolean;
  /** What the VMs wait for: the Microsoft.Compute registration with EncryptionAtHost (SubscriptionPrerequisites). */
  after?: pulumi.Resource[];
  powerShellVersion: string;
  /**
   * The gateway's own installer, run on every node in every mode (gateway-setup.ps1): where to
   * download it and its command line. Microsoft documents no command line for it: see
   * docs/azure-landing.md, "Gateway setup and re-runs".
   */
  installer: { url: string; arguments: string };
  vaultName: pulumi.Input<string>;
  /** Vault secret holding the VMs' admin password, named in the manual step. */
  adminPasswordSecretName: string;
  /** The stack's Azure Bastion host, the way in the manual step names; absent without one. */
  bastionHostName?: string;
  /** Kept in the vault; read by the VMs at registration time, never passed to them. */
  recoveryKeySecret: StoredSecret;
  /** Unattended registration with a service principal whose secret is in the vault. */
  registration?: {
    clientId: string;
    tenantId: string;
    clientSecretSecret: StoredSecret;
    regionKey?: string;
    adminObjectIds: string[];
  };
}

export type GatewayRegistrationMode = "servicePrincipal" | "manual";

/** The setup script, shipped with the program and run by Run Command v2 (no size limit of a command line). */
export const GATEWAY_SETUP_SCRIPT = fs.readFileSync(path.join(__dirname, "gateway-setup.ps1"), "utf8");

/**
 * The gateway VMs, each a member of the On-premises data gateway cluster: Windows Server 2022
 * (Desktop Experience) with Trusted Launch, no public IP, automatic guest patching and boot
 * diagnostics. A system-assigned identity may read
 * only the recovery key and the registration secret. Every node gets the gateway software
 * installed unattended; with a service principal the nodes also register as one cluster, without
 * one `manualStep` says how an admin gets in and registers them once.
 */
export class DataGateway extends pulumi.ComponentResource {
  readonly clusterName: string;
  readonly registrationMode: GatewayRegistrationMode;
  /** Each node, with its setup run command: the last operation on the VM, so later extensions wait for it. */
  readonly vms: { name: pulumi.Output<string>; id: pulumi.Output<string>; principalId: pulumi.Output<string>; setup: pulumi.Resource }[] = [];
  readonly manualStep?: string;

  constructor(name: string, args: DataGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iom:gateway:DataGateway", name, {}, opts);
    this.clusterName = gatewayClusterName(args.naming);
    this.registrationMode = args.registration ? "servicePrincipal" : "manual";
    let clusterCreator: pulumi.Resource | undefined;
    for (let index = 0; index < args.vmCount; index++) {
      const node = this.node(name, args, index, clusterCreator);
      if (index === 0) clusterCreator = node.setup; // members join only after the cluster exists
      this.vms.push(node);
    }
    if (!args.registration) this.manualStep = this.manualRegistrationStep(args);
    this.registerOutputs({ clusterName: this.clusterName, registrationMode: this.registrationMode, manualStep: this.manualStep });
  }

  /** One gateway VM: its NIC and VM, the VM's extensions, its read access to the vault secrets, then its setup. */
  private node(name: string, args: DataGatewayArgs, index: number, clusterCreator: pulumi.Resource | undefined): DataGateway["vms"][number] {
    const node = String(index + 1).padStart(2, "0");
    const nic = this.nic(name, args, node);
    const vm = this.vm(name, args, index, node, nic);
    const passwordReset = this.extensions(name, args, node, vm);
    const principalId = vm.identity.apply((identity) => identity?.principalId ?? "");
    const readableSecrets = [args.recoveryKeySecret, ...(args.registration ? [args.registration.clientSecretSecret] : [])];
    const readers = readableSecrets.flatMap((secret) =>
      grantRole(this, `${name}-vm-${node}-reads-${secret.secretName}`, "keyVaultSecretsUser", secret.id, args.subscriptionId,
        [{ key: "identity", principalId, principalType: "ServicePrincipal" }]),
    );
    const setup = new compute.VirtualMachineRunCommandByVirtualMachine(`${name}-vm-${node}-setup`, {
      resourceGroupName: args.resourceGroupName,
      location: args.location,
      vmName: vm.name,
      runCommandName: "iom-gateway-setup",
      source: { script: GATEWAY_SETUP_SCRIPT },
      parameters: [
        ...Object.entries(this.setupParameters(args, index)).map(([pname, value]) => ({ name: pname, value })),
        ...(args.registration ? [{ name: "VaultName", value: args.vaultName }] : []),
      ],
      asyncExecution: false,
      timeoutInSeconds: 3600,
      treatFailureAsDeploymentFailure: true,
      tags: args.tags,
    }, { parent: this, dependsOn: [...readers, passwordReset, ...(clusterCreator ? [clusterCreator] : [])] });
    return { name: vm.name, id: vm.id, principalId, setup };
  }

  private nic(name: string, args: DataGatewayArgs, node: string): network.NetworkInterface {
    return new network.NetworkInterface(`${name}-nic-${node}`, {
      resourceGroupName: args.resourceGroupName,
      location: args.location,
      networkInterfaceName: resourceName(args.naming, "nic", `gw${node}`),
      ipConfigurations: [{ name: "ipconfig1", primary: true, subnet: { id: args.subnetId }, privateIPAllocationMethod: "Dynamic" }],
      tags: args.tags,
    }, { parent: this });
  }

  /** Windows Server 2022 with Trusted Launch, no public IP, automatic guest patching, boot diagnostics. */
  private vm(name: string, args: DataGatewayArgs, index: number, node: string, nic: network.NetworkInterface): compute.VirtualMachine {
    const { naming } = args;
    return new compute.VirtualMachine(`${name}-vm-${node}`, {
      resourceGroupName: args.resourceGroupName,
      location: args.location,
      vmName: resourceName(naming, "vm", `gw${node}`),
      zones: args.zones.length > 0 ? [args.zones[index % args.zones.length]] : undefined,
      hardwareProfile: { vmSize: args.vmSize },
      identity: { type: "SystemAssigned" },
      storageProfile: {
        imageReference: { publisher: "MicrosoftWindowsServer", offer: "WindowsServer", sku: "2022-datacenter-azure-edition", version: "latest" },
        osDisk: {
          name: resourceName(naming, "osdisk", `gw${node}`),
          createOption: "FromImage",
          caching: "ReadWrite",
          deleteOption: "Delete",
          managedDisk: { storageAccountType: args.osDiskType },
        },
      },
      osProfile: {
        computerName: gatewayComputerName(naming, index),
        adminUsername: args.adminUsername,
        adminPassword: pulumi.secret(args.adminPassword),
        allowExtensionOperations: true,
        windowsConfiguration: {
          provisionVMAgent: true,
          enableAutomaticUpdates: true,
          patchSettings: {
            patchMode: "AutomaticByPlatform",
            assessmentMode: "AutomaticByPlatform",
            enableHotpatching: false,
            automaticByPlatformSettings: { rebootSetting: "IfRequired" },
          },
        },
      },
      networkProfile: { networkInterfaces: [{ id: nic.id, primary: true, deleteOption: "Delete" }] },
      securityProfile: {
        securityType: "TrustedLaunch",
        uefiSettings: { secureBootEnabled: true, vTpmEnabled: true },
        encryptionAtHost: args.encryptionAtHost, // the policy flags false
      },
      diagnosticsProfile: { bootDiagnostics: { enabled: true } }, // managed storage: no account to expose
      tags: args.tags,
    }, {
      parent: this,
      dependsOn: args.after?.length ? args.after : undefined,
      // An existing VM's admin password cannot be changed through the VM resource; a rotated
      // password reaches the running VM through the VM access extension (extensions) instead.
      ignoreChanges: ["osProfile.adminPassword"],
    });
  }

  /** The VM's extensions, one operation at a time: guest attestation, then the admin password; returns the last. */
  private extensions(name: string, args: DataGatewayArgs, node: string, vm: compute.VirtualMachine): compute.VirtualMachineExtension {
    const { resourceGroupName, location, tags } = args;
    // Trusted Launch's boot integrity monitoring reports through this extension.
    const attestation = new compute.VirtualMachineExtension(`${name}-vm-${node}-attestation`, {
      resourceGroupName,
      location,
      vmName: vm.name,
      vmExtensionName: "GuestAttestation",
      publisher: "Microsoft.Azure.Security.WindowsAttestation",
      type: "GuestAttestation",
      typeHandlerVersion: "1.0",
      autoUpgradeMinorVersion: true,
      enableAutomaticUpgrade: true,
      tags,
    }, { parent: this });

    // Sets the current admin password on the running VM (Microsoft's VMAccess extension for
    // Windows: settings.username, protectedSettings.password). A new rotation window changes the
    // protected settings and the update tag, so Azure runs it again; the VM is never replaced.
    return new compute.VirtualMachineExtension(`${name}-vm-${node}-admin-password`, {
      resourceGroupName,
      location,
      vmName: vm.name,
      vmExtensionName: "VMAccessAgent",
      publisher: "Microsoft.Compute",
      type: "VMAccessAgent",
      typeHandlerVersion: "2.4",
      autoUpgradeMinorVersion: true,
      forceUpdateTag: args.adminPasswordRotation,
      settings: { username: args.adminUsername },
      protectedSettings: pulumi.secret(pulumi.output(args.adminPassword).apply((password) => ({ password }))),
      tags,
    }, { parent: this, dependsOn: [attestation] }); // one extension operation at a time on a VM
  }

  /** gateway-setup.ps1's parameters for the node at `index`: the first creates the cluster, the others join it. */
  private setupParameters(args: DataGatewayArgs, index: number): Record<string, string> {
    const mode = !args.registration ? "prepare" : index === 0 ? "create" : "join";
    const parameters: Record<string, string> = {
      Mode: mode,
      PowerShellVersion: args.powerShellVersion,
      GatewayInstallerUrl: args.installer.url,
      GatewayInstallerArguments: args.installer.arguments,
    };
    if (args.registration) {
      Object.assign(parameters, {
        RecoveryKeySecretName: args.recoveryKeySecret.secretName,
        ClientSecretSecretName: args.registration.clientSecretSecret.secretName,
        ClientId: args.registration.clientId,
        TenantId: args.registration.tenantId,
        ClusterName: this.clusterName,
      });
      // Only values that exist: an empty one could be dropped on the way to the script.
      if (args.registration.regionKey) parameters.RegionKey = args.registration.regionKey;
      if (args.registration.adminObjectIds.length > 0) parameters.AdminObjectIds = args.registration.adminObjectIds.join(",");
    }
    return parameters;
  }

  /** Without a service principal: how an admin gets in and registers the prepared nodes once. */
  private manualRegistrationStep(args: DataGatewayArgs): string {
    const wayIn = args.bastionHostName
      ? `connect to each gateway VM through Azure Bastion '${args.bastionHostName}' (Azure portal > the VM > Connect > Bastion)`
      : "connect to each gateway VM (they have no public IP: set bastionSku and bastionSubnetPrefix and run pulumi up for this stack's Azure Bastion, " +
        "or come in over your own private network path)";
    return `Register the installed gateway: ${wayIn} as '${args.adminUsername}' with the password in Key Vault secret '${args.adminPasswordSecretName}', ` +
      `open the On-premises data gateway app, sign in with a user account, and register the first VM as cluster '${this.clusterName}' ` +
      `with the recovery key from Key Vault secret '${args.recoveryKeySecret.secretName}'; add each further VM to that cluster with the same key.`;
  }
}
