import { Harness, Outs, foreignProductMapping, productRows, remoteState, startHarness } from "../../emulators/dataverse-harness";
import { EMULATOR_TABLES } from "../../emulators/dataverse-schema";
import * as rowsModule from "../../dynamic-providers/dataverse/rows";
import { ownedId } from "../../dynamic-providers/dataverse/rows";
import { effectiveSeed } from "../../dynamic-providers/dataverse/sync";
import { rowsOfInputs, type MappingDiffResult } from "../../dynamic-providers/dataverse/provider";
import { captureConsolePerTest } from "../support/console";
import { waitFor } from "../support/barrier";

// Where packed rows are, watched (a pass-through): when an update starts its hash's work.
jest.mock("../../dynamic-providers/dataverse/rows", () => {
  const actual = jest.requireActual<typeof import("../../dynamic-providers/dataverse/rows")>("../../dynamic-providers/dataverse/rows");
  return { ...actual, rowPositionsOfTextInSteps: jest.fn(actual.rowPositionsOfTextInSteps) };
});

let h: Harness;
const logs = captureConsolePerTest();

beforeEach(async () => {
  h = await startHarness();
});

afterEach(async () => {
  await h.stop();
});

async function create(rows = productRows(5), extra = {}) {
  const inputs = h.inputs(rows, extra);
  const res = await h.provider.create(inputs);
  return { id: res.id, outs: res.outs as Outs, inputs };
}

describe("IomMappingSet provider against the emulator", () => {
  it("creates every row with deterministic ids and the right lookups, and keeps state small and token-free", async () => {
    const { id, outs, inputs } = await create(productRows(5));
    expect(id).toMatch(/^iom-products-mappings-/);
    expect(remoteState(h)).toEqual(productRows(5));
    const seed = effectiveSeed(inputs);
    for (const r of h.mappingRows()) {
      expect(r.zq1_prodmapid).toBe(ownedId(seed, "Default Mapping Group", r.zq1_extfld!, r.zq1_extval!));
      expect(r.zq1_grp).toBe(h.seeded.groupId);
    }
    expect(outs.schema.table).toBe("zq1_prodmap");
    expect(outs.schema.target).toMatchObject({ attribute: "zq1_prod", nav: "zq1_Prod", keyColumn: "productnumber" });
    expect(outs).toMatchObject({ rowCount: 5, ownedCount: 5, adoptedCount: 0 });
    expect(outs.lastSync).toMatchObject({ added: 5, changed: 0, removed: 0 });
    expect(JSON.stringify(outs)).not.toMatch(/emulator-token|Bearer/);
    expect(logs.join("\n")).not.toMatch(/emulator-token/);
    expect(logs.join("\n")).toMatch(/products mappings: 5 to add/);
    expect(logs.join("\n")).toMatch(/products mappings: created: 5\/5 rows/);
  });

  it("writes keys with characters JSON escapes exactly as the file has them", async () => {
    const rows = { 'sku=a"quoted"': "P-000001", "sku=back\\slash": "P-000002", "sku=tab\tin": "P-000003", "sku=café ☕ 😀": "P-000004", "[Default Mapping Group] sku=x/y": "P-000005" };
    const expected = { 'sku=a"quoted"': "P-000001", "sku=back\\slash": "P-000002", "sku=tab\tin": "P-000003", "sku=café ☕ 😀": "P-000004", "sku=x/y": "P-000005" };
    const { outs } = await create(rows);
    expect(remoteState(h)).toEqual(expected);
    expect(h.emu.stats.bulkCalls).toBeGreaterThan(0); // through CreateMultiple
    expect(outs.lastSync).toMatchObject({ added: 5 });
  });

  it("no-op: diff reports no changes and an update writes nothing", async () => {
    const { id, outs, inputs } = await create(productRows(5));
    h.emu.resetStats();
    const d = await h.provider.diff!(id, outs, inputs);
    expect(d.changes).toBe(false);
    expect(h.emu.stats.requests).toBe(0); // diff runs in previews: no calls
    h.emu.resetStats();
    const u = await h.provider.update!(id, outs, inputs);
    expect(h.emu.stats.rowsWritten).toBe(0);
    expect(h.emu.stats.byMethod.POST ?? 0).toBe(0);
    expect(h.emu.stats.requests).toBe(0); // no row changed since the last run: nothing to read or write
    expect((u.outs as Outs).lastSync).toMatchObject({ added: 0, changed: 0, removed: 0, unchanged: 5 });
  });

  it("an update reads only the rows it touches (issue 21): 1% of 3,000 rows changed reads those rows, not all of them; someone else's identical row is adopted, not duplicated", async () => {
    await h.stop();
    h = await startHarness({}, { pageSize: 500 }, 3000);
    const { id, outs } = await create(productRows(3000));
    const rows = productRows(3000);
    for (let i = 1; i <= 10; i++) delete rows[`sku=S${i}`];
    for (let i = 11; i <= 20; i++) rows[`sku=S${i}`] = "P-000001";
    for (let i = 1; i <= 10; i++) rows[`sku=NEW${i}`] = "P-000002";
    foreignProductMapping(h, "NEW1", "P-000002"); // created by someone else, same key and target
    h.emu.resetStats();
    const u = await h.provider.update!(id, outs, h.inputs(rows));
    expect(remoteState(h)).toEqual(rows); // throws on a duplicate
    expect((u.outs as Outs).lastSync).toMatchObject({ added: 9, changed: 10, removed: 10, adopted: 1, unchanged: 2980 });
    expect(u.outs).toMatchObject({ rowCount: 3000, ownedCount: 2999, adoptedCount: 1 });
    expect(h.emu.stats.rowsRead).toBeLessThan(100); // a full read is 3,000 rows in 6 pages
    expect(h.emu.stats.byMethod.GET).toBeLessThan(6 + 3);
  });

  it("an update looks up the names and bulk messages its writes need alongside the reads of the touched rows, not one round trip after them", async () => {
    await h.stop();
    h = await startHarness({}, { pageSize: 100 }, 300); // 300 rows in 3 pages: two touched-row reads are cheaper (a delta update)
    const { id, outs } = await create(productRows(300));
    const rows = productRows(300);
    rows["sku=S2"] = "P-000010"; // changed: UpdateMultiple
    rows["sku=NEW1"] = "P-000003"; // added: CreateMultiple
    h.emu.resetStats();
    // The create's bulk writes confirmed CreateMultiple, and the state keeps that: only
    // UpdateMultiple is asked about.
    expect(outs.bulkMessages).toEqual(["CreateMultiple"]);
    // A barrier, not latency: every answer is held until the touched rows' read, the targets'
    // lookup and the bulk-message query have all arrived, so each was sent before any answer.
    const release = h.emu.holdAnswers();
    const updating = h.provider.update!(id, outs, h.inputs(rows));
    const held = (re: RegExp) => h.emu.requestLog.filter((r) => r.respondedAt === undefined && re.test(decodeURIComponent(r.path)));
    try {
      await waitFor(() => held(/zq1_prodmaps/).length > 0 && held(/\/products/).length > 0 && held(/sdkmessagefilters/).length >= 1, "the reads, the name lookup and the bulk-message query together");
    } finally {
      release();
    }
    const u = await updating;
    expect(h.emu.requestLog.filter((r) => /sdkmessagefilters/.test(r.path))).toHaveLength(1);
    expect((u.outs as Outs).bulkMessages).toEqual(["CreateMultiple", "UpdateMultiple"]);
    expect(remoteState(h)).toEqual(rows);
    expect((u.outs as Outs).lastSync).toMatchObject({ added: 1, changed: 1, removed: 0, unchanged: 299 });
  });

  it("an update reads the rows it touches in as few filters as the URL limit allows", async () => {
    await h.stop();
    h = await startHarness({}, { pageSize: 2500 }, 5000); // 5,000 rows in 2 pages: a delta update may make 2 reads
    const { id, outs } = await create(productRows(5000));
    const rows = productRows(5000);
    for (let i = 1; i <= 300; i++) rows[`sku=S${i * 10}`] = "P-000001";
    h.emu.resetStats();
    const u = await h.provider.update!(id, outs, h.inputs(rows));
    expect(remoteState(h)).toEqual(rows);
    expect((u.outs as Outs).lastSync).toMatchObject({ changed: 300, unchanged: 4700 });
    // 300 ids (some 19,500 URL-encoded characters) fit one filter; in half the URL limit they took two.
    expect(h.emu.requestLog.filter((r) => r.method === "GET" && /zq1_prodmaps$/.test(r.path))).toHaveLength(1);
  });

  it("update: the diff lists added, changed and removed keys and the update writes only that delta", async () => {
    const { id, outs } = await create(productRows(5));
    const rows = productRows(5);
    delete rows["sku=S5"];
    rows["sku=S2"] = "P-000010";
    rows["sku=S6"] = "P-000006";
    const news = h.inputs(rows);
    const d = (await h.provider.diff!(id, outs, news)) as MappingDiffResult;
    expect(d.changes).toBe(true);
    expect(d.replaces).toEqual([]);
    expect(d.detailedDiff).toEqual({
      'rows["sku=S6"]': { kind: "ADD", inputDiff: true },
      'rows["sku=S2"]': { kind: "UPDATE", inputDiff: true },
      'rows["sku=S5"]': { kind: "DELETE", inputDiff: true },
    });
    h.emu.resetStats();
    const u = await h.provider.update!(id, outs, news);
    expect(h.emu.stats.rowsWritten).toBe(3);
    expect(remoteState(h)).toEqual(rows);
    expect((u.outs as Outs).lastSync).toMatchObject({ added: 1, changed: 1, removed: 1, unchanged: 3 });
  });

  it("a saved schema that no longer matches the environment is discovered again", async () => {
    const { id, outs } = await create(productRows(3));
    const stale = { ...outs, schema: { ...outs.schema, fieldName: "zq1_renamed" } };
    await h.provider.update!(id, stale, h.inputs(productRows(4)));
    expect(remoteState(h)).toEqual(productRows(4));
    expect(logs.join("\n")).toMatch(/saved schema no longer matches .*Could not find a property named 'zq1_renamed'/);
  });

  it("changing the environment, kind or provider is a replacement", async () => {
    const { id, outs } = await create(productRows(2));
    const d = await h.provider.diff!(id, outs, h.inputs(productRows(2), { providerName: "Shopify" }));
    expect(d.replaces).toEqual(["providerName"]);
  });

  it("adopts an identical row someone else created, and never deletes it", async () => {
    const theirs = foreignProductMapping(h, "S1", "P-000001");
    const { id, outs } = await create(productRows(3));
    expect(outs).toMatchObject({ ownedCount: 2, adoptedCount: 1 });
    expect(h.mappingRows()).toHaveLength(3);
    // Removing it from the file releases it; destroying the set leaves it too.
    const rows = productRows(3);
    delete rows["sku=S1"];
    const u = await h.provider.update!(id, outs, h.inputs(rows));
    expect(h.mappingRows().map((r) => r.zq1_prodmapid)).toContain(theirs);
    await h.provider.delete!(id, u.outs as Outs);
    expect(h.mappingRows().map((r) => r.zq1_prodmapid)).toEqual([theirs]);
  });

  it("a different existing row is a conflict (nothing written) unless adoptExisting", async () => {
    const theirs = foreignProductMapping(h, "S2", "P-000009");
    h.emu.resetStats();
    await expect(create(productRows(3))).rejects.toThrow(/1 products mappings already exist with a different target.*adoptExisting.*sku=S2.*"P-000009".*"P-000002"/);
    expect(h.emu.stats.rowsWritten).toBe(0);
    const { id, outs } = await create(productRows(3), { adoptExisting: true });
    expect(remoteState(h)).toEqual(productRows(3));
    expect(outs).toMatchObject({ ownedCount: 2, adoptedCount: 1 });
    await h.provider.delete!(id, outs);
    expect(h.mappingRows().map((r) => r.zq1_prodmapid)).toEqual([theirs]);
  });

  it("refresh reports drift after an out-of-band edit and delete; the next update repairs it", async () => {
    const { id, outs, inputs } = await create(productRows(4));
    const rows = h.mappingRows();
    const s1 = rows.find((r) => r.zq1_extval === "S1")!;
    const s2 = rows.find((r) => r.zq1_extval === "S2")!;
    h.emu.table("zq1_prodmap").rows.get(s1.zq1_prodmapid!)!.zq1_prod = h.seeded.products.get("P-000020")!;
    h.emu.table("zq1_prodmap").rows.delete(s2.zq1_prodmapid!);
    const r = await h.provider.read!(id, outs);
    const props = r.props as Outs;
    expect(props.drift).toMatchObject({ missing: 1, changed: 1 });
    expect(props.drift!.sample.join("\n")).toMatch(/sku=S2: missing/);
    expect(rowsOfInputs(r.inputs as unknown as Record<string, unknown>)).toEqual({ "sku=S1": "P-000020", "sku=S3": "P-000003", "sku=S4": "P-000004" });
    expect(logs.join("\n")).toMatch(/drifted: 1 missing, 1 changed/);
    const d = await h.provider.diff!(id, props, inputs);
    expect(d.changes).toBe(true);
    await h.provider.update!(id, props, inputs);
    expect(remoteState(h)).toEqual(productRows(4));
  });

  it("refresh finds adopted rows by key and reports their drift like the rows it created (rows held unchanged are compared as they arrive)", async () => {
    const theirs = foreignProductMapping(h, "S2", "P-000002");
    const { id, outs } = await create(productRows(4), { adoptExisting: true });
    expect(outs).toMatchObject({ ownedCount: 3, adoptedCount: 1 });
    const unchanged = await h.provider.read!(id, outs);
    expect((unchanged.props as Outs).drift).toEqual({ missing: 0, changed: 0, sample: [] });
    expect((unchanged.props as Outs).applied).toBe(outs.applied);
    // The adopted row and one of ours edited outside Pulumi: its value (key) and the other's target.
    h.emu.update("zq1_prodmap", theirs, { zq1_prod: h.seeded.products.get("P-000030")! });
    const s3 = h.mappingRows().find((r) => r.zq1_extval === "S3")!;
    h.emu.update("zq1_prodmap", s3.zq1_prodmapid!, { zq1_extval: "S3-edited" });
    const r = await h.provider.read!(id, outs);
    expect((r.props as Outs).drift).toMatchObject({ missing: 0, changed: 2 });
    expect(rowsOfInputs(r.inputs as unknown as Record<string, unknown>)).toEqual({ "sku=S1": "P-000001", "sku=S2": "P-000030", "sku=S3-edited": "P-000003", "sku=S4": "P-000004" });
  });

  it("destroy removes only the rows this resource created", async () => {
    const otherProvider = foreignProductMapping(h, "S1", "P-000001", h.seeded.otherProviderId);
    const notInFile = foreignProductMapping(h, "S99", "P-000009");
    const otherGroup = foreignProductMapping(h, "S1", "P-000001", h.seeded.providerId, h.seeded.otherGroupId);
    const { id, outs } = await create(productRows(3));
    // Another stack with its own rows in the same environment and provider.
    const other = await h.provider.create(h.inputs({ "sku=T1": "P-000011" }, { ownerSeed: "other-stack" }));
    await h.provider.delete!(id, outs);
    expect(h.mappingRows().map((r) => r.zq1_prodmapid).sort()).toEqual([otherProvider, notInFile, otherGroup, ...h.mappingRows().filter((r) => r.zq1_extval === "T1").map((r) => r.zq1_prodmapid)].sort());
    expect(h.mappingRows()).toHaveLength(4);
    await h.provider.delete!(other.id, other.outs as Outs);
    expect(h.mappingRows()).toHaveLength(3);
  });

  it("rows in a non-default mapping group, and moving a row between groups", async () => {
    const { id, outs } = await create({ "sku=S1": "P-000001", "[Wholesale] sku=S1": "P-000002" });
    expect(h.mappingRows().map((r) => r.zq1_grp).sort()).toEqual([h.seeded.groupId, h.seeded.otherGroupId].sort());
    const u = await h.provider.update!(id, outs, h.inputs({ "[Wholesale] sku=S1": "P-000002" }));
    expect(h.mappingRows()).toHaveLength(1);
    expect((u.outs as Outs).lastSync).toMatchObject({ removed: 1 });
  });

  it("units: a table without CreateMultiple falls back to $batch with change sets", async () => {
    const { outs } = await create({ "unit=each": "ea", "unit=box": "box" }, { kind: "units", targetKeyColumn: "name" });
    expect(outs.schema.table).toBe("zq1_uommap");
    expect(h.emu.stats.bulkCalls).toBe(0);
    expect(h.emu.stats.batchCalls).toBeGreaterThan(0);
    expect(h.mappingRows("units").map((r) => r.zq1_extval).sort()).toEqual(["box", "each"]);
  });

  it("accounts and price lists resolve by name or number", async () => {
    await create({ "ProviderName=BigCommerce": "BigCommerce Test Account" }, { kind: "accounts", targetKeyColumn: "name" });
    await create({ "ProviderName=BigCommerce": "Master Price List" }, { kind: "pricelists", targetKeyColumn: "name" });
    await create({ "customer=42": "C-1001" }, { kind: "accounts", targetKeyColumn: "accountnumber", ownerSeed: "x" });
    expect(h.mappingRows("accounts")).toHaveLength(2);
    expect(h.mappingRows("pricelists")).toHaveLength(1);
  });

  it("reports every unresolved target and group at once, before writing anything", async () => {
    h.emu.resetStats();
    await expect(create({ "sku=A": "NOPE-1", "sku=B": "NOPE-2", "[Retail] sku=C": "P-000001", "sku=D": "P-000001" })).rejects.toThrow(
      /3 name\(s\) could not be resolved.*"NOPE-1".*"NOPE-2".*mapping group "Retail" not found/,
    );
    expect(h.emu.stats.rowsWritten).toBe(0);
    await expect(create(productRows(1), { providerName: "Magento" })).rejects.toThrow(/IOM provider "Magento" not found/);
  });

  it("large sets (targets resolved by a table scan, ahead of planning) also report unresolved targets before writing", async () => {
    h.emu.resetStats();
    // 50 products exist; rows 51..2500 point at products that do not (listed in key order: S100 first).
    await expect(create(productRows(2500))).rejects.toThrow(/2450 name\(s\) could not be resolved for products mappings: product "P-000100" \(by productnumber\) not found.*and 2425 more/);
    expect(h.emu.stats.rowsWritten).toBe(0);
  });

  it("an update reports a target that does not exist from the one lookup of its writes' targets, before writing anything", async () => {
    await h.stop();
    h = await startHarness({}, { pageSize: 100 }, 300); // 300 rows in 3 pages: the touched rows' reads are cheaper (a delta update)
    const { id, outs } = await create(productRows(300));
    const rows: Record<string, string> = { ...productRows(300), "sku=NEW1": "NOPE-9", "sku=NEW2": "P-000002", "sku=S1": "NOPE-8" };
    h.emu.resetStats();
    await expect(h.provider.update!(id, outs, h.inputs(rows))).rejects.toThrow(/2 name\(s\) could not be resolved for products mappings: .*product "NOPE-\d" \(by productnumber\) not found; product "NOPE-\d" \(by productnumber\) not found$/m);
    expect(h.emu.stats.rowsWritten).toBe(0);
    // The targets were looked up once, alongside the reads: a target the lookup did not find is not asked for again.
    expect(h.emu.requestLog.filter((r) => r.path.endsWith("/products"))).toHaveLength(1);
  });

  it("check rejects bad inputs with the property named", async () => {
    const r = await h.provider.check!(h.inputs({}), { ...h.inputs({ "=x": "y" }), environmentUrl: "http://example.com", kind: "pallets" as never, providerName: "" });
    const props = (r.failures ?? []).map((f) => f.property);
    expect(props).toEqual(expect.arrayContaining(["environmentUrl", "kind", "providerName", "rows"]));
    expect((await h.provider.check!(h.inputs({}), h.inputs(productRows(2)))).failures).toBeUndefined();
  });
});

describe("the inputs as the state keeps them (issue 21)", () => {
  type Checked = Record<string, unknown> & { rows: string; rowChanges: object; rowSummary: object };
  const check = async (olds: object, news: object) => (await h.provider.check!(olds as never, news as never)).inputs as unknown as Checked;

  it("a state whose inputs hold the rows as a map migrates with a no-op update: packed on the next check, no change in diff", async () => {
    // 400 rows over the harness's 50 products.
    const rows: Record<string, string> = {};
    for (let i = 1; i <= 400; i++) rows[`sku=S${i}`] = `P-${String((i % 50) + 1).padStart(6, "0")}`;
    const mapInputs = { ...h.inputs({}), rows };
    const { id, outs } = await create(rows);
    const checked = await check(mapInputs, h.inputs(rows));
    expect(typeof checked.rows).toBe("string");
    expect(checked.rowChanges).toEqual({ added: {}, changed: {}, removed: {} });
    expect(checked.rowSummary).toEqual({ rows: 400, added: 0, changed: 0, removed: 0 });
    expect(rowsOfInputs(checked)).toEqual(rows);
    expect(await h.provider.diff!(id, outs, checked as never)).toMatchObject({ changes: false });
    // The engine stores the checked inputs on that no-op (a same step): pulumi/pulumi
    // pkg/resource/deploy/step_generator.go sets `new.Inputs` to Check's result, and step.go's
    // SameStep.Apply keeps that state with the old outputs. An update with them writes nothing.
    h.emu.resetStats();
    await h.provider.update!(id, outs, checked as never);
    expect(h.emu.stats.rowsWritten).toBe(0);
    // Packed, the state's inputs are a fraction of the map's size.
    expect(JSON.stringify(checked).length).toBeLessThan(JSON.stringify(mapInputs).length / 2);
  });

  it("a change is listed key by key against the packed rows, which stay as they were; past 2% (at least 1,000 keys) the rows are packed anew", async () => {
    const first = await check({}, h.inputs(productRows(1200)));
    expect(first.rowSummary).toEqual({ rows: 1200, added: 1200, changed: 0, removed: 0 });
    const rows = productRows(1200);
    delete rows["sku=S1"];
    rows["sku=S2"] = "P-000009";
    rows["sku=NEW"] = "P-000001";
    const second = await check(first, h.inputs(rows));
    expect(second.rows).toBe(first.rows);
    expect(second.rowChanges).toEqual({ added: { "sku=NEW": "P-000001" }, changed: { "sku=S2": "P-000009" }, removed: { "sku=S1": "P-000001" } });
    expect(second.rowSummary).toEqual({ rows: 1200, added: 1, changed: 1, removed: 1 });
    expect(rowsOfInputs(second)).toEqual(rows);
    // The same rows again: the same inputs (a preview shows nothing), counted against the previous inputs.
    const again = await check(second, h.inputs(rows));
    expect(again.rows).toBe(first.rows);
    expect(again.rowChanges).toEqual(second.rowChanges);
    expect(again.rowSummary).toEqual({ rows: 1200, added: 0, changed: 0, removed: 0 });
    // 1,001 changes since the packing: packed anew, nothing listed.
    const many = productRows(1200);
    for (let i = 1; i <= 1001; i++) many[`sku=S${i}`] = "P-999999";
    const repacked = await check(second, h.inputs(many));
    expect(repacked.rows).not.toBe(first.rows);
    expect(repacked.rowChanges).toEqual({ added: {}, changed: {}, removed: {} });
    expect(repacked.rowSummary).toEqual({ rows: 1200, added: 1, changed: 1000, removed: 1 }); // against the previous inputs
    expect(rowsOfInputs(repacked)).toEqual(many);
  });

  it("after a refresh the stored inputs are the applied rows packed, and the next diff of the same rows decodes nothing", async () => {
    const { id, outs } = await create(productRows(5));
    const r = await h.provider.read!(id, outs);
    const stored = r.inputs as unknown as Checked;
    expect(stored.rows).toBe((r.props as Outs).applied);
    const checked = await check(stored, h.inputs(productRows(5)));
    expect(checked.rows).toBe((r.props as Outs).applied);
    expect(await h.provider.diff!(id, r.props as Outs, checked as never)).toEqual({ changes: false, replaces: [], stables: ["environmentUrl", "kind", "providerName"], detailedDiff: {} });
  });
});

describe("a change of a few rows among many: work in proportion to the change (issue 21)", () => {
  type Checked = Record<string, unknown> & { rows: string; rowChanges: { added: object; changed: object; removed: object } };
  const check = async (olds: object, news: object) => (await h.provider.check!(olds as never, news as never)) as unknown as { inputs: Checked; failures?: { property: string; reason: string }[] };

  it("check validates the rows that changed since the packed rows, and still finds a new key equal ignoring case to an unchanged one", async () => {
    const first = (await check({}, h.inputs(productRows(300)))).inputs;
    const rows = { ...productRows(300), "SKU=s7": "P-000001", "sku=NEW": " ", "[Wholesale] sku=S8": "P-000002" };
    const r = await check(first, h.inputs(rows));
    expect((r.failures ?? []).map((f) => f.reason)).toEqual([
      '"sku=NEW": empty target (Dataverse stores an empty string as null)',
      '"SKU=s7": same mapping as "sku=S7" to Dataverse, which compares text ignoring case',
    ]);
    // A row given an empty target is refused as well as a new one.
    expect((await check(first, h.inputs({ ...productRows(300), "sku=S3": "" }))).failures).toEqual([{ property: "rows", reason: '"sku=S3": empty target (Dataverse stores an empty string as null)' }]);
    // A new default group changes what every key means: every row is checked again.
    const regrouped = await check(first, h.inputs({ ...productRows(300), "[Retail] sku=S1": "P-000001" }, { mappingGroup: "retail" }));
    expect((regrouped.failures ?? []).map((f) => f.reason)).toEqual(['"sku=S1": same mapping as "[Retail] sku=S1" to Dataverse, which compares text ignoring case']);
  });

  it("finds the same changes whether the rows come in key order (as the host hands them over) or not", async () => {
    const first = (await check({}, h.inputs(productRows(300)))).inputs;
    const next: Record<string, string> = { ...productRows(300), "sku=S150a": "P-000001", "sku=S2": "P-000009", "sku=S299z": "P-000002" };
    delete next["sku=S1"];
    delete next["sku=S151"];
    const inOrder = Object.fromEntries(Object.entries(next).sort(([a], [b]) => (a < b ? -1 : 1)));
    const reversed = Object.fromEntries(Object.entries(inOrder).reverse());
    // Rows as a map (older programs), in either order, and packed (as IomMappingSet sends them).
    const a = (await check(first, { ...h.inputs({}), rows: inOrder })).inputs.rowChanges;
    const b = (await check(first, { ...h.inputs({}), rows: reversed })).inputs.rowChanges;
    expect(a).toEqual({ added: { "sku=S150a": "P-000001", "sku=S299z": "P-000002" }, changed: { "sku=S2": "P-000009" }, removed: { "sku=S1": productRows(300)["sku=S1"], "sku=S151": productRows(300)["sku=S151"] } });
    expect(b).toEqual(a);
    expect((await check(first, h.inputs(next))).inputs.rowChanges).toEqual(a);
  });

  it("a new key equal ignoring case to an unchanged one is found past ASCII and in a group as well", async () => {
    const kept = { ...productRows(300), "sku=\u00e99": "P-000003", "[Wholesale] sku=W1": "P-000004" };
    const first = (await check({}, h.inputs(kept))).inputs;
    const r = await check(first, h.inputs({ ...kept, "sku=\u00c99": "P-000005", "[WHOLESALE] sku=w1": "P-000006" }));
    expect((r.failures ?? []).map((f) => f.reason).sort()).toEqual(
      [
        '"sku=\u00c99": same mapping as "sku=\u00e99" to Dataverse, which compares text ignoring case',
        '"[WHOLESALE] sku=w1": same mapping as "[Wholesale] sku=W1" to Dataverse, which compares text ignoring case',
      ].sort(),
    );
  });

  it("packed rows decoded once per process serve every later call with the same text, and never another text's rows", async () => {
    const a = (await check({}, h.inputs(productRows(40)))).inputs;
    const b = (await check({}, h.inputs({ ...productRows(40), "sku=S1": "P-000009" }))).inputs;
    expect(a.rows).not.toBe(b.rows);
    // Interleaved, each text gives its own rows, and a caller's copy does not change the shared one.
    for (const [x, want] of [[a, productRows(40)], [b, { ...productRows(40), "sku=S1": "P-000009" }], [a, productRows(40)]] as const) {
      const rows = rowsOfInputs(x)!;
      expect(rows).toEqual(want);
      rows["sku=S2"] = "mutated";
    }
    expect(rowsOfInputs(a)).toEqual(productRows(40));
    // A third and fourth text push the first out of what is kept: it is decoded again, the same.
    await check({}, h.inputs(productRows(41)));
    await check({}, h.inputs(productRows(42)));
    expect(rowsOfInputs(a)).toEqual(productRows(40));
  });

  it("an update on the applied packed rows keeps them and the change as outputs; diff, refresh and the next update work from them", async () => {
    const base = productRows(50);
    const { id, outs } = await create(base);
    const packed = (await check({}, h.inputs(base))).inputs;
    expect(packed.rows).toBe(outs.applied); // the same rows pack to the same text
    const next: Record<string, string> = { ...base, "sku=S1": "P-000002", "sku=NEW": "P-000003" };
    delete next["sku=S2"];
    const checked = (await check(packed, h.inputs(next))).inputs;
    const d = (await h.provider.diff!(id, outs, checked as never)) as MappingDiffResult;
    expect(d.changes).toBe(true);
    expect(Object.keys(d.detailedDiff ?? {}).sort()).toEqual(['rows["sku=NEW"]', 'rows["sku=S1"]', 'rows["sku=S2"]']);
    const u = (await h.provider.update!(id, outs, checked as never)).outs as Outs & { appliedChanges?: object };
    expect(remoteState(h)).toEqual(next);
    expect(u.applied).toBe(checked.rows);
    expect(u.appliedChanges).toEqual(checked.rowChanges);
    expect(u.rowCount).toBe(50);
    // The content hash is that of the rows, however they are kept.
    const full = (await h.provider.create(h.inputs(next, { ownerSeed: "another-stack" }))).outs as Outs;
    expect(u.appliedHash).toBe(full.appliedHash);
    // The same inputs again: no change, and nothing to decode for it.
    expect(await h.provider.diff!(id, u, checked as never)).toMatchObject({ changes: false });
    // A refresh keeps them as its inputs; a change back to the packed rows is the reverse change.
    const r = await h.provider.read!(id, u);
    expect((r.props as Outs).drift).toEqual({ missing: 0, changed: 0, sample: [] });
    expect((r.inputs as unknown as Checked).rowChanges).toEqual(checked.rowChanges);
    const back = (await check(r.inputs as never, h.inputs(base))).inputs;
    const d2 = (await h.provider.diff!(id, r.props as Outs, back as never)) as MappingDiffResult;
    expect(Object.keys(d2.detailedDiff ?? {}).sort()).toEqual(['rows["sku=NEW"]', 'rows["sku=S1"]', 'rows["sku=S2"]']);
    const u2 = (await h.provider.update!(id, r.props as Outs, back as never)).outs as Outs;
    expect(remoteState(h)).toEqual(base);
    expect(u2.appliedHash).toBe(outs.appliedHash);
    // Other packed rows than the applied ones (packed anew, or another state's): compared row by row.
    const other = (await check({}, h.inputs(next))).inputs;
    expect(other.rows).not.toBe(u2.applied);
    expect(Object.keys(((await h.provider.diff!(id, u2, other as never)) as MappingDiffResult).detailedDiff ?? {}).sort()).toEqual(['rows["sku=NEW"]', 'rows["sku=S1"]', 'rows["sku=S2"]']);
  });

  it("an update counts the rows it keeps, whatever count a hand-edited or older state holds", async () => {
    const base = productRows(50);
    const { id, outs } = await create(base);
    const packed = (await check({}, h.inputs(base))).inputs;
    // (No key added: the update reads the changed rows only, on the count's word, as a 1% change of many does.)
    const next: Record<string, string> = { ...base, "sku=S1": "P-000002" };
    delete next["sku=S2"];
    const checked = (await check(packed, h.inputs(next))).inputs;
    for (const rowCount of [5, -1, 1.5, 4000, undefined]) {
      const u = (await h.provider.update!(id, { ...outs, rowCount } as never, checked as never)).outs as Outs;
      expect(remoteState(h)).toEqual(next);
      expect({ rowCount: u.rowCount, ownedCount: u.ownedCount, adoptedCount: u.adoptedCount }).toEqual({ rowCount: 49, ownedCount: 49, adoptedCount: 0 });
    }
  });

  it("an update works out the applied rows' hash while its writes are in flight, not while its reads are answered", async () => {
    const base = productRows(50);
    const { id, outs } = await create(base);
    const packed = (await check({}, h.inputs(base))).inputs;
    const next: Record<string, string> = { ...base, "sku=S1": "P-000002", "sku=NEW": "P-000003" };
    const checked = (await check(packed, h.inputs(next))).inputs;
    // The hash reads where the packed rows are, found in steps: that marks when the work starts
    // (two other texts checked first: this process's views of the applied text are gone).
    for (const other of [productRows(20), productRows(30)]) await check({}, h.inputs(other));
    const positions = rowsModule.rowPositionsOfTextInSteps as jest.Mock;
    positions.mockClear();
    const hashStarted = () => positions.mock.calls.length > 0;
    const logged = h.emu.requestLog.length;
    const sent = () => h.emu.requestLog.slice(logged);
    let release = h.emu.holdAnswers();
    const updated = h.provider.update!(id, outs, checked as never);
    const writes = () => sent().filter((r) => r.method !== "GET").length;
    try {
      // Each round of reads held, then answered, until the first write arrives (held too).
      while (writes() === 0) {
        await waitFor(() => h.emu.heldAnswers > 0, "the update's next requests");
        await new Promise((resolve) => setTimeout(resolve, 50)); // turns of the loop for any work started meanwhile
        if (writes() > 0) break;
        expect(hashStarted()).toBe(false);
        release(); // (the next requests arrive after this turn: held by the new hold)
        release = h.emu.holdAnswers();
      }
      // The writes in flight: the hash's pieces go on meanwhile.
      await waitFor(hashStarted, "the hash of the applied rows");
      expect(h.emu.heldAnswers).toBe(writes());
    } finally {
      release();
    }
    const u = (await updated).outs as Outs;
    expect(remoteState(h)).toEqual(next);
    expect(u.appliedHash).toBe(((await h.provider.create(h.inputs(next, { ownerSeed: "another-stack" }))).outs as Outs).appliedHash);
  });

  it("a refresh of packed rows and changes finds drift wherever a row is kept: in the packed rows, among the changes, and none for a key the changes removed", async () => {
    // The refresh reads the packed rows by position and the changes beside them: each place is edited out of band.
    const base = { ...productRows(30), "[Wholesale] sku=W1": "P-000004" };
    const { id, outs } = await create(base);
    const packed = (await check({}, h.inputs(base))).inputs;
    const next: Record<string, string> = { ...base, "sku=S1": "P-000002", "sku=NEW": "P-000003" };
    delete next["sku=S2"];
    const u = (await h.provider.update!(id, outs, (await check(packed, h.inputs(next))).inputs as never)).outs as Outs;
    expect(u.appliedChanges).toMatchObject({ changed: { "sku=S1": "P-000002" }, added: { "sku=NEW": "P-000003" }, removed: { "sku=S2": "P-000002" } });
    const clean = await h.provider.read!(id, u);
    expect((clean.props as Outs).drift).toEqual({ missing: 0, changed: 0, sample: [] });
    expect((clean.props as Outs).applied).toBe(u.applied);
    const row = (value: string, group = h.seeded.groupId) => h.mappingRows().find((r) => r.zq1_extval === value && r.zq1_grp === group)!.zq1_prodmapid!;
    // A packed row given another target, a packed row in another group deleted, the changed row
    // set back to its packed target, the added row's value edited; and the removed key back (someone else's).
    h.emu.update("zq1_prodmap", row("S9"), { zq1_prod: h.seeded.products.get("P-000020")! });
    h.emu.table("zq1_prodmap").rows.delete(row("W1", h.seeded.otherGroupId));
    h.emu.update("zq1_prodmap", row("S1"), { zq1_prod: h.seeded.products.get("P-000001")! });
    h.emu.update("zq1_prodmap", row("NEW"), { zq1_extval: "NEW-edited" });
    foreignProductMapping(h, "S2", "P-000002");
    const r = await h.provider.read!(id, u);
    const drift = (r.props as Outs).drift!;
    expect(drift).toMatchObject({ missing: 1, changed: 3 });
    expect([...drift.sample].sort()).toEqual([
      '[Wholesale] sku=W1: missing',
      'sku=NEW: now sku=NEW-edited -> "P-000003" (expected "P-000003")',
      'sku=S1: -> "P-000001" (expected "P-000002")',
      'sku=S9: -> "P-000020" (expected "P-000009")',
    ]);
    const actual: Record<string, string> = { ...next, "sku=S1": "P-000001", "sku=S9": "P-000020", "sku=NEW-edited": "P-000003" };
    delete actual["sku=NEW"];
    delete actual["[Wholesale] sku=W1"];
    expect(rowsOfInputs(r.inputs as unknown as Record<string, unknown>)).toEqual(actual);
  });

  it("a change of a few rows goes out over every slot the service allows, with a probe no larger than one of those requests", async () => {
    await h.stop();
    h = await startHarness({ dopHint: 12 }, {}, 1200);
    const { id, outs } = await create(productRows(1200));
    const rows = productRows(1200);
    for (let i = 1; i <= 60; i++) rows[`sku=S${i * 20}`] = "P-000001";
    for (let i = 1; i <= 30; i++) delete rows[`sku=S${i * 20 - 7}`];
    h.emu.resetStats();
    await h.provider.update!(id, outs, h.inputs(rows));
    expect(remoteState(h)).toEqual(rows);
    const writes = h.emu.requestLog.filter((r) => r.method === "POST" && (r.path.includes("Microsoft.Dynamics.CRM.") || r.path.endsWith("$batch")));
    // 90 rows over 12 slots: at most 8 a request (before, 2 requests: a 10-row probe and 50 rows).
    expect(Math.max(...writes.map((r) => r.rows ?? 0))).toBeLessThanOrEqual(8);
    expect(writes.length).toBeGreaterThanOrEqual(12);
  });
});

describe("schema discovery", () => {
  it("ignores decoys, and lists the candidates when the table is ambiguous; an override resolves it", async () => {
    await h.stop();
    const prod = EMULATOR_TABLES.find((t) => t.logicalName === "zq1_prodmap")!;
    const twin = { ...prod, logicalName: "zq2_prodmapping", entitySetName: "zq2_prodmappings", displayName: "Product Mapping (legacy)", primaryId: "zq2_prodmappingid", attributes: [{ ...prod.attributes[0], logicalName: "zq2_prodmappingid" }, ...prod.attributes.slice(1)] };
    h = await startHarness({ tables: [...EMULATOR_TABLES, twin] });
    await expect(create(productRows(1))).rejects.toThrow(/more than one table looks like the IOM products mapping: zq1_prodmap .*zq2_prodmapping .*table=<logical name>/);
    const { outs } = await create(productRows(1), { schemaOverride: "table=zq2_prodmapping" });
    expect(outs.schema.table).toBe("zq2_prodmapping");
    expect(h.emu.rows("zq2_prodmapping")).toHaveLength(1);
  });

  it("missing: says which tables mention mapping and what to set", async () => {
    await h.stop();
    h = await startHarness({ tables: EMULATOR_TABLES.filter((t) => t.logicalName !== "zq1_prodmap") });
    await expect(create(productRows(1))).rejects.toThrow(/no table has the columns of an IOM products mapping. Candidates: zq1_prodmaplog \("IOM Product Mapping Import Log"\): fieldName: no matching column/);
  });

  it("an override naming a column that does not exist is an error, not a guess", async () => {
    await expect(create(productRows(1), { schemaOverride: "fieldName=zq1_nope" })).rejects.toThrow(/override fieldName=zq1_nope is not a column of zq1_prodmap/);
    const r = await h.provider.check!(h.inputs({}), h.inputs({}, { schemaOverride: "colour=red" }));
    expect(r.failures?.[0]).toMatchObject({ property: "schemaOverride" });
  });
});
