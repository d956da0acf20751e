import { computePlan, diffRowMaps, RemoteRow } from "../../dynamic-providers/dataverse/plan";
import { MappingRow, RowChanges, RowMap, applyChanges, changedSides, diffSortedTexts, hashRows, jsonStringEnd, hashRowsWithChanges, mapToRows, ownedId, rowPositionsOfTextInSteps, rowsWithChangesHasher, sortedRowsOfMap, sortedRowsOfText, sortedRowsOfTextInSteps, targetsInText, viewTargets, viewToRows } from "../../dynamic-providers/dataverse/rows";
import { encodeApplied, packedView } from "../../dynamic-providers/dataverse/sync";
import { MAX_FILTER_CHARS, orFilters } from "../../dynamic-providers/dataverse/schema";
import { gunzipSync, gzipSync } from "zlib";
import { createHash } from "crypto";

const G = "Default Mapping Group";
const SEED = "seed";
const row = (value: string, target: string, group = G): MappingRow => ({ group, field: "sku", value, target });
const ours = (value: string, target: string | null, group = G): RemoteRow => ({ id: ownedId(SEED, group, "sku", value), group, field: "sku", value, target });
const theirs = (id: string, value: string, target: string | null, group = G): RemoteRow => ({ id, group, field: "sku", value, target });

describe("row-level change plan", () => {
  it("adds, changes, removes our rows and leaves the rest", () => {
    const plan = computePlan(
      [row("A", "P1"), row("B", "P2"), row("C", "P3")],
      [ours("A", "P1"), ours("B", "P9"), ours("Z", "P5"), theirs("t1", "Y", "P4")],
      SEED,
      false,
    );
    expect(plan.add.map((a) => a.row.value)).toEqual(["C"]);
    expect(plan.add[0].id).toBe(ownedId(SEED, G, "sku", "C"));
    expect(plan.change.map((c) => [c.row.value, c.owned])).toEqual([["B", true]]);
    expect(plan.remove.map((r) => r.value)).toEqual(["Z"]);
    expect(plan.unchanged).toBe(1);
  });

  it("adopts identical foreign rows, conflicts on different ones, updates them with adoptExisting", () => {
    const remote = [theirs("t1", "A", "P1"), theirs("t2", "B", "P7")];
    const plan = computePlan([row("A", "P1"), row("B", "P2")], remote, SEED, false);
    expect(plan.adopt.map((a) => a.id)).toEqual(["t1"]);
    expect(plan.conflict.map((c) => c.remote.id)).toEqual(["t2"]);
    const adopting = computePlan([row("A", "P1"), row("B", "P2")], remote, SEED, true);
    expect(adopting.change.map((c) => [c.id, c.owned])).toEqual([["t2", false]]);
    expect(adopting.remove).toEqual([]);
  });

  it("keeps the owned id of every row as created before: a UUID from the SHA-256 of the seed and the row's identity", () => {
    // The derivation rows.ts documents (version 5-style, RFC 4122 variant), written out byte by
    // byte: rows created by earlier versions carry these ids, and a changed id would orphan them.
    const expected = (seed: string, group: string, field: string, value: string, account = "") => {
      const identity = `${group.toLowerCase()}\u0000${field.toLowerCase()}\u0000${value.toLowerCase()}${account ? `\u0000${account.toLowerCase()}` : ""}`;
      const b = createHash("sha256").update(`${seed}\u0000${identity}`).digest();
      b[6] = (b[6] & 0x0f) | 0x50;
      b[8] = (b[8] & 0x3f) | 0x80;
      const h = b.subarray(0, 16).toString("hex");
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
    };
    const variants = new Set<string>();
    for (let i = 0; i < 64; i++) {
      const [group, value, account] = [i % 2 ? "Wholesale" : G, `Sku-${i}`, i % 3 ? "" : "C-1001"];
      const id = ownedId(SEED, group, "SKU", value, account);
      expect(id).toBe(expected(SEED, group, "SKU", value, account));
      variants.add(id[19]);
    }
    expect([...variants].sort()).toEqual(["8", "9", "a", "b"]); // every variant nibble was produced
    expect(ownedId("seed", G, "sku", "ABS")).toBe(expected("seed", G, "sku", "ABS"));
  });

  it("plans the same from owned ids worked out beforehand as from the rows alone", () => {
    const desired = [row("A", "P1"), row("B", "P2"), row("C", "P3"), row("D", "P4")];
    const remote = [ours("A", "P1"), ours("B", "P9"), ours("Z", "P5"), theirs("t1", "C", "P3"), theirs("t2", "D", "P8")];
    const ids = desired.map((d) => ownedId(SEED, d.group, d.field, d.value));
    for (const adopting of [false, true]) {
      expect(computePlan(desired, remote, SEED, adopting, [row("Z", "P5")], ids)).toEqual(computePlan(desired, remote, SEED, adopting, [row("Z", "P5")]));
    }
    // Into an empty table every row is added, under its owned id.
    const fresh = computePlan(desired, [], SEED, false, [], ids);
    expect(fresh.add.map((a) => a.id)).toEqual(ids);
  });

  it("compares keys case-insensitively but writes a case change", () => {
    const plan = computePlan([row("abc", "P1")], [ours("ABC", "p1")], SEED, false);
    expect(plan.add).toEqual([]);
    expect(plan.change).toHaveLength(1); // value casing differs: update the row in place
  });

  it("recognises our row after someone edited its key, and repairs it instead of creating a duplicate", () => {
    const edited: RemoteRow = { ...ours("A", "P1"), value: "A-edited" };
    const plan = computePlan([row("A", "P1")], [edited], SEED, false);
    expect(plan.add).toEqual([]);
    expect(plan.change.map((c) => c.id)).toEqual([edited.id]);
    // ... and when the key is no longer wanted, removes it thanks to the previously applied keys.
    const gone = computePlan([], [edited], SEED, false, [row("A", "P1")]);
    expect(gone.remove.map((r) => r.id)).toEqual([edited.id]);
    expect(computePlan([], [edited], SEED, false).remove).toEqual([]);
  });

  it("never removes a row whose id is not ours, even with the same key and group", () => {
    expect(computePlan([], [theirs("t1", "A", "P1")], SEED, false, [row("A", "P1")]).remove).toEqual([]);
    expect(computePlan([], [ours("A", "P1")], "another-seed", false).remove).toEqual([]);
  });

  it("pure map diff used by preview: added, changed, removed by key, across a default-group change", () => {
    expect(diffRowMaps({ "sku=A": "P1", "sku=B": "P2" }, G, { "sku=A": "P1", "sku=B": "P3", "sku=C": "P4" }, G)).toMatchObject({ added: ["sku=C"], changed: ["sku=B"], removed: [] });
    expect(diffRowMaps({ "sku=A": "P1" }, G, {}, G)).toMatchObject({ added: [], changed: [], removed: ["sku=A"] });
    // Same rows, the default group renamed: every key now means another group.
    expect(diffRowMaps({ "sku=A": "P1" }, G, { "sku=A": "P1" }, "Retail")).toMatchObject({ added: ["sku=A"], changed: [], removed: [`[${G}] sku=A`] });
  });
});

describe("packed rows read as a sorted view (issue 21: a change touches its keys, not every row)", () => {
  // Keys and targets JSON writes with escapes (quote, backslash, a lone surrogate), and ones it
  // writes as they are (a surrogate pair, "=" and spaces), among plain ones.
  const rows: RowMap = { "sku=A": "P1", 'sku=say "hi"': 'P "2"', "sku=back\\slash": "P\\3", "sku=\ud83d\ude00": "P\ud83d\ude00", "sku=lone\ud800": "P\udfff", "[Retail] sku=B C": "P=5", "sku=Z": "" };
  const textOf = (m: RowMap) => gunzipSync(Buffer.from(encodeApplied(m), "base64")).toString("utf8");

  it("reads every key and target of the packed text as JSON.parse does, finds keys by binary search, and compares a target without building it", () => {
    const view = sortedRowsOfText(textOf(rows))!;
    expect(view.keys).toEqual(Object.keys(rows).sort());
    const read: RowMap = {};
    view.keys.forEach((k, i) => (read[k] = view.target(i)));
    expect(read).toEqual(rows);
    for (const k of Object.keys(rows)) {
      const i = view.indexOf(k);
      expect(view.keys[i]).toBe(k);
      expect(view.targetIs(i, rows[k])).toBe(true);
      expect(view.targetIs(i, `${rows[k]}x`)).toBe(false);
      expect(view.targetIs(i, undefined)).toBe(false);
    }
    expect(view.indexOf("sku=missing")).toBe(-1);
    expect(view.indexOf("")).toBe(-1);
    expect(sortedRowsOfText("{}")!.keys).toEqual([]);
  });

  it("a create's rows read from the view are the rows of the decoded map, in its order (groups, accounts, escapes)", () => {
    const all: RowMap = { ...rows, "{ACC-1} sku=A": "P7", "{ACC-2} [Retail] sku=q": "P8", "ean=9": "P9", "sk=1": "P10", "sku=a=b": "P11", "skux=1": "P12" };
    expect(viewToRows(packedView(encodeApplied(all)), G)).toEqual(mapToRows(JSON.parse(textOf(all)) as RowMap, G));
    expect(viewToRows(packedView(encodeApplied({})), G)).toEqual([]);
  });

  it("text that is not sorted packed rows gives no view (read as JSON instead), with the same rows", () => {
    expect(sortedRowsOfText('{"b":"1","a":"2"}')).toBeUndefined(); // out of order
    expect(sortedRowsOfText('{"a":"1","a":"2"}')).toBeUndefined(); // a duplicate
    expect(sortedRowsOfText('{"a":1}')).toBeUndefined(); // not a string
    expect(sortedRowsOfText('{ "a":"1"}')).toBeUndefined();
    const unsorted = gzipSync(Buffer.from('{"b":"1","a":"2"}')).toString("base64");
    const view = packedView(unsorted);
    expect(view.keys).toEqual(["a", "b"]);
    expect(view.target(view.indexOf("b"))).toBe("1");
  });

  it("builds the same view a few rows at a time (an update views rows between its requests), and none of text out of order", () => {
    const plain: RowMap = {};
    for (let i = 10; i < 60; i++) plain[`sku=S${i}`] = `P-${i}`;
    for (const m of [rows, plain]) {
      const whole = sortedRowsOfText(textOf(m))!;
      for (const per of [1, 3, 1000]) {
        const steps = sortedRowsOfTextInSteps(textOf(m));
        let n = 1;
        let done = steps.step(per);
        for (; !done; n++) done = steps.step(per);
        const view = done.view!;
        expect(view.keys).toEqual(whole.keys);
        expect(view.keys.map((_, i) => view.target(i))).toEqual(whole.keys.map((_, i) => whole.target(i)));
        expect(view.hashText?.(0, view.keys.length)).toBe(whole.hashText?.(0, whole.keys.length));
        expect(n).toBe(Math.max(1, Math.ceil(whole.keys.length / per)));
      }
    }
    const outOfOrder = sortedRowsOfTextInSteps('{"b":"1","a":"2"}');
    expect(outOfOrder.step(1)).toBeUndefined();
    expect(outOfOrder.step(1)).toEqual({ view: undefined });
  });

  it("finds the targets of keys in the packed text without a view, the key's own row and not a prefix or a target that looks like it", () => {
    // A key that is a prefix of another, a target that reads like a key's row start, escapes.
    const tricky: RowMap = { ...rows, "sku=S1": "P-1", "sku=S10": "P-10", "sku=S2": '"sku=S1":"x', 'sku=S1":"': "P-q" };
    const text = textOf(tricky);
    const keys = Object.keys(tricky);
    const found = targetsInText(text, keys)!;
    expect(Object.fromEntries(keys.map((k) => [k, found.get(k)]))).toEqual(tricky);
    expect(targetsInText(text, ["sku=S10", "sku=S1"])!.get("sku=S1")).toBe("P-1");
    // A key not there, or text out of key order: undefined (the caller views the rows instead).
    expect(targetsInText(text, ["sku=absent"])).toBeUndefined();
    expect(targetsInText('{"b":"1","a":"2"}', ["a", "b"])).toBeUndefined();
  });

  it("compares two change sets on the same packed rows from the text as from a view, reading the packed rows only for keys one set changed", () => {
    const base: RowMap = { ...rows };
    for (let i = 10; i < 40; i++) base[`sku=S${i}`] = `P-${i}`;
    const text = textOf(base);
    const view = sortedRowsOfText(text)!;
    // What check writes against the packed rows: added keys are not there, removed ones carry their target.
    const applied: RowChanges = { added: { "sku=NEW1": "N1", "sku=NEW2": "N2" }, changed: { "sku=S10": "x", "sku=S11": "y", 'sku=say "hi"': "z" }, removed: { "sku=S12": "P-12", "sku=back\\slash": "P\\3" } };
    const wanted: RowChanges = { added: { "sku=NEW1": "N1b", "sku=NEW3": "N3" }, changed: { "sku=S10": "x", "sku=S13": "w", "sku=S12": "back" }, removed: { "sku=S11": "P-11", "sku=Z": "" } };
    const asked: string[][] = [];
    const fromText = changedSides((keys) => (asked.push(keys), targetsInText(text, keys)!), applied, wanted);
    expect(fromText).toEqual(changedSides(viewTargets(view), applied, wanted));
    // The whole sets, compared on the touched keys: what applying each change set gives.
    const touched = Object.keys({ ...fromText.a, ...fromText.b });
    const [full, next] = [applyChanges(base, applied), applyChanges(base, wanted)];
    for (const k of touched) {
      expect(fromText.a[k]).toBe(full[k]);
      expect(fromText.b[k]).toBe(next[k]);
    }
    expect(asked).toEqual([['sku=say "hi"', "sku=S13"]]); // S10, S11 and S12 both sets name
  });

  it("the content hash of packed rows with changes is that of the rows they stand for", () => {
    const changes = { added: { "sku=NEW": "P9", "sku=0first": "P0", "sku=zz last": "P8" }, changed: { 'sku=say "hi"': "P7" }, removed: { "sku=A": "P1" } };
    const view = sortedRowsOfText(textOf(rows))!;
    expect(hashRowsWithChanges(view, changes)).toBe(hashRows(applyChanges(rows, changes)));
    expect(hashRowsWithChanges(sortedRowsOfMap(rows), changes)).toBe(hashRows(applyChanges(rows, changes)));
    expect(hashRowsWithChanges(view, { added: {}, changed: {}, removed: {} })).toBe(hashRows(rows));
    // Rows without escapes, hashed from the packed text in runs between the changed keys.
    const plain: RowMap = {};
    for (let i = 10; i < 60; i++) plain[`sku=S${i}`] = `P-${i}`;
    const plainView = sortedRowsOfText(textOf(plain))!;
    const cases: RowChanges[] = [
      { added: {}, changed: {}, removed: {} },
      { added: { "sku=A": "first", "sku=S25x": "between", "sku=Z": "last" }, changed: { "sku=S10": "x", "sku=S59": "y" }, removed: { "sku=S11": "P-11", "sku=S58": "P-58" } },
      { added: {}, changed: {}, removed: Object.fromEntries(Object.entries(plain)) },
      { added: { "sku=S30": "moved" }, changed: {}, removed: { "sku=S30": "P-30", "sku=S31": "P-31" } },
    ];
    for (const c of cases) {
      const want = hashRows(applyChanges(plain, c));
      expect(hashRowsWithChanges(plainView, c)).toBe(want);
      // The same hash in pieces (an update hashes a piece per turn while its requests are out),
      // whatever the piece size: a piece ends inside a run of unchanged rows and at a change.
      for (const rowsPerStep of [1, 3, 7, 1000]) {
        const h = rowsWithChangesHasher(plainView, c, rowsPerStep);
        let steps = 1;
        while (!h.step()) steps++;
        expect(h.digest()).toBe(want);
        if (rowsPerStep === 1) expect(steps).toBeGreaterThan(40);
      }
    }
  });
  it("hashes packed text without escapes from where its rows are (no key sliced but a changed one's), as hashRows hashes the rows it stands for", () => {
    // Keys and targets that put the separators' characters next to quotes: ",", "" and commas or
    // colons at either end, which a search for `","` alone would take for row boundaries.
    const odd: RowMap = { "": "", ",": ",", ":x": "x:", "sku=,": ",:", "sku=:": ",", "sku=a,": ",b", "sku=\ud83d\ude00": "P\ud83d\ude00", "[Retail] sku=B C": "P=5" };
    for (let i = 10; i < 60; i++) odd[`sku=S${i}`] = `P-${i}`;
    const positionsOf = (text: string, per: number) => {
      const steps = rowPositionsOfTextInSteps(text);
      let done = steps.step(per);
      while (!done) done = steps.step(per);
      return done.rows;
    };
    const cases: RowChanges[] = [
      { added: {}, changed: {}, removed: {} },
      { added: { " first": "x", "sku=S25x": "between", "sku=~": "last", "sku=,,": "," }, changed: { "": "now", ",": ":", "sku=S59": "y" }, removed: { ":x": "x:", "sku=a,": ",b", "sku=S10": "P-10" } },
      { added: {}, changed: {}, removed: { ...odd } },
      { added: { "sku=S30": "moved" }, changed: {}, removed: { "sku=S30": "P-30", "sku=S31": "P-31" } },
    ];
    for (const per of [1, 7, 1000]) {
      const rows = positionsOf(textOf(odd), per)!;
      expect(rows.count).toBe(Object.keys(odd).length);
      const keys = Object.keys(odd).sort();
      expect(keys.map((_, i) => rows.keyAt(i))).toEqual(keys);
      expect(rows.indexOf("sku=S30")).toBe(keys.indexOf("sku=S30"));
      expect(rows.indexOf("sku=S30x")).toBe(-1);
      expect(rows.lowerBound("sku=S30x")).toBe(keys.indexOf("sku=S31"));
      for (const c of cases) {
        const h = rowsWithChangesHasher(rows, c, per);
        while (!h.step());
        expect(h.digest()).toBe(hashRows(applyChanges(odd, c)));
        // The count holds for change sets as check writes them: no key in two of them.
        if (c.added["sku=S30"] === undefined) expect(h.rows).toBe(Object.keys(applyChanges(odd, c)).length);
      }
    }
    expect(positionsOf("{}", 10)!.count).toBe(0);
    expect(hashRowsWithChanges(positionsOf("{}", 10)!, { added: { a: "1" }, changed: {}, removed: {} })).toBe(hashRows({ a: "1" }));
    // A key or target that is just ":" reads like a separator from its own quotes: such text, text
    // with an escape, and text that is not packed rows have no positions (the caller views them
    // instead), and the view hashes them row by row.
    const colon: RowMap = { ...odd, ":": "x", "sku=c": ":" };
    const colonView = sortedRowsOfText(textOf(colon))!;
    for (const c of cases.slice(0, 2)) {
      for (const per of [1, 7, 1000]) {
        const h = rowsWithChangesHasher(colonView, c, per);
        while (!h.step());
        expect(h.digest()).toBe(hashRows(applyChanges(colon, c)));
      }
    }
    for (const text of [textOf(colon), textOf({ a: ":" }), textOf(rows), '{"a":1}', '{ "a":"1"}', '{"a":"1",}', '{"a":"1"', '{"a":"1"}{"b":"2"}', '{"a"}', '{"a":"1"x"b":"2"}']) expect(positionsOf(text, 1000)).toBeUndefined();
  });
  it("finds the changes between two packed texts as comparing their maps key by key does, however far apart the changes are", () => {
    // A seeded generator: the same rows each run.
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const odd = ["", ",", ":x", "a,", 'q"uote', "back\\slash", "\ud83d\ude00", "x\u0001y"];
    for (const [size, changes] of [[40, 10], [3000, 3], [3000, 60], [20000, 200]]) {
      const a: RowMap = {};
      for (let i = 0; i < size; i++) a[`sku=S${String(i).padStart(6, "0")}`] = `P-${i % 977}`;
      const b: RowMap = { ...a };
      for (let c = 0; c < changes; c++) {
        const i = Math.floor(random() * size);
        const key = `sku=S${String(i).padStart(6, "0")}`;
        const kind = c % 4;
        if (kind === 0) delete b[key];
        else if (kind === 1) b[`${key}x`] = `N-${c}`;
        else if (kind === 2) b[key] = `${b[key] ?? ""}${odd[c % odd.length]}`;
        else b[`${key}${odd[c % odd.length]}`] = odd[(c + 3) % odd.length];
      }
      const d = diffSortedTexts(textOf(a), textOf(b))!;
      const want = { added: {} as RowMap, changed: {} as RowMap, removed: {} as RowMap, changedFrom: {} as RowMap };
      for (const [k, v] of Object.entries(b)) {
        if (!(k in a)) want.added[k] = v;
        else if (a[k] !== v) [want.changed[k], want.changedFrom[k]] = [v, a[k]];
      }
      for (const [k, v] of Object.entries(a)) if (!(k in b)) want.removed[k] = v;
      expect({ added: d.added, changed: d.changed, removed: d.removed, changedFrom: d.changedFrom }).toEqual(want);
      expect(d.count).toBe(Object.keys(b).length);
    }
    // Where a JSON string ends: the first quote that an even run of backslashes (or none) precedes.
    for (const [text, end] of [['ab"', 2], ['a\\"b"', 4], ['a\\\\"', 3], ['\\\\\\"x"', 5], ["abc", -1], ['a\\"', -1]] as const) expect(jsonStringEnd(text, 0, text.length)).toBe(end);
  });
});
describe("or-ed filters within the Web API's URL limit (32 KB)", () => {
  it("puts as many terms in a filter as fit in the URL limit (less room for the rest of the URL), at most 500, and keeps every term once in order", () => {
    const ids = Array.from({ length: 2000 }, (_, i) => `zq1_prodmapid eq ${ownedId(SEED, G, "sku", `S${i}`)}`);
    const filters = orFilters(ids);
    expect(filters.length).toBeLessThanOrEqual(5); // 100 per request at first: 20; in half the URL limit: 8
    for (const f of filters) expect(encodeURIComponent(f).length).toBeLessThanOrEqual(MAX_FILTER_CHARS);
    expect(filters.join(" or ")).toBe(ids.join(" or "));
    // Short terms: the term count binds.
    expect(orFilters(Array.from({ length: 1200 }, (_, i) => `n eq ${i}`)).map((f) => f.split(" or ").length)).toEqual([500, 500, 200]);
    // Quotes count as sent (%27: the URL parser encodes them in a query; encodeURIComponent does not).
    const keys = Array.from({ length: 500 }, (_, i) => `(f eq 'sku' and v eq 'NEW${199000 + i}')`);
    for (const f of orFilters(keys)) expect(new URL(`https://x/?$filter=${encodeURIComponent(f)}`).search.length - "?$filter=".length).toBeLessThanOrEqual(MAX_FILTER_CHARS);
    // A term longer than the limit still goes, alone.
    expect(orFilters(["x".repeat(MAX_FILTER_CHARS + 1), "y"])).toEqual(["x".repeat(MAX_FILTER_CHARS + 1), "y"]);
    expect(orFilters([])).toEqual([]);
  });
});
