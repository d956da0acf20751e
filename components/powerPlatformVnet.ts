import * as powerplatform from "@pulumi/azure-native/powerplatform";
import * as pulumi from "@pulumi/pulumi";
import { resourceName } from "../naming";
import type { LandingPlacement } from "./landing";

/** Its location is a Power Platform geography, not an Azure region. */
export interface PowerPlatformVnetArgs extends Omit<LandingPlacement, "location"> {
  /** Power Platform geography (unitedstates, europe, ...), the policy's location. */
  geo: string;
  /** Delegated subnets, primary region first; geographies with two regions need both. */
  subnets: { vnetId: pulumi.Input<string>; subnetName: string }[];
  /** What the policy waits for: the Microsoft.PowerPlatform registration and its feature (SubscriptionPrerequisites). */
  after?: pulumi.Resource[];
}

/**
 * Power Platform virtual network support: a `NetworkInjection` enterprise policy over the delegated
 * subnets. Linking it to the (Managed) environment is PowerPlatformPolicyLink's job when the stack
 * names the environment (index.ts), else an admin step that takes the exported policy id.
 */
export class PowerPlatformVnet extends pulumi.ComponentResource {
  readonly enterprisePolicyId: pulumi.Output<string>;
  /** The policy's `properties.systemId`, which the admin API's link call takes. */
  readonly enterprisePolicySystemId: pulumi.Output<string>;

  constructor(name: string, args: PowerPlatformVnetArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iom:powerplatform:PowerPlatformVnet", name, {}, opts);
    const policy = new powerplatform.EnterprisePolicy(`${name}-policy`, {
      resourceGroupName: args.resourceGroupName,
      enterprisePolicyName: resourceName(args.naming, "epol"),
      location: args.geo,
      kind: "NetworkInjection",
      networkInjection: {
        virtualNetworks: args.subnets.map((s) => ({ id: s.vnetId, subnet: { name: s.subnetName } })),
      },
      tags: args.tags,
    }, { parent: this, dependsOn: args.after?.length ? args.after : undefined });
    this.enterprisePolicyId = policy.id;
    this.enterprisePolicySystemId = policy.systemId;
    this.registerOutputs({ enterprisePolicyId: this.enterprisePolicyId, enterprisePolicySystemId: this.enterprisePolicySystemId });
  }
}
