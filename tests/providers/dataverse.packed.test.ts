/**
 * check on rows the program sends packed (IomMappingSet packs them, issue 21: the host decodes a
 * map of 200,000 keys for over a second): the inputs it stores are the ones the same rows as a
 * map give, found from the two packed texts without decoding the program's rows into an object.
 */
import { gzipSync } from "zlib";
import * as sync from "../../dynamic-providers/dataverse/sync";
import { createIomMappingSetDynamicProvider, type MappingDiffResult } from "../../dynamic-providers/dataverse/provider";
import * as rowsModule from "../../dynamic-providers/dataverse/rows";
import type { RowMap } from "../../dynamic-providers/dataverse/rows";

// The view of packed rows, counted (a pass-through): which calls build one of every row.
jest.mock("../../dynamic-providers/dataverse/rows", () => {
  const actual = jest.requireActual<typeof import("../../dynamic-providers/dataverse/rows")>("../../dynamic-providers/dataverse/rows");
  return { ...actual, sortedRowsOfTextInSteps: jest.fn(actual.sortedRowsOfTextInSteps) };
});
import { productMappingInputs, productRows } from "../../emulators/dataverse-harness";

type Checked = { inputs: Record<string, unknown>; failures?: { property: string; reason: string }[] };
const provider = createIomMappingSetDynamicProvider();
const check = async (olds: object, news: object) => (await provider.check!(olds as never, news as never)) as unknown as Checked;
const URL = "https://org.crm.dynamics.com";
const asMap = (rows: RowMap, extra = {}) => ({ ...productMappingInputs(URL, {}, extra), rows });
const packed = (rows: RowMap, extra = {}) => ({ ...productMappingInputs(URL, {}, extra), rows: sync.encodeApplied(rows) });
const stored = (c: Checked) => ({ rows: c.inputs.rows, rowChanges: c.inputs.rowChanges, rowSummary: c.inputs.rowSummary });

// Keys and targets JSON escapes (quote, backslash, a control character) and keys past ASCII (a surrogate pair too).
const BASE: RowMap = { ...productRows(3000), 'sku=a"q"': "P-000001", "sku=b\\s": "P-000002", "sku=tab": "P-\t3", "sku=café": "P-000004", "sku=😀": "P-000005", "sku=z\\last": 'P-"9"' };

/** Both shapes checked against the same previous inputs: the same stored inputs and failures; the packed result. */
async function same(olds: object, rows: RowMap, extra = {}): Promise<Checked> {
  const fromMap = await check(olds, asMap(rows, extra));
  const fromText = await check(olds, packed(rows, extra));
  // The same failures (the packed rows' in key order, the map's in its own).
  const reasons = (c: Checked) => c.failures?.map((f) => `${f.property}: ${f.reason}`).sort();
  expect(reasons(fromText)).toEqual(reasons(fromMap));
  // (toBe on the long packed text first: a failure prints no kilobytes of base64)
  if (!fromMap.failures) {
    expect(fromText.inputs.rows === fromMap.inputs.rows).toBe(true);
    expect(stored(fromText)).toEqual(stored(fromMap));
  }
  return fromText;
}

afterEach(() => jest.restoreAllMocks());

describe("check on rows the program sent packed", () => {
  it("stores what the same rows as a map give: first check, a change of added, changed and removed keys (escaped and past ASCII), a change on top of one, no change, and a re-pack", async () => {
    const first = await same({}, BASE);
    expect(first.failures).toBeUndefined();
    expect(first.inputs.rows === sync.encodeApplied(BASE)).toBe(true); // the program's own text, as it is
    expect(first.inputs.rowSummary).toEqual({ rows: 3006, added: 3006, changed: 0, removed: 0 });

    const next: RowMap = { ...BASE, "sku=new\"one": "P-000010", "sku=ñu": "P-000011", "sku=b\\s": "P-000012", "sku=😀": "P-0000😀", "sku=S10": "P-000013" };
    for (const k of ['sku=a"q"', "sku=tab", "sku=S1", "sku=z\\last"]) delete next[k];
    // The packed path: the program's rows are not decoded into an object (JSON.parse reads a
    // few escaped keys and targets only).
    const parse = jest.spyOn(JSON, "parse");
    const fromText = await check(first.inputs, packed(next));
    expect(Math.max(0, ...parse.mock.calls.map(([text]) => text.length))).toBeLessThan(100);
    parse.mockRestore();
    const second = await same(first.inputs, next);
    expect(stored(second)).toEqual(stored(fromText));
    expect(second.inputs.rows === first.inputs.rows).toBe(true);
    expect(second.inputs.rowChanges).toEqual({
      added: { "sku=new\"one": "P-000010", "sku=ñu": "P-000011" },
      changed: { "sku=b\\s": "P-000012", "sku=😀": "P-0000😀", "sku=S10": "P-000013" },
      removed: { 'sku=a"q"': "P-000001", "sku=tab": "P-\t3", "sku=S1": BASE["sku=S1"], "sku=z\\last": 'P-"9"' },
    });
    expect(second.inputs.rowSummary).toEqual({ rows: 3004, added: 2, changed: 3, removed: 4 });

    // diff of those checked inputs against outputs that applied the packed rows: the keys the
    // same rows as a map show.
    const outs = { ...productMappingInputs(URL, {}), applied: first.inputs.rows, appliedChanges: { added: {}, changed: {}, removed: {} } };
    const d = (await provider.diff!("id", outs as never, second.inputs as never)) as MappingDiffResult;
    const dMap = (await provider.diff!("id", outs as never, asMap(next) as never)) as MappingDiffResult;
    expect(Object.keys(d.detailedDiff ?? {}).sort()).toEqual(Object.keys(dMap.detailedDiff ?? {}).sort());
    expect(d.detailedDiff).toEqual(dMap.detailedDiff);
    expect(Object.keys(d.detailedDiff ?? {})).toHaveLength(9);

    // A diff on the applied packed rows reads the targets it needs from their text: no view of
    // every row (at 200,000 rows ~0.1 s of a preview), whatever changes were applied before;
    // (Two other texts checked first: this process's views of the applied text are gone.)
    for (const other of [productRows(20), productRows(30)]) await check({}, packed(other));
    const view = rowsModule.sortedRowsOfTextInSteps as jest.Mock;
    view.mockClear();
    const applied = { ...outs, appliedChanges: second.inputs.rowChanges };
    // (check too, with a key the applied changes changed given back its packed target)
    const again = (await check(second.inputs, packed({ ...next, "sku=S30": "P-000031", "sku=ñu": "P-000012", "sku=S10": BASE["sku=S10"] }))).inputs;
    expect(again.rowSummary).toEqual({ rows: 3004, added: 0, changed: 3, removed: 0 });
    const d2 = (await provider.diff!("id", applied as never, again as never)) as MappingDiffResult;
    expect(Object.keys(d2.detailedDiff ?? {}).sort()).toEqual(['rows["sku=S10"]', 'rows["sku=S30"]', 'rows["sku=ñu"]']);
    expect(view.mock.calls.filter(([text]) => (text as string).length > 1000)).toEqual([]);

    // On top of that change: one changed key back to its packed target, one removed key back, one more change.
    const third: RowMap = { ...next, "sku=S10": BASE["sku=S10"], "sku=S1": BASE["sku=S1"], "sku=S20": "P-000021" };
    const r3 = await same(second.inputs, third);
    expect(r3.inputs.rowSummary).toEqual({ rows: 3005, added: 1, changed: 2, removed: 0 });

    // No change: the same stored inputs again (from the same text, or a text with changes on top).
    expect(stored(await same(first.inputs, BASE))).toEqual({ ...stored(first), rowSummary: { rows: 3006, added: 0, changed: 0, removed: 0 } });
    expect(stored(await same(second.inputs, next))).toEqual({ ...stored(second), rowSummary: { rows: 3004, added: 0, changed: 0, removed: 0 } });

    // Past max(1,000, 2%) changes since the packed rows: the program's text is stored as it is.
    const many = { ...BASE };
    for (let i = 1; i <= 1001; i++) many[`sku=S${i}`] = "P-999999";
    const repacked = await same(second.inputs, many);
    expect(repacked.inputs.rows === sync.encodeApplied(many)).toBe(true);
    expect(repacked.inputs.rowChanges).toEqual({ added: {}, changed: {}, removed: {} });
  });

  it("a bad row or a new key equal ignoring case to another fails check naming the key; a new kind or group checks every row", async () => {
    const first = await same({}, BASE);
    const bad = await same(first.inputs, { ...BASE, "sku=NEW": " ", "SKU=s7": "P-000001", 'SKU=A"Q"': "P-000002", "SKU=CAFÉ": "P-000003" });
    expect((bad.failures ?? []).map((f) => f.reason).sort()).toEqual([
      '"SKU=A\\"Q\\"": same mapping as "sku=a\\"q\\"" to Dataverse, which compares text ignoring case',
      '"SKU=CAFÉ": same mapping as "sku=café" to Dataverse, which compares text ignoring case',
      '"SKU=s7": same mapping as "sku=S7" to Dataverse, which compares text ignoring case',
      '"sku=NEW": empty target (Dataverse stores an empty string as null)',
    ]);
    // Rows kept from checked inputs are not checked again, unless the default group changes.
    const smuggled = { ...first.inputs, rows: sync.encodeApplied({ ...BASE, "sku=": "P-000001" }), rowSummary: { rows: 3007, added: 0, changed: 0, removed: 0 } };
    expect((await same(smuggled, { ...BASE, "sku=": "P-000001" })).failures).toBeUndefined();
    const regrouped = await same(smuggled, { ...BASE, "sku=": "P-000001" }, { mappingGroup: "Retail" });
    expect((regrouped.failures ?? []).map((f) => f.reason)).toEqual(['"sku=": empty external field value (Dataverse stores an empty string as null)']);
  });

  it("the same packed text as the previous inputs: its row count is read from the text, not from a previous rowSummary a hand-edited or older state has wrong; no view of every row", async () => {
    const first = await same({}, BASE);
    const next: RowMap = { ...BASE, "sku=NEW": "P-000010", "sku=S2": "P-000011" };
    delete next["sku=S3"];
    const second = await same(first.inputs, next);
    expect(second.inputs.rows === first.inputs.rows).toBe(true); // the changes are on top of the same packed text
    const view = rowsModule.sortedRowsOfTextInSteps as jest.Mock;
    for (const summary of [undefined, null, {}, { rows: "3006" }, { rows: -1 }, { rows: 1.5 }, { rows: 2 ** 60 }, { rows: 5 }, { rows: 0 }, { rows: 4000 }]) {
      const stale = (c: Checked) => ({ ...c.inputs, rowSummary: summary === undefined ? undefined : { added: 0, changed: 0, removed: 0, ...summary } });
      // (Two other texts first: this process's view of the packed text is gone.)
      for (const other of [productRows(20), productRows(30)]) await check({}, packed(other));
      view.mockClear();
      const again = await check(stale(first), packed(BASE));
      expect(again.inputs.rowSummary).toEqual({ rows: 3006, added: 0, changed: 0, removed: 0 });
      // Back to the packed rows from the change on top of them: that change undone.
      const back = await check(stale(second), packed(BASE));
      expect(back.inputs.rowSummary).toEqual({ rows: 3006, added: 1, changed: 1, removed: 1 });
      expect(view.mock.calls.filter(([text]) => (text as string).length > 1000)).toEqual([]);
      // The same as the rows as a map give.
      expect(stored(await same(stale(second), BASE))).toEqual(stored(back));
    }
  });

  it("packed text not in key order (another writer's) is decoded, and stored packed in order", async () => {
    const rows = productRows(20);
    const unordered = gzipSync(Buffer.from(JSON.stringify(Object.fromEntries(Object.entries(rows).reverse())))).toString("base64");
    const first = await check({}, { ...packed({}), rows: unordered });
    expect(first.inputs.rows === sync.encodeApplied(rows)).toBe(true);
    const next = { ...rows, "sku=S1": "P-000009" };
    const unorderedNext = gzipSync(Buffer.from(JSON.stringify(Object.fromEntries(Object.entries(next).reverse())))).toString("base64");
    expect(stored(await check(first.inputs, { ...packed({}), rows: unorderedNext }))).toEqual(stored(await check(first.inputs, asMap(next))));
  });

  it("packed text that does not decode fails check on rows", async () => {
    const first = await check({}, packed(productRows(10)));
    for (const olds of [{}, first.inputs]) {
      for (const rows of ["not packed rows", Buffer.from("{\"sku=S1\":").toString("base64")]) {
        const r = await check(olds, { ...packed({}), rows });
        expect(r.failures?.map((f) => f.property)).toEqual(["rows"]);
      }
    }
  });
});
