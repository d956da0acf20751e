/**
 * Metadata of the emulated environment: the standard target tables with their real logical names,
 * and an IOM-like set of mapping tables with *invented* logical names and columns (prefix `zq1_`),
 * so the client has to discover them from display names and lookup targets exactly as it must on a
 * real environment, where IOM's names are not published. Decoys make discovery non-trivial:
 * a "Unit Group Mapping" table, a "Product Mapping Import Log" table with a product lookup but no
 * external field columns, and the "Mapping Group" table itself.
 */

export type AttrType = "Uniqueidentifier" | "String" | "Memo" | "Lookup" | "Customer" | "Integer" | "Picklist" | "State" | "Status" | "DateTime";

/**
 * Types whose values the Web API sends as JSON numbers (Integer; choice columns as their option
 * values, "Query data using the Web API": a formatted value is a separate annotation).
 */
export const NUMERIC_TYPES: readonly AttrType[] = ["Integer", "Picklist", "State", "Status"];

/** A display name: English only, or per LCID (1033 English, 1031 German). */
export type Labels = string | Record<number, string>;

export interface AttrDef {
  logicalName: string;
  schemaName?: string;
  displayName: Labels;
  type: AttrType;
  /** Lookup: referenced table and the navigation property name used for @odata.bind / $expand. */
  target?: string;
  nav?: string;
  /** Customer (polymorphic) lookup: one referenced table and navigation property per relationship. */
  targets?: { table: string; nav: string }[];
  /**
   * String: the most characters the column takes (StringAttributeMetadata.MaxLength; 4,000 at most,
   * StringAttributeMetadata.MaxSupportedLength). Default 4,000.
   */
  maxLength?: number;
}

export interface TableDef {
  logicalName: string;
  schemaName?: string;
  entitySetName: string;
  displayName: Labels;
  primaryId: string;
  primaryName: string;
  attributes: AttrDef[];
  /** Supports CreateMultiple / UpdateMultiple. */
  bulk: boolean;
}

export const isLookup = (a: AttrDef): boolean => a.type === "Lookup" || a.type === "Customer";

/** The tables (and navigation properties) a lookup references. */
export function refsOf(a: AttrDef): { table: string; nav: string }[] {
  if (a.targets) return a.targets;
  return a.target && a.nav ? [{ table: a.target, nav: a.nav }] : [];
}

function table(
  logicalName: string,
  entitySetName: string,
  displayName: Labels,
  primaryName: string,
  extra: AttrDef[],
  bulk = true,
): TableDef {
  return {
    logicalName,
    entitySetName,
    displayName,
    primaryId: `${logicalName}id`,
    primaryName,
    bulk,
    attributes: [
      { logicalName: `${logicalName}id`, displayName: displayName, type: "Uniqueidentifier" },
      { logicalName: primaryName, displayName: { 1033: "Name", 1031: "Name" }, type: "String" },
      ...extra,
    ],
  };
}

function mappingTable(logicalName: string, set: string, display: string, targetTable: string, targetAttr: string, targetNav: string, targetDisplay: string, bulk: boolean): TableDef {
  return table(logicalName, set, display, "zq1_name", [
    // Lengths invented, like the names: IOM's are not published.
    { logicalName: "zq1_extfld", displayName: "External Field Name", type: "String", maxLength: 100 },
    { logicalName: "zq1_extval", displayName: "External Field Value", type: "String", maxLength: 4000 },
    { logicalName: "zq1_grp", displayName: "Mapping Group", type: "Lookup", target: "zq1_mapgroup", nav: "zq1_Grp" },
    { logicalName: "zq1_prov", displayName: "Provider", type: "Lookup", target: "msdyn_iomprovider", nav: "zq1_Prov" },
    { logicalName: targetAttr, displayName: targetDisplay, type: "Lookup", target: targetTable, nav: targetNav },
  ], bulk);
}

export const EMULATOR_TABLES: TableDef[] = [
  table("account", "accounts", "Account", "name", [{ logicalName: "accountnumber", displayName: "Account Number", type: "String" }]),
  table("pricelevel", "pricelevels", "Price List", "name", []),
  table("uom", "uoms", "Unit", "name", []),
  table("uomschedule", "uomschedules", "Unit Group", "name", []),
  table("contact", "contacts", "Contact", "fullname", []),
  // Currency (TransactionCurrency): ISOCurrencyCode, display "Currency Code" (Dataverse table reference).
  table("transactioncurrency", "transactioncurrencies", "Currency", "currencyname", [{ logicalName: "isocurrencycode", displayName: "Currency Code", type: "String" }]),
  // Warehouse (msdyn_warehouse), primary name msdyn_name (Field Service table reference).
  table("msdyn_warehouse", "msdyn_warehouses", "Warehouse", "msdyn_name", []),
  table("product", "products", "Product", "name", [{ logicalName: "productnumber", displayName: "Product ID", type: "String" }]),
  // Documented IOM table name; its columns are not published, so the emulator invents them.
  table("msdyn_iomprovider", "msdyn_iomproviders", "IOM Provider", "zq1_providerlabel", []),
  table("zq1_mapgroup", "zq1_mapgroups", "IOM Mapping Group", "zq1_grpname", []),
  mappingTable("zq1_accmap", "zq1_accmaps", "IOM Account Mapping", "account", "zq1_acct", "zq1_Acct", "Account", true),
  mappingTable("zq1_plmap", "zq1_plmaps", "IOM Price List Mapping", "pricelevel", "zq1_pricelist", "zq1_PriceList", "Price List", true),
  // Units: no bulk messages, so the client must fall back to $batch.
  mappingTable("zq1_uommap", "zq1_uommaps", "IOM Unit Mapping", "uom", "zq1_unit", "zq1_Unit", "Unit", false),
  mappingTable("zq1_uomgrpmap", "zq1_uomgrpmaps", "IOM Unit Group Mapping", "uomschedule", "zq1_unitgroup", "zq1_UnitGroup", "Unit Group", false),
  mappingTable("zq1_prodmap", "zq1_prodmaps", "IOM Product Mapping", "product", "zq1_prod", "zq1_Prod", "Product", true),
  mappingTable("zq1_whmap", "zq1_whmaps", "IOM Warehouse Mapping", "msdyn_warehouse", "zq1_wh", "zq1_Wh", "Warehouse", true),
  mappingTable("zq1_curmap", "zq1_curmaps", "IOM Currency Mapping", "transactioncurrency", "zq1_cur", "zq1_Cur", "Currency", true),
  table("zq1_prodmaplog", "zq1_prodmaplogs", "IOM Product Mapping Import Log", "zq1_name", [
    { logicalName: "zq1_prod", displayName: "Product", type: "Lookup", target: "product", nav: "zq1_Prod" },
    { logicalName: "zq1_msg", displayName: "Message", type: "String" },
  ]),
];

/** Where each kind's mapping table lives in the emulator (for tests only; the client discovers it). */
export const EMULATOR_MAPPING_TABLE = {
  accounts: { table: "zq1_accmap", target: "zq1_acct" },
  pricelists: { table: "zq1_plmap", target: "zq1_pricelist" },
  units: { table: "zq1_uommap", target: "zq1_unit" },
  products: { table: "zq1_prodmap", target: "zq1_prod" },
  warehouses: { table: "zq1_whmap", target: "zq1_wh" },
  currencies: { table: "zq1_curmap", target: "zq1_cur" },
  unitgroups: { table: "zq1_uomgrpmap", target: "zq1_unitgroup" },
} as const;

// ---- Other shapes of the same IOM data, as real orgs have them ----------------------------------
//
// Publisher prefix `cr7f3_` (fictional). IOM's published forms differ by version: the 2021 product
// mapping has IOM Provider, Account (optional), Product and External Field Name/Value but no Mapping
// Group; later forms add Mapping Group, and the account mapping shows a "Customer" field (a Customer
// lookup: account or contact). Labels come in English and German, so an org whose base language is
// German (emulator option `language: 1031`) answers UserLocalizedLabel in German.

const L = (en: string, de: string): Labels => ({ 1033: en, 1031: de });

interface Cr7f3Mapping {
  name: string;
  display: Labels;
  target: AttrDef;
  group: boolean;
  account: boolean;
  /** A customiser's column that looks like External Field Value. */
  lookAlike?: boolean;
}

function cr7f3Mapping(m: Cr7f3Mapping): TableDef {
  const attrs: AttrDef[] = [
    { logicalName: "cr7f3_externalfieldname", schemaName: "cr7f3_ExternalFieldName", displayName: L("External Field Name", "Externer Feldname"), type: "String" },
    { logicalName: "cr7f3_externalfieldvalue", schemaName: "cr7f3_ExternalFieldValue", displayName: L("External Field Value", "Externer Feldwert"), type: "String" },
    { logicalName: "cr7f3_iomprovider", schemaName: "cr7f3_IOMProvider", displayName: L("IOM Provider", "IOM-Anbieter"), type: "Lookup", target: "msdyn_iomprovider", nav: "cr7f3_IOMProvider" },
    m.target,
  ];
  if (m.group) attrs.push({ logicalName: "cr7f3_mappinggroup", schemaName: "cr7f3_MappingGroup", displayName: L("Mapping Group", "Zuordnungsgruppe"), type: "Lookup", target: "cr7f3_iommappinggroup", nav: "cr7f3_MappingGroup" });
  if (m.account) attrs.push({ logicalName: "cr7f3_account", schemaName: "cr7f3_Account", displayName: L("Account", "Firma"), type: "Lookup", target: "account", nav: "cr7f3_Account" });
  if (m.lookAlike) attrs.push({ logicalName: "cr7f3_externalfieldvaluenorm", schemaName: "cr7f3_ExternalFieldValueNorm", displayName: L("External Field Value (Normalized)", "Externer Feldwert (normalisiert)"), type: "String" });
  const t = table(m.name, `${m.name}s`, m.display, "cr7f3_name", attrs);
  t.schemaName = m.name;
  return t;
}

const cr7f3Common = (group: boolean): TableDef[] => [
  table("account", "accounts", L("Account", "Firma"), "name", [{ logicalName: "accountnumber", displayName: L("Account Number", "Kontonummer"), type: "String" }]),
  table("contact", "contacts", L("Contact", "Kontakt"), "fullname", []),
  table("product", "products", L("Product", "Produkt"), "name", [{ logicalName: "productnumber", displayName: L("Product ID", "Produkt-ID"), type: "String" }]),
  table("msdyn_iomprovider", "msdyn_iomproviders", L("IOM Provider", "IOM-Anbieter"), "cr7f3_providerlabel", []),
  ...(group ? [table("cr7f3_iommappinggroup", "cr7f3_iommappinggroups", L("IOM Mapping Group", "IOM-Zuordnungsgruppe"), "cr7f3_groupname", [])] : []),
];

const productTarget: AttrDef = { logicalName: "cr7f3_product", schemaName: "cr7f3_Product", displayName: L("Product", "Produkt"), type: "Lookup", target: "product", nav: "cr7f3_Product" };

/** IOM as its 2021 forms show it: product mapping with IOM Provider and an optional Account, no Mapping Group. */
export function iomTables2021(): TableDef[] {
  return [...cr7f3Common(false), cr7f3Mapping({ name: "cr7f3_iomproductmapping", display: L("IOM Product Mapping", "IOM-Produktzuordnung"), target: productTarget, group: false, account: true })];
}

/**
 * IOM as later forms show it: Mapping Group everywhere, the account mapping's "Customer" field (a
 * Customer lookup to account or contact), and a customiser's look-alike column on the product mapping.
 */
export function iomTablesLater(): TableDef[] {
  const customer: AttrDef = {
    logicalName: "cr7f3_customer",
    schemaName: "cr7f3_Customer",
    displayName: L("Customer", "Kunde"),
    type: "Customer",
    targets: [
      // Metadata lists relationships in no documented order; contact first, so that a client which
      // takes the first relationship of a Customer lookup binds the wrong table.
      { table: "contact", nav: "cr7f3_customer_contact" },
      { table: "account", nav: "cr7f3_customer_account" },
    ],
  };
  return [
    ...cr7f3Common(true),
    cr7f3Mapping({ name: "cr7f3_iomaccountmapping", display: L("IOM Account Mapping", "IOM-Firmenzuordnung"), target: customer, group: true, account: false }),
    cr7f3Mapping({ name: "cr7f3_iomproductmapping", display: L("IOM Product Mapping", "IOM-Produktzuordnung"), target: productTarget, group: true, account: true, lookAlike: true }),
  ];
}
