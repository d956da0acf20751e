/**
 * Every IOM mapping kind (issue 9 item 5), the CSV `account` column (item 4) and what the provider's
 * own `check` refuses (item 7).
 */
import { Harness, startHarness } from "../../emulators/dataverse-harness";
import { EMULATOR_TABLES, TableDef } from "../../emulators/dataverse-schema";
import { KINDS, MAPPING_KINDS } from "../../dynamic-providers/dataverse/kinds";
import { validateMappingCsv } from "../../dynamic-providers/dataverse/validation";
import { decodeKey, encodeKey, mapToRows, ownedId, rowsToMap } from "../../dynamic-providers/dataverse/rows";
import type { IomMappingSetOutputs } from "../../dynamic-providers/dataverse/provider";
import type { RowMap } from "../../dynamic-providers/dataverse/rows";

describe("every mapping kind (item 5)", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(() => h.stop());

  it("covers the seven kinds IOM's ID mapping page lists, each with its own CSV and standard target table", () => {
    expect([...MAPPING_KINDS].sort()).toEqual(["accounts", "currencies", "pricelists", "products", "unitgroups", "units", "warehouses"]);
    expect(Object.fromEntries(MAPPING_KINDS.map((k) => [k, KINDS[k].targetTable]))).toEqual({
      accounts: "account",
      pricelists: "pricelevel",
      units: "uom",
      products: "product",
      warehouses: "msdyn_warehouse",
      currencies: "transactioncurrency",
      unitgroups: "uomschedule",
    });
    for (const [kind, header, row] of [
      ["warehouses", "warehouseName", "warehouse,SEA,Seattle"],
      ["currencies", "isoCurrencyCode", "currency,US$,USD"],
      ["unitgroups", "unitGroupName", "unitGroup,default,Default Unit"],
    ] as const) {
      const { result, problems } = validateMappingCsv(`mappings/dev/${kind}.csv`, `externalFieldName,externalFieldValue,${header}\n${row}\n`);
      expect(problems).toEqual([]);
      expect(result?.kind).toBe(kind);
    }
  });

  it.each([
    ["warehouses", "msdyn_name", { "warehouse=SEA": "Seattle", "warehouse=CHI": "Chicago" }, "zq1_whmap"],
    ["currencies", "isocurrencycode", { "currency=US$": "USD", "currency=EURO": "EUR" }, "zq1_curmap"],
    ["unitgroups", "name", { "unitGroup=default": "Default Unit" }, "zq1_uomgrpmap"],
  ] as const)("%s sync to their IOM mapping table, resolved by %s", async (kind, key, rows, table) => {
    const res = await h.provider.create(h.inputs(rows as RowMap, { kind, targetKeyColumn: key }));
    expect((res.outs as IomMappingSetOutputs).schema.table).toBe(table);
    expect(h.emu.rows(table)).toHaveLength(Object.keys(rows).length);
  });

  it("config can point a kind at another target table and key column (targetTable / targetKey)", async () => {
    await h.stop();
    const site: TableDef = {
      logicalName: "cr7f3_iomwarehouse",
      entitySetName: "cr7f3_iomwarehouses",
      displayName: "IOM Warehouse",
      primaryId: "cr7f3_iomwarehouseid",
      primaryName: "cr7f3_name",
      bulk: true,
      attributes: [
        { logicalName: "cr7f3_iomwarehouseid", displayName: "IOM Warehouse", type: "Uniqueidentifier" },
        { logicalName: "cr7f3_name", displayName: "Name", type: "String" },
        { logicalName: "cr7f3_warehousenumber", displayName: "Warehouse Number", type: "String" },
      ],
    };
    const tables = EMULATOR_TABLES.map((t) =>
      t.logicalName !== "zq1_whmap" ? t : { ...t, attributes: t.attributes.map((a) => (a.logicalName === "zq1_wh" ? { ...a, target: "cr7f3_iomwarehouse" } : a)) },
    );
    h = await startHarness({ tables: [...tables, site] });
    h.emu.insert("cr7f3_iomwarehouse", { cr7f3_name: "Seattle DC", cr7f3_warehousenumber: "WH-10" });
    const rows = { "warehouse=SEA": "WH-10" };
    await expect(h.provider.create(h.inputs(rows, { kind: "warehouses", targetKeyColumn: "msdyn_name" }))).rejects.toThrow(
      /target: no lookup to msdyn_warehouse \(lookups: .*zq1_wh -> cr7f3_iomwarehouse.*\); set targetTable=<table> \(and targetKey=<column>\) or target=<column> in dataverseWarehousesSchema/,
    );
    const res = await h.provider.create(h.inputs(rows, { kind: "warehouses", targetKeyColumn: "msdyn_name", schemaOverride: "targetTable=cr7f3_iomwarehouse;targetKey=cr7f3_warehousenumber" }));
    expect((res.outs as IomMappingSetOutputs).schema.target).toMatchObject({ table: "cr7f3_iomwarehouse", keyColumn: "cr7f3_warehousenumber" });
    expect(h.emu.rows("zq1_whmap")).toHaveLength(1);
  });
});

describe("the account column (item 4)", () => {
  const HEADER = "externalFieldName,externalFieldValue,productNumber,mappingGroup,account\n";

  it("a generic and an account-specific mapping of one value coexist; two rows that contradict each other are an error with file and line", () => {
    const ok = validateMappingCsv("products.csv", HEADER + "sku,ABS,ABS-0001,,\nsku,ABS,P-000001,,C-1001\nsku,ABS,P-000002,,Contoso Retail\n");
    expect(ok.problems).toEqual([]);
    expect(mapToRows(ok.result!.rows, "Default Mapping Group")).toEqual([
      { group: "Default Mapping Group", field: "sku", value: "ABS", target: "ABS-0001" },
      { group: "Default Mapping Group", field: "sku", value: "ABS", target: "P-000001", account: "C-1001" },
      { group: "Default Mapping Group", field: "sku", value: "ABS", target: "P-000002", account: "Contoso Retail" },
    ]);
    const bad = validateMappingCsv("products.csv", HEADER + "sku,ABS,P-000001,,C-1001\nsku,abs,P-000002,,c-1001\nsku,X,P-1,,Bad}Name\n");
    expect(bad.problems).toEqual([
      { file: "products.csv", line: 3, message: 'sku=abs in "Default Mapping Group" for account "c-1001" is mapped to two targets: "P-000001" (line 2) and "P-000002"' },
      { file: "products.csv", line: 4, message: 'account must not contain "}"' },
    ]);
  });

  it("row keys carry the account and round-trip; a generic row keeps the id it had before accounts existed", () => {
    const G = "Default Mapping Group";
    expect(encodeKey("Wholesale", "sku", "A=B", G, "Contoso (EU)")).toBe("{Contoso (EU)} [Wholesale] sku=A=B");
    expect(decodeKey("{Contoso (EU)} [Wholesale] sku=A=B", G)).toEqual({ account: "Contoso (EU)", group: "Wholesale", field: "sku", value: "A=B" });
    const rows = [
      { group: G, field: "sku", value: "A", target: "P-1" },
      { group: G, field: "sku", value: "A", target: "P-2", account: "C-1001" },
    ];
    expect(mapToRows(rowsToMap(rows, G), G)).toEqual(rows);
    expect(ownedId("seed", G, "sku", "A", "")).toBe(ownedId("seed", G, "sku", "A"));
    expect(ownedId("seed", G, "sku", "A", "C-1001")).not.toBe(ownedId("seed", G, "sku", "A"));
  });

  it("only the kinds whose IOM form has an Account take the column", () => {
    for (const kind of ["pricelists", "units", "products"]) expect(KINDS[kind as keyof typeof KINDS].accountScoped).toBe(true);
    const r = validateMappingCsv("accounts.csv", "externalFieldName,externalFieldValue,accountNumber,account\nProviderName,BigCommerce,BC-0001,C-1001\n");
    expect(r.problems).toEqual([{ file: "accounts.csv", line: 1, message: 'column "account" is only for pricelists, units, products (IOM\'s accounts mapping has no Account)' }]);
  });
});

describe("the provider's own check refuses what Dataverse would mangle (item 7)", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(() => h.stop());

  // Rows as a map (any program may send one, with any values), so that the reasons come in its order.
  const reasons = async (rows: Record<string, unknown>, kind: "products" | "accounts" = "products") =>
    ((await h.provider.check!(h.inputs({}), { ...h.inputs({}, kind === "accounts" ? { kind, targetKeyColumn: "name" } : {}), rows: rows as RowMap })).failures ?? []).map((f) => `${f.property}: ${f.reason}`);

  it("empty keys and empty or blank parts, each named", async () => {
    expect(await reasons({ "": "P-1", "sku=": "P-1", "sku=B": "", " =C": "P-1", "[ ] sku=D": "P-1", "sku=E": "  " })).toEqual([
      'rows: "": empty key',
      'rows: "sku=": empty external field value (Dataverse stores an empty string as null)',
      'rows: "sku=B": empty target (Dataverse stores an empty string as null)',
      'rows: " =C": empty external field name (Dataverse stores an empty string as null)',
      'rows: "[ ] sku=D": empty mapping group (Dataverse stores an empty string as null)',
      'rows: "sku=E": empty target (Dataverse stores an empty string as null)',
    ]);
  });

  it("every blank part of one key in one reason, and a part's hidden characters beside it", async () => {
    expect(await reasons({ "{ } [ ]  =": "P-1", "sku=A\u200bB": "P-1", "s\u0007ku=C": "P-1" })).toEqual([
      'rows: "{ } [ ]  =": empty external field name, external field value, mapping group, account (Dataverse stores an empty string as null)',
      'rows: "sku=A\u200bB": external field value "A\u200bB" contains the invisible character U+200B at position 2: it makes the key differ from one that looks the same; remove it',
      'rows: "s\\u0007ku=C": control character in external field name "s\\u0007ku"', // JSON-quoted in the message
    ]);
  });

  it("keys that collide ignoring case, naming both", async () => {
    expect(await reasons({ "sku=A": "P-1", "SKU=a": "P-2", "[Wholesale] sku=A": "P-1", "[WHOLESALE] Sku=A": "P-1" })).toEqual([
      'rows: "SKU=a": same mapping as "sku=A" to Dataverse, which compares text ignoring case',
      'rows: "[WHOLESALE] Sku=A": same mapping as "[Wholesale] sku=A" to Dataverse, which compares text ignoring case',
    ]);
  });

  it("an account scope only where the kind has one; a well-formed set passes", async () => {
    expect(await reasons({ "{C-1001} ProviderName=BigCommerce": "x" }, "accounts")).toEqual(['rows: "{C-1001} ProviderName=BigCommerce": scoped to account "C-1001" but IOM\'s accounts mapping has no Account']);
    expect(await reasons({ "sku=A": "P-1", "{C-1001} sku=A": "P-2", "[Wholesale] sku=A": "P-3" })).toEqual([]);
  });

  it("why: past check, an empty value is stored as null (emulator, like Dataverse), every refresh finds the row missing and every up rewrites it", async () => {
    // What check prevents: the emulator, like Dataverse, stores "" as null, so the row never matches.
    const res = await h.provider.create(h.inputs({ "sku=": "P-000001" }));
    expect(h.mappingRows()[0].zq1_extval).toBeNull();
    const refreshed = await h.provider.read!(res.id, res.outs as IomMappingSetOutputs);
    expect((refreshed.props as IomMappingSetOutputs).drift).toMatchObject({ missing: 1 });
    h.emu.resetStats();
    await h.provider.update!(res.id, refreshed.props as IomMappingSetOutputs, h.inputs({ "sku=": "P-000001" }));
    expect(h.emu.stats.rowsWritten).toBeGreaterThan(0);
  });
});
