/**
 * Policy pack for `pulumi preview --policy-pack policy` (and `pulumi up`): the security baseline of
 * policy/rules.ts. The offline plan (`npm run plan`) runs the same rules without the CLI.
 */
import { PolicyPack } from "@pulumi/policy";
import { resourcePolicies, stackPolicies } from "./policies";

new PolicyPack("iom-bigcommerce-baseline", { policies: [...resourcePolicies, ...stackPolicies] });
