import * as network from "@pulumi/azure-native/network";
import type * as azureTypes from "@pulumi/azure-native/types";
import * as pulumi from "@pulumi/pulumi";
import { resourceName } from "../naming";
import type { LandingPlacement } from "./landing";

export interface NetworkArgs extends LandingPlacement {
  addressSpace: string;
  privateEndpointSubnetPrefix: string;
  /** Gateway subnet, NSG and NAT egress; omitted when the stack runs no data gateway. */
  gateway?: { subnetPrefix: string; outboundInternetHttps: boolean; outboundInternetHttp: boolean };
  /** Subnet(s) delegated to Power Platform; omitted when the stack uses no VNet support. */
  powerPlatformVnet?: {
    subnetPrefix: string;
    failover?: { location: string; regionCode: string; addressSpace: string };
    /** What the delegated subnets wait for: the Microsoft.PowerPlatform registration (SubscriptionPrerequisites). */
    after?: pulumi.Resource[];
  };
  /** AzureBastionSubnet and its NSG, and RDP from it to the gateway; omitted when the stack has no Azure Bastion. */
  bastion?: { subnetPrefix: string };
}

/** The subnet name Azure Bastion requires ("Azure Bastion subnet", Microsoft's Bastion configuration settings). */
export const BASTION_SUBNET_NAME = "AzureBastionSubnet";

/** The Power Platform delegation a NetworkInjection enterprise policy requires. */
export const POWER_PLATFORM_DELEGATION = "Microsoft.PowerPlatform/enterprisePolicies";
const POWER_PLATFORM_DELEGATIONS = [{ name: "powerplatform", serviceName: POWER_PLATFORM_DELEGATION }];

/**
 * Windows activation (KMS) endpoints on Azure. Without them the gateway VM never activates once
 * all other outbound traffic is denied.
 */
export const AZURE_KMS_ADDRESSES = ["20.118.99.224/32", "40.83.235.53/32", "23.102.135.246/32"];

type Rule = azureTypes.input.network.SecurityRuleArgs;

const denyAll = (direction: "Inbound" | "Outbound"): Rule => ({
  name: `Deny-All-${direction}`,
  description: `Explicit deny of all other ${direction.toLowerCase()} traffic, ahead of Azure's permissive defaults.`,
  priority: 4096,
  direction,
  access: "Deny",
  protocol: "*",
  sourceAddressPrefix: "*",
  sourcePortRange: "*",
  destinationAddressPrefix: "*",
  destinationPortRange: "*",
});

const allow = (
  protocol: "Tcp" | "*",
  name: string,
  priority: number,
  direction: "Inbound" | "Outbound",
  source: string | string[],
  destination: string | string[],
  ports: string[],
  description: string,
): Rule => ({
  name,
  description,
  priority,
  direction,
  access: "Allow",
  protocol,
  sourcePortRange: "*",
  ...(Array.isArray(source) ? { sourceAddressPrefixes: source } : { sourceAddressPrefix: source }),
  ...(Array.isArray(destination) ? { destinationAddressPrefixes: destination } : { destinationAddressPrefix: destination }),
  ...(ports.length === 1 ? { destinationPortRange: ports[0] } : { destinationPortRanges: ports }),
});
const allowTcp = (...args: Parameters<typeof allow> extends [unknown, ...infer Rest] ? Rest : never): Rule => allow("Tcp", ...args);

/**
 * The rules Azure Bastion requires on an NSG of AzureBastionSubnet, exactly as Microsoft lists them
 * ("Configure NSG rules for Azure Bastion": "If you apply an NSG ... you must create all of the
 * following ingress and egress traffic rules"), then this landing's explicit deny-all.
 */
export function bastionSubnetRules(): Rule[] {
  return [
    allowTcp("AllowHttpsInbound", 100, "Inbound", "Internet", "*", ["443"], "Operators' browsers to Bastion's public IP (the only inbound from the internet)."),
    allowTcp("AllowGatewayManagerInbound", 110, "Inbound", "GatewayManager", "*", ["443"], "Bastion's control plane."),
    allow("*", "AllowBastionHostCommunication", 120, "Inbound", "VirtualNetwork", "VirtualNetwork", ["8080", "5701"], "Bastion's data plane between its instances."),
    allowTcp("AllowAzureLoadBalancerInbound", 130, "Inbound", "AzureLoadBalancer", "*", ["443"], "Health probes."),
    denyAll("Inbound"),
    allow("*", "AllowSshRdpOutbound", 100, "Outbound", "*", "VirtualNetwork", ["22", "3389"], "Sessions to the target VMs (their own NSG admits RDP from this subnet only)."),
    allowTcp("AllowAzureCloudOutbound", 110, "Outbound", "*", "AzureCloud", ["443"], "Diagnostics and metering."),
    allow("*", "AllowBastionCommunication", 120, "Outbound", "VirtualNetwork", "VirtualNetwork", ["8080", "5701"], "Bastion's data plane between its instances."),
    allow("*", "AllowHttpOutbound", 130, "Outbound", "*", "Internet", ["80"], "Session and certificate validation."),
    denyAll("Outbound"),
  ];
}
/**
 * TCP ports the gateway uses towards Azure Relay (`*.servicebus.windows.net`): 443 (HTTPS mode and
 * its access tokens), 5671-5672 (AMQP) and 9350-9354 (Relay over TCP). Source: Microsoft's "Adjust
 * communication settings for the on-premises data gateway", Ports.
 */
export const AZURE_RELAY_PORTS = ["443", "5671-5672", "9350-9354"];

/**
 * Outbound rules for the On-premises data gateway: only what Microsoft documents it needs, the
 * private endpoints, Windows activation, and optionally the internet on 443 (installers) and 80
 * (installer download, version and region check, connectivity test).
 *
 * Azure Relay has no service tag; its addresses are part of `AzureCloud`, and the `ServiceBus` tag
 * covers queues and topics only (same page, "Service tags"). The relay ports therefore go to
 * `AzureCloud`, all regions: the relay lives in the gateway's own region, which is the Power BI
 * tenant's region unless a region key is chosen at registration, not necessarily this VM's.
 */
export function gatewayOutboundRules(privateEndpointSubnetPrefix: string, outboundInternetHttps: boolean, outboundInternetHttp: boolean): Rule[] {
  const rules: Rule[] = [
    allowTcp("Allow-AzureRelay-Out", 100, "Outbound", "VirtualNetwork", "AzureCloud", AZURE_RELAY_PORTS,
      "Gateway to Azure Relay (no service tag of its own; its addresses are in AzureCloud) and Azure services such as *.analysis.windows.net."),
    allowTcp("Allow-EntraId-Out", 110, "Outbound", "VirtualNetwork", "AzureActiveDirectory", ["443"], "Gateway sign-in to Entra ID."),
    allowTcp("Allow-PowerBI-Out", 120, "Outbound", "VirtualNetwork", "PowerBI", ["443"], "Gateway to the Power BI / Power Platform gateway service."),
    allowTcp("Allow-PrivateEndpoints-Out", 140, "Outbound", "VirtualNetwork", privateEndpointSubnetPrefix, ["443"], "Gateway to the Blob and Key Vault private endpoints."),
    allowTcp("Allow-WindowsActivation-Out", 150, "Outbound", "VirtualNetwork", AZURE_KMS_ADDRESSES, ["1688"], "Windows activation against Azure KMS."),
  ];
  if (outboundInternetHttps) {
    rules.push(allowTcp("Allow-InternetHttps-Out", 200, "Outbound", "VirtualNetwork", "Internet", ["443"],
      "Installers and updates (download.microsoft.com, PowerShell Gallery, GitHub); disable when a firewall provides egress."));
  }
  if (outboundInternetHttp) {
    rules.push(allowTcp("Allow-InternetHttp-Out", 210, "Outbound", "VirtualNetwork", "Internet", ["80"],
      "Port 80 the gateway documents: *.download.microsoft.com (installer, version and region check) and *.msftncsi.com (connectivity test)."));
  }
  rules.push(denyAll("Outbound"));
  return rules;
}

/** A Standard, static IPv4 public IP named `pip-...-<suffix>`, the kind the NAT gateway and Azure Bastion take. */
export function standardPublicIp(parent: pulumi.Resource, name: string, args: LandingPlacement, suffix: string): network.PublicIPAddress {
  return new network.PublicIPAddress(name, {
    resourceGroupName: args.resourceGroupName,
    location: args.location,
    publicIpAddressName: resourceName(args.naming, "pip", suffix),
    sku: { name: "Standard", tier: "Regional" },
    publicIPAllocationMethod: "Static",
    publicIPAddressVersion: "IPv4",
    tags: args.tags,
  }, { parent });
}

/**
 * The landing VNet: a subnet for private endpoints, one for the data gateway (no inbound, only the
 * outbound traffic the gateway needs, egress through a NAT gateway rather than a public IP on the VM),
 * and optionally subnets delegated to Power Platform (with a peered failover VNet when the
 * geography has two regions).
 */
export class Network extends pulumi.ComponentResource {
  readonly vnetId: pulumi.Output<string>;
  readonly vnetName: pulumi.Output<string>;
  readonly privateEndpointSubnetId: pulumi.Output<string>;
  /** The data gateway's subnet; absent when the stack runs no gateway. */
  readonly gateway?: { subnetId: pulumi.Output<string> };
  /** AzureBastionSubnet; absent when the stack has no Azure Bastion. */
  readonly bastion?: { subnetId: pulumi.Output<string> };
  /** Delegated subnets for the enterprise policy, primary first. */
  readonly powerPlatformSubnets: { vnetId: pulumi.Output<string>; subnetName: string }[] = [];
  /** Every VNet that must resolve the private DNS zones. */
  readonly dnsLinkedVnets: { key: string; id: pulumi.Output<string> }[] = [];

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iom:network:Network", name, {}, opts);
    const vnet = this.primaryVnet(name, args);
    this.vnetId = vnet.id;
    this.vnetName = vnet.name;
    this.dnsLinkedVnets.push({ key: "primary", id: vnet.id });

    // Subnet operations on one VNet conflict when run in parallel, so each waits for the previous.
    const endpointSubnet = this.privateEndpointSubnet(name, args, vnet);
    this.privateEndpointSubnetId = endpointSubnet.id;
    let previous: pulumi.Resource = endpointSubnet;
    if (args.gateway) {
      const gatewaySubnet = this.gatewaySubnet(name, args, args.gateway, vnet, previous);
      this.gateway = { subnetId: gatewaySubnet.id };
      previous = gatewaySubnet;
    }
    if (args.powerPlatformVnet) {
      previous = this.powerPlatformSubnet(name, args, args.powerPlatformVnet, vnet, previous);
      if (args.powerPlatformVnet.failover) this.failoverVnet(name, args, args.powerPlatformVnet.failover, vnet, args.powerPlatformVnet.after ?? []);
    }
    if (args.bastion) this.bastion = { subnetId: this.bastionSubnet(name, args, args.bastion, vnet, previous).id };

    this.registerOutputs({
      vnetId: this.vnetId,
      privateEndpointSubnetId: this.privateEndpointSubnetId,
      gatewaySubnetId: this.gateway?.subnetId,
      bastionSubnetId: this.bastion?.subnetId,
    });
  }

  private primaryVnet(name: string, args: NetworkArgs): network.VirtualNetwork {
    return new network.VirtualNetwork(`${name}-vnet`, {
      resourceGroupName: args.resourceGroupName,
      location: args.location,
      virtualNetworkName: resourceName(args.naming, "vnet"),
      addressSpace: { addressPrefixes: [args.addressSpace] },
      tags: args.tags,
    }, { parent: this, ignoreChanges: ["subnets"] }); // subnets are their own resources below
  }

  /** An NSG that denies all inbound traffic except the given rules (outbound rules end in their own deny). */
  private nsg(name: string, args: NetworkArgs, suffix: string, rules: Rule[], placement = { naming: args.naming, location: args.location }): network.NetworkSecurityGroup {
    return new network.NetworkSecurityGroup(name, {
      resourceGroupName: args.resourceGroupName,
      location: placement.location,
      networkSecurityGroupName: resourceName(placement.naming, "nsg", suffix),
      securityRules: rules,
      tags: args.tags,
    }, { parent: this });
  }

  /** A subnet of the primary VNet behind its NSG, with no default outbound access; `after` serializes subnet operations. */
  private subnet(
    name: string, args: NetworkArgs, vnet: network.VirtualNetwork, suffix: string, addressPrefix: string,
    nsg: network.NetworkSecurityGroup, extra: Partial<network.SubnetArgs>, after?: pulumi.Resource, prerequisites: pulumi.Resource[] = [],
  ): network.Subnet {
    return new network.Subnet(name, {
      resourceGroupName: args.resourceGroupName,
      virtualNetworkName: vnet.name,
      subnetName: resourceName(args.naming, "snet", suffix),
      addressPrefix,
      networkSecurityGroup: { id: nsg.id },
      ...extra,
      defaultOutboundAccess: false,
    }, { parent: this, dependsOn: after || prerequisites.length ? [...(after ? [after] : []), ...prerequisites] : undefined });
  }

  /** The private endpoints' subnet: HTTPS in from the gateway and Power Platform subnets only. */
  private privateEndpointSubnet(name: string, args: NetworkArgs, vnet: network.VirtualNetwork): network.Subnet {
    const inboundFrom: string[] = [];
    if (args.gateway) inboundFrom.push(args.gateway.subnetPrefix);
    if (args.powerPlatformVnet) inboundFrom.push(args.powerPlatformVnet.subnetPrefix);
    if (args.powerPlatformVnet?.failover) inboundFrom.push(args.powerPlatformVnet.failover.addressSpace);
    const nsg = this.nsg(`${name}-nsg-pep`, args, "pep", [
      ...(inboundFrom.length > 0
        ? [allowTcp("Allow-Https-From-Consumers-In", 100, "Inbound", inboundFrom, args.privateEndpointSubnetPrefix, ["443"],
            "Only the gateway and Power Platform subnets reach the private endpoints, over HTTPS.")]
        : []),
      denyAll("Inbound"),
    ]);
    return this.subnet(`${name}-snet-pep`, args, vnet, "pep", args.privateEndpointSubnetPrefix, nsg, {
      privateEndpointNetworkPolicies: "Enabled", // let the NSG govern traffic to the endpoints
    });
  }

  /** The gateway's subnet: no inbound, only the outbound the gateway needs, egress through a NAT gateway. */
  private gatewaySubnet(
    name: string, args: NetworkArgs, gateway: NonNullable<NetworkArgs["gateway"]>, vnet: network.VirtualNetwork, after: pulumi.Resource,
  ): network.Subnet {
    const rdpFromBastion = args.bastion
      ? [allowTcp("Allow-Rdp-From-Bastion-In", 100, "Inbound", args.bastion.subnetPrefix, gateway.subnetPrefix, ["3389"],
          "RDP from Azure Bastion only: the operator's way in to register the gateway (the VMs have no public IP).")]
      : [];
    const nsg = this.nsg(`${name}-nsg-gw`, args, "gw",
      [...rdpFromBastion, denyAll("Inbound"), ...gatewayOutboundRules(args.privateEndpointSubnetPrefix, gateway.outboundInternetHttps, gateway.outboundInternetHttp)]);
    const nat = this.natGateway(name, args);
    return this.subnet(`${name}-snet-gw`, args, vnet, "gw", gateway.subnetPrefix, nsg, { natGateway: { id: nat.id } }, after);
  }

  private natGateway(name: string, args: NetworkArgs): network.NatGateway {
    const { resourceGroupName, location, naming, tags } = args;
    const ip = standardPublicIp(this, `${name}-pip-ng`, args, "ng");
    return new network.NatGateway(`${name}-ng`, {
      resourceGroupName,
      location,
      natGatewayName: resourceName(naming, "ng"),
      sku: { name: "Standard" },
      publicIpAddresses: [{ id: ip.id }],
      idleTimeoutInMinutes: 10,
      tags,
    }, { parent: this });
  }

  /** The subnet delegated to Power Platform in the primary VNet. */
  private powerPlatformSubnet(
    name: string, args: NetworkArgs, powerPlatform: NonNullable<NetworkArgs["powerPlatformVnet"]>, vnet: network.VirtualNetwork, after: pulumi.Resource,
  ): network.Subnet {
    const nsg = this.nsg(`${name}-nsg-pp`, args, "pp", [denyAll("Inbound")]);
    const subnet = this.subnet(`${name}-snet-pp`, args, vnet, "pp", powerPlatform.subnetPrefix, nsg, { delegations: POWER_PLATFORM_DELEGATIONS }, after, powerPlatform.after);
    this.powerPlatformSubnets.push({ vnetId: vnet.id, subnetName: resourceName(args.naming, "snet", "pp") });
    return subnet;
  }

  /**
   * AzureBastionSubnet behind an NSG with the rules Bastion requires. It keeps default outbound
   * access unset: Bastion reaches out through its own public IP, and the subnet belongs to it.
   */
  private bastionSubnet(
    name: string, args: NetworkArgs, bastion: NonNullable<NetworkArgs["bastion"]>, vnet: network.VirtualNetwork, after: pulumi.Resource,
  ): network.Subnet {
    const nsg = this.nsg(`${name}-nsg-bas`, args, "bas", bastionSubnetRules());
    return new network.Subnet(`${name}-snet-bas`, {
      resourceGroupName: args.resourceGroupName,
      virtualNetworkName: vnet.name,
      subnetName: BASTION_SUBNET_NAME,
      addressPrefix: bastion.subnetPrefix,
      networkSecurityGroup: { id: nsg.id },
    }, { parent: this, dependsOn: [after] });
  }

  /** The failover region's VNet with its delegated subnet, peered both ways with the primary. */
  private failoverVnet(
    name: string, args: NetworkArgs, failover: { location: string; regionCode: string; addressSpace: string }, primary: network.VirtualNetwork,
    prerequisites: pulumi.Resource[],
  ): void {
    const failoverNaming = { ...args.naming, regionCode: failover.regionCode };
    const nsg = this.nsg(`${name}-nsg-pp-failover`, args, "pp", [denyAll("Inbound")], { naming: failoverNaming, location: failover.location });
    const subnetName = resourceName(failoverNaming, "snet", "pp");
    const vnet = new network.VirtualNetwork(`${name}-vnet-failover`, {
      resourceGroupName: args.resourceGroupName,
      location: failover.location,
      virtualNetworkName: resourceName(failoverNaming, "vnet"),
      addressSpace: { addressPrefixes: [failover.addressSpace] },
      subnets: [{
        name: subnetName,
        addressPrefix: failover.addressSpace,
        networkSecurityGroup: { id: nsg.id },
        delegations: POWER_PLATFORM_DELEGATIONS,
        defaultOutboundAccess: false,
      }],
      tags: args.tags,
    }, { parent: this, dependsOn: prerequisites.length ? prerequisites : undefined }); // its subnet is delegated
    // Peer both ways so the failover region also reaches the private endpoints.
    this.peering(`${name}-peer-to-failover`, args, primary, resourceName(args.naming, "peer", "failover"), vnet);
    this.peering(`${name}-peer-from-failover`, args, vnet, resourceName(failoverNaming, "peer", "primary"), primary);
    this.powerPlatformSubnets.push({ vnetId: vnet.id, subnetName });
    this.dnsLinkedVnets.push({ key: "failover", id: vnet.id });
  }

  private peering(name: string, args: NetworkArgs, from: network.VirtualNetwork, peeringName: string, to: network.VirtualNetwork): void {
    new network.VirtualNetworkPeering(name, {
      resourceGroupName: args.resourceGroupName,
      virtualNetworkName: from.name,
      virtualNetworkPeeringName: peeringName,
      remoteVirtualNetwork: { id: to.id },
      allowVirtualNetworkAccess: true,
      allowForwardedTraffic: false,
    }, { parent: this });
  }
}
