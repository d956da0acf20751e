/**
 * Discovery and sync against the shapes real IOM orgs have (issue 9, items 1-3): labels in the org's
 * base language, a look-alike column, a Customer lookup on the account mapping, and the 2021 forms
 * without a Mapping Group. The emulator's tables here use the fictional publisher prefix `cr7f3_`.
 */
import axios from "axios";
import { DataverseEmulator, Row } from "../../emulators/dataverse";
import { TableDef, iomTables2021, iomTablesLater } from "../../emulators/dataverse-schema";
import { FAST, TOKEN, productMappingInputs } from "../../emulators/dataverse-harness";
import { createIomMappingSetDynamicProvider, IomMappingSetInputs, IomMappingSetOutputs, rowsOfInputs } from "../../dynamic-providers/dataverse/provider";
import { englishLabel, matchScore } from "../../dynamic-providers/dataverse/schema";
import type { RowMap } from "../../dynamic-providers/dataverse/rows";
import { captureConsolePerTest } from "../support/console";

let emu: DataverseEmulator;
let url: string;
let ids: Record<string, string>;
const logs = captureConsolePerTest();
const provider = createIomMappingSetDynamicProvider({ client: FAST });

async function start(tables: TableDef[], language = 1033): Promise<void> {
  process.env.DATAVERSE_ACCESS_TOKEN = TOKEN;
  emu = new DataverseEmulator({ token: TOKEN, tables, language });
  url = await emu.start();
  const has = (t: string) => tables.some((d) => d.logicalName === t);
  ids = {
    provider: emu.insert("msdyn_iomprovider", { cr7f3_providerlabel: "BigCommerce" }),
    account: emu.insert("account", { name: "BigCommerce Test Account", accountnumber: "BC-0001" }),
    contoso: emu.insert("account", { name: "Contoso Retail", accountnumber: "C-1001" }),
    // A contact with an account's name: a Customer lookup must resolve against account only.
    contact: emu.insert("contact", { fullname: "BigCommerce Test Account" }),
    abs: emu.insert("product", { name: "Accu Scale", productnumber: "ABS-0001" }),
    p1: emu.insert("product", { name: "Product 1", productnumber: "P-000001" }),
  };
  if (has("cr7f3_iommappinggroup")) {
    ids.group = emu.insert("cr7f3_iommappinggroup", { cr7f3_groupname: "Default Mapping Group" });
    ids.wholesale = emu.insert("cr7f3_iommappinggroup", { cr7f3_groupname: "Wholesale" });
  }
}

afterEach(async () => {
  await emu?.stop();
});

const inputs = (rows: RowMap, extra: Partial<IomMappingSetInputs> = {}): IomMappingSetInputs =>
  productMappingInputs(url, rows, { ownerSeed: "shapes-seed", ...extra });

async function create(rows: RowMap, extra: Partial<IomMappingSetInputs> = {}) {
  const i = inputs(rows, extra);
  const res = await provider.create(i);
  return { id: res.id, outs: res.outs as IomMappingSetOutputs, inputs: i };
}

const mappingRows = (table: string): Row[] => emu.rows(table);

describe("labels a real org returns (item 1)", () => {
  it("takes the English LocalizedLabel, never UserLocalizedLabel, then any label", () => {
    const german = { UserLocalizedLabel: { Label: "Externer Feldwert", LanguageCode: 1031 }, LocalizedLabels: [{ Label: "Externer Feldwert", LanguageCode: 1031 }, { Label: "External Field Value", LanguageCode: 1033 }] };
    expect(englishLabel(german)).toBe("External Field Value");
    expect(englishLabel({ UserLocalizedLabel: { Label: "Nur Benutzer", LanguageCode: 1031 }, LocalizedLabels: [{ Label: "Nur Deutsch", LanguageCode: 1031 }] })).toBe("Nur Deutsch");
    expect(englishLabel({ UserLocalizedLabel: { Label: "Only user label", LanguageCode: 1033 }, LocalizedLabels: [] })).toBe("");
  });

  it("ranks exact over whole-word over substring over the logical name", () => {
    const col = (label: string, logical = "x_col") => ({ LogicalName: logical, DisplayName: { LocalizedLabels: label ? [{ Label: label, LanguageCode: 1033 }] : [] } });
    const phrases = ["External Field Value"];
    const scores = [col("External Field Value"), col("External Field Value (Normalized)"), col("MyExternal Field Values"), col("", "cr7f3_externalfieldvalue"), col("Value")].map((c) => matchScore(c, phrases));
    expect(scores).toEqual([4, 3, 2, 1, 0]);
  });

  it("a German-base org (UserLocalizedLabel in German) with a look-alike column: discovery finds the IOM columns and syncs", async () => {
    await start(iomTablesLater(), 1031);
    const { outs } = await create({ "sku=ABS": "ABS-0001" });
    expect(outs.schema).toMatchObject({ table: "cr7f3_iomproductmapping", fieldName: "cr7f3_externalfieldname", fieldValue: "cr7f3_externalfieldvalue" });
    const [row] = mappingRows("cr7f3_iomproductmapping");
    expect(row).toMatchObject({ cr7f3_externalfieldname: "sku", cr7f3_externalfieldvalue: "ABS", cr7f3_product: ids.abs, cr7f3_mappinggroup: ids.group, cr7f3_iomprovider: ids.provider });
    expect(row.cr7f3_externalfieldvaluenorm ?? null).toBeNull();
  });

  it("an English org: the look-alike \"External Field Value (Normalized)\" does not make the table ambiguous", async () => {
    await start(iomTablesLater());
    const { outs } = await create({ "sku=ABS": "ABS-0001" });
    expect(outs.schema.fieldValue).toBe("cr7f3_externalfieldvalue");
  });

  it("the emulator answers labels as Dataverse does: every language in LocalizedLabels, the caller's in UserLocalizedLabel", async () => {
    await start(iomTablesLater(), 1031);
    const meta = await axios.get(`${url}/api/data/v9.2/EntityDefinitions(LogicalName='cr7f3_iomproductmapping')?$select=LogicalName,DisplayName&$expand=Attributes($select=LogicalName,DisplayName)`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    expect(meta.data.DisplayName.UserLocalizedLabel).toMatchObject({ Label: "IOM-Produktzuordnung", LanguageCode: 1031 });
    expect(meta.data.DisplayName.LocalizedLabels).toEqual(
      expect.arrayContaining([expect.objectContaining({ Label: "IOM Product Mapping", LanguageCode: 1033 }), expect.objectContaining({ Label: "IOM-Produktzuordnung", LanguageCode: 1031 })]),
    );
    const value = (meta.data.Attributes as { LogicalName: string; DisplayName: { UserLocalizedLabel: { Label: string } } }[]).find((a) => a.LogicalName === "cr7f3_externalfieldvalue");
    expect(value?.DisplayName.UserLocalizedLabel.Label).toBe("Externer Feldwert");
  });

  it("an ambiguity error lists the candidates with logical names and the override key that settles it", async () => {
    const tables = iomTablesLater();
    const prod = tables.find((t) => t.logicalName === "cr7f3_iomproductmapping")!;
    prod.attributes.push({ logicalName: "cr7f3_extvalue2", displayName: { 1033: "External Field Value", 1031: "Externer Feldwert" }, type: "String" });
    await start(tables, 1031);
    await expect(create({ "sku=ABS": "ABS-0001" })).rejects.toThrow(
      /fieldValue: ambiguous between cr7f3_externalfieldvalue \("External Field Value"\), cr7f3_extvalue2 \("External Field Value"\); set fieldValue=<logical name> in dataverseProductsSchema/,
    );
    const { outs } = await create({ "sku=ABS": "ABS-0001" }, { schemaOverride: "fieldValue=cr7f3_externalfieldvalue" });
    expect(outs.schema.fieldValue).toBe("cr7f3_externalfieldvalue");
  });
});

describe("Customer lookups (item 2)", () => {
  it("the account mapping's Customer field: picks the account relationship, resolves against account, binds through its navigation property", async () => {
    await start(iomTablesLater());
    const { id, outs, inputs: i } = await create({ "ProviderName=BigCommerce": "BigCommerce Test Account" }, { kind: "accounts", targetKeyColumn: "name" });
    expect(outs.schema.target).toMatchObject({ attribute: "cr7f3_customer", nav: "cr7f3_customer_account", table: "account", entitySet: "accounts" });
    expect(mappingRows("cr7f3_iomaccountmapping")).toEqual([expect.objectContaining({ cr7f3_externalfieldvalue: "BigCommerce", cr7f3_customer: ids.account })]);
    // Read back through the same navigation property: no drift, and a no-op update writes nothing.
    const r = await provider.read!(id, outs);
    expect((r.props as IomMappingSetOutputs).drift).toMatchObject({ missing: 0, changed: 0 });
    emu.resetStats();
    await provider.update!(id, outs, i);
    expect(emu.stats.rowsWritten).toBe(0);
  });

  it("the emulator rejects a bind through the other table's navigation property, as Dataverse does", async () => {
    await start(iomTablesLater());
    const api = `${url}/api/data/v9.2/`;
    const post = (body: unknown) =>
      axios.post(`${api}cr7f3_iomaccountmappings`, body, { headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" }, validateStatus: () => true });
    const wrongSet = await post({ cr7f3_externalfieldvalue: "x", "cr7f3_customer_account@odata.bind": `/contacts(${ids.contact})` });
    expect(wrongSet.status).toBe(400);
    const contactIdAsAccount = await post({ cr7f3_externalfieldvalue: "x", "cr7f3_customer_account@odata.bind": `/accounts(${ids.contact})` });
    expect(contactIdAsAccount.status).toBe(404);
    const byLogicalName = await post({ cr7f3_externalfieldvalue: "x", "cr7f3_customer@odata.bind": `/accounts(${ids.account})` });
    expect(byLogicalName.status).toBe(400);
    const ok = await post({ cr7f3_externalfieldvalue: "x", "cr7f3_customer_contact@odata.bind": `/contacts(${ids.contact})` });
    expect(ok.status).toBe(204);
    const meta = await axios.get(`${api}EntityDefinitions(LogicalName='cr7f3_iomaccountmapping')?$expand=ManyToOneRelationships`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    const rels = (meta.data.ManyToOneRelationships as { ReferencingAttribute: string; ReferencedEntity: string }[]).filter((x) => x.ReferencingAttribute === "cr7f3_customer");
    expect(rels.map((x) => x.ReferencedEntity).sort()).toEqual(["account", "contact"]);
  });
});

describe("columns that differ between IOM versions (item 3)", () => {
  it("2021 forms (no Mapping Group): the group is skipped, rows sync, and identity follows the columns that exist", async () => {
    await start(iomTables2021());
    const { id, outs, inputs: i } = await create({ "sku=ABS": "ABS-0001", "sku=P1": "P-000001" });
    expect(outs.schema.group).toBeUndefined();
    expect(outs.schema.provider).toMatchObject({ attribute: "cr7f3_iomprovider" });
    expect(logs.join("\n")).toMatch(/cr7f3_iomproductmapping has no Mapping Group column/);
    expect(mappingRows("cr7f3_iomproductmapping").map((r) => r.cr7f3_externalfieldvalue).sort()).toEqual(["ABS", "P1"]);
    emu.resetStats();
    const u = await provider.update!(id, outs, i);
    expect(emu.stats.rowsWritten).toBe(0);
    expect((u.outs as IomMappingSetOutputs).lastSync).toMatchObject({ unchanged: 2 });
    await provider.delete!(id, u.outs as IomMappingSetOutputs);
    expect(mappingRows("cr7f3_iomproductmapping")).toHaveLength(0);
  });

  it("2021 forms: a row in another mapping group is an error naming it, before anything is written", async () => {
    await start(iomTables2021());
    await expect(create({ "[Wholesale] sku=ABS": "ABS-0001" })).rejects.toThrow(/has no Mapping Group column \(e\.g\. sku=ABS in "Wholesale"\)/);
    expect(emu.stats.rowsWritten).toBe(0);
  });

  it("an override can say none: the group column is left alone even where it exists", async () => {
    await start(iomTablesLater());
    const { outs } = await create({ "sku=ABS": "ABS-0001" }, { schemaOverride: "group=none" });
    expect(outs.schema.group).toBeUndefined();
    expect(mappingRows("cr7f3_iomproductmapping")[0].cr7f3_mappinggroup ?? null).toBeNull();
  });
});

describe("account-scoped mappings (item 4)", () => {
  it("an account-specific and a generic mapping of the same external value coexist; account by number or name", async () => {
    await start(iomTablesLater());
    const rows = { "sku=ABS": "ABS-0001", "{C-1001} sku=ABS": "P-000001", "{BigCommerce Test Account} sku=P1": "P-000001" };
    const { id, outs, inputs: i } = await create(rows);
    const got = mappingRows("cr7f3_iomproductmapping").map((r) => `${r.cr7f3_account ?? "-"} ${r.cr7f3_externalfieldvalue} ${r.cr7f3_product}`).sort();
    expect(got).toEqual([`${ids.account} P1 ${ids.p1}`, `${ids.contoso} ABS ${ids.p1}`, `- ABS ${ids.abs}`].sort());
    const r = await provider.read!(id, outs);
    expect((r.props as IomMappingSetOutputs).drift).toMatchObject({ missing: 0, changed: 0 });
    expect(rowsOfInputs(r.inputs as unknown as Record<string, unknown>)).toEqual(rows);
    emu.resetStats();
    await provider.update!(id, outs, i);
    expect(emu.stats.rowsWritten).toBe(0);
    // Dropping the account-specific row deletes only that one.
    const next = { "sku=ABS": "ABS-0001", "{BigCommerce Test Account} sku=P1": "P-000001" };
    await provider.update!(id, outs, inputs(next));
    expect(mappingRows("cr7f3_iomproductmapping")).toHaveLength(2);
    expect(mappingRows("cr7f3_iomproductmapping").some((x) => x.cr7f3_account === ids.contoso)).toBe(false);
  });

  it("an unknown account is reported with the others before anything is written; a table without Account refuses scoped rows", async () => {
    await start(iomTablesLater());
    await expect(create({ "{NOPE-9} sku=ABS": "ABS-0001" })).rejects.toThrow(/account "NOPE-9" not found/);
    expect(emu.stats.rowsWritten).toBe(0);
    await emu.stop();
    const tables = iomTables2021();
    tables.find((t) => t.logicalName === "cr7f3_iomproductmapping")!.attributes = tables.find((t) => t.logicalName === "cr7f3_iomproductmapping")!.attributes.filter((a) => a.logicalName !== "cr7f3_account");
    await start(tables);
    await expect(create({ "{C-1001} sku=ABS": "ABS-0001" })).rejects.toThrow(/scoped to an account but cr7f3_iomproductmapping has no Account column/);
  });
});
