/**
 * Metadata of the emulated environment: the standard target tables with their real logical names,
 * and an IOM-like set of mapping tables with *invented* logical names and columns (prefix `zq1_`),
 * so the client has to discover them from display names and lookup targets exactly as it must on a
 * real environment, where IOM's names are not published. Decoys make discovery non-trivial:
 * a "Unit Group Mapping" table, a "Product Mapping Import Log" table with a product lookup but no
 * external field columns, and the "Mapping Group" table itself.
 */

export type AttrType = "Uniqueidentifier" | "String" | "Lookup" | "Integer";

export interface AttrDef {
  logicalName: string;
  displayName: string;
  type: AttrType;
  /** Lookup: referenced table and the navigation property name used for @odata.bind / $expand. */
  target?: string;
  nav?: string;
}

export interface TableDef {
  logicalName: string;
  entitySetName: string;
  displayName: string;
  primaryId: string;
  primaryName: string;
  attributes: AttrDef[];
  /** Supports CreateMultiple / UpdateMultiple. */
  bulk: boolean;
}

function table(
  logicalName: string,
  entitySetName: string,
  displayName: string,
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
      { logicalName: primaryName, displayName: "Name", type: "String" },
      ...extra,
    ],
  };
}

function mappingTable(logicalName: string, set: string, display: string, targetTable: string, targetAttr: string, targetNav: string, targetDisplay: string, bulk: boolean): TableDef {
  return table(logicalName, set, display, "zq1_name", [
    { logicalName: "zq1_extfld", displayName: "External Field Name", type: "String" },
    { logicalName: "zq1_extval", displayName: "External Field Value", type: "String" },
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
} as const;
