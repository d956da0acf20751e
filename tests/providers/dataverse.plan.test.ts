import { computePlan, diffRowMaps, RemoteRow } from "../../dynamic-providers/dataverse/plan";
import { MappingRow, ownedId } from "../../dynamic-providers/dataverse/rows";

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
