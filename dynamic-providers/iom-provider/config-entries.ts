/**
 * The stack's flat form of "provider -> parameter -> value": list entries `Provider/Parameter=value`
 * (Pulumi.yaml has no object type). The provider name ends at the first `/`, the parameter name at
 * the first `=` after it; the value is the rest, as written.
 */

/** The Inventory Visibility provider's mandatory parameters, as Microsoft's setup page names them. */
export const INVENTORY_VISIBILITY_PARAMETERS = {
  fileDropLocation: "Inventory Visibility File Drop Location",
  errorFileDropLocation: "Inventory Visibility Error File Drop Location",
  organizationId: "Inventory Visibility Organization ID",
} as const;

export interface IomProviderParameterEntry {
  provider: string;
  parameter: string;
  value: string;
}

/** Parse entries; problems (with the entry's position) are pushed, never thrown. */
export function parseIomProviderParameterEntries(entries: readonly string[], problems: string[], describe: (index: number) => string): IomProviderParameterEntry[] {
  const out: IomProviderParameterEntry[] = [];
  const seen = new Set<string>();
  entries.forEach((entry, i) => {
    const slash = entry.indexOf("/");
    const eq = slash < 0 ? -1 : entry.indexOf("=", slash);
    const provider = slash < 0 ? "" : entry.slice(0, slash).trim();
    const parameter = eq < 0 ? "" : entry.slice(slash + 1, eq).trim();
    if (!provider || !parameter) {
      problems.push(`${describe(i)} must be 'Provider/Parameter=value' (e.g. 'BigCommerce/Store Hash=abc123')`);
      return;
    }
    const key = `${provider.toLowerCase().replace(/[^a-z0-9]+/g, "")}/${parameter.toLowerCase().replace(/[^a-z0-9]+/g, "")}`;
    if (seen.has(key)) {
      problems.push(`${describe(i)} sets ${provider}/${parameter} a second time`);
      return;
    }
    seen.add(key);
    out.push({ provider, parameter, value: entry.slice(eq + 1) });
  });
  return out;
}
