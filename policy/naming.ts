/**
 * The shapes of the names the naming function (naming.ts) gives Azure resources. They live here,
 * inside the policy pack, because the pack checks names and must stand alone (it is loaded by
 * `pulumi preview --policy-pack policy` from this folder); naming.ts re-exports them, so the
 * program and the pack share one definition.
 */

export const WORKLOAD = "iom";

export interface NamingContext {
  businessUnit: string;
  environment: string;
  regionCode: string;
}

/** Cloud Adoption Framework abbreviations for the resource kinds this program declares. */
export type ResourceKind =
  | "rg" | "vnet" | "snet" | "nsg" | "pep" | "nic" | "vm" | "osdisk" | "ng" | "pip" | "epol" | "lock" | "peer"
  | "log" | "dcr" | "ag" | "alert" | "fl" | "bas";

/** `<abbr>-iom-<bu>-<env>-<region>[-<suffix>]`, e.g. `vnet-iom-retail-prod-weu`. */
export function resourceName(ctx: NamingContext, kind: ResourceKind, suffix?: string): string {
  const parts = [kind, WORKLOAD, ctx.businessUnit, ctx.environment, ctx.regionCode];
  if (suffix) parts.push(suffix);
  return parts.join("-");
}

const STORAGE_ACCOUNT_PREFIX = `st${WORKLOAD}`;
const KEY_VAULT_PREFIX = `kv-${WORKLOAD}`;

/** Storage accounts: 3-24 lowercase letters and digits, globally unique: `stiom<bu><env><region><random>`. */
export function storageAccountName(ctx: NamingContext, uniqueSuffix: string): string {
  return `${STORAGE_ACCOUNT_PREFIX}${ctx.businessUnit}${ctx.environment}${ctx.regionCode}${uniqueSuffix}`;
}

/** Key vaults: 3-24 letters, digits and single hyphens, globally unique: `kv-iom<bu><env><region><random>`. */
export function keyVaultName(ctx: NamingContext, uniqueSuffix: string): string {
  return `${KEY_VAULT_PREFIX}${ctx.businessUnit}${ctx.environment}${ctx.regionCode}${uniqueSuffix}`;
}

/** Placeholders that show a name's shape in messages, e.g. `rg-iom-<bu>-<env>-<region>`. */
export const NAMING_PLACEHOLDERS: NamingContext = { businessUnit: "<bu>", environment: "<env>", regionCode: "<region>" };

/**
 * Patterns matching the names above whatever the context, for checks that see a name but not the
 * context it was made from (the policy pack).
 */
export const NAME_PATTERNS = {
  /** `resourceName(ctx, kind)`, or with `suffixed` `resourceName(ctx, kind, suffix)`. */
  resource: (kind: ResourceKind, suffixed: boolean): RegExp =>
    new RegExp(suffixed ? `^${kind}-${WORKLOAD}-[a-z0-9-]+$` : `^${kind}-${WORKLOAD}-[a-z0-9]+-[a-z0-9]+-[a-z0-9]+$`),
  storageAccount: new RegExp(`^${STORAGE_ACCOUNT_PREFIX}[a-z0-9]{3,${24 - STORAGE_ACCOUNT_PREFIX.length}}$`),
  keyVault: new RegExp(`^${KEY_VAULT_PREFIX}[a-z0-9]{3,${24 - KEY_VAULT_PREFIX.length}}$`),
} as const;
