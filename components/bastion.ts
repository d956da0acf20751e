import * as network from "@pulumi/azure-native/network";
import * as pulumi from "@pulumi/pulumi";
import { resourceName } from "../naming";
import type { LandingPlacement } from "./landing";

/** The SKUs this landing deploys (config/schema.ts BASTION_SKUS): both run a dedicated host in AzureBastionSubnet behind a public IP. */
export type BastionSku = "Basic" | "Standard";

export interface BastionArgs extends LandingPlacement {
  sku: BastionSku;
  /** AzureBastionSubnet of the landing VNet (Network's `bastion.subnetId`). */
  subnetId: pulumi.Input<string>;
}

/**
 * Azure Bastion: the operator's way in to the gateway VMs, which have no public IP, for the one step
 * the stack cannot do (registering the gateway with a user account). RDP in the browser through the
 * Azure portal; the gateway subnet admits RDP from AzureBastionSubnet only (Network). Billed per hour
 * while it exists, used or not (docs/operations.md): off unless the stack sets `bastionSku`.
 * Shareable links and IP-based connections stay off (the policy `bastion-host-baseline`).
 */
export class Bastion extends pulumi.ComponentResource {
  /** The Bastion host's name, as the portal shows it under the VM's Connect > Bastion. */
  readonly hostName: string;
  readonly bastionId: pulumi.Output<string>;

  constructor(name: string, args: BastionArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iom:network:Bastion", name, {}, opts);
    const { resourceGroupName, location, naming, tags } = args;
    this.hostName = resourceName(naming, "bas");
    // Basic and Standard need a Standard, static public IP (Microsoft's Bastion configuration settings, "Public IP address").
    const ip = new network.PublicIPAddress(`${name}-pip`, {
      resourceGroupName,
      location,
      publicIpAddressName: resourceName(naming, "pip", "bas"),
      sku: { name: "Standard", tier: "Regional" },
      publicIPAllocationMethod: "Static",
      publicIPAddressVersion: "IPv4",
      tags,
    }, { parent: this });
    const host = new network.BastionHost(`${name}-host`, {
      resourceGroupName,
      location,
      bastionHostName: this.hostName,
      sku: { name: args.sku },
      ipConfigurations: [{ name: "ipconfig1", subnet: { id: args.subnetId }, publicIPAddress: { id: ip.id } }],
      enableShareableLink: false,
      enableIpConnect: false,
      tags,
    }, { parent: this });
    this.bastionId = host.id;
    this.registerOutputs({ hostName: this.hostName, bastionId: this.bastionId });
  }
}
