import * as network from "@pulumi/azure-native/network";
import type * as azureTypes from "@pulumi/azure-native/types";
import * as pulumi from "@pulumi/pulumi";
import { resourceName } from "../naming";
import type { LandingArgs } from "./landing";

export interface NetworkArgs extends LandingArgs {
  addressSpace: string;
  privateEndpointSubnetPrefix: string;
  /** Gateway subnet, NSG and NAT egress; omitted when the stack runs no data gateway. */
  gateway?: { subnetPrefix: string; outboundInternetHttps: boolean; outboundInternetHttp: boolean };
  /** Subnet(s) delegated to Power Platform; omitted when the stack uses no VNet support. */
  powerPlatform?: { subnetPrefix: string; failover?: { location: string; regionCode: string; addressSpace: string } };
}

/** The Power Platform delegation a NetworkInjection enterprise policy requires. */
export const POWER_PLATFORM_DELEGATION = "Microsoft.PowerPlatform/enterprisePolicies";

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

const allowTcp = (
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
  protocol: "Tcp",
  sourcePortRange: "*",
  ...(Array.isArray(source) ? { sourceAddressPrefixes: source } : { sourceAddressPrefix: source }),
  ...(Array.isArray(destination) ? { destinationAddressPrefixes: destination } : { destinationAddressPrefix: destination }),
  ...(ports.length === 1 ? { destinationPortRange: ports[0] } : { destinationPortRanges: ports }),
});

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
  readonly gatewaySubnetId?: pulumi.Output<string>;
  /** Delegated subnets for the enterprise policy, primary first. */
  readonly powerPlatformSubnets: { vnetId: pulumi.Output<string>; subnetName: string }[] = [];
  /** Every VNet that must resolve the private DNS zones. */
  readonly dnsLinkedVnets: { key: string; id: pulumi.Output<string> }[] = [];

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iom:network:Network", name, {}, opts);
    const { naming, tags, location, resourceGroupName } = args;
    const child = { parent: this };

    const vnet = new network.VirtualNetwork(`${name}-vnet`, {
      resourceGroupName,
      location,
      virtualNetworkName: resourceName(naming, "vnet"),
      addressSpace: { addressPrefixes: [args.addressSpace] },
      tags,
    }, { ...child, ignoreChanges: ["subnets"] }); // subnets are their own resources below
    this.vnetId = vnet.id;
    this.vnetName = vnet.name;
    this.dnsLinkedVnets.push({ key: "primary", id: vnet.id });

    const inboundFrom: string[] = [];
    if (args.gateway) inboundFrom.push(args.gateway.subnetPrefix);
    if (args.powerPlatform) inboundFrom.push(args.powerPlatform.subnetPrefix);
    if (args.powerPlatform?.failover) inboundFrom.push(args.powerPlatform.failover.addressSpace);
    const peNsg = new network.NetworkSecurityGroup(`${name}-nsg-pep`, {
      resourceGroupName,
      location,
      networkSecurityGroupName: resourceName(naming, "nsg", "pep"),
      securityRules: [
        ...(inboundFrom.length > 0
          ? [allowTcp("Allow-Https-From-Consumers-In", 100, "Inbound", inboundFrom, args.privateEndpointSubnetPrefix, ["443"],
              "Only the gateway and Power Platform subnets reach the private endpoints, over HTTPS.")]
          : []),
        denyAll("Inbound"),
      ],
      tags,
    }, child);

    // Subnet operations on one VNet conflict when run in parallel, so each waits for the previous.
    const peSubnet = new network.Subnet(`${name}-snet-pep`, {
      resourceGroupName,
      virtualNetworkName: vnet.name,
      subnetName: resourceName(naming, "snet", "pep"),
      addressPrefix: args.privateEndpointSubnetPrefix,
      networkSecurityGroup: { id: peNsg.id },
      privateEndpointNetworkPolicies: "Enabled", // let the NSG govern traffic to the endpoints
      defaultOutboundAccess: false,
    }, child);
    this.privateEndpointSubnetId = peSubnet.id;
    let previous: pulumi.Resource = peSubnet;

    if (args.gateway) {
      const gwNsg = new network.NetworkSecurityGroup(`${name}-nsg-gw`, {
        resourceGroupName,
        location,
        networkSecurityGroupName: resourceName(naming, "nsg", "gw"),
        securityRules: [denyAll("Inbound"), ...gatewayOutboundRules(args.privateEndpointSubnetPrefix, args.gateway.outboundInternetHttps, args.gateway.outboundInternetHttp)],
        tags,
      }, child);
      const natIp = new network.PublicIPAddress(`${name}-pip-ng`, {
        resourceGroupName,
        location,
        publicIpAddressName: resourceName(naming, "pip", "ng"),
        sku: { name: "Standard", tier: "Regional" },
        publicIPAllocationMethod: "Static",
        publicIPAddressVersion: "IPv4",
        tags,
      }, child);
      const nat = new network.NatGateway(`${name}-ng`, {
        resourceGroupName,
        location,
        natGatewayName: resourceName(naming, "ng"),
        sku: { name: "Standard" },
        publicIpAddresses: [{ id: natIp.id }],
        idleTimeoutInMinutes: 10,
        tags,
      }, child);
      const gwSubnet = new network.Subnet(`${name}-snet-gw`, {
        resourceGroupName,
        virtualNetworkName: vnet.name,
        subnetName: resourceName(naming, "snet", "gw"),
        addressPrefix: args.gateway.subnetPrefix,
        networkSecurityGroup: { id: gwNsg.id },
        natGateway: { id: nat.id },
        defaultOutboundAccess: false,
      }, { ...child, dependsOn: [previous] });
      this.gatewaySubnetId = gwSubnet.id;
      previous = gwSubnet;
    }

    if (args.powerPlatform) {
      const pp = args.powerPlatform;
      const ppNsg = new network.NetworkSecurityGroup(`${name}-nsg-pp`, {
        resourceGroupName,
        location,
        networkSecurityGroupName: resourceName(naming, "nsg", "pp"),
        securityRules: [denyAll("Inbound")],
        tags,
      }, child);
      const ppSubnetName = resourceName(naming, "snet", "pp");
      new network.Subnet(`${name}-snet-pp`, {
        resourceGroupName,
        virtualNetworkName: vnet.name,
        subnetName: ppSubnetName,
        addressPrefix: pp.subnetPrefix,
        networkSecurityGroup: { id: ppNsg.id },
        delegations: [{ name: "powerplatform", serviceName: POWER_PLATFORM_DELEGATION }],
        defaultOutboundAccess: false,
      }, { ...child, dependsOn: [previous] });
      this.powerPlatformSubnets.push({ vnetId: vnet.id, subnetName: ppSubnetName });

      if (pp.failover) {
        const failoverNaming = { ...naming, regionCode: pp.failover.regionCode };
        const failoverNsg = new network.NetworkSecurityGroup(`${name}-nsg-pp-failover`, {
          resourceGroupName,
          location: pp.failover.location,
          networkSecurityGroupName: resourceName(failoverNaming, "nsg", "pp"),
          securityRules: [denyAll("Inbound")],
          tags,
        }, child);
        const failoverSubnetName = resourceName(failoverNaming, "snet", "pp");
        const failoverVnet = new network.VirtualNetwork(`${name}-vnet-failover`, {
          resourceGroupName,
          location: pp.failover.location,
          virtualNetworkName: resourceName(failoverNaming, "vnet"),
          addressSpace: { addressPrefixes: [pp.failover.addressSpace] },
          subnets: [{
            name: failoverSubnetName,
            addressPrefix: pp.failover.addressSpace,
            networkSecurityGroup: { id: failoverNsg.id },
            delegations: [{ name: "powerplatform", serviceName: POWER_PLATFORM_DELEGATION }],
            defaultOutboundAccess: false,
          }],
          tags,
        }, child);
        // Peer both ways so the failover region also reaches the private endpoints.
        new network.VirtualNetworkPeering(`${name}-peer-to-failover`, {
          resourceGroupName,
          virtualNetworkName: vnet.name,
          virtualNetworkPeeringName: resourceName(naming, "peer", "failover"),
          remoteVirtualNetwork: { id: failoverVnet.id },
          allowVirtualNetworkAccess: true,
          allowForwardedTraffic: false,
        }, child);
        new network.VirtualNetworkPeering(`${name}-peer-from-failover`, {
          resourceGroupName,
          virtualNetworkName: failoverVnet.name,
          virtualNetworkPeeringName: resourceName(failoverNaming, "peer", "primary"),
          remoteVirtualNetwork: { id: vnet.id },
          allowVirtualNetworkAccess: true,
          allowForwardedTraffic: false,
        }, child);
        this.powerPlatformSubnets.push({ vnetId: failoverVnet.id, subnetName: failoverSubnetName });
        this.dnsLinkedVnets.push({ key: "failover", id: failoverVnet.id });
      }
    }

    this.registerOutputs({
      vnetId: this.vnetId,
      privateEndpointSubnetId: this.privateEndpointSubnetId,
      gatewaySubnetId: this.gatewaySubnetId,
    });
  }
}
