/**
 * The row-level change plan. Pure: desired rows + remote rows (+ the owner seed) → what to add,
 * change, remove, adopt, and what conflicts.
 *
 * Ownership: a remote row is this resource's iff its id is `ownedId(seed, its key)` (rows.ts), or
 * its id is the owned id of a key this resource applied before (covers a row whose key someone
 * edited). Only owned rows are ever removed. A desired key whose only remote rows are someone
 * else's is *adopted* when identical (no write; never deleted later), a *conflict* when different
 * (an error, unless `adoptExisting`, in which case the foreign row is updated and still never
 * deleted).
 */
import { MappingRow, RowMap, identityGroup, rowCodec } from "./rows";

export interface RemoteRow {
  id: string;
  group: string | null;
  field: string | null;
  value: string | null;
  /** Business key of the target row (via $expand), null when unset or dangling. */
  target: string | null;
  /** The account scoping the row, in the form the desired rows name it (schema.ts); "" or absent: none. */
  account?: string | null;
}

export const remoteKey = (r: RemoteRow): string | undefined => (r.group === null || r.field === null || r.value === null ? undefined : rowCodec().matchKey(r.group, r.field, r.value, r.account ?? ""));
export const ownedIdOf = (seed: string, r: Pick<MappingRow, "group" | "field" | "value" | "account">) => rowCodec().ownedIdOf(seed, r);

export interface Change {
  row: MappingRow;
  id: string;
  owned: boolean;
  before: RemoteRow;
}

export interface Plan {
  add: { row: MappingRow; id: string }[];
  change: Change[];
  remove: RemoteRow[];
  adopt: { row: MappingRow; id: string }[];
  conflict: { row: MappingRow; remote: RemoteRow }[];
  unchanged: number;
}

export function identical(r: RemoteRow, d: MappingRow): boolean {
  return (
    r.field === d.field &&
    r.value === d.value &&
    (r.group ?? "").toLowerCase() === d.group.toLowerCase() &&
    (r.account ?? "").toLowerCase() === (d.account ?? "").toLowerCase() &&
    (r.target ?? "").toLowerCase() === d.target.toLowerCase()
  );
}

/** `ids`, when given, are the owned ids of `desired` (ownedIdOf of each row, in order), worked out beforehand. */
export function computePlan(desired: MappingRow[], remote: RemoteRow[], seed: string, adoptExisting: boolean, previousKeys: MappingRow[] = [], ids?: string[]): Plan {
  const plan: Plan = { add: [], change: [], remove: [], adopt: [], conflict: [], unchanged: 0 };
  // Per row: the codec's closures, not module functions (rows.ts rowCodec).
  const { ownedIdOf, rowKey, matchKey } = rowCodec();
  const remoteKey = (r: RemoteRow): string | undefined => (r.group === null || r.field === null || r.value === null ? undefined : matchKey(r.group, r.field, r.value, r.account ?? ""));
  const byId = new Map<string, RemoteRow>();
  for (const r of remote) byId.set(r.id.toLowerCase(), r);
  const consumed = new Set<string>();
  const desiredIds = new Set<string>();
  // Rows this resource owns are found by id first; only the desired rows left over are matched by
  // key, against the remote rows no id claimed (at 50,000 rows, indexing every remote row by key
  // costs more memory than the rest of the plan).
  const byIdMissing: { d: MappingRow; oid: string }[] = [];
  for (let i = 0; i < desired.length; i++) {
    const d = desired[i];
    const oid = ids ? ids[i] : ownedIdOf(seed, d);
    desiredIds.add(oid);
    const mine = byId.get(oid);
    if (mine) {
      consumed.add(oid);
      if (identical(mine, d)) plan.unchanged++;
      else plan.change.push({ row: d, id: oid, owned: true, before: mine });
    } else byIdMissing.push({ d, oid });
  }
  const byKey = new Map<string, RemoteRow[]>();
  if (byIdMissing.length > 0) {
    for (const r of remote) {
      if (consumed.has(r.id.toLowerCase())) continue;
      const k = remoteKey(r);
      if (k === undefined) continue;
      const list = byKey.get(k);
      if (list) list.push(r);
      else byKey.set(k, [r]);
    }
  }
  for (const { d, oid } of byIdMissing) {
    // No remote row left to match by key (a create into an empty table): no key to work out.
    const others = (byKey.size === 0 ? [] : (byKey.get(rowKey(d)) ?? [])).filter((r) => !consumed.has(r.id.toLowerCase()) && !desiredIds.has(r.id.toLowerCase()));
    if (others.length > 0) {
      const same = others.find((r) => identical(r, d));
      const r = same ?? others[0];
      consumed.add(r.id.toLowerCase());
      if (same) plan.adopt.push({ row: d, id: r.id });
      else if (adoptExisting) plan.change.push({ row: d, id: r.id, owned: false, before: r });
      else plan.conflict.push({ row: d, remote: r });
      continue;
    }
    plan.add.push({ row: d, id: oid });
  }
  // Ids of keys applied before but no longer desired (hash only those, not all 50,000; and index
  // the few previous keys rather than every desired one).
  const previouslyOwned = new Set<string>();
  if (previousKeys.length > 0) {
    const prev = new Map(previousKeys.map((k) => [rowKey(k), k]));
    for (const d of desired) prev.delete(rowKey(d));
    for (const k of prev.values()) previouslyOwned.add(ownedIdOf(seed, k));
  }
  for (const r of remote) {
    const id = r.id.toLowerCase();
    if (consumed.has(id) || desiredIds.has(id)) continue;
    const ownByKey = r.group !== null && r.field !== null && r.value !== null && ownedIdOf(seed, { group: r.group, field: r.field, value: r.value, account: r.account ?? "" }) === id;
    if (ownByKey || previouslyOwned.has(id)) plan.remove.push(r);
  }
  return plan;
}

/**
 * Pure comparison of two row maps (what `diff` shows without calling the service): keys added,
 * changed (different target) and removed, by the encoded key of the *new* side where possible.
 *
 * `tableHasGroup` false: the mapping table has no Mapping Group column, so a row's identity and
 * content leave the group out (rows.ts identityGroup), as the sync does: a change of the default
 * group, or of a key's group spelling, moves no row and changes none.
 */
export function diffRowMaps(olds: RowMap, oldDefaultGroup: string, news: RowMap, newDefaultGroup: string, tableHasGroup = true): { added: string[]; changed: string[]; removed: string[]; changedOld: string[] } {
  const added: string[] = [];
  const changed: string[] = [];
  /** The old side's key of each changed row, in the order of `changed`. */
  const changedOld: string[] = [];
  // A key present on both sides with the same text is the same row, compared without decoding (at
  // 50,000 rows, decoding every key of both maps is most of diff's memory), when it names the same
  // group on both sides: same default group, or no group in the identity at all. Only the keys
  // left over are decoded and matched by identity (case, group spelling, ...).
  const { decodeKey, encodeKey, matchKey } = rowCodec();
  // A local: in the serialized provider a global named in a loop is looked up through a with-scope per use.
  const hasOwn = Object.prototype.hasOwnProperty;
  const sameGroup = oldDefaultGroup === newDefaultGroup;
  const sameText = sameGroup || !tableHasGroup;
  const leftOld: string[] = [];
  const leftNew: string[] = [];
  for (const k of Object.keys(news)) {
    if (sameText && hasOwn.call(olds, k)) {
      if (olds[k] !== news[k]) {
        changed.push(k);
        changedOld.push(k);
      }
    } else leftNew.push(k);
  }
  for (const k of Object.keys(olds)) if (!sameText || !hasOwn.call(news, k)) leftOld.push(k);
  const identity = (k: string, defaultGroup: string) => {
    const d = decodeKey(k, defaultGroup);
    const group = identityGroup(tableHasGroup, d.group);
    return { d, match: matchKey(group, d.field, d.value, d.account), exact: `${d.account}\u0000${group}\u0000${d.field}\u0000${d.value}` };
  };
  const oldByMatch = new Map<string, { key: string; target: string; exact: string }>();
  for (const k of leftOld) {
    const { match, exact } = identity(k, oldDefaultGroup);
    oldByMatch.set(match, { key: k, target: olds[k], exact });
  }
  for (const k of leftNew) {
    const { match, exact } = identity(k, newDefaultGroup);
    const o = oldByMatch.get(match);
    if (!o) added.push(k);
    else {
      oldByMatch.delete(match);
      if (o.target !== news[k] || o.exact !== exact) {
        changed.push(k);
        changedOld.push(o.key);
      }
    }
  }
  // A removed key is named as the new side would write it; without a group column its old text
  // already is that (the group is not part of the row).
  const removed = [...oldByMatch.values()].map((o) => {
    if (sameText) return o.key;
    const d = decodeKey(o.key, oldDefaultGroup);
    return encodeKey(d.group, d.field, d.value, newDefaultGroup, d.account);
  });
  return { added, changed, removed, changedOld };
}
