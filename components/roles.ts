import * as authorization from "@pulumi/azure-native/authorization";
import * as pulumi from "@pulumi/pulumi";

/** Built-in Azure role definition ids (the same in every tenant). */
export const BUILT_IN_ROLES = {
  storageBlobDataContributor: "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
  keyVaultSecretsUser: "4633458b-17de-408a-b874-0445c86b69e6",
} as const;

export type BuiltInRole = keyof typeof BUILT_IN_ROLES;

export interface RoleGrant {
  /** Stable key for the Pulumi resource name; for configured principals, the principal id. */
  key: string;
  principalId: pulumi.Input<string>;
  /** Set for managed identities so the assignment does not fail on Entra replication delay. */
  principalType?: "ServicePrincipal" | "User" | "Group";
}

/** Grants one built-in role on one scope to each principal, as children of `parent`. */
export function grantRole(
  parent: pulumi.Resource,
  name: string,
  role: BuiltInRole,
  scope: pulumi.Input<string>,
  subscriptionId: pulumi.Input<string>,
  grants: RoleGrant[],
): authorization.RoleAssignment[] {
  return grants.map((grant) =>
    new authorization.RoleAssignment(`${name}-${grant.key}`, {
      scope,
      principalId: grant.principalId,
      principalType: grant.principalType,
      roleDefinitionId: pulumi.interpolate`/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${BUILT_IN_ROLES[role]}`,
      description: `Granted by ${pulumi.getProject()}/${pulumi.getStack()}`,
    }, { parent }),
  );
}

/** A CanNotDelete lock: data-bearing resources survive a mistaken `pulumi destroy` or portal click. */
export function protectFromDeletion(parent: pulumi.Resource, name: string, scope: pulumi.Input<string>, what: string): authorization.ManagementLockByScope {
  return new authorization.ManagementLockByScope(name, {
    scope,
    level: "CanNotDelete",
    lockName: "do-not-delete",
    notes: `${what} for IOM; remove this lock (resourceLocks=false) before tearing the stack down.`,
  }, { parent });
}
