import * as pulumi from "@pulumi/pulumi";
import { AzureProviderRegistration, type RegistrationMode } from "../dynamic-providers/azure";

/** A resource provider the stack needs in its subscription, with the preview features it needs from it. */
export interface SubscriptionPrerequisite {
  namespace: string;
  features: string[];
  /** What needs it, for the plan's reader. */
  neededBy: string;
}

/**
 * What a stack needs registered in its subscription before its resources can be created. A fresh
 * subscription fails `pulumi up` without these (docs/azure-landing.md, "Subscription prerequisites").
 */
export function subscriptionPrerequisitesOf(stack: { powerPlatformVnet: boolean; encryptionAtHost: boolean }): SubscriptionPrerequisite[] {
  const needs: SubscriptionPrerequisite[] = [];
  // Power Platform's "Set up virtual network support": the Microsoft.PowerPlatform provider and its
  // enterprisePoliciesPreview feature (microsoft/PowerPlatform-EnterprisePolicies registers both in
  // Initialize-SubscriptionForPowerPlatform).
  if (stack.powerPlatformVnet) needs.push({ namespace: "Microsoft.PowerPlatform", features: ["enterprisePoliciesPreview"], neededBy: "the delegated subnets and the NetworkInjection enterprise policy" });
  // Azure's "Enable end-to-end encryption using encryption at host": the feature Microsoft.Compute/EncryptionAtHost.
  if (stack.encryptionAtHost) needs.push({ namespace: "Microsoft.Compute", features: ["EncryptionAtHost"], neededBy: "encryption at host on the gateway VMs" });
  return needs;
}

export interface SubscriptionPrerequisitesArgs {
  subscriptionId: pulumi.Input<string>;
  /** register: register what is missing; check: only prove it is there, naming the commands otherwise. */
  mode: RegistrationMode;
  prerequisites: SubscriptionPrerequisite[];
  /** Azure Resource Manager origin of the stack's cloud. */
  armUrl: string;
}

/**
 * The subscription-wide registrations the stack needs, one `AzureProviderRegistration` per resource
 * provider (its features first). They are kept on `pulumi destroy` (`retainOnDelete`, and the
 * provider's delete does nothing): other stacks and workloads of the subscription use them too.
 */
export class SubscriptionPrerequisites extends pulumi.ComponentResource {
  private readonly registrations = new Map<string, AzureProviderRegistration>();

  constructor(name: string, args: SubscriptionPrerequisitesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iom:subscription:Prerequisites", name, {}, opts);
    for (const p of args.prerequisites) {
      const slug = p.namespace.toLowerCase().replace(/^microsoft\./, "").replace(/[^a-z0-9]+/g, "-");
      this.registrations.set(p.namespace, new AzureProviderRegistration(`${name}-${slug}`, {
        subscriptionId: args.subscriptionId,
        namespace: p.namespace,
        features: p.features,
        mode: args.mode,
        armUrl: args.armUrl,
      }, { parent: this, retainOnDelete: true }));
    }
    this.registerOutputs({ namespaces: [...this.registrations.keys()] });
  }

  /** What a resource that needs `namespace` must wait for: its registration, or nothing when the stack needs none. */
  dependencyFor(namespace: string): pulumi.Resource[] {
    const registration = this.registrations.get(namespace);
    return registration ? [registration] : [];
  }
}
