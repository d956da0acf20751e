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
  // Hex text straight from the hash, the version and variant set in the text: no Buffer per row
  // (half of ownedId's time at 10,000 rows).
  const sha256Hex = typeof cryptoHash === "function" ? (text: string) => cryptoHash("sha256", text, "hex") : (text: string) => createHash("sha256").update(text).digest("hex");
  // The RFC 4122 variant's nibble for each hex digit's character code: its two low bits after 10.
  const variantOf: string[] = [];
  for (const [i, c] of [..."0123456789abcdef"].entries()) variantOf[c.charCodeAt(0)] = "89ab"[i & 3];
  // The SHA-256 an owned id is cut from (ownedId; sync.ts ownedIdTable holds ids as numbers cut the same way).
  const ownedIdHash = (seed: string, group: string, field: string, value: string, account = ""): string => sha256Hex(`${seed}\u0000${matchKey(group, field, value, account)}`);
  const ownedId = (seed: string, group: string, field: string, value: string, account = ""): string => {
    const h = ownedIdHash(seed, group, field, value, account);
    // Version 5-style (name based): the high nibble of byte 6 is 5; RFC 4122 variant: the two top
    // bits of byte 8 are 10 (so its high nibble is 8, 9, a or b). Joined, not a template: a template
    // makes a tree of about ten string pieces per id, which a refresh of 200,000 rows holds (its
    // ids) through every garbage collection, and a create one per row; a join makes one flat string.
    return [h.slice(0, 8), h.slice(8, 12), `5${h.slice(13, 16)}`, `${variantOf[h.charCodeAt(16)]}${h.slice(17, 20)}`, h.slice(20, 32)].join("-");
  };

  const rowKey = (r: Pick<MappingRow, "group" | "field" | "value" | "account">): string => matchKey(r.group, r.field, r.value, r.account ?? "");
  const ownedIdOf = (seed: string, r: Pick<MappingRow, "group" | "field" | "value" | "account">): string => ownedId(seed, r.group, r.field, r.value, r.account ?? "");
  return { encodeKey, decodeKey, matchKey, ownedId, ownedIdHash, rowKey, ownedIdOf };
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

/**
 * The rows of packed rows' view, in its key order: mapToRows of the map they decode to, without
 * decoding them into an object (a create reads the view for the applied rows' hash anyway).
 */
export function viewToRows(view: SortedRows, defaultGroup: string): MappingRow[] {
  const { decodeKey } = rowCodec();
  const { keys } = view;
  const out: MappingRow[] = [];
  // A plain `field=value` key (no account, default group) is split here, its field the previous
  // row's string when the same (most rows share a few field names): no object and no field string
  // per row, which at 50,000 rows were megabytes of a create's peak.
  let field = "";
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const first = key.charCodeAt(0);
    const eq = first === 0x7b || first === 0x5b ? -1 : key.indexOf("="); // { [
    if (eq > 0) {
      if (!(field.length === eq && key.startsWith(field))) field = key.slice(0, eq);
      out.push({ group: defaultGroup, field, value: key.slice(eq + 1), target: view.target(i) });
      continue;
    }
    const d = decodeKey(key, defaultGroup);
    const row: MappingRow = { group: d.group, field: d.field, value: d.value, target: view.target(i) };
    if (d.account) row.account = d.account;
    out.push(row);
  }
  return out;
}

/** Stable content hash of a row map (order independent); `sortedKeys` when the caller has them. */
export function hashRows(map: RowMap, sortedKeys?: string[]): string {
  return hashSortedRows(sortedKeys ?? Object.keys(map).sort(), (k) => map[k]);
}

/** hashRows of the rows `keys` (sorted) with the targets `targetOf` gives (by key and position). */
function hashSortedRows(keys: string[], targetOf: (k: string, i: number) => string): string {
  const h = createHash("sha256");
  for (let i = 0; i < keys.length; i += 1000) {
    let chunk = "";
    const end = Math.min(keys.length, i + 1000);
    for (let j = i; j < end; j++) chunk += `${keys[j]}\u0000${targetOf(keys[j], j)}\u0001`;
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

/**
 * The target of a key in `base` with `changes` applied (undefined: it has none), as a function
 * made here: diff, update and check call it per changed key (rows.ts rowCodec says why).
 */
export function targetAfterOf(base: SortedRows, changes: RowChanges): (key: string) => string | undefined {
  const hasOwn = Object.prototype.hasOwnProperty;
  const { added, changed, removed } = changes;
  return (key) => {
    if (hasOwn.call(removed, key)) return undefined;
    if (hasOwn.call(added, key)) return added[key];
    if (hasOwn.call(changed, key)) return changed[key];
    const i = base.indexOf(key);
    return i < 0 ? undefined : base.target(i);
  };
}

/**
 * Where a JSON string whose text starts at `from` (after its opening quote) ends in `text`: its
 * closing quote, or -1 when none comes before `end` (a backslash escapes the character after it).
 */
export function jsonStringEnd(text: string, from: number, end: number): number {
  // The next quote that no backslash escapes: one after an even run of backslashes (native
  // searches between them; a character loop was most of check's walk of two 200,000-row texts).
  for (let i = text.indexOf('"', from); i >= 0 && i < end; i = text.indexOf('"', i + 1)) {
    let k = i;
    while (k > from && text.charCodeAt(k - 1) === 0x5c) k--;
    if ((i - k) % 2 === 0) return i;
  }
  return -1;
}

/**
 * Where changedSides reads the shared packed rows: the targets of the keys it asks for, every one
 * of them a key a change set names as changed (so in the packed rows), asked for all at once.
 */
export type PackedTargets = (keys: string[]) => Map<string, string>;

/** PackedTargets from a view of the packed rows. */
export function viewTargets(view: SortedRows): PackedTargets {
  return (keys) => {
    const out = new Map<string, string>();
    for (const k of keys) {
      const i = view.indexOf(k);
      if (i >= 0) out.set(k, view.target(i));
    }
    return out;
  };
}

/**
 * The targets of `keys` in packed rows' JSON text (`{"key":"target",...}` in key order, as
 * encodeApplied writes it), each of them known to be there: one forward pass of native searches
 * for `"key":"` in key order instead of a view of every row (at 200,000 rows the view is ~0.1 s,
 * most of a 1% change's diff). Undefined when a key is not where it should be (text out of order,
 * or a key wrongly believed there): the caller views the rows instead.
 */
export function targetsInText(text: string, keys: string[]): Map<string, string> | undefined {
  const out = new Map<string, string>();
  let from = 0;
  for (const k of [...new Set(keys)].sort()) {
    // The key as encodeApplied writes it (JSON.stringify's escapes), then `:"`.
    const pattern = `${JSON.stringify(k)}:"`;
    let at = text.indexOf(pattern, from);
    // A row's own key: its quote follows `{` or `,` (a quote inside a key or target is escaped).
    while (at > 0 && text.charCodeAt(at - 1) !== 0x2c && text.charCodeAt(at - 1) !== 0x7b) at = text.indexOf(pattern, at + 1);
    if (at <= 0) return undefined;
    const start = at + pattern.length;
    const end = jsonStringEnd(text, start, text.length);
    if (end < 0) return undefined; // the text ended inside the target
    const raw = text.slice(start, end);
    out.set(k, raw.indexOf("\\") < 0 ? raw : (JSON.parse(`"${raw}"`) as string));
    from = end;
  }
  return out;
}

/**
 * Two row sets that share packed rows, each with its own changes against them, restricted to the
 * keys either change set names: every other key has the same target on both sides, so comparing
 * these is comparing the whole sets (what diff and update do for a change of 1% of 200,000 rows).
 * The change sets are what check writes (rows.ts rowChanges semantics): a key added is not in the
 * packed rows, a key removed carries its packed target, a key changed is there with another. So a
 * key one set names and the other does not has, on the other side, no target (added), the one the
 * set carries (removed), or the packed rows' (changed): only those are read from `packed`.
 */
export function changedSides(packed: PackedTargets, a: RowChanges, b: RowChanges): { a: RowMap; b: RowMap } {
  const out = { a: {} as RowMap, b: {} as RowMap };
  const hasOwn = Object.prototype.hasOwnProperty;
  const names = (c: RowChanges, k: string) => hasOwn.call(c.added, k) || hasOwn.call(c.changed, k) || hasOwn.call(c.removed, k);
  const need: string[] = [];
  for (const [c, other] of [[a, b], [b, a]]) for (const k of Object.keys(c.changed)) if (!names(other, k)) need.push(k);
  const inPacked = packed(need);
  const side = (c: RowChanges, other: RowChanges, k: string): string | undefined => {
    if (hasOwn.call(c.removed, k)) return undefined;
    if (hasOwn.call(c.added, k)) return c.added[k];
    if (hasOwn.call(c.changed, k)) return c.changed[k];
    if (hasOwn.call(other.removed, k)) return other.removed[k];
    if (hasOwn.call(other.added, k)) return undefined;
    return inPacked.get(k);
  };
  for (const c of [a, b]) {
    for (const part of [c.added, c.changed, c.removed]) {
      for (const k of Object.keys(part)) {
        if (hasOwn.call(out.a, k) || hasOwn.call(out.b, k)) continue;
        const [x, y] = [side(a, b, k), side(b, a, k)];
        if (x !== undefined) out.a[k] = x;
        if (y !== undefined) out.b[k] = y;
      }
    }
  }
  return out;
}

/** How many rows `base` with `changes` applied has. */
export function countWithChanges(base: SortedRows, changes: RowChanges): number {
  let n = base.keys.length - Object.keys(changes.removed).length;
  for (const k of Object.keys(changes.added)) if (base.indexOf(k) < 0) n++;
  return n;
}

/**
 * hashRows of `base` with `changes` applied, without building that map: the rows of `base` between
 * two changed keys go to the hash as pieces of SortedRows.hashText, the changed ones one by one.
 * (sync.ts runs rowsWithChangesHasher itself, for its row count too; the tests hold the two equal.)
 */
export function hashRowsWithChanges(base: HashableRows, changes: RowChanges): string {
  const h = rowsWithChangesHasher(base, changes);
  while (!h.step());
  return h.digest();
}

/**
 * hashRowsWithChanges in steps of at most `rowsPerStep` rows of `base` (`step()` is true once every
 * row is in; then `digest()`), so that a caller can hash between other work (sync.ts
 * appliedOutputsMeanwhile: while a 1% change's requests are in flight, and without holding up
 * their answers). Small pieces also keep the hashed text out of V8's large-object space (a piece
 * of 2,000 rows is some 70 KB): at 200,000 rows one piece per run was 7 MB, twice (the text with
 * its separators replaced), and ~100 ms of garbage collection. `rows`: how many rows it hashes (the
 * rows of `base` with `changes` applied), known from the start, for change sets as check writes
 * them (no key in two of them).
 */
export function rowsWithChangesHasher(base: HashableRows, changes: RowChanges, rowsPerStep = 2000): { step: () => boolean; digest: () => string; rows: number } {
  const n = base.count;
  let rows = n;
  // What happens at each position of `base`, in key order: a key added before it, or its row
  // removed or given another target.
  const events: { at: number; key: string; target?: string }[] = [];
  for (const k of Object.keys(changes.added)) {
    const i = base.indexOf(k);
    if (i < 0) rows++;
    events.push(i < 0 ? { at: base.lowerBound(k), key: k, target: changes.added[k] } : { at: i, key: k, target: changes.added[k] });
  }
  for (const k of Object.keys(changes.changed)) {
    const i = base.indexOf(k);
    if (i < 0) rows++;
    events.push(i < 0 ? { at: base.lowerBound(k), key: k, target: changes.changed[k] } : { at: i, key: k, target: changes.changed[k] });
  }
  for (const k of Object.keys(changes.removed)) {
    const i = base.indexOf(k);
    if (i < 0) continue;
    rows--;
    events.push({ at: i, key: k });
  }
  events.sort((x, y) => x.at - y.at || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  const h = createHash("sha256");
  let pos = 0;
  let next = 0;
  // The rows of `base` from `pos` up to `to`, at most `budget` of them; what is left of the budget.
  // None once the budget is spent: an event can take the last of it (budget 0, then -1), and the
  // rows after the last event wait for the next step (else `pos` went back a row, hashed twice).
  const unchanged = (to: number, budget: number): number => {
    if (to <= pos || budget <= 0) return budget;
    const end = Math.min(to, pos + budget);
    h.update(base.hashText(pos, end));
    budget -= end - pos;
    pos = end;
    return budget;
  };
  const step = (): boolean => {
    let budget = rowsPerStep;
    while (budget > 0 && next < events.length) {
      const e = events[next];
      budget = unchanged(e.at, budget);
      if (pos < e.at) return false;
      // The row at `pos` itself (removed or changed) is passed; a key added before it is not.
      if (pos < n && base.keyAt(pos) === e.key) pos++;
      if (e.target !== undefined) h.update(`${e.key}\u0000${e.target}\u0001`);
      next++;
      budget--;
    }
    if (next < events.length) return false;
    unchanged(n, budget);
    return pos >= n;
  };
  return { step, digest: () => h.digest("hex"), rows };
}

/**
 * Rows in key order, read by position: what check, diff and update of a change need from packed
 * rows (issue 21). At 200,000 rows, decoding the packed text into one object (JSON.parse) and
 * looking keys up in it was most of a 1% change's CPU; a view keeps the keys in an array (sorted,
 * as the packed text has them), finds a key by binary search, and reads a target from the text
 * only when asked, so a change touches its own keys plus one linear scan of the text.
 */
export interface SortedRows extends HashableRows {
  /** Keys in code-unit order (Array.prototype.sort's), no duplicates. */
  readonly keys: string[];
  /** Target of the key at position `i`. */
  target(i: number): string;
  /** Whether the target at position `i` is `value` (without building the target). */
  targetIs(i: number, value: unknown): boolean;
}

/** Rows in key order as rowsWithChangesHasher reads them: by position, a key only when asked. */
export interface HashableRows {
  /** How many rows. */
  readonly count: number;
  /** Key of the row at position `i`. */
  keyAt(i: number): string;
  /** Position of `key`, or -1. */
  indexOf(key: string): number;
  /** Position of the first key not below `key` (where it would go). */
  lowerBound(key: string): number;
  /** The rows at positions `from` to `to` (excluded) as hashRows hashes them: `key\0target\1` each. */
  hashText(from: number, to: number): string;
}

/** A view of a row map (packed text that is not in key order, rows as the program sends them). */
export function sortedRowsOfMap(map: RowMap): SortedRows {
  const keys = Object.keys(map).sort();
  const targets = keys.map((k) => map[k]);
  return viewOf(keys, (i) => targets[i], (i, v) => targets[i] === v);
}

/** SortedRows.hashText row by row. */
function rowsHashText(keys: string[], target: (i: number) => string): (from: number, to: number) => string {
  return (from, to) => {
    let text = "";
    for (let i = from; i < to; i++) text += `${keys[i]}\u0000${target(i)}\u0001`;
    return text;
  };
}

function viewOf(keys: string[], target: (i: number) => string, targetIs: (i: number, v: unknown) => boolean, hashText = rowsHashText(keys, target)): SortedRows {
  const keyAt = (i: number): string => keys[i];
  return { keys, count: keys.length, keyAt, ...keySearch(keys.length, keyAt), target, targetIs, hashText };
}

/**
 * Binary search over `count` keys in order, read by position: made once per view, so that a
 * lookup calls closures made at run time (a module function would be rebuilt per call in the
 * serialized provider).
 */
function keySearch(count: number, keyAt: (i: number) => string): Pick<HashableRows, "indexOf" | "lowerBound"> {
  const lowerBound = (key: string): number => {
    let [lo, hi] = [0, count];
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keyAt(mid) < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const indexOf = (key: string): number => {
    const i = lowerBound(key);
    return i < count && keyAt(i) === key ? i : -1;
  };
  return { lowerBound, indexOf };
}

/**
 * The view of a packed row map's JSON text (`{"key":"target",...}` with the keys sorted, as
 * sync.ts encodeAppliedWithHash writes it), or undefined when the text is not that (other JSON,
 * keys out of order): the caller then decodes it as JSON. One pass over the text: a key is a
 * slice of it (JSON.parse only for a key or target with an escape), a target stays in the text
 * (its offsets) until read.
 */
export function sortedRowsOfText(text: string): SortedRows | undefined {
  const steps = sortedRowsOfTextInSteps(text);
  let done = steps.step(Infinity);
  while (!done) done = steps.step(Infinity);
  return done.view;
}

/**
 * Packed text where replacing `":"` and `","` may not give hashRows' text: a key that is just `:`
 * reads `":"` from its opening quote, where no key ends, and the replacement goes out of step
 * from there (`{"":"",":":"x"}`). A target that is just `:` shows the same; both are rare enough
 * to be hashed row by row.
 */
const SEPARATOR_LOOKALIKE = '":":"';

/**
 * sortedRowsOfText in steps of at most `rows` rows each: `step` gives undefined while rows are
 * left, then `{ view }` (undefined: not sorted packed rows). So a caller can view 200,000 rows
 * (~0.1 s) between other work: sync.ts appliedOutputsMeanwhile, while an update's requests leave.
 */
export function sortedRowsOfTextInSteps(text: string): { step: (rows: number) => { view: SortedRows | undefined } | undefined } {
  const end = text.length - 1;
  if (text.charCodeAt(0) !== 0x7b || text.charCodeAt(end) !== 0x7d) return { step: () => ({ view: undefined }) }; // { }
  const keys: string[] = [];
  const bounds: number[] = [];
  const escaped = new Map<number, string>();
  const parse = JSON.parse;
  const stringEnd = (from: number): number => jsonStringEnd(text, from, end);
  let backslash = text.indexOf("\\");
  const noEscapes = backslash < 0;
  let pos = 1;
  let finished = end <= 1;
  const notRows = { view: undefined };
  const viewOfRows = (): SortedRows => {
    const anyEscaped = escaped.size > 0;
    const target = (i: number): string => (anyEscaped ? escaped.get(i) : undefined) ?? text.slice(bounds[2 * i], bounds[2 * i + 1]);
    const targetIs = (i: number, v: unknown): boolean => {
      if (typeof v !== "string") return false;
      const e = anyEscaped ? escaped.get(i) : undefined;
      if (e !== undefined) return e === v;
      const from = bounds[2 * i];
      return bounds[2 * i + 1] - from === v.length && text.startsWith(v, from);
    };
    // Without escapes, rows from..to-1 are the text `"k":"t","k":"t"` whose quotes are all structural
    // (a quote inside a key or target is escaped): the hash's `k\0t\1` is that text with `":"` and
    // `","` replaced, two native passes instead of a string built per row (replaceAll of a string:
    // half the time of a /g regular expression). Not when a key or target is just `:` (SEPARATOR_LOOKALIKE).
    const hashText = !noEscapes || text.includes(SEPARATOR_LOOKALIKE)
      ? undefined
      : (from: number, to: number): string => {
          if (from >= to) return "";
          const first = from === 0 ? 1 : bounds[2 * from - 1] + 2; // the key's opening quote
          return `${text.slice(first + 1, bounds[2 * to - 1]).replaceAll('":"', "\u0000").replaceAll('","', "\u0001")}\u0001`;
        };
    return viewOf(keys, target, targetIs, hashText);
  };
  const step = (rows: number): { view: SortedRows | undefined } | undefined => {
    for (let n = 0; !finished && n < rows; n++) {
      if (text.charCodeAt(pos) !== 0x22) return notRows;
      let keyEnd = text.indexOf('"', pos + 1);
      let key: string;
      if (backslash >= 0 && backslash < keyEnd) {
        keyEnd = stringEnd(pos + 1);
        if (keyEnd < 0) return notRows;
        key = parse(text.slice(pos, keyEnd + 1)) as string;
        backslash = text.indexOf("\\", keyEnd);
      } else key = text.slice(pos + 1, keyEnd);
      if (text.charCodeAt(keyEnd + 1) !== 0x3a || text.charCodeAt(keyEnd + 2) !== 0x22) return notRows; // :"
      const from = keyEnd + 3;
      let to = text.indexOf('"', from);
      if (backslash >= 0 && backslash < to) {
        to = stringEnd(from);
        if (to < 0) return notRows;
        escaped.set(keys.length, parse(text.slice(from - 1, to + 1)) as string);
        backslash = text.indexOf("\\", to);
      }
      if (keys.length > 0 && !(keys[keys.length - 1] < key)) return notRows; // out of order, or a duplicate
      keys.push(key);
      bounds.push(from, to);
      const next = text.charCodeAt(to + 1);
      pos = to + 2;
      if (next === 0x7d && to + 1 === end) finished = true;
      else if (next !== 0x2c) return notRows; // ,
    }
    return finished ? { view: viewOfRows() } : undefined;
  };
  return { step };
}

/**
 * The rows of packed JSON text without escapes (`{"key":"target",...}`, as encodeApplied writes
 * it) by position, for rowsWithChangesHasher: where each row starts, found by two native searches
 * per row, and a key read from the text only when asked (a changed key's binary search). A view
 * (sortedRowsOfTextInSteps) slices and compares every key: at 200,000 rows ~0.1 s of a 1% change's
 * update, at 10,000 rows in a fresh process ~20 ms, against ~30 ms and ~2 ms for this. The keys'
 * order is trusted, as diffSortedTexts trusts its `a`: every packed text a state holds was in
 * order when first stored (encodeApplied sorts; check keeps a program's own text only once viewed
 * in order), and were it not, only the content hash would differ from hashRows (a later diff then
 * compares key by key). In steps of at most `rows` rows, as sortedRowsOfTextInSteps; `{ rows:
 * undefined }` when the text holds a backslash or a SEPARATOR_LOOKALIKE, or is not packed rows (the
 * caller views it instead).
 */
export function rowPositionsOfTextInSteps(text: string): { step: (rows: number) => { rows: HashableRows | undefined } | undefined } {
  const end = text.length - 1;
  const notRows = { rows: undefined };
  if (text.charCodeAt(0) !== 0x7b || text.charCodeAt(end) !== 0x7d || text.indexOf("\\") >= 0 || text.includes(SEPARATOR_LOOKALIKE)) return { step: () => notRows }; // { }
  const starts: number[] = [];
  let pos = 1;
  let finished = end <= 1;
  let failed = false;
  const positions = (): HashableRows => {
    const n = starts.length;
    // Without escapes every quote is structural: a key ends at the first quote after its opening one.
    const keyAt = (i: number): string => text.slice(starts[i] + 1, text.indexOf('"', starts[i] + 1));
    // As the view's hashText: the text from row `from`'s key to row `to - 1`'s target, `":"` and `","` replaced.
    const targetEnd = (i: number): number => (i + 1 < n ? starts[i + 1] - 2 : end - 1);
    const hashText = (from: number, to: number): string =>
      from >= to ? "" : `${text.slice(starts[from] + 1, targetEnd(to - 1)).replaceAll('":"', "\u0000").replaceAll('","', "\u0001")}\u0001`;
    return { count: n, keyAt, ...keySearch(n, keyAt), hashText };
  };
  const step = (rows: number): { rows: HashableRows | undefined } | undefined => {
    for (let k = 0; !failed && !finished && k < rows; k++) {
      const keyEnd = text.indexOf('"', pos + 1);
      const to = keyEnd < 0 ? -1 : text.indexOf('"', keyEnd + 3);
      // `"key":"target"`, then `,` or the final `}`.
      failed = text.charCodeAt(pos) !== 0x22 || to < 0 || text.charCodeAt(keyEnd + 1) !== 0x3a || text.charCodeAt(keyEnd + 2) !== 0x22;
      if (failed) break;
      starts.push(pos);
      const next = text.charCodeAt(to + 1);
      pos = to + 2;
      if (next === 0x7d && to + 1 === end) finished = true;
      else failed = next !== 0x2c;
    }
    if (failed) return notRows;
    return finished ? { rows: positions() } : undefined;
  };
  return { step };
}

/** What diffSortedTexts finds: the rows of `b` against those of `a`, key by key. */
export interface TextDiff extends RowChanges {
  /** The target in `a` of each key of `changed`. */
  changedFrom: RowMap;
  /** Rows of `b`. */
  count: number;
}

/**
 * The changes from the rows of packed JSON text `a` to those of `b` (both `{"key":"target",...}`
 * with the keys sorted, as sync.ts encodeApplied writes them), without building an object or a key
 * array of either: a merge walk that compares the two texts character by character while they
 * agree (the rows of a small change are mostly the same text at shifted offsets), and reads a row's
 * key and target only where they differ. Undefined when either text is not that shape (other
 * JSON, keys out of order or repeated): the caller decodes it as JSON instead. `a` is trusted to be
 * in order where `b` has the same text (the caller's previous, checked, rows).
 */
export function diffSortedTexts(a: string, b: string): TextDiff | undefined {
  const [STRETCH, MIN_STRETCH] = [512, 16];
  const out: TextDiff = { added: {}, changed: {}, removed: {}, changedFrom: {}, count: 0 };
  const [endA, endB] = [a.length - 1, b.length - 1];
  if (a.charCodeAt(0) !== 0x7b || a.charCodeAt(endA) !== 0x7d || b.charCodeAt(0) !== 0x7b || b.charCodeAt(endB) !== 0x7d) return undefined; // { }
  const parse = JSON.parse;
  // One row read at `pos` (its key's opening quote): its key and target, and where the next row
  // starts (`end` after the last); undefined when the text is not a packed row there.
  const rowAt = (t: string, pos: number, end: number): { key: string; target: string; next: number } | undefined => {
    const stringEnd = (from: number): number => jsonStringEnd(t, from, end);
    if (t.charCodeAt(pos) !== 0x22) return undefined;
    const keyEnd = stringEnd(pos + 1);
    if (keyEnd < 0 || t.charCodeAt(keyEnd + 1) !== 0x3a || t.charCodeAt(keyEnd + 2) !== 0x22) return undefined; // :"
    const to = stringEnd(keyEnd + 3);
    if (to < 0) return undefined;
    const next = t.charCodeAt(to + 1);
    if (!(next === 0x2c || (next === 0x7d && to + 1 === end))) return undefined; // , or the final }
    const text = (from: number, upTo: number) => {
      const s = t.slice(from + 1, upTo);
      return s.indexOf("\\") < 0 ? s : (parse(t.slice(from, upTo + 1)) as string);
    };
    return { key: text(pos, keyEnd), target: text(keyEnd + 2, to), next: next === 0x2c ? to + 2 : end };
  };
  let [pa, pb] = [endA > 1 ? 1 : endA, endB > 1 ? 1 : endB];
  let [slashA, slashB] = [-1, -1];
  // The last key on b's side read as text, or, when the rows before were the same text, the position
  // in `a` of that row (read only if needed: to check that a key added after it comes after it).
  let lastB: string | undefined;
  let lastSameAt = -1;
  while (pa < endA || pb < endB) {
    // While both texts agree and hold no backslash (so every quote is a row's own): the rows that
    // end within the agreement are the same rows; `","` between two of them starts the next.
    if (pa < endA && pb < endB) {
      if (slashA < pa) {
        slashA = a.indexOf("\\", pa);
        if (slashA < 0) slashA = endA;
      }
      if (slashB < pb) {
        slashB = b.indexOf("\\", pb);
        if (slashB < 0) slashB = endB;
      }
      const limit = Math.min(endA - pa, endB - pb, slashA - pa, slashB - pb);
      let rowStart = 0;
      let d = 0;
      // Whole stretches first (native compares), their row boundaries found by indexOf; then
      // stretches of half the length, and half again, up to where the texts differ, so that only
      // the last few characters are compared one by one (a change every 100 rows left some 250).
      for (let size = STRETCH; size >= MIN_STRETCH; size >>= 1) {
        while (d + size <= limit && a.substring(pa + d, pa + d + size) === b.substring(pb + d, pb + d + size)) {
          const upTo = pa + d + size;
          for (let q = a.indexOf('","', pa + d - 1); q >= 0 && q + 1 < upTo; q = a.indexOf('","', q + 2)) {
            if (q + 1 < pa + d) continue; // counted with the stretch before
            lastSameAt = pa + rowStart;
            lastB = undefined;
            out.count++;
            rowStart = q + 2 - pa;
          }
          d += size;
        }
      }
      for (; d < limit; d++) {
        const c = a.charCodeAt(pa + d);
        if (c !== b.charCodeAt(pb + d)) break;
        if (c === 0x2c && a.charCodeAt(pa + d - 1) === 0x22 && a.charCodeAt(pa + d + 1) === 0x22) {
          lastSameAt = pa + rowStart;
          lastB = undefined;
          out.count++;
          rowStart = d + 1;
        }
      }
      // Both texts end here, alike: their last rows are the same row.
      if (d === limit && pa + d === endA && pb + d === endB && d > rowStart) {
        out.count++;
        break;
      }
      pa += rowStart;
      pb += rowStart;
    }
    // A row of each where they differ (or a backslash comes): compared by key.
    const ra = pa < endA ? rowAt(a, pa, endA) : undefined;
    const rb = pb < endB ? rowAt(b, pb, endB) : undefined;
    if ((pa < endA && !ra) || (pb < endB && !rb)) return undefined;
    if (ra && (!rb || ra.key < rb.key)) {
      out.removed[ra.key] = ra.target;
      pa = ra.next;
      continue;
    }
    const kb = rb!.key;
    if (lastB === undefined && lastSameAt >= 0) lastB = rowAt(a, lastSameAt, endA)?.key;
    if (lastB !== undefined && !(lastB < kb)) return undefined; // out of order, or a duplicate
    lastB = kb;
    lastSameAt = -1;
    out.count++;
    pb = rb!.next;
    if (ra && ra.key === kb) {
      pa = ra.next;
      if (ra.target !== rb!.target) {
        out.changed[kb] = rb!.target;
        out.changedFrom[kb] = ra.target;
      }
    } else out.added[kb] = rb!.target;
  }
  return out;
}

/**
 * Each key of packed rows' JSON text in order (`{"key":"target",...}`, as diffSortedTexts reads
 * it), with no array of them: check's clash test of new keys against every key. A key is passed
 * as where it is in the text (`s` is `text`), or as itself when it has escapes (`s` is the key).
 */
export function eachKeyOfText(text: string, visit: (s: string, from: number, to: number) => void): void {
  const end = text.length - 1;
  const parse = JSON.parse;
  // The first backslash at or after the current row (none: past the end): rows before it have
  // no escapes, so their quotes are all their own.
  let slash = text.indexOf("\\");
  if (slash < 0) slash = end;
  let pos = 1;
  while (pos < end) {
    if (slash < pos) {
      slash = text.indexOf("\\", pos);
      if (slash < 0) slash = end;
    }
    let keyEnd = text.indexOf('"', pos + 1);
    let to = keyEnd < 0 ? -1 : text.indexOf('"', keyEnd + 3);
    if (to < 0) return;
    if (slash < to) {
      // An escape in this row: its strings' ends read past escaped characters.
      const stringEnd = (from: number): number => {
        const i = jsonStringEnd(text, from, end);
        return i < 0 ? end : i;
      };
      keyEnd = stringEnd(pos + 1);
      to = stringEnd(keyEnd + 3);
      const key = parse(text.slice(pos, keyEnd + 1)) as string;
      visit(key, 0, key.length);
    } else visit(text, pos + 1, keyEnd);
    pos = to + 2;
  }
}
