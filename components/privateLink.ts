import * as network from "@pulumi/azure-native/network";
import * as privatedns from "@pulumi/azure-native/privatedns";
import * as pulumi from "@pulumi/pulumi";
import { resourceName } from "../naming";
import { landingPlacementOf, type LandingPlacement } from "./landing";

/** Where a private endpoint sits: its subnet, its fixed address there, and the VNets that resolve its zone. */
export interface PrivateEndpointPlacement {
  subnetId: pulumi.Input<string>;
  /** Static address inside the subnet, so the endpoint IP is known at preview and never moves. */
  privateIpAddress: string;
  /** VNets that must resolve the zone. */
  vnets: { key: string; id: pulumi.Input<string> }[];
}

/** The private link sub-resource of a service, e.g. `blob` or `vault`, and its DNS zone. */
export interface PrivateLinkTarget {
  /** The resource the endpoint connects to (storage account, key vault). */
  targetResourceId: pulumi.Input<string>;
  /** Private link sub-resource, e.g. `blob` or `vault`, and its member name. */
  groupId: string;
  memberName: string;
  /** Private DNS zone for that sub-resource, e.g. `privatelink.blob.core.windows.net`. */
  zoneName: string;
}

export interface PrivateLinkArgs extends LandingPlacement, PrivateEndpointPlacement, PrivateLinkTarget {}

/**
 * A private endpoint with its private DNS zone, the zone's VNet links (no auto-registration) and the
 * endpoint's DNS zone group, so the service's public name resolves to the private address inside
 * the network.
 */
export class PrivateLink extends pulumi.ComponentResource {
  readonly privateEndpointId: pulumi.Output<string>;
  readonly privateIpAddress: pulumi.Output<string>;
  readonly privateDnsZoneId: pulumi.Output<string>;

  constructor(name: string, args: PrivateLinkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iom:network:PrivateLink", name, {}, opts);
    const child = { parent: this };
    const { resourceGroupName, tags } = args;

    const zone = new privatedns.PrivateZone(`${name}-zone`, {
      resourceGroupName,
      privateZoneName: args.zoneName,
      location: "global",
      tags,
    }, child);
    for (const vnet of args.vnets) {
      new privatedns.VirtualNetworkLink(`${name}-zone-link-${vnet.key}`, {
        resourceGroupName,
        privateZoneName: zone.name,
        virtualNetworkLinkName: resourceName(args.naming, "vnet", `${args.groupId}-${vnet.key}`),
        location: "global",
        virtualNetwork: { id: vnet.id },
        registrationEnabled: false,
        tags,
      }, child);
    }

    const endpointName = resourceName(args.naming, "pep", args.groupId);
    const endpoint = new network.PrivateEndpoint(`${name}-pep`, {
      resourceGroupName,
      location: args.location,
      privateEndpointName: endpointName,
      customNetworkInterfaceName: resourceName(args.naming, "nic", `pep-${args.groupId}`),
      subnet: { id: args.subnetId },
      privateLinkServiceConnections: [{
        name: endpointName,
        privateLinkServiceId: args.targetResourceId,
        groupIds: [args.groupId],
      }],
      ipConfigurations: [{
        name: `${args.groupId}-ip`,
        groupId: args.groupId,
        memberName: args.memberName,
        privateIPAddress: args.privateIpAddress,
      }],
      tags,
    }, child);

    new network.PrivateDnsZoneGroup(`${name}-pep-dns`, {
      resourceGroupName,
      privateEndpointName: endpointName, // known at preview, so reviewers and policies see the pairing
      privateDnsZoneGroupName: "default",
      privateDnsZoneConfigs: [{ name: args.zoneName.replace(/\./g, "-"), privateDnsZoneId: zone.id }],
    }, { ...child, dependsOn: [endpoint] });

    this.privateEndpointId = endpoint.id;
    this.privateIpAddress = pulumi.output(args.privateIpAddress);
    this.privateDnsZoneId = zone.id;
    this.registerOutputs({
      privateEndpointId: this.privateEndpointId,
      privateIpAddress: this.privateIpAddress,
      privateDnsZoneId: this.privateDnsZoneId,
    });
  }
}

/** The one way a component adds its private endpoint: its own placement, the endpoint's, and the target. */
export function privateLinkFor(
  owner: pulumi.Resource,
  name: string,
  args: LandingPlacement & { privateEndpoint: PrivateEndpointPlacement },
  target: PrivateLinkTarget,
): PrivateLink {
  return new PrivateLink(`${name}-private-link`, { ...landingPlacementOf(args), ...args.privateEndpoint, ...target }, { parent: owner });
}
