/**
 * The mapping kinds this resource knows, and what each one points at. Pure data: safe to import from
 * the program, from the provider (lazily) and from tests.
 *
 * Adding a kind (warehouses, currencies, unit groups) is one entry here plus its CSV: the target
 * table and the business-key column(s) are standard Dataverse names; the IOM mapping table is
 * always discovered (see schema.ts).
 */

export const MAPPING_KINDS = ["accounts", "pricelists", "units", "products"] as const;
export type MappingKind = (typeof MAPPING_KINDS)[number];

export interface KindSpec {
  /** Logical name of the standard Dataverse table the mapping points at. */
  targetTable: string;
  /** CSV header of the business-key column, mapped to the target table's key column. */
  keyColumns: Record<string, string>;
  /** Words that appear in the mapping table's display name ("IOM Product Mapping"). */
  displayWords: string[];
  /** Words that must NOT appear (so "Unit" does not pick "Unit Group" mapping). */
  excludeWords: string[];
}

export const KINDS: Record<MappingKind, KindSpec> = {
  accounts: {
    targetTable: "account",
    keyColumns: { accountNumber: "accountnumber", accountName: "name" },
    displayWords: ["account"],
    excludeWords: [],
  },
  pricelists: {
    targetTable: "pricelevel",
    keyColumns: { priceListName: "name" },
    displayWords: ["price", "list"],
    excludeWords: [],
  },
  units: {
    targetTable: "uom",
    keyColumns: { unitName: "name" },
    displayWords: ["unit"],
    excludeWords: ["group", "schedule"],
  },
  products: {
    targetTable: "product",
    keyColumns: { productNumber: "productnumber", productName: "name" },
    displayWords: ["product"],
    excludeWords: [],
  },
};

export const DEFAULT_MAPPING_GROUP = "Default Mapping Group";

export function isMappingKind(s: string): s is MappingKind {
  return (MAPPING_KINDS as readonly string[]).includes(s);
}
