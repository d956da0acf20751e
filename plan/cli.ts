/**
 * `npm run plan -- <stack> | --all [--json <file>] [--check] [--write]`
 *
 * The offline plan: what `pulumi preview` would declare for a stack, with no Pulumi CLI, cloud
 * account or network. Prints a tree, runs the policy pack's rules over it, and compares it with the
 * committed plan/snapshots/<stack>.json so every infrastructure change shows up as a reviewable diff.
 *
 * Exit codes: 0 clean; 1 policy violations or a plan that differs from the committed one;
 * 2 usage or configuration error, including two stacks that share an environment, an address range
 * or a globally unique name (plan/stack-isolation.ts).
 */
import { createTwoFilesPatch } from "diff";
import * as fs from "fs";
import * as path from "path";
import { parseArgs } from "util";
import { evaluate, PLAN_UNKNOWN, type Violation } from "../policy/rules";
import type { PlannedResource, StackPlan } from "./capture";

import { listStacks, ROOT } from "../stack-config";

const SNAPSHOTS_DIR = path.join(ROOT, "plan", "snapshots");
const USAGE = "usage: npm run plan -- <stack> | --all [--json <file>] [--check] [--write]";

class UsageError extends Error {}

/** Stable text of a plan: sorted keys, two-space indent, trailing newline. */
export function serializePlan(plan: StackPlan): string {
  return `${JSON.stringify(plan, null, 2)}\n`;
}

function summarize(value: unknown, prefix = "", depth = 0): string[] {
  if (value === null || typeof value !== "object") {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    return [`${prefix}=${text.length > 60 ? `${text.slice(0, 57)}...` : text}`];
  }
  if (Array.isArray(value)) {
    if (value.every((v) => v === null || typeof v !== "object")) return [`${prefix}=[${value.join(",")}]`];
    return [`${prefix}=[${value.length} item${value.length === 1 ? "" : "s"}]`];
  }
  if (depth >= 2) return [`${prefix}={...}`];
  return Object.entries(value).flatMap(([k, v]) => summarize(v, prefix ? `${prefix}.${k}` : k, depth + 1));
}

/** Settings a security review looks at first; the rest follow in name order. */
const FIRST = [
  "mode", "domainName", "sku",
  "kind", "sku.name", "publicNetworkAccess", "allowSharedKeyAccess", "allowBlobPublicAccess", "minimumTlsVersion",
  "properties.publicNetworkAccess", "properties.enableRbacAuthorization", "properties.enablePurgeProtection",
  "properties.softDeleteRetentionInDays", "hardwareProfile.vmSize", "zones", "securityProfile.securityType",
];

/**
 * Settings worth a reviewer's eye: everything but the resource group, location and tags. An input a
 * preview cannot know yet but that comes from other resources shows where from: `[from <name>]`.
 */
function keySettings(resource: PlannedResource): string {
  const skip = new Set(["resourceGroupName", "location", "tags", "source", "__provider"]);
  const rank = (s: string) => { const i = FIRST.indexOf(s.slice(0, s.indexOf("="))); return i < 0 ? FIRST.length : i; };
  const shown = (k: string, v: unknown) => (v === PLAN_UNKNOWN && resource.references?.[k] ? `[from ${resource.references[k].join(", ")}]` : v);
  const settings = Object.entries(resource.inputs).filter(([k]) => !skip.has(k)).flatMap(([k, v]) => summarize(shown(k, v), k))
    .map((s, i) => ({ s, i })).sort((a, b) => rank(a.s) - rank(b.s) || a.i - b.i).map((x) => x.s);
  const first = settings.slice(0, 10);
  return first.join("  ") + (settings.length > first.length ? `  (+${settings.length - first.length} more)` : "");
}

export function renderTree(plan: StackPlan, violations: Violation[]): string {
  const lines = [`Stack ${plan.stack} (${plan.project}): ${plan.resources.length} resources`];
  const children = new Map<string | undefined, PlannedResource[]>();
  for (const r of plan.resources) children.set(r.parent, [...(children.get(r.parent) ?? []), r]);
  const walk = (parent: string | undefined, indent: string) => {
    const list = children.get(parent) ?? [];
    list.forEach((r, i) => {
      const last = i === list.length - 1;
      const settings = r.type.startsWith("iom:") ? "" : `  ${keySettings(r)}`;
      lines.push(`${indent}${last ? "└─" : "├─"} ${r.type} ${r.name}${settings}`);
      walk(r.name, `${indent}${last ? "   " : "│  "}`);
    });
  };
  walk(undefined, "");
  lines.push("Outputs:");
  for (const setting of Object.entries(plan.outputs).flatMap(([k, v]) => summarize(v, k))) lines.push(`  ${setting}`);
  lines.push(violations.length === 0 ? "Policies: no violations" : `Policies: ${violations.length} violation(s)`);
  for (const v of violations) lines.push(`  ✗ [${v.policy}] ${v.type} ${v.resource}: ${v.message}`);
  return lines.join("\n");
}

export function planViolations(plan: StackPlan): Violation[] {
  return evaluate(plan.resources.map((r) => ({ type: r.type, name: r.name, props: r.inputs, references: r.references })));
}

/** A unified diff of the committed plan against the current one, or undefined when they match. */
export function diffAgainstCommitted(plan: StackPlan): string | undefined {
  const file = path.join(SNAPSHOTS_DIR, `${plan.stack}.json`);
  const committed = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  const current = serializePlan(plan);
  if (committed === current) return undefined;
  return createTwoFilesPatch(`plan/snapshots/${plan.stack}.json (committed)`, `plan/snapshots/${plan.stack}.json (from code and config)`, committed, current, "", "", { context: 3 });
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      all: { type: "boolean", default: false },
      json: { type: "string" },
      check: { type: "boolean", default: false },
      write: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const known = listStacks();
  const stacks = values.all ? known : positionals;
  if (stacks.length === 0 || (values.all && positionals.length > 0)) throw new UsageError(USAGE);
  for (const s of stacks) if (!known.includes(s)) throw new UsageError(`unknown stack '${s}': no Pulumi.${s}.yaml (stacks: ${known.join(", ")})`);
  if (values.json && stacks.length > 1) throw new UsageError("--json takes one stack; with --all use --write to update plan/snapshots/<stack>.json");
  // No stack may share its environment, address ranges or unique names with another: refused before
  // anything is planned (plan/stack-isolation.ts).
  const { checkStackIsolation } = await import("./stack-isolation");
  checkStackIsolation(known, stacks);

  // Loaded only now, so usage errors answer without loading the Pulumi SDK; the serialization
  // check starts first, so that its child (if any) works while this process loads the program.
  const { startProviderSerializationCheck } = await import("./provider-serialization");
  const serialization = startProviderSerializationCheck();
  const { captureStackPlan } = await import("./capture");
  const plans: StackPlan[] = [];
  try {
    for (const stack of stacks) plans.push(await captureStackPlan(stack));
  } catch (err) {
    serialization.stop();
    throw err;
  }
  let status = 0;
  for (const plan of plans) {
    const violations = planViolations(plan);
    console.log(renderTree(plan, violations));
    console.log("");
    if (violations.length > 0) status = 1;
    if (values.json) fs.writeFileSync(path.resolve(values.json), serializePlan(plan));
    if (values.write) {
      fs.mkdirSync(SNAPSHOTS_DIR, { recursive: true });
      fs.writeFileSync(path.join(SNAPSHOTS_DIR, `${plan.stack}.json`), serializePlan(plan));
      console.log(`wrote plan/snapshots/${plan.stack}.json`);
    }
    if (values.check) {
      const diff = diffAgainstCommitted(plan);
      if (diff) {
        status = 1;
        console.log(`plan/snapshots/${plan.stack}.json is out of date: the code or config now plans this instead (run 'npm run plan -- --all --write' and commit the result if the change is intended):`);
        console.log(diff);
      } else {
        console.log(`plan/snapshots/${plan.stack}.json matches the code and config.`);
      }
    }
  }
  const { results, cached } = await serialization.finish();
  const problems = results.filter((r) => r.problem !== undefined);
  if (problems.length > 0) {
    status = 1;
    console.log(`Dynamic providers: ${problems.length} cannot be serialized, so 'pulumi preview' would fail:`);
    for (const p of problems) console.log(`  ✗ ${p.provider}: ${p.problem}`);
  } else {
    console.log(`Dynamic providers: all ${results.length} serialize as 'pulumi preview' serializes them${cached ? " (unchanged since the last check)" : ""}.`);
  }
  return status;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (err: Error) => {
      console.error(err.message); // usage and config errors already say what to fix
      process.exitCode = 2;
    },
  );
}
