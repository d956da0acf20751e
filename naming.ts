/**
 * The one naming function. Every Azure name encodes workload, business unit, environment and region
 * (the guide's recommendation), shaped to each resource type's rules. Pure, so config validation can
 * prove every derived name is legal before any resource is declared.
 */
import { WORKLOAD, type NamingContext } from "./policy/naming";

/** Short codes for the regions IOM is commonly deployed near; others need `regionCode` in config. */
export const REGION_CODES: Readonly<Record<string, string>> = {
  australiaeast: "aue",
  australiasoutheast: "ause",
  brazilsouth: "brs",
  canadacentral: "cac",
  canadaeast: "cae",
  centralindia: "inc",
  centralus: "cus",
  eastasia: "ea",
  eastus: "eus",
  eastus2: "eus2",
  francecentral: "frc",
  germanywestcentral: "gwc",
  japaneast: "jpe",
  japanwest: "jpw",
  northcentralus: "ncus",
  northeurope: "neu",
  norwayeast: "noe",
  southafricanorth: "san",
  southcentralus: "scus",
  southeastasia: "sea",
  swedencentral: "sdc",
  switzerlandnorth: "szn",
  uaenorth: "uan",
  uksouth: "uks",
  ukwest: "ukw",
  westcentralus: "wcus",
  westeurope: "weu",
  westus: "wus",
  westus2: "wus2",
  westus3: "wus3",
};

/** Length of the random suffix that makes globally unique names (storage account, key vault) unique. */
export const UNIQUE_SUFFIX_LENGTH = 5;

// The name shapes the policy pack checks (resourceName, storageAccountName, keyVaultName, the
// patterns) are defined in policy/naming.ts, which the pack loads on its own.
export {
  NAME_PATTERNS, NAMING_PLACEHOLDERS, WORKLOAD, keyVaultName, resourceName, storageAccountName, type NamingContext, type ResourceKind,
} from "./policy/naming";

/** Windows computer names: at most 15 characters: `gw<env><region><nn>`, e.g. `gwprodweu01`. */
export function gatewayComputerName(ctx: NamingContext, index: number): string {
  return `gw${ctx.environment}${ctx.regionCode}${String(index + 1).padStart(2, "0")}`;
}

/** The data gateway cluster's name in the Power Platform / Power BI service (unique per tenant). */
export function gatewayClusterName(ctx: NamingContext): string {
  return `gw-${WORKLOAD}-${ctx.businessUnit}-${ctx.environment}-${ctx.regionCode}`;
}

/**
 * The Power Platform environment a stack creates: display name and Dataverse domain, both
 * `iom-<bu>-<env>-<region>` (the guide: "naming the instance of IOM to include environment; location;
 * and business unit"), e.g. https://iom-retail-dev-weu.crm4.dynamics.com.
 */
export function powerPlatformEnvironmentName(ctx: NamingContext): string {
  return `${WORKLOAD}-${ctx.businessUnit}-${ctx.environment}-${ctx.regionCode}`;
}

/** The Dataverse domain of a created environment, unless the stack names one (see powerPlatformEnvironmentName). */
export function powerPlatformDomainName(ctx: NamingContext): string {
  return powerPlatformEnvironmentName(ctx);
}

/** The guide's container names: `d365iomfiledrop<env><region>` and `d365iomerrorfile<env><region>`. */
export function defaultContainerNames(ctx: NamingContext): { fileDrop: string; errorFileDrop: string } {
  return {
    fileDrop: `d365iomfiledrop${ctx.environment}${ctx.regionCode}`,
    errorFileDrop: `d365iomerrorfile${ctx.environment}${ctx.regionCode}`,
  };
}

/** Azure name rules this program relies on; each returns a reason when the name breaks the rule. */
export const NAME_RULES = {
  storageAccount: (name: string): string | undefined =>
    /^[a-z0-9]{3,24}$/.test(name) ? undefined : "must be 3-24 lowercase letters and digits",
  keyVault: (name: string): string | undefined =>
    /^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/.test(name)
      ? undefined
      : "must be 3-24 letters, digits and single hyphens, starting with a letter and not ending with a hyphen",
  computerName: (name: string): string | undefined =>
    /^[a-zA-Z0-9-]{1,15}$/.test(name) && !/^\d+$/.test(name) ? undefined : "must be at most 15 letters, digits or hyphens",
  container: (name: string): string | undefined =>
    /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(name)
      ? undefined
      : "must be 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit",
  resource: (name: string): string | undefined =>
    name.length <= 64 ? undefined : "must be at most 64 characters",
} as const;

