/**
 * No two stacks may point at the same environment or the same globally unique names: across every
 * Pulumi.<stack>.yaml, a value that identifies a Power Platform / Dataverse environment, an address
 * range, or a name Azure or the gateway service keeps unique, belongs to one stack only. A stack
 * copied from another one and not fully changed would otherwise write its ID mappings and provider
 * parameters into the other stack's IOM environment, or collide with its Azure names.
 *
 * `npm run plan` (plan/cli.ts) refuses to plan when the check fails, and tests/unit/stack-isolation.test.ts
 * runs it over the committed stacks, so `npm test` fails too. Pure except `loadStackSettings`, which
 * reads the stack files as the offline plan does.
 */
import { overlaps, parseCidr, type Cidr } from "../cidr";
import { parseStackConfig, type StackConfig } from "../config";
import { gatewayClusterName, keyVaultName, resourceName, storageAccountName } from "../naming";
import { rawStackConfig, type ConfigChanges } from "../stack-config";

/** One stack's settings as the program sees them: raw values (defaults applied) and the validated view. */
export interface StackSettings {
  stack: string;
  raw: Readonly<Record<string, string | undefined>>;
  config: StackConfig;
}

/**
 * Config keys that identify the Power Platform / Dataverse environment a stack works on. A key a
 * stack does not have (not declared yet, or empty) is skipped, so a key that another change adds
 * (e.g. `powerPlatformDomainName`) only needs its line here.
 */
export const ENVIRONMENT_KEYS: readonly { key: string; what: string; normalize: (value: string) => string }[] = [
  { key: "dataverseEnvironmentUrl", what: "Dataverse URL", normalize: (v) => v.trim().toLowerCase().replace(/\/+$/, "") },
  { key: "organizationId", what: "Dataverse organization id", normalize: (v) => v.trim().toLowerCase() },
  { key: "powerPlatformEnvironmentId", what: "Power Platform environment id", normalize: (v) => v.trim().toLowerCase() },
  { key: "powerPlatformDomainName", what: "environment domain name", normalize: (v) => v.trim().toLowerCase() },
];

/** The keys the names below are derived from (naming.ts): changing any one of them changes all names. */
const NAMING_KEYS = "environment, businessUnit or regionCode/location";

/**
 * Names that must be unique beyond one stack's resource group, computed with naming.ts. Storage
 * account and Key Vault names are global DNS names: a random suffix follows the derived part, so
 * two stacks with the same derived part differ only by chance and are the same stack to a reader.
 */
function uniqueNames(config: StackConfig): { what: string; name: string }[] {
  const naming = config.naming;
  return [
    { what: "storage account", name: `${storageAccountName(naming, "")}<random>` },
    { what: "Key Vault", name: `${keyVaultName(naming, "")}<random>` },
    // Unique per subscription (stacks commonly share one).
    { what: "resource group", name: resourceName(naming, "rg") },
    // Unique per tenant in the gateway service ("it must be unique across the tenant", Microsoft's
    // "Install an on-premises data gateway").
    ...(config.gateway ? [{ what: "gateway cluster", name: gatewayClusterName(naming) }] : []),
  ];
}

/** The address ranges a stack deploys, by the key that sets each. */
function addressRanges(config: StackConfig): { key: string; block: Cidr }[] {
  const ranges = [{ key: "vnetAddressSpace", text: config.network.addressSpace }];
  const failover = config.powerPlatformVnet?.failover?.addressSpace;
  if (failover) ranges.push({ key: "powerPlatformFailoverAddressSpace", text: failover });
  return ranges.flatMap(({ key, text }) => {
    const block = parseCidr(text);
    return block ? [{ key, block }] : [];
  });
}

/** One value two stacks share, worded for the operator who has to change it. */
export interface SharedValue {
  /** The config keys to change (one per side; the same key on both sides for most). */
  keys: string[];
  stacks: [string, string];
  message: string;
}

/** Every value two of the stacks share, each pair of stacks once per value. */
export function sharedValues(stacks: readonly StackSettings[]): SharedValue[] {
  const found: SharedValue[] = [];
  for (let i = 0; i < stacks.length; i++) {
    for (let j = i + 1; j < stacks.length; j++) {
      const [a, b] = [stacks[i], stacks[j]];
      const pair: [string, string] = [a.stack, b.stack];
      for (const { key, what, normalize } of ENVIRONMENT_KEYS) {
        const [va, vb] = [a.raw[key], b.raw[key]];
        if (!va || !vb || normalize(va) !== normalize(vb)) continue;
        found.push({ keys: [key], stacks: pair, message: `${key}: ${a.stack} and ${b.stack} both name the ${what} '${va}'` });
      }
      for (const ra of addressRanges(a.config)) {
        for (const rb of addressRanges(b.config)) {
          if (!overlaps(ra.block, rb.block)) continue;
          const keys = ra.key === rb.key ? [ra.key] : [ra.key, rb.key];
          found.push({ keys, stacks: pair, message: `${ra.key} of ${a.stack} (${ra.block.text}) overlaps ${rb.key} of ${b.stack} (${rb.block.text})` });
        }
      }
      const namesOfB = new Map(uniqueNames(b.config).map((n) => [n.name, n.what]));
      const sameNames = uniqueNames(a.config).filter((n) => namesOfB.has(n.name));
      if (sameNames.length > 0) {
        found.push({
          keys: ["environment", "businessUnit", "regionCode"],
          stacks: pair,
          message: `${a.stack} and ${b.stack} derive the same ${sameNames.map((n) => `${n.what} name '${n.name}'`).join(", ")}: change ${NAMING_KEYS}`,
        });
      }
    }
  }
  return found;
}

/** The error text for shared values: one line each, then what to do. */
export function describeSharedValues(shared: readonly SharedValue[]): string {
  const stacks = [...new Set(shared.flatMap((s) => s.stacks))].sort();
  return [
    `Stacks ${stacks.join(", ")} share ${shared.length} value${shared.length === 1 ? "" : "s"} that must belong to one stack only:`,
    ...shared.map((s) => `  - ${s.message}`),
    "A stack copied from another one must get its own environment, address plan and names: see README.md, \"How to change things\", A stack.",
  ].join("\n");
}

/** A stack's settings from its Pulumi.<stack>.yaml (with `changes`), as the program would see them. */
export function loadStackSettings(stack: string, changes: ConfigChanges = {}, as: string = stack): StackSettings {
  const { raw, secretKeys } = rawStackConfig(stack, changes);
  return { stack: as, raw, config: parseStackConfig(as, raw, secretKeys) };
}

/**
 * Throws when any two of `stacks` share a value, naming the keys and the stacks; `involving` limits
 * the report to pairs that include one of those stacks (a plan of one stack reports its own).
 */
export function checkStackIsolation(stacks: readonly string[], involving: readonly string[] = stacks): void {
  const shared = sharedValues(stacks.map((s) => loadStackSettings(s))).filter((s) => s.stacks.some((x) => involving.includes(x)));
  if (shared.length > 0) throw new Error(describeSharedValues(shared));
}
