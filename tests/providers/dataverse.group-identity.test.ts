/**
 * Row identity follows the columns the mapping table has (issue 9, item 3): on a table without a
 * Mapping Group column (IOM's 2021 forms) the stack's default group is not part of a row's
 * identity, so changing `dataverseMappingGroup` later keeps the stack's rows owned (deleted when
 * removed from the file). On a table with the column, deterministic ids stay what they were.
 * The preview (`diff`) tells the same story: on a table the state records as having no group
 * column, a new default group moves no row; on one with the column every row moves.
 */
import { DataverseEmulator } from "../../emulators/dataverse";
import { TableDef, iomTables2021, iomTablesLater } from "../../emulators/dataverse-schema";
import { FAST, TOKEN } from "../../emulators/dataverse-harness";
import { createIomMappingSetDynamicProvider, IomMappingSetInputs, IomMappingSetOutputs, MappingDiffResult } from "../../dynamic-providers/dataverse/provider";
import { ownedId } from "../../dynamic-providers/dataverse/rows";
import { diffRowMaps } from "../../dynamic-providers/dataverse/plan";
import type { RowMap } from "../../dynamic-providers/dataverse/rows";
import { captureConsolePerTest } from "../support/console";

captureConsolePerTest();

const TABLE = "cr7f3_iomproductmapping";
let emu: DataverseEmulator;
let url: string;
const provider = createIomMappingSetDynamicProvider({ client: FAST });
/** The provider's diff with its row-level detail (typed as the SDK's DiffResult by the provider interface). */
const diff = async (olds: IomMappingSetOutputs, news: IomMappingSetInputs): Promise<MappingDiffResult> => provider.diff("id", olds, news);

async function start(tables: TableDef[]): Promise<void> {
  process.env.DATAVERSE_ACCESS_TOKEN = TOKEN;
  emu = new DataverseEmulator({ token: TOKEN, tables });
  url = await emu.start();
  emu.insert("msdyn_iomprovider", { cr7f3_providerlabel: "BigCommerce" });
  emu.insert("product", { name: "Accu Scale", productnumber: "ABS-0001" });
  emu.insert("product", { name: "Product 1", productnumber: "P-000001" });
  if (tables.some((d) => d.logicalName === "cr7f3_iommappinggroup")) emu.insert("cr7f3_iommappinggroup", { cr7f3_groupname: "Default Mapping Group" });
}

afterEach(async () => {
  await emu?.stop();
});

const inputs = (rows: RowMap, mappingGroup = "Default Mapping Group"): IomMappingSetInputs => ({
  environmentUrl: url,
  kind: "products",
  rows,
  targetKeyColumn: "productnumber",
  mappingGroup,
  providerName: "BigCommerce",
  adoptExisting: false,
  schemaOverride: "",
  ownerSeed: "group-identity-seed",
});

const values = () => emu.rows(TABLE).map((r) => r.cr7f3_externalfieldvalue).sort();

describe("row identity without a Mapping Group column", () => {
  it("changing the default group keeps the rows owned: a row removed from the file later is deleted", async () => {
    await start(iomTables2021());
    const created = await provider.create(inputs({ "sku=ABS": "ABS-0001", "sku=P1": "P-000001" }));
    // The stack's default group changes (dataverseMappingGroup); the table has no group to write.
    emu.resetStats();
    const moved = await provider.update!(created.id, created.outs as IomMappingSetOutputs, inputs({ "sku=ABS": "ABS-0001", "sku=P1": "P-000001" }, "Retail Group"));
    const movedOuts = moved.outs as IomMappingSetOutputs;
    expect(emu.stats.rowsWritten).toBe(0);
    expect(movedOuts).toMatchObject({ ownedCount: 2, adoptedCount: 0 });
    // P1 leaves the file: the stack created it, so it goes.
    const removed = await provider.update!(created.id, movedOuts, inputs({ "sku=ABS": "ABS-0001" }, "Retail Group"));
    expect(values()).toEqual(["ABS"]);
    // And destroy removes the rest.
    await provider.delete!(created.id, removed.outs as IomMappingSetOutputs);
    expect(values()).toEqual([]);
  });

  it("preview of a new default group: no row added or removed, only mappingGroup, and the update writes nothing", async () => {
    await start(iomTables2021());
    const rows = { "sku=ABS": "ABS-0001", "sku=P1": "P-000001" };
    const created = await provider.create(inputs(rows));
    const outs = created.outs as IomMappingSetOutputs;
    // What the state records about the resolved schema: the table, and no group column.
    expect(outs.schema.table).toBe(TABLE);
    expect(outs.schema.group).toBeUndefined();
    // Before the change: nothing to do.
    expect(await diff(outs, inputs(rows))).toMatchObject({ changes: false, detailedDiff: {} });
    // The change: a scalar update, no row-level ADD/DELETE.
    const groupChange = await diff(outs, inputs(rows, "Retail Group"));
    expect(groupChange).toEqual({ changes: true, replaces: [], stables: ["environmentUrl", "kind", "providerName"], detailedDiff: { mappingGroup: { kind: "UPDATE", inputDiff: true } } });
    // ... with a row change in the same preview, only that row shows.
    const withChange = await diff(outs, inputs({ ...rows, "sku=P1": "ABS-0001" }, "Retail Group"));
    expect(withChange.detailedDiff).toEqual({ 'rows["sku=P1"]': { kind: "UPDATE", inputDiff: true }, mappingGroup: { kind: "UPDATE", inputDiff: true } });
    // The update: reads, writes nothing, and records the new group.
    const before = emu.rows(TABLE).map((r) => ({ ...r }));
    emu.resetStats();
    const moved = await provider.update!(created.id, outs, inputs(rows, "Retail Group"));
    const movedOuts = moved.outs as IomMappingSetOutputs;
    expect(emu.stats.requests).toBe(0); // no row changed: the update reads and writes nothing
    expect(emu.stats.rowsWritten).toBe(0);
    expect(emu.rows(TABLE)).toEqual(before);
    expect(movedOuts).toMatchObject({ mappingGroup: "Retail Group", rowCount: 2, ownedCount: 2, lastSync: { added: 0, changed: 0, removed: 0, unchanged: 2 } });
    // After it: nothing left to do.
    expect(await diff(movedOuts, inputs(rows, "Retail Group"))).toMatchObject({ changes: false, detailedDiff: {} });
  });

  it("a state that does not say the table lacks the column keeps the group in the preview's row identity", async () => {
    await start(iomTables2021());
    const rows = { "sku=ABS": "ABS-0001" };
    const outs = (await provider.create(inputs(rows))).outs as IomMappingSetOutputs;
    const moving = { 'rows["sku=ABS"]': { kind: "ADD", inputDiff: true }, 'rows["[Default Mapping Group] sku=ABS"]': { kind: "DELETE", inputDiff: true }, mappingGroup: { kind: "UPDATE", inputDiff: true } };
    // Written before the schema was kept in the outputs: nothing known, the preview stays as it was.
    const { schema: _schema, ...withoutSchema } = outs;
    expect((await diff(withoutSchema as IomMappingSetOutputs, inputs(rows, "Retail Group"))).detailedDiff).toEqual(moving);
    // A new schema override may name another table: the update discovers it, the preview cannot.
    const overridden = { ...inputs(rows, "Retail Group"), schemaOverride: `table=${TABLE}` };
    expect((await diff(outs, overridden)).detailedDiff).toEqual({ ...moving, schemaOverride: { kind: "UPDATE", inputDiff: true } });
  });
});

describe("row identity with a Mapping Group column", () => {
  it("deterministic ids are unchanged: the default group is still part of them", async () => {
    await start(iomTablesLater());
    const created = await provider.create(inputs({ "sku=ABS": "ABS-0001" }));
    const seed = (created.outs as IomMappingSetOutputs).seed;
    expect(emu.rows(TABLE).map((r) => r.cr7f3_iomproductmappingid)).toEqual([ownedId(seed, "Default Mapping Group", "sku", "ABS")]);
  });

  it("preview of a new default group shows every row moving, and the update moves them", async () => {
    await start(iomTablesLater());
    emu.insert("cr7f3_iommappinggroup", { cr7f3_groupname: "Retail Group" });
    const rows = { "sku=ABS": "ABS-0001", "sku=P1": "P-000001" };
    const created = await provider.create(inputs(rows));
    const outs = created.outs as IomMappingSetOutputs;
    expect(outs.schema.group).toMatchObject({ table: "cr7f3_iommappinggroup" });
    expect(await diff(outs, inputs(rows))).toMatchObject({ changes: false, detailedDiff: {} });
    const groupChange = await diff(outs, inputs(rows, "Retail Group"));
    expect(groupChange).toMatchObject({ changes: true, replaces: [] });
    expect(groupChange.detailedDiff).toEqual({
      'rows["sku=ABS"]': { kind: "ADD", inputDiff: true },
      'rows["sku=P1"]': { kind: "ADD", inputDiff: true },
      'rows["[Default Mapping Group] sku=ABS"]': { kind: "DELETE", inputDiff: true },
      'rows["[Default Mapping Group] sku=P1"]': { kind: "DELETE", inputDiff: true },
      mappingGroup: { kind: "UPDATE", inputDiff: true },
    });
    // True to the update: the rows of the old group go, the new group's come.
    emu.resetStats();
    const moved = await provider.update!(created.id, outs, inputs(rows, "Retail Group"));
    expect((moved.outs as IomMappingSetOutputs).lastSync).toMatchObject({ added: 2, removed: 2 });
    const retail = emu.rows("cr7f3_iommappinggroup").find((r) => r.cr7f3_groupname === "Retail Group")!.cr7f3_iommappinggroupid;
    expect(emu.rows(TABLE).map((r) => r.cr7f3_mappinggroup)).toEqual([retail, retail]);
  });
});

describe("diffRowMaps by table shape", () => {
  const G = "Default Mapping Group";
  it("without a group column: same key text is the same row whatever the default group; a group spelling changes nothing", () => {
    expect(diffRowMaps({ "sku=A": "P1", "sku=B": "P2" }, G, { "sku=A": "P1", "sku=B": "P3", "sku=C": "P4" }, "Retail", false)).toMatchObject({ added: ["sku=C"], changed: ["sku=B"], removed: [] });
    expect(diffRowMaps({ "sku=A": "P1", "sku=B": "P2" }, G, { "sku=A": "P1" }, "Retail", false)).toMatchObject({ added: [], changed: [], removed: ["sku=B"] });
    expect(diffRowMaps({ "sku=A": "P1" }, G, { "[default mapping group] sku=A": "P1" }, G, false)).toMatchObject({ added: [], changed: [], removed: [] });
    // Account scope and case stay part of the row.
    expect(diffRowMaps({ "{C-1} sku=A": "P1" }, G, { "{C-1} sku=a": "P1" }, "Retail", false)).toMatchObject({ added: [], changed: ["{C-1} sku=a"], removed: [] });
  });
  it("with a group column: the default group is part of every key (as before)", () => {
    expect(diffRowMaps({ "sku=A": "P1" }, G, { "sku=A": "P1" }, "Retail", true)).toMatchObject({ added: ["sku=A"], changed: [], removed: [`[${G}] sku=A`] });
    expect(diffRowMaps({ "sku=A": "P1" }, G, { "[default mapping group] sku=A": "P1" }, G, true)).toMatchObject({ added: [], changed: ["[default mapping group] sku=A"], removed: [] });
  });
});
