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

export function encodeKey(group: string, field: string, value: string, defaultGroup: string, account = ""): string {
  return `${account ? `{${account}} ` : ""}${group === defaultGroup ? "" : `[${group}] `}${field}=${value}`;
}

export function decodeKey(key: string, defaultGroup: string): { group: string; field: string; value: string; account: string } {
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
}

/**
 * Dataverse compares strings case-insensitively (default collation), so identity does too. A
 * generic row's identity is the same as before accounts existed, so its owned id does not change.
 */
export function matchKey(group: string, field: string, value: string, account = ""): string {
  const base = `${group.toLowerCase()}\u0000${field.toLowerCase()}\u0000${value.toLowerCase()}`;
  return account ? `${base}\u0000${account.toLowerCase()}` : base;
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
export const rowKey = (r: Pick<MappingRow, "group" | "field" | "value" | "account">): string => matchKey(r.group, r.field, r.value, r.account ?? "");

export function rowsToMap(rows: MappingRow[], defaultGroup: string): RowMap {
  const out: RowMap = {};
  for (const r of rows) out[encodeKey(r.group, r.field, r.value, defaultGroup, r.account ?? "")] = r.target;
  return out;
}

export function mapToRows(map: RowMap, defaultGroup: string): MappingRow[] {
  const out: MappingRow[] = [];
  for (const k of Object.keys(map)) {
    const d = decodeKey(k, defaultGroup);
    const row: MappingRow = { group: d.group, field: d.field, value: d.value, target: map[k] };
    if (d.account) row.account = d.account;
    out.push(row);
  }
  return out;
}

/** Stable content hash of a row map (order independent); `sortedKeys` when the caller has them. */
export function hashRows(map: RowMap, sortedKeys?: string[]): string {
  const h = createHash("sha256");
  const keys = sortedKeys ?? Object.keys(map).sort();
  for (let i = 0; i < keys.length; i += 1000) {
    let chunk = "";
    for (const k of keys.slice(i, i + 1000)) chunk += `${k}\u0000${map[k]}\u0001`;
    h.update(chunk);
  }
  return h.digest("hex");
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
  const text = `${seed}\u0000${matchKey(group, field, value, account)}`;
  // crypto.hash (Node >= 20.12): one call, no Hash object per row (tens of thousands per sync).
  const b = typeof cryptoHash === "function" ? cryptoHash("sha256", text, "buffer") : createHash("sha256").update(text).digest();
  b[6] = (b[6] & 0x0f) | 0x50; // version 5-style (name based)
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
  const h = b.subarray(0, 16).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
