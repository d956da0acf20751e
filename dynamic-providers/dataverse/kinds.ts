/**
 * The mapping kinds this resource knows, and what each one points at. Pure data: safe to import from
 * the program, from the provider (lazily) and from tests.
 *
 * The kinds are the ones IOM's "Internal External ID mapping" page lists (accounts, products, price
 * lists, warehouses, currencies, unit groups, units). The target tables and their business-key
 * columns are standard Dataverse names from Microsoft's table reference; the IOM mapping table itself
 * is always discovered (see schema.ts). A stack can point a kind at another target table and key
 * column with the schema override keys `targetTable` / `targetKey` (docs/dataverse.md).
 */

export const MAPPING_KINDS = ["accounts", "pricelists", "units", "products", "warehouses", "currencies", "unitgroups"] as const;
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
  /**
   * IOM's form for this kind has an optional Account (product, price list and unit mappings), so a
   * row can be scoped to one customer account with the CSV column `account`.
   */
  accountScoped: boolean;
}

export const KINDS: Record<MappingKind, KindSpec> = {
  accounts: {
    // IOM's account mapping form shows a "Customer" field: a Customer lookup (account or contact);
    // schema.ts binds through the relationship whose referenced table is `account`.
    targetTable: "account",
    keyColumns: { accountNumber: "accountnumber", accountName: "name" },
    displayWords: ["account"],
    excludeWords: [],
    accountScoped: false,
  },
  pricelists: {
    targetTable: "pricelevel",
    keyColumns: { priceListName: "name" },
    displayWords: ["price", "list"],
    excludeWords: [],
    accountScoped: true,
  },
  units: {
    targetTable: "uom",
    keyColumns: { unitName: "name" },
    displayWords: ["unit"],
    excludeWords: ["group", "groups", "schedule"],
    accountScoped: true,
  },
  products: {
    targetTable: "product",
    keyColumns: { productNumber: "productnumber", productName: "name" },
    displayWords: ["product"],
    excludeWords: [],
    accountScoped: true,
  },
  warehouses: {
    // Warehouse (msdyn_warehouse), primary name msdyn_name: Field Service / Supply Chain table
    // reference. That IOM's warehouse mapping points at this table is not published (its form only
    // says "Warehouse"); override with targetTable=/targetKey= if your environment differs.
    targetTable: "msdyn_warehouse",
    keyColumns: { warehouseName: "msdyn_name" },
    displayWords: ["warehouse"],
    excludeWords: [],
    accountScoped: false,
  },
  currencies: {
    // Currency (TransactionCurrency): ISOCurrencyCode (display "Currency Code"), primary name currencyname.
    targetTable: "transactioncurrency",
    keyColumns: { isoCurrencyCode: "isocurrencycode", currencyName: "currencyname" },
    displayWords: ["currency"],
    excludeWords: [],
    accountScoped: false,
  },
  unitgroups: {
    // Unit Group (UoMSchedule), primary name `name`.
    targetTable: "uomschedule",
    keyColumns: { unitGroupName: "name" },
    displayWords: ["unit", "group"],
    excludeWords: [],
    accountScoped: false,
  },
};

export const DEFAULT_MAPPING_GROUP = "Default Mapping Group";

/** Customer accounts are resolved by account number first, then by name (CSV column `account`). */
export const ACCOUNT_TABLE = "account";
export const ACCOUNT_KEY_COLUMNS = ["accountnumber", "name"] as const;

export function isMappingKind(s: string): s is MappingKind {
  return (MAPPING_KINDS as readonly string[]).includes(s);
}

/** The stack configuration key holding a kind's schema override, e.g. `dataverseProductsSchema`. */
export function schemaOverrideConfigKey<K extends MappingKind>(kind: K): `dataverse${Capitalize<K>}Schema` {
  return `dataverse${kind.charAt(0).toUpperCase()}${kind.slice(1)}Schema` as `dataverse${Capitalize<K>}Schema`;
}
