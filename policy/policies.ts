/**
 * The rules of policy/rules.ts as @pulumi/policy policies, all mandatory. Kept apart from index.ts,
 * whose PolicyPack starts the analyzer the CLI talks to, so tests can call the policies directly.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { RESOURCE_RULES, STACK_RULES } from "./rules";

export const resourcePolicies: ResourceValidationPolicy[] = RESOURCE_RULES.map((rule) => ({
  name: rule.name,
  description: rule.description,
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (!rule.types.includes(args.type)) return;
    for (const message of rule.check({ type: args.type, name: args.name, props: args.props })) reportViolation(message);
  },
}));

export const stackPolicies: StackValidationPolicy[] = STACK_RULES.map((rule) => ({
  name: rule.name,
  description: rule.description,
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const resources = args.resources.map((r) => ({
      type: r.type,
      name: r.name,
      props: r.props,
      references: Object.fromEntries(Object.entries(r.propertyDependencies ?? {}).map(([prop, deps]) => [prop, deps.map((d) => d.name)])),
    }));
    for (const { resource, message } of rule.check(resources)) {
      reportViolation(message, args.resources.find((r) => r.name === resource.name && r.type === resource.type)?.urn);
    }
  },
}));

