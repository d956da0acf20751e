/**
 * Row identity and the compact form rows take in inputs and state. Pure.
 *
 * A mapping row is identified by (account, mapping group, external field name, external field value)
 * within one IOM provider; it points at one target business key. The account is optional (empty: a
 * generic mapping) and only used by the kinds whose IOM form has an Account; on a table without a
 * mapping-group column the group is left out of the identity (identityGroup). In the resource's inputs the rows are a
 * map `key -> target business key`, where the key is `field=value` (default group, no account),
 * `[group] field=value`, `{account} field=value` or `{account} [group] field=value`. A map (not an
 * array) makes Pulumi's own property diff show each added, changed and removed mapping by its key.
 */
import { createHash, hash as cryptoHash } from "crypto";

export interface MappingRow {
  group: string;
  field: string;
  value: string;
  target: string;
  /** Account number or name scoping the row; absent or empty: a generic mapping. */
  account?: string;
}

export type RowMap = Record<string, string>;

/**
 * The per-row key functions, made when called. Why: in the serialized provider (Pulumi's closure
 * serializer) every call of a module-level function first rebuilds its closure inside a `with`
 * scope (about 0.5 µs and three allocations a call), so a loop over 200,000 rows calling
 * decodeKey, matchKey and ownedId per row spends more in those rebuilds than in the work. A loop
 * takes a codec once and calls its closures, made at run time, directly.
 */
export function rowCodec() {
  const encodeKey = (group: string, field: string, value: string, defaultGroup: string, account = ""): string =>
    `${account ? `{${account}} ` : ""}${group === defaultGroup ? "" : `[${group}] `}${field}=${value}`;

  const decodeKey = (key: string, defaultGroup: string): { group: string; field: string; value: string; account: string } => {
    let group = defaultGroup;
    let account = "";
    let rest = key;
    if (rest.startsWith("{")) {
      const end = rest.indexOf("} ");
      if (end < 0) throw new Error(`malformed mapping key ${JSON.stringify(key)}`);
      account = rest.slice(1, end);
      rest = rest.slice(end + 2);
    }
    if (rest.startsWith("[")) {
      const end = rest.indexOf("] ");
      if (end < 0) throw new Error(`malformed mapping key ${JSON.stringify(key)}`);
      group = rest.slice(1, end);
      rest = rest.slice(end + 2);
    }
    const eq = rest.indexOf("=");
    if (eq <= 0) throw new Error(`malformed mapping key ${JSON.stringify(key)}`);
    return { group, field: rest.slice(0, eq), value: rest.slice(eq + 1), account };
  };

  // Dataverse compares strings case-insensitively (default collation), so identity does too. A
  // generic row's identity is the same as before accounts existed, so its owned id does not change.
  const matchKey = (group: string, field: string, value: string, account = ""): string => {
    const base = `${group.toLowerCase()}\u0000${field.toLowerCase()}\u0000${value.toLowerCase()}`;
    return account ? `${base}\u0000${account.toLowerCase()}` : base;
  };

  // crypto.hash (Node >= 20.12): one call, no Hash object per row (tens of thousands per sync).
  const sha256 = typeof cryptoHash === "function" ? (text: string) => cryptoHash("sha256", text, "buffer") : (text: string) => createHash("sha256").update(text).digest();
  const ownedId = (seed: string, group: string, field: string, value: string, account = ""): string => {
    const b = sha256(`${seed}\u0000${matchKey(group, field, value, account)}`);
    b[6] = (b[6] & 0x0f) | 0x50; // version 5-style (name based)
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    const h = b.subarray(0, 16).toString("hex");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
  };

  const rowKey = (r: Pick<MappingRow, "group" | "field" | "value" | "account">): string => matchKey(r.group, r.field, r.value, r.account ?? "");
  const ownedIdOf = (seed: string, r: Pick<MappingRow, "group" | "field" | "value" | "account">): string => ownedId(seed, r.group, r.field, r.value, r.account ?? "");
  return { encodeKey, decodeKey, matchKey, ownedId, rowKey, ownedIdOf };
}

export function encodeKey(group: string, field: string, value: string, defaultGroup: string, account = ""): string {
  return rowCodec().encodeKey(group, field, value, defaultGroup, account);
}

export function decodeKey(key: string, defaultGroup: string): { group: string; field: string; value: string; account: string } {
  return rowCodec().decodeKey(key, defaultGroup);
}

/**
 * Dataverse compares strings case-insensitively (default collation), so identity does too. A
 * generic row's identity is the same as before accounts existed, so its owned id does not change.
 */
export function matchKey(group: string, field: string, value: string, account = ""): string {
  return rowCodec().matchKey(group, field, value, account);
}

/**
 * The id this resource gives the row it creates for a key. Deterministic (a UUID built from a
 * SHA-256 of the resource's owner seed and the row's identity), so ownership is a property of the
 * row itself: a row is "ours" iff its id equals ownedId(seed, its key). That survives a sync killed
 * half-way (no id is lost with the process), makes create retries idempotent (a retried create of
 * an already-committed row is a duplicate-key error on *our* id, i.e. success), and keeps the state
 * free of 50,000 GUIDs.
 */
export function ownedId(seed: string, group: string, field: string, value: string, account = ""): string {
  return rowCodec().ownedId(seed, group, field, value, account);
}

/**
 * The group a row's identity uses. A table without a Mapping Group column has no group to tell rows
 * apart, so the group is left out ("") and changing the stack's default group later does not change
 * which rows the stack owns. On a table with the column the identity (and so every deterministic id
 * already created) is unchanged.
 */
export const identityGroup = (tableHasGroup: boolean, group: string): string => (tableHasGroup ? group : "");

/** Rows as identities for a table with or without a Mapping Group column (in place; see identityGroup). */
export function identityRows<R extends Pick<MappingRow, "group">>(tableHasGroup: boolean, rows: R[]): R[] {
  if (!tableHasGroup) for (const r of rows) r.group = "";
  return rows;
}

/** matchKey of a row. */
export const rowKey = (r: Pick<MappingRow, "group" | "field" | "value" | "account">): string => rowCodec().rowKey(r);

export function rowsToMap(rows: MappingRow[], defaultGroup: string): RowMap {
  const { encodeKey } = rowCodec();
  const out: RowMap = {};
  for (const r of rows) out[encodeKey(r.group, r.field, r.value, defaultGroup, r.account ?? "")] = r.target;
  return out;
}

/** The rows of `map` (with `changes` applied, when given, without a copy of the map). */
export function mapToRows(map: RowMap, defaultGroup: string, changes?: RowChanges): MappingRow[] {
  const { decodeKey } = rowCodec();
  const out: MappingRow[] = [];
  const add = (k: string, target: string) => {
    const d = decodeKey(k, defaultGroup);
    const row: MappingRow = { group: d.group, field: d.field, value: d.value, target };
    if (d.account) row.account = d.account;
    out.push(row);
  };
  const hasOwn = Object.prototype.hasOwnProperty;
  for (const k of Object.keys(map)) {
    if (changes && (hasOwn.call(changes.removed, k) || hasOwn.call(changes.changed, k) || hasOwn.call(changes.added, k))) continue;
    add(k, map[k]);
  }
  if (changes) for (const part of [changes.changed, changes.added]) for (const k of Object.keys(part)) add(k, part[k]);
  return out;
}

/** Stable content hash of a row map (order independent); `sortedKeys` when the caller has them. */
export function hashRows(map: RowMap, sortedKeys?: string[]): string {
  return hashSortedRows(sortedKeys ?? Object.keys(map).sort(), (k) => map[k]);
}

/** hashRows of the rows `keys` (sorted) with the targets `targetOf` gives. */
function hashSortedRows(keys: string[], targetOf: (k: string) => string): string {
  const h = createHash("sha256");
  for (let i = 0; i < keys.length; i += 1000) {
    let chunk = "";
    const end = Math.min(keys.length, i + 1000);
    for (let j = i; j < end; j++) chunk += `${keys[j]}\u0000${targetOf(keys[j])}\u0001`;
    h.update(chunk);
  }
  return h.digest("hex");
}

/**
 * Rows as the state keeps them (issue 21): packed rows (`base`, decoded) and the changes since,
 * key by key: keys added (not in `base`), keys given another target, and keys removed (with the
 * target they had in `base`).
 */
export interface RowChanges {
  added: RowMap;
  changed: RowMap;
  removed: RowMap;
}

export const noChanges = (): RowChanges => ({ added: {}, changed: {}, removed: {} });

const has = (m: object, k: string) => Object.prototype.hasOwnProperty.call(m, k);

export const changeCount = (c: RowChanges) => Object.keys(c.added).length + Object.keys(c.changed).length + Object.keys(c.removed).length;

/** Changes as the state holds them: absent parts (older states, the engine dropping `{}`) are empty. */
export function changesOf(c: unknown): RowChanges {
  const x = (c ?? {}) as Partial<RowChanges>;
  return { added: x.added ?? {}, changed: x.changed ?? {}, removed: x.removed ?? {} };
}

/** Whether two change sets name the same keys with the same targets. */
export function sameChanges(a: RowChanges, b: RowChanges): boolean {
  for (const part of ["added", "changed", "removed"] as const) {
    const [x, y] = [a[part], b[part]];
    const keys = Object.keys(x);
    if (keys.length !== Object.keys(y).length) return false;
    for (const k of keys) if (!has(y, k) || x[k] !== y[k]) return false;
  }
  return true;
}

/** `base` with `changes` applied: `base` itself when there are none (then read-only), else a new map. */
export function applyChanges(base: RowMap, changes: RowChanges): RowMap {
  if (changeCount(changes) === 0) return base;
  const map = { ...base };
  for (const k of Object.keys(changes.removed)) delete map[k];
  Object.assign(map, changes.added, changes.changed);
  return map;
}

/** The target of `key` in `base` with `changes` applied, undefined when it has none. */
export function targetAfter(base: RowMap, changes: RowChanges, key: string): string | undefined {
  if (has(changes.removed, key)) return undefined;
  if (has(changes.added, key)) return changes.added[key];
  if (has(changes.changed, key)) return changes.changed[key];
  return has(base, key) ? base[key] : undefined;
}

/**
 * Two row sets that share packed rows (`base`), each with its own changes, restricted to the keys
 * either change set names: every other key has the same target on both sides, so comparing these
 * is comparing the whole sets (what diff and update do for a change of 1% of 200,000 rows).
 */
export function changedSides(base: RowMap, a: RowChanges, b: RowChanges): { a: RowMap; b: RowMap } {
  const out = { a: {} as RowMap, b: {} as RowMap };
  for (const c of [a, b]) {
    for (const part of [c.added, c.changed, c.removed]) {
      for (const k of Object.keys(part)) {
        if (has(out.a, k) || has(out.b, k)) continue;
        const [x, y] = [targetAfter(base, a, k), targetAfter(base, b, k)];
        if (x !== undefined) out.a[k] = x;
        if (y !== undefined) out.b[k] = y;
      }
    }
  }
  return out;
}

/**
 * hashRows of `base` with `changes` applied, without building that map: `baseKeys` are the keys of
 * `base` (in the order of its packed text, sorted), merged with the changed keys.
 */
export function hashRowsWithChanges(base: RowMap, baseKeys: string[], changes: RowChanges): string {
  let sorted = true;
  for (let i = 1; i < baseKeys.length && sorted; i++) sorted = baseKeys[i - 1] < baseKeys[i];
  if (!sorted) return hashRows(applyChanges(base, changes));
  const added = Object.keys(changes.added).filter((k) => !has(base, k)).sort();
  const keys: string[] = [];
  const removed = new Set(Object.keys(changes.removed));
  let j = 0;
  for (const k of baseKeys) {
    while (j < added.length && added[j] < k) keys.push(added[j++]);
    if (!removed.has(k)) keys.push(k);
  }
  while (j < added.length) keys.push(added[j++]);
  const hasOwn = Object.prototype.hasOwnProperty;
  return hashSortedRows(keys, (k) => (hasOwn.call(changes.changed, k) ? changes.changed[k] : hasOwn.call(changes.added, k) ? changes.added[k] : base[k]));
}

