/**
 * A refresh (sync.ts readMappings) drops each remote row found exactly as applied under its own
 * owned id as its page arrives (identicalOwnedRows' `keep`), so that a refresh of 200,000
 * unchanged rows holds none of them. These tests edit rows out of band in every way `keep` must
 * not take for "unchanged" (under the owned id: another group, value case, field/value split,
 * target, account; and rows of someone else's under the same key, in another group), in each place
 * the applied rows are kept (packed rows, keys with a group or account decoded, rows the changes on
 * top added), and check the drift report and the rows the refresh gives back.
 */
import { DataverseEmulator } from "../../emulators/dataverse";
import { iomTables2021, iomTablesLater, type TableDef } from "../../emulators/dataverse-schema";
import { FAST, Harness, Outs, TOKEN, foreignProductMapping, productMappingInputs, productRows, startHarness } from "../../emulators/dataverse-harness";
import { createIomMappingSetDynamicProvider, rowsOfInputs, type IomMappingSetInputs } from "../../dynamic-providers/dataverse/provider";
import * as rowsModule from "../../dynamic-providers/dataverse/rows";
import type { RowMap } from "../../dynamic-providers/dataverse/rows";
import { captureConsolePerTest } from "../support/console";

// The applied rows as objects, counted (a pass-through): a refresh without drift builds none.
jest.mock("../../dynamic-providers/dataverse/rows", () => {
  const actual = jest.requireActual<typeof import("../../dynamic-providers/dataverse/rows")>("../../dynamic-providers/dataverse/rows");
  return { ...actual, viewToRows: jest.fn(actual.viewToRows) };
});
const viewToRows = rowsModule.viewToRows as jest.Mock;

captureConsolePerTest();

type Checked = { inputs: Record<string, unknown> };
const refreshedRows = (r: { inputs?: unknown }) => rowsOfInputs(r.inputs as Record<string, unknown>);
const sorted = (xs: string[]) => [...xs].sort();

describe("refresh against the emulator: rows held unchanged are dropped as they arrive, no other", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.stop();
  });

  /** Rows created, then an update whose changes stay on top of the packed rows (rows added and changed among them). */
  async function applied() {
    const base: RowMap = { ...productRows(9), "sku=X=1": "P-000010", "[Wholesale] sku=W1": "P-000011", "[Wholesale] sku=W2": "P-000012" };
    const created = await h.provider.create(h.inputs(base));
    const check = async (olds: object, news: object) => ((await h.provider.check!(olds as never, news as never)) as unknown as Checked).inputs;
    const next: RowMap = { ...base, "sku=S1": "P-000020", "sku=NEW": "P-000021", "[Wholesale] sku=W3": "P-000022" };
    const checked = await check(await check({}, h.inputs(base)), h.inputs(next));
    const u = (await h.provider.update!(created.id, created.outs as Outs, checked as never)).outs as Outs;
    expect(u.appliedChanges).toMatchObject({ changed: { "sku=S1": "P-000020" }, added: { "sku=NEW": "P-000021", "[Wholesale] sku=W3": "P-000022" } });
    return { id: created.id, outs: u, rows: next };
  }
  const row = (value: string, group = h.seeded.groupId) => h.mappingRows().find((r) => r.zq1_extval === value && r.zq1_grp === group)!.zq1_prodmapid!;
  const product = (n: string) => h.seeded.products.get(n)!;

  it("no drift: the stored packed rows and their changes are kept as they are (not decoded and packed anew)", async () => {
    const { id, outs, rows } = await applied();
    // Someone else's rows beside ours: the same key and target, the same key in another group, another key.
    foreignProductMapping(h, "S2", "P-000002");
    foreignProductMapping(h, "S3", "P-000003", h.seeded.providerId, h.seeded.otherGroupId);
    foreignProductMapping(h, "S99", "P-000009");
    viewToRows.mockClear();
    const r = await h.provider.read!(id, outs);
    // Every row of ours was compared as its page arrived and dropped: no row object of the applied rows.
    expect(viewToRows).not.toHaveBeenCalled();
    const props = r.props as Outs;
    expect(props.drift).toEqual({ missing: 0, changed: 0, sample: [] });
    expect(props.applied).toBe(outs.applied);
    expect(props.appliedChanges).toEqual(outs.appliedChanges);
    expect(props.appliedHash).toBe(outs.appliedHash);
    expect(props.rowCount).toBe(Object.keys(rows).length);
    expect((r.inputs as unknown as { rows: string }).rows).toBe(outs.applied);
    expect(refreshedRows(r)).toEqual(rows);
  });

  it("a row edited under its owned id is drift wherever it is kept; someone else's rows are found by key only where ours is gone, never in another group", async () => {
    const { id, outs, rows } = await applied();
    // Under our owned ids: packed rows with the default group (moved to another group, value in
    // another case, field and value split elsewhere in the same text), a packed row with a group
    // (another target; moved to the default group), a row the changes added (moved to the default group).
    h.emu.update("zq1_prodmap", row("S3"), { zq1_grp: h.seeded.otherGroupId });
    h.emu.update("zq1_prodmap", row("S4"), { zq1_extval: "s4" });
    h.emu.update("zq1_prodmap", row("X=1"), { zq1_extfld: "sku=X", zq1_extval: "1" });
    h.emu.update("zq1_prodmap", row("W1", h.seeded.otherGroupId), { zq1_prod: product("P-000030") });
    h.emu.update("zq1_prodmap", row("W2", h.seeded.otherGroupId), { zq1_grp: h.seeded.groupId });
    h.emu.update("zq1_prodmap", row("W3", h.seeded.otherGroupId), { zq1_grp: h.seeded.groupId });
    // Ours deleted, someone else's under the same key with another target: found by key (drift).
    h.emu.table("zq1_prodmap").rows.delete(row("S5"));
    foreignProductMapping(h, "S5", "P-000031");
    // A duplicate of someone else's beside ours, with another target: ours is the row (no drift).
    foreignProductMapping(h, "S6", "P-000032");
    // Ours deleted, someone else's with the key in another group only: missing.
    h.emu.table("zq1_prodmap").rows.delete(row("S7"));
    foreignProductMapping(h, "S7", "P-000007", h.seeded.providerId, h.seeded.otherGroupId);
    // A packed row given another target, one deleted; the row the changes changed given another
    // target, the one they added another value.
    h.emu.update("zq1_prodmap", row("S8"), { zq1_prod: product("P-000033") });
    h.emu.table("zq1_prodmap").rows.delete(row("S9"));
    h.emu.update("zq1_prodmap", row("S1"), { zq1_prod: product("P-000034") });
    h.emu.update("zq1_prodmap", row("NEW"), { zq1_extval: "NEW-edited" });

    viewToRows.mockClear();
    const r = await h.provider.read!(id, outs);
    expect(viewToRows).toHaveBeenCalledTimes(1); // drift: the rows as objects, compared one by one
    const drift = (r.props as Outs).drift!;
    expect(sorted(drift.sample)).toEqual(sorted([
      'sku=S3: now [Wholesale] sku=S3 -> "P-000003" (expected "P-000003")',
      'sku=S4: now sku=s4 -> "P-000004" (expected "P-000004")',
      // The same key text, but the row maps field "sku=X" and value "1", not field "sku" and value "X=1".
      'sku=X=1: -> "P-000010" (expected "P-000010")',
      '[Wholesale] sku=W1: -> "P-000030" (expected "P-000011")',
      '[Wholesale] sku=W2: now sku=W2 -> "P-000012" (expected "P-000012")',
      '[Wholesale] sku=W3: now sku=W3 -> "P-000022" (expected "P-000022")',
      'sku=S5: -> "P-000031" (expected "P-000005")',
      "sku=S7: missing",
      'sku=S8: -> "P-000033" (expected "P-000008")',
      "sku=S9: missing",
      'sku=S1: -> "P-000034" (expected "P-000020")',
      'sku=NEW: now sku=NEW-edited -> "P-000021" (expected "P-000021")',
    ]));
    expect(drift).toMatchObject({ missing: 2, changed: 10 });
    const actual: RowMap = { ...rows, "[Wholesale] sku=S3": "P-000003", "sku=s4": "P-000004", "[Wholesale] sku=W1": "P-000030", "sku=W2": "P-000012", "sku=W3": "P-000022", "sku=S5": "P-000031", "sku=S8": "P-000033", "sku=S1": "P-000034", "sku=NEW-edited": "P-000021" };
    for (const k of ["sku=S3", "sku=S4", "[Wholesale] sku=W2", "[Wholesale] sku=W3", "sku=S7", "sku=S9", "sku=NEW"]) delete actual[k];
    expect(refreshedRows(r)).toEqual(actual);
    expect((r.props as Outs).rowCount).toBe(Object.keys(actual).length);
  });

  it("rows a drift refresh wrote with keys differing only in case (one owned id for both): each is found as it is, and the one deleted later is missing", async () => {
    const { id, outs } = (await h.provider.create(h.inputs({ "sku=A": "P-000001", "sku=B": "P-000002" }))) as { id: string; outs: Outs };
    // Our row of sku=A given the value "b" outside Pulumi: the refresh takes the rows as they are,
    // two keys Dataverse compares as one, the owned id of "sku=b" being that of "sku=B".
    h.emu.update("zq1_prodmap", row("A"), { zq1_extval: "b" });
    const drifted = await h.provider.read!(id, outs);
    expect(refreshedRows(drifted)).toEqual({ "sku=B": "P-000002", "sku=b": "P-000001" });
    // Both rows are there as the state says ("sku=b" under sku=A's id, found by key): no drift,
    // and not "sku=b: now sku=B" from the row under its owned id.
    const again = await h.provider.read!(id, drifted.props as Outs);
    expect((again.props as Outs).drift).toEqual({ missing: 0, changed: 0, sample: [] });
    expect(refreshedRows(again)).toEqual({ "sku=B": "P-000002", "sku=b": "P-000001" });
    h.emu.table("zq1_prodmap").rows.delete(row("b"));
    const deleted = await h.provider.read!(id, again.props as Outs);
    expect((deleted.props as Outs).drift).toEqual({ missing: 1, changed: 0, sample: ["sku=b: missing"] });
    expect(refreshedRows(deleted)).toEqual({ "sku=B": "P-000002" });
  });
});

describe("refresh of account-scoped rows and of a table without a Mapping Group column (cr7f3_ tables)", () => {
  let emu: DataverseEmulator;
  let url: string;
  let ids: Record<string, string>;
  const provider = createIomMappingSetDynamicProvider({ client: FAST });
  const TABLE = "cr7f3_iomproductmapping";

  async function start(tables: TableDef[]): Promise<void> {
    process.env.DATAVERSE_ACCESS_TOKEN = TOKEN;
    emu = new DataverseEmulator({ token: TOKEN, tables });
    url = await emu.start();
    ids = {
      provider: emu.insert("msdyn_iomprovider", { cr7f3_providerlabel: "BigCommerce" }),
      bc: emu.insert("account", { name: "BigCommerce Test Account", accountnumber: "BC-0001" }),
      contoso: emu.insert("account", { name: "Contoso Retail", accountnumber: "C-1001" }),
    };
    for (let i = 1; i <= 5; i++) ids[`P${i}`] = emu.insert("product", { name: `Product ${i}`, productnumber: `P-00000${i}` });
    if (tables.some((t) => t.logicalName === "cr7f3_iommappinggroup")) emu.insert("cr7f3_iommappinggroup", { cr7f3_groupname: "Default Mapping Group" });
  }
  afterEach(async () => {
    await emu?.stop();
  });
  const inputs = (rows: RowMap, extra: Partial<IomMappingSetInputs> = {}) => productMappingInputs(url, rows, { ownerSeed: "refresh-seed", ...extra });
  const row = (value: string) => emu.rows(TABLE).find((r) => r.cr7f3_externalfieldvalue === value)!.cr7f3_iomproductmappingid!;

  for (const [shape, tables] of [["later forms (Mapping Group, Account)", iomTablesLater], ["2021 forms (Account, no Mapping Group)", iomTables2021]] as const) {
    it(`${shape}: no drift keeps the packed rows; an account given, changed or taken away under the owned id is drift`, async () => {
      await start(tables());
      const base: RowMap = { "sku=A1": "P-000001", "sku=A2": "P-000002", "{C-1001} sku=A3": "P-000003", "{C-1001} sku=A4": "P-000004" };
      const created = await provider.create(inputs(base));
      const check = async (olds: object, news: object) => ((await provider.check!(olds as never, news as never)) as unknown as Checked).inputs;
      const next: RowMap = { ...base, "{BC-0001} sku=A5": "P-000005" };
      const checked = await check(await check({}, inputs(base)), inputs(next));
      const outs = (await provider.update!(created.id, created.outs as Outs, checked as never)).outs as Outs;
      expect(outs.appliedChanges).toMatchObject({ added: { "{BC-0001} sku=A5": "P-000005" } });
      const clean = await provider.read!(created.id, outs);
      expect((clean.props as Outs).drift).toEqual({ missing: 0, changed: 0, sample: [] });
      expect((clean.props as Outs).applied).toBe(outs.applied);

      // A generic row given an account, a scoped row moved to another account, another's account
      // taken away, and the added row moved to another account; all under our owned ids.
      emu.update(TABLE, row("A1"), { cr7f3_account: ids.contoso });
      emu.update(TABLE, row("A3"), { cr7f3_account: ids.bc });
      emu.update(TABLE, row("A4"), { cr7f3_account: null });
      emu.update(TABLE, row("A5"), { cr7f3_account: ids.contoso });
      const r = await provider.read!(created.id, outs);
      const drift = (r.props as Outs).drift!;
      expect(sorted(drift.sample)).toEqual(sorted([
        'sku=A1: now {C-1001} sku=A1 -> "P-000001" (expected "P-000001")',
        '{C-1001} sku=A3: now {BC-0001} sku=A3 -> "P-000003" (expected "P-000003")',
        '{C-1001} sku=A4: now sku=A4 -> "P-000004" (expected "P-000004")',
        '{BC-0001} sku=A5: now {C-1001} sku=A5 -> "P-000005" (expected "P-000005")',
      ]));
      expect(drift).toMatchObject({ missing: 0, changed: 4 });
      expect(refreshedRows(r)).toEqual({ "{C-1001} sku=A1": "P-000001", "sku=A2": "P-000002", "{BC-0001} sku=A3": "P-000003", "sku=A4": "P-000004", "{C-1001} sku=A5": "P-000005" });
    });
  }
});

describe("reads cut into key ranges at the owned ids (sync.ts ownedIdTable's list): one full page per range", () => {
  let h: Harness;
  // 300 rows in pages of 100: cut at the rows' owned ids, 3 ranges of one page each; ranges of a
  // uniform guess (readRanges without the ids) would be 4.
  beforeEach(async () => {
    h = await startHarness({}, { pageSize: 100 }, 300);
  });
  afterEach(async () => {
    await h.stop();
  });
  const reads = () => h.emu.requestLog.filter((r) => r.method === "GET" && r.path.endsWith("zq1_prodmaps"));
  async function readsOf(op: () => Promise<unknown>): Promise<number> {
    h.emu.resetStats();
    const before = reads().length;
    await op();
    return reads().length - before;
  }

  it("refresh, an update that reads every row (the default group changed; no saved schema), and destroy", async () => {
    const rows = productRows(300);
    const created = await h.provider.create(h.inputs(rows));
    const outs = created.outs as Outs;
    expect(await readsOf(() => h.provider.read!(created.id, outs))).toBe(3);
    // Every row moves to another group: the applied rows are all previous rows.
    let regrouped: Outs | undefined;
    expect(await readsOf(async () => (regrouped = (await h.provider.update!(created.id, outs, h.inputs(rows, { mappingGroup: "Wholesale" }))).outs as Outs))).toBe(3);
    // Back, from a state without its schema (a full sync): rows kept and rows gone, both in the ranges.
    const next: RowMap = { ...rows };
    for (let i = 1; i <= 10; i++) delete next[`sku=S${i}`];
    let back: Outs | undefined;
    expect(await readsOf(async () => (back = (await h.provider.update!(created.id, { ...regrouped!, schema: undefined } as never, h.inputs(next, { mappingGroup: "Wholesale" }))).outs as Outs))).toBe(3);
    expect(back!.rowCount).toBe(290);
    expect(await readsOf(() => h.provider.update!(created.id, back!, h.inputs(next)))).toBe(3);
    expect(h.mappingRows().filter((r) => r.zq1_grp === h.seeded.groupId)).toHaveLength(290);
    const final = (await h.provider.read!(created.id, back!)).props as Outs;
    expect(await readsOf(() => h.provider.delete!(created.id, final))).toBe(3);
    expect(h.mappingRows()).toHaveLength(0);
  });
});
