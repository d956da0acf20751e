/**
 * The sync engine behind IomMappingSet: discovery, bulk name resolution, listing the remote rows in
 * scope, planning and applying the delta, drift detection and owned-row deletion. Used by the
 * provider methods and by the benchmark; no Pulumi imports here.
 */
import { createHash } from "crypto";
import { gunzipSync, gzipSync } from "zlib";
import { ClientOptions, DataverseClient, DataverseError, createDataverseClient, LogFn, TableRef, WriteFailure, isDataverseError } from "./client";
import { DEFAULT_MAPPING_GROUP, MappingKind } from "./kinds";
import { IdList, boundariesOfIdList, rangesForCount, withFilter } from "./partition";
import { Plan, RemoteRow, computePlan, diffRowMaps, ownedIdOf } from "./plan";
import { HashableRows, MappingRow, PackedTargets, RowChanges, RowMap, SortedRows, applyChanges, changeCount, changedSides, changesOf, countWithChanges, hashRows, identityGroup, identityRows, mapToRows, noChanges, rowCodec, rowPositionsOfTextInSteps, rowsWithChangesHasher, sortedRowsOfMap, sortedRowsOfTextInSteps, targetsInText, viewTargets, viewToRows } from "./rows";
import { MAX_FILTER_CHARS, MappingSchema, RemoteScope, discoverSchema, odataString, orFilters, parseSchemaOverride, readMaxLengths, remoteRowReader, remoteRowsQuery, resolveAccounts, resolveKeys, toRemoteRow } from "./schema";
import { LONG_VALUE, quoted } from "./validation";

export interface SyncInputs {
  environmentUrl: string;
  kind: MappingKind;
  /** `field=value` or `[group] field=value` → target business key. */
  rows: RowMap;
  /** Column of the target table the business keys refer to (e.g. `productnumber`). */
  targetKeyColumn: string;
  /** Default mapping group (rows without one). */
  mappingGroup: string;
  providerName: string;
  adoptExisting: boolean;
  /** `table=...;fieldName=...` (see schema.ts); empty = discover everything. */
  schemaOverride: string;
  /** Stable per stack + resource; combined with env/provider/kind into the ownership seed. */
  ownerSeed: string;
  /** The mapping file the rows come from (or "<rows>"), for messages. */
  sourceFile?: string;
  /** Line of each long row by key (validation.ts longRowLines), for messages. */
  sourceLines?: Record<string, number>;
  /**
   * The same rows as `rows`, as check stored them: packed text and the changes since. An update
   * whose packed text is the applied one works from the changes alone (deltaSync).
   */
  packed?: { rows: string; changes: RowChanges };
}

export interface SyncSummary {
  added: number;
  changed: number;
  removed: number;
  adopted: number;
  unchanged: number;
  requests: number;
}

export interface DriftReport {
  missing: number;
  changed: number;
  /** Up to 20 affected keys, for the humans reading `pulumi refresh`. */
  sample: string[];
}

export interface SyncOutputs extends Omit<SyncInputs, "rows" | "sourceFile" | "sourceLines"> {
  /** Ownership seed (kept from creation, so a renamed/aliased resource keeps its rows). */
  seed: string;
  schema: MappingSchema;
  providerId: string;
  /** Applied rows as base64(gzip(JSON)); the input map is kept by the engine already. */
  applied: string;
  /**
   * Changes applied on top of `applied` (absent: none): an update whose inputs keep the packed
   * rows of the last one stores them as they are, instead of packing every row anew.
   */
  appliedChanges?: RowChanges;
  appliedHash: string;
  /**
   * The bulk messages (CreateMultiple, UpdateMultiple) a write to the mapping table succeeded with
   * and that it has not refused since (absent: none yet). The next update uses them at once,
   * without asking Dataverse (sdkmessagefilters) or sending a probe first (a plan of more than one
   * round of requests waited a round trip for its probe).
   */
  bulkMessages?: string[];
  rowCount: number;
  ownedCount: number;
  adoptedCount: number;
  lastSync: SyncSummary;
  drift?: DriftReport;
}

export interface Deps {
  client?: Partial<ClientOptions>;
  log?: LogFn;
}

export class SyncError extends Error {
  constructor(
    message: string,
    public readonly partial?: SyncOutputs,
  ) {
    super(message);
    // Set explicitly: in the serialized provider, Pulumi's closure serializer turns this class into
    // a function that calls Error without binding `this`, which would leave the message empty.
    this.message = message;
    this.name = "SyncError";
  }
}

export function effectiveSeed(i: Pick<SyncInputs, "ownerSeed" | "environmentUrl" | "providerName" | "kind">): string {
  return createHash("sha256")
    .update(`${i.ownerSeed}|${new URL(i.environmentUrl).origin.toLowerCase()}|${i.providerName.toLowerCase()}|${i.kind}`)
    .digest("hex")
    .slice(0, 32);
}

/** The rows packed (gzip+base64 JSON of the map in key order), without their hash (check stores only this). */
export function encodeApplied(map: RowMap): string {
  return packSorted(map, Object.keys(map).sort());
}

/**
 * encodeApplied and hashRows with one sort of the keys, and the JSON written from the sorted keys
 * (no sorted copy of a 50,000-key object).
 */
export function encodeAppliedWithHash(map: RowMap): { applied: string; appliedHash: string } {
  const keys = Object.keys(map).sort();
  return { applied: packSorted(map, keys), appliedHash: hashRows(map, keys) };
}

function packSorted(map: RowMap, keys: string[]): string {
  const parts: string[] = new Array(keys.length);
  // Most keys and targets need no escaping: quoted as they are (JSON.stringify twice per row was
  // most of this function's CPU at 50,000 rows).
  // Characters JSON.stringify escapes: quote, backslash, controls, surrogates (paired or not).
  // eslint-disable-next-line no-control-regex -- the control characters are what JSON escapes
  const needsEscape = /["\\\u0000-\u001f\ud800-\udfff]/;
  const stringify = JSON.stringify;
  const json = (s: string) => (needsEscape.test(s) ? stringify(s) : `"${s}"`);
  for (let i = 0; i < keys.length; i++) parts[i] = `${json(keys[i])}:${json(map[keys[i]])}`;
  return gzipSync(Buffer.from(`{${parts.join(",")}}`, "utf8")).toString("base64");
}

export function decodeApplied(s: string | undefined): RowMap {
  if (!s) return {};
  return JSON.parse(gunzipSync(Buffer.from(s, "base64")).toString("utf8")) as RowMap;
}

/**
 * The last packed texts decoded in this process, with their keys: the engine runs check, diff and
 * update of one `pulumi up` in the same dynamic-provider host process, each given the same packed
 * rows (at 200,000 rows a decode is about 0.3 s). A plain object (the closure serializer keeps
 * it as one shared value); entries are read-only.
 */
const decoded: { entries: { text: string; rows: RowMap; keys: string[] }[] } = { entries: [] };
const DECODED_KEPT = 2;

/** decodeApplied, shared with every other caller of the same text in this process: read-only. */
export function packedRows(s: string | undefined): { rows: RowMap; keys: string[] } {
  if (!s) return { rows: {}, keys: [] };
  const hit = decoded.entries.find((e) => e.text === s);
  if (hit) return hit;
  const rows = decodeApplied(s);
  const entry = { text: s, rows, keys: Object.keys(rows) };
  decoded.entries = [entry, ...decoded.entries.slice(0, DECODED_KEPT - 1)];
  return entry;
}

/** The last packed texts viewed in this process (see `decoded`): check, diff and update of one change share one. */
const viewed: { entries: { text: string; view: SortedRows; inOrder: boolean }[] } = { entries: [] };

/**
 * Packed rows as a sorted view (rows.ts sortedRowsOfTextInSteps), shared with every other caller of the
 * same text in this process: what check, diff and update of a change read packed rows through,
 * so that a 1% change of 200,000 rows builds no 200,000-key object.
 */
export function packedView(s: string | undefined): SortedRows {
  return s ? packedViewInSteps(s)(Infinity)! : sortedRowsOfMap({});
}

/**
 * packedView in steps of at most `rows` rows (rows.ts sortedRowsOfTextInSteps): undefined while
 * rows are left, then the view, kept for the other callers of the same text. A view this process
 * has is there at once. Packed text not in key order (no such writer here, but the state is data)
 * is decoded as JSON in the last step.
 */
export function packedViewInSteps(s: string): (rows: number) => SortedRows | undefined {
  const hit = viewed.entries.find((e) => e.text === s);
  if (hit) return () => hit.view;
  const text = packedText(s);
  const steps = sortedRowsOfTextInSteps(text);
  return (rows) => {
    const done = steps.step(rows);
    if (!done) return undefined;
    const view = done.view ?? sortedRowsOfMap(JSON.parse(text) as RowMap);
    viewed.entries = [{ text: s, view, inOrder: done.view !== undefined }, ...viewed.entries.filter((e) => e.text !== s).slice(0, DECODED_KEPT - 1)];
    return view;
  };
}

/**
 * Packed rows as appliedOutputs hashes them, in steps as packedViewInSteps: the view this process
 * has, else the rows' positions in the text (rows.ts rowPositionsOfTextInSteps: no key sliced but
 * a changed one's), else (escapes, or text that is not packed rows) a view.
 */
function packedHashableInSteps(s: string): (rows: number) => HashableRows | undefined {
  const hit = viewed.entries.find((e) => e.text === s);
  if (hit) return () => hit.view;
  const positions = rowPositionsOfTextInSteps(packedText(s));
  let view: ((rows: number) => SortedRows | undefined) | undefined;
  return (rows) => {
    if (view) return view(rows);
    const done = positions.step(rows);
    if (!done) return undefined;
    if (done.rows) return done.rows;
    view = packedViewInSteps(s);
    return view(rows);
  };
}

/**
 * Targets of keys in packed rows (rows.ts changedSides): from their view when this process has it,
 * else from their text without a view (rows.ts targetsInText: a preview's diff of a 1% change of
 * 200,000 rows builds none), else (text out of order) from a view built then.
 */
export function packedTargets(s: string): PackedTargets {
  return (keys) => {
    const hit = viewed.entries.find((e) => e.text === s);
    return (hit ? undefined : targetsInText(packedText(s), keys)) ?? viewTargets(packedView(s))(keys);
  };
}

/** Whether packed rows' JSON text has its keys in order, each once, as encodeApplied writes it (viewed through packedView). */
export function packedInOrder(s: string): boolean {
  packedView(s);
  return viewed.entries.find((e) => e.text === s)?.inOrder ?? false;
}

/** The last packed texts unpacked in this process (see `decoded`): check reads both sides' JSON, diff and update view one of them. */
const unpacked: { entries: { packed: string; text: string }[] } = { entries: [] };

/** The JSON text of packed rows (gunzip of base64), shared with every other caller of the same packed text in this process. */
export function packedText(s: string): string {
  const hit = unpacked.entries.find((e) => e.packed === s);
  if (hit) return hit.text;
  const text = gunzipSync(Buffer.from(s, "base64")).toString("utf8");
  unpacked.entries = [{ packed: s, text }, ...unpacked.entries.slice(0, DECODED_KEPT - 1)];
  return text;
}

/** The rows of packed text + changes (read-only when there are no changes: see packedRows). */
export function unpackRows(s: string | undefined, changes: unknown): RowMap {
  return applyChanges(packedRows(s).rows, changesOf(changes));
}

/** The rows an output records as applied: its packed rows and the changes on top (read-only). */
export function appliedRowsOf(olds: Pick<SyncOutputs, "applied" | "appliedChanges">): RowMap {
  return unpackRows(olds.applied, olds.appliedChanges);
}

function makeClient(environmentUrl: string, deps: Deps): DataverseClient {
  return createDataverseClient({ ...deps.client, environmentUrl, log: deps.log ?? deps.client?.log });
}

/** Like Promise.all, but waits for every promise before throwing the first error. */
async function settleAll(ps: (Promise<unknown> | undefined)[]): Promise<void> {
  const rs = await Promise.allSettled(ps);
  const failed = rs.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

const LIST_LIMIT = 25;
const listSome = (xs: string[]) => xs.slice(0, LIST_LIMIT).join("; ") + (xs.length > LIST_LIMIT ? `; ... and ${xs.length - LIST_LIMIT} more` : "");

/** The provider's id; "" when the mapping table has no provider column (rows are then not scoped by provider). */
async function resolveProvider(client: DataverseClient, schema: MappingSchema, name: string): Promise<string> {
  if (!schema.provider) return "";
  const found = await resolveKeys(client, schema.provider, [name]);
  const id = found.get(name.toLowerCase());
  if (id === undefined) {
    throw new SyncError(
      `IOM provider "${name}" not found in ${schema.provider.table}.${schema.provider.keyColumn}: it has not been added from IOM's catalog in this environment ` +
        `(Providers > Library (Catalog), its tile; a further instance of the same tile for each store, named "${name}")`,
    );
  }
  if (id === null) throw new SyncError(`IOM provider name "${name}" matches several ${schema.provider.table} rows`);
  return id;
}

/**
 * How to split a read into primary-key ranges read in parallel: cut at the ids we expect (the
 * owned ids of the applied rows: rows this resource created have deterministic ids, so each range
 * is one full page), else, given only how many rows to expect, uniformly with some headroom.
 */
export function readRanges(client: DataverseClient, expected: IdList | number): string[] {
  const page = client.pageSize;
  const count = typeof expected === "number" ? expected : expected.count;
  if (count <= page) return [];
  return typeof expected === "number" ? rangesForCount(count, page, client.concurrency) : boundariesOfIdList(expected, page);
}

/**
 * The previously applied rows that are not desired any more, and the owned ids of every applied
 * row (to cut the read into ranges). Keys are compared as text first; with the same default group
 * a key present in both maps is the same row.
 */
function previousRows(olds: SyncOutputs, inputs: SyncInputs, desired: MappingRow[], seed: string, hasGroup: boolean): { previous: MappingRow[]; appliedIds: IdList } {
  const applied = appliedRowsOf(olds);
  // Without a group column the default group is not part of a row's identity: the same key text
  // is the same row whatever the default group (plan.ts diffRowMaps does the same).
  if (hasGroup && olds.mappingGroup !== inputs.mappingGroup) {
    const previous = identityRows(hasGroup, mapToRows(applied, olds.mappingGroup));
    return { previous, appliedIds: ownedIds(seed, previous) };
  }
  const appliedRows: MappingRow[] = [];
  const hasOwn = Object.prototype.hasOwnProperty;
  const keys = Object.keys(inputs.rows);
  for (let i = 0; i < keys.length; i++) if (hasOwn.call(applied, keys[i])) appliedRows.push(desired[i]);
  const gone: RowMap = {};
  for (const k of Object.keys(applied)) if (!hasOwn.call(inputs.rows, k)) gone[k] = applied[k];
  const previous = identityRows(hasGroup, mapToRows(gone, olds.mappingGroup));
  for (const r of previous) appliedRows.push(r);
  return { previous, appliedIds: ownedIds(seed, appliedRows) };
}

/**
 * Whether the table an update from `olds` to `inputs` writes has a Mapping Group column, as far as
 * the state tells without a call (for `diff`). False only when the schema the state keeps (resolved
 * at create, update and read; `group` absent = no column) has none and the update will look at the
 * same table: same schema override (the environment and kind cannot change without a replacement).
 * States written before the schema was kept, or before a table could lack the column (`group` was
 * then always present), and a changed override say nothing: true, the group counts as on every
 * table with the column. A table that gains the column in the environment is not seen until the
 * update discovers it.
 */
export function tableHasGroupColumn(olds: Pick<SyncOutputs, "schema" | "schemaOverride">, inputs: Pick<SyncInputs, "schemaOverride">): boolean {
  return !(olds.schema && olds.schema.group === undefined && (olds.schemaOverride ?? "") === inputs.schemaOverride);
}

/**
 * Ids of rows this resource owns for these rows (see plan.ts ownedIdOf), as readRanges takes them:
 * ownedIdTable's list, the one holder of owned ids (as numbers, at 200,000 rows some 7 MB less than strings).
 */
function ownedIds(seed: string, rows: MappingRow[]): IdList {
  return ownedIdTable(seed, { view: sortedRowsOfMap({}), skip: undefined, extra: rows, count: rows.length, defaultGroup: "", hasGroup: true }).list;
}

/**
 * All mapping rows of this provider (and this kind's target lookup set), with group, account and
 * target names; read in parallel primary-key `ranges` when given. `keep` (optional) says which
 * rows to return: the others are looked at as their page arrives and dropped.
 */
export async function listRemote(
  client: DataverseClient, s: MappingSchema, providerId: string, log?: LogFn,
  scope: RemoteScope = { defaultGroup: DEFAULT_MAPPING_GROUP }, ranges: string[] = [], keep?: (r: RemoteRow) => boolean,
): Promise<RemoteRow[]> {
  const out: RemoteRow[] = [];
  let lastLog = Date.now();
  const toRemoteRow = remoteRowReader(s, scope);
  await client.forEachPagePartitioned<Record<string, unknown>>(remoteRowsQuery(s, providerId), s.primaryId, ranges, (page, total) => {
    for (const raw of page) {
      const r = toRemoteRow(raw);
      if (!keep || keep(r)) out.push(r);
    }
    if (Date.now() - lastLog > 2000) {
      lastLog = Date.now();
      log?.("info", `reading ${s.table}: ${total} rows so far`);
    }
  });
  return out;
}

/** How listRemote names remote rows for these rows (see schema.ts toRemoteRow). */
function scopeOf(defaultGroup: string, ...rowSets: MappingRow[][]): RemoteScope {
  const accountLabels = new Set<string>();
  for (const rows of rowSets) for (const r of rows) if (r.account) accountLabels.add(r.account.toLowerCase());
  return { defaultGroup, accountLabels };
}

/**
 * What the remote actually holds for the given keys (for drift and partial state). With `buildMap`
 * false only the drift is computed (a refresh without drift returns the applied map as it is).
 * `ids`: the owned id of each row; `same[i]` set: the remote holds row i exactly as it is, under
 * its owned id (identicalOwnedRows), and its remote row need not be among `remote`.
 */
export function actualState(rows: MappingRow[], remote: RemoteRow[], seed: string, defaultGroup: string, buildMap = true, ids?: string[], same?: Uint8Array): { map: RowMap; drift: DriftReport; owned: number } {
  const byId = new Map<string, RemoteRow>();
  for (const r of remote) byId.set(r.id, r);
  const { encodeKey, ownedIdOf, rowKey, matchKey } = rowCodec();
  const remoteKey = (r: RemoteRow): string | undefined => (r.group === null || r.field === null || r.value === null ? undefined : matchKey(r.group, r.field, r.value, r.account ?? ""));
  // By key only for rows not found by id (adopted rows): built on first use, so a refresh of
  // 50,000 owned rows does not index every remote row twice.
  let byKey: Map<string, RemoteRow> | undefined;
  const findByKey = (d: MappingRow): RemoteRow | undefined => {
    if (!byKey) {
      byKey = new Map<string, RemoteRow>();
      for (const r of remote) {
        const k = remoteKey(r);
        if (k !== undefined) byKey.set(k, r);
      }
    }
    return byKey.get(rowKey(d));
  };
  const map: RowMap = {};
  const drift: DriftReport = { missing: 0, changed: 0, sample: [] };
  let owned = 0;
  for (let i = 0; i < rows.length; i++) {
    const d = rows[i];
    if (same?.[i]) {
      owned++;
      if (buildMap) map[encodeKey(d.group, d.field, d.value, defaultGroup, d.account ?? "")] = d.target;
      continue;
    }
    // By our deterministic id first (also finds a row whose key someone edited), else by key.
    const mine = byId.get(ids?.[i] ?? ownedIdOf(seed, d));
    if (mine) owned++;
    const r = mine ?? findByKey(d);
    if (!r || r.group === null || r.field === null || r.value === null) {
      drift.missing++;
      if (drift.sample.length < 20) drift.sample.push(`${encodeKey(d.group, d.field, d.value, defaultGroup, d.account ?? "")}: missing`);
      continue;
    }
    // Keys are compared part by part; encoded only for what is kept or reported (a refresh of
    // 200,000 unchanged rows encodes none).
    const sameKey = r.group === d.group && r.field === d.field && r.value === d.value && (r.account ?? "") === (d.account ?? "");
    if (buildMap) map[encodeKey(r.group, r.field, r.value, defaultGroup, r.account ?? "")] = r.target ?? "";
    if (!sameKey || (r.target ?? "") !== d.target) {
      const key = encodeKey(d.group, d.field, d.value, defaultGroup, d.account ?? "");
      const actualKey = encodeKey(r.group, r.field, r.value, defaultGroup, r.account ?? "");
      drift.changed++;
      if (drift.sample.length < 20) drift.sample.push(`${key}: ${actualKey !== key ? `now ${actualKey} ` : ""}-> ${JSON.stringify(r.target)} (expected ${JSON.stringify(d.target)})`);
    }
  }
  return { map, drift, owned };
}

/**
 * The applied rows of a state by position, for a refresh: the packed rows (positions 0 to
 * view.keys.length - 1, in key order) less the positions whose key the changes name, then the
 * changed and added rows (`extra`). A packed row is read from the view when needed, so a refresh of
 * 200,000 unchanged rows builds no object per row and holds none (issue 21).
 */
interface AppliedByPosition {
  view: SortedRows;
  /** Positions of the view whose key the changes name (removed or replaced by an extra row); undefined: none. */
  skip: Uint8Array | undefined;
  /** The changed and added rows, at positions view.keys.length + j. */
  extra: MappingRow[];
  /** The applied rows (positions not skipped). */
  count: number;
  /** The default group the keys are written with, and whether the identity keeps a group (identityGroup). */
  defaultGroup: string;
  hasGroup: boolean;
}

function appliedByPosition(olds: Pick<SyncOutputs, "applied" | "appliedChanges" | "mappingGroup">, hasGroup: boolean): AppliedByPosition {
  const view = packedView(olds.applied);
  const changes = changesOf(olds.appliedChanges);
  const n = view.keys.length;
  let skip: Uint8Array | undefined;
  let skipped = 0;
  for (const part of [changes.removed, changes.changed, changes.added]) {
    for (const k of Object.keys(part)) {
      const i = view.indexOf(k);
      if (i < 0) continue;
      skip ??= new Uint8Array(n);
      if (!skip[i]) skipped++;
      skip[i] = 1;
    }
  }
  // As mapToRows lists them: changed, then added.
  const extraMap: RowMap = {};
  for (const k of Object.keys(changes.changed)) extraMap[k] = changes.changed[k];
  for (const k of Object.keys(changes.added)) extraMap[k] = changes.added[k];
  const extra = identityRows(hasGroup, mapToRows(extraMap, olds.mappingGroup));
  return { view, skip, extra, count: n - skipped + extra.length, defaultGroup: olds.mappingGroup, hasGroup };
}

/**
 * The owned ids of a refresh's rows (by position, appliedByPosition; ownedIds: any rows) held as numbers: the 128 bits
 * of each id as four 32-bit words, found by an open-addressing index on them. As strings in a Map,
 * 200,000 ids were 400,000 objects that every garbage collection during the read traced (and
 * those collections grew with the rows read), and a Map lookup per row read cost more than the
 * words do. `find` gives the position whose owned id is `id` exactly (a lower-case GUID, as
 * toRemoteRow gives it), or -1; `list` the ids for readRanges; the lower-cased account labels of
 * the rows (scopeOf) are gathered on the way.
 */
function ownedIdTable(seed: string, a: AppliedByPosition): { find: (id: string) => number; list: IdList; accountLabels: Set<string> } {
  const { decodeKey, ownedIdHash } = rowCodec();
  const { view, skip, extra, defaultGroup, hasGroup } = a;
  const keys = view.keys;
  const n = keys.length;
  const words = new Int32Array(4 * (n + extra.length));
  const positions = new Int32Array(a.count);
  let size = 1;
  while (size < 2 * a.count) size *= 2;
  const mask = size - 1;
  const slots = new Int32Array(size).fill(-1);
  let count = 0;
  // Hex digits read from character codes (-1: not a lower-case hex digit): no string cut per id.
  const hexValue = new Int8Array(128).fill(-1);
  for (let c = 0; c < 16; c++) hexValue["0123456789abcdef".charCodeAt(c)] = c;
  const digit = (s: string, at: number): number => {
    const c = s.charCodeAt(at);
    return c < 128 ? hexValue[c] : -1;
  };
  // Four hex digits at `at` as a number, or -1.
  const hex4 = (s: string, at: number): number => {
    const a = digit(s, at);
    const b = digit(s, at + 1);
    const c = digit(s, at + 2);
    const d = digit(s, at + 3);
    return (a | b | c | d) < 0 ? -1 : (a << 12) | (b << 8) | (c << 4) | d;
  };
  // Words as ownedId cuts the id from the hash: version 5 in the third group, the variant first in the fourth.
  const insert = (i: number, h: string) => {
    const w0 = (hex4(h, 0) << 16) | hex4(h, 4);
    words[4 * i] = w0;
    words[4 * i + 1] = (hex4(h, 8) << 16) | 0x5000 | (hex4(h, 12) & 0xfff);
    words[4 * i + 2] = (((hex4(h, 16) & 0x3fff) | 0x8000) << 16) | hex4(h, 20);
    words[4 * i + 3] = (hex4(h, 24) << 16) | hex4(h, 28);
    let s = w0 & mask;
    while (slots[s] >= 0) s = (s + 1) & mask;
    slots[s] = i;
    positions[count++] = i;
  };
  const accountLabels = new Set<string>();
  for (let i = 0; i < n; i++) {
    if (skip && skip[i]) continue;
    const d = decodeKey(keys[i], defaultGroup);
    if (d.account) accountLabels.add(d.account.toLowerCase());
    insert(i, ownedIdHash(seed, hasGroup ? d.group : "", d.field, d.value, d.account));
  }
  for (let j = 0; j < extra.length; j++) {
    const r = extra[j];
    if (r.account) accountLabels.add(r.account.toLowerCase());
    insert(n + j, ownedIdHash(seed, r.group, r.field, r.value, r.account ?? ""));
  }
  const find = (id: string): number => {
    // A lower-case GUID (8-4-4-4-12 hex digits) or nothing of ours.
    if (id.length !== 36 || id.charCodeAt(8) !== 45 || id.charCodeAt(13) !== 45 || id.charCodeAt(18) !== 45 || id.charCodeAt(23) !== 45) return -1;
    const p0 = hex4(id, 0);
    const p1 = hex4(id, 4);
    const p2 = hex4(id, 9);
    const p3 = hex4(id, 14);
    const p4 = hex4(id, 19);
    const p5 = hex4(id, 24);
    const p6 = hex4(id, 28);
    const p7 = hex4(id, 32);
    if ((p0 | p1 | p2 | p3 | p4 | p5 | p6 | p7) < 0) return -1;
    const w0 = (p0 << 16) | p1;
    const w1 = (p2 << 16) | p3;
    const w2 = (p4 << 16) | p5;
    const w3 = (p6 << 16) | p7;
    for (let s = w0 & mask; ; s = (s + 1) & mask) {
      const i = slots[s];
      if (i < 0) return -1;
      if (words[4 * i] === w0 && words[4 * i + 1] === w1 && words[4 * i + 2] === w2 && words[4 * i + 3] === w3) return i;
    }
  };
  const hex = (w: number, digits: number) => (w >>> 0).toString(16).padStart(8, "0").slice(8 - digits);
  const idAt = (i: number): string => {
    const [w0, w1, w2, w3] = [words[4 * i], words[4 * i + 1], words[4 * i + 2], words[4 * i + 3]];
    return `${hex(w0, 8)}-${hex(w1 >>> 16, 4)}-${hex(w1 & 0xffff, 4)}-${hex(w2 >>> 16, 4)}-${hex(w2 & 0xffff, 4)}${hex(w3, 8)}`;
  };
  // The first four hex digits of the last group: the low half of the third word.
  const list: IdList = { count, bucket: (k) => words[4 * positions[k] + 2] & 0xffff, id: (k) => idAt(positions[k]) };
  return { find, list, accountLabels };
}

/** The applied rows as row objects, and `same` for them (for the drift path: actualState). */
function rowsByPosition(a: AppliedByPosition, same: Uint8Array): { rows: MappingRow[]; same: Uint8Array } {
  const { view, skip, extra, defaultGroup, hasGroup } = a;
  const viewRows = identityRows(hasGroup, viewToRows(view, defaultGroup));
  const n = viewRows.length;
  const rows: MappingRow[] = [];
  const rowSame = new Uint8Array(a.count);
  for (let i = 0; i < n + extra.length; i++) {
    if (i < n && skip && skip[i]) continue;
    rowSame[rows.length] = same[i];
    rows.push(i < n ? viewRows[i] : extra[i - n]);
  }
  return { rows, same: rowSame };
}

/**
 * For listRemote's `keep`: a remote row under the owned id of position i (ids[i]) that holds that
 * row exactly is marked in `same` and dropped, the rest kept for actualState. A refresh of 200,000
 * unchanged rows then holds none of them (nor a map of them by id): each is compared as its page
 * arrives. Row identities are unique (validation refuses keys differing only in case), so a row
 * dropped here is nobody else's match by key; keys a drift refresh wrote may differ only in case,
 * and then the row dropped is the one key's exact row, the other's found by key or missing (tested).
 */
function identicalOwnedRows(a: AppliedByPosition, find: (id: string) => number): { keep: (r: RemoteRow) => boolean; same: Uint8Array; sameCount: () => number } {
  const { decodeKey } = rowCodec();
  const { view, extra, defaultGroup, hasGroup } = a;
  const keys = view.keys;
  const n = keys.length;
  const same = new Uint8Array(n + extra.length);
  let count = 0;
  const keep = (r: RemoteRow): boolean => {
    const i = find(r.id);
    if (i < 0 || same[i]) return true;
    const target = r.target ?? "";
    if (i < n) {
      const key = keys[i];
      const first = key.charCodeAt(0);
      if (first !== 0x7b && first !== 0x5b) {
        // No account, the default group (no { or [ first): the key is field=value, the field free
        // of "=" (its first "=" ends it); compared in place, no decoded parts.
        const { field, value } = r;
        if (
          (r.account ?? "") !== "" || r.group !== (hasGroup ? defaultGroup : "") || field === null || value === null || field.length === 0 ||
          key.length !== field.length + 1 + value.length || key.charCodeAt(field.length) !== 0x3d || !key.startsWith(field) || !key.endsWith(value) || field.includes("=") || !view.targetIs(i, target)
        ) return true;
      } else {
        const d = decodeKey(key, defaultGroup);
        if (r.group !== (hasGroup ? d.group : "") || r.field !== d.field || r.value !== d.value || (r.account ?? "") !== d.account || !view.targetIs(i, target)) return true;
      }
    } else {
      const d = extra[i - n];
      if (r.group !== d.group || r.field !== d.field || r.value !== d.value || (r.account ?? "") !== (d.account ?? "") || target !== d.target) return true;
    }
    same[i] = 1;
    count++;
    return false;
  };
  return { keep, same, sameCount: () => count };
}

function summaryOf(plan: Plan, requests: number): SyncSummary {
  return {
    added: plan.add.length,
    changed: plan.change.length,
    removed: plan.remove.length,
    adopted: plan.adopt.length,
    unchanged: plan.unchanged,
    requests,
  };
}

/** Discover the schema and log the optional columns the table lacks (IOM versions differ). */
async function discover(client: DataverseClient, i: Pick<SyncInputs, "kind" | "targetKeyColumn" | "schemaOverride">, log?: LogFn): Promise<MappingSchema> {
  const notes = { skipped: [] as string[] };
  const schema = await discoverSchema(client, i.kind, i.targetKeyColumn, parseSchemaOverride(i.schemaOverride), notes);
  for (const n of notes.skipped) log?.("info", `${i.kind} mappings: ${n}`);
  return schema;
}

/** Rows that need a column the table does not have: an error before anything is written. */
function checkRowsFitSchema(schema: MappingSchema, rows: MappingRow[], defaultGroup: string, kind: MappingKind): void {
  const problems: string[] = [];
  if (!schema.group) {
    const grouped = rows.filter((r) => r.group.toLowerCase() !== defaultGroup.toLowerCase());
    if (grouped.length) problems.push(`${grouped.length} row(s) name a mapping group but ${schema.table} has no Mapping Group column (e.g. ${grouped[0].field}=${grouped[0].value} in "${grouped[0].group}")`);
  }
  if (!schema.account) {
    const scoped = rows.filter((r) => r.account);
    if (scoped.length) problems.push(`${scoped.length} row(s) are scoped to an account but ${schema.table} has no Account column (e.g. ${scoped[0].field}=${scoped[0].value} for "${scoped[0].account}")`);
  }
  if (problems.length) throw new SyncError(`${kind} mappings: ${problems.join("; ")}`);
}

/** The rows of one sync as identities for a schema, and how to read the remote rows in scope. */
interface SyncRows {
  desired: MappingRow[];
  /** Rows applied last time that are no longer desired (see previousRows). */
  previous: MappingRow[];
  scope: RemoteScope;
  ranges: string[];
  idGroup: string;
  /** The owned id of each desired row (in order), when worked out ahead of the plan (earlyRows). */
  ids?: Promise<string[] | undefined>;
}

/** What one syncMappings run works from once its schema and provider are known. */
interface SyncRun {
  client: DataverseClient;
  log: LogFn;
  inputs: SyncInputs;
  olds: SyncOutputs | undefined;
  seed: string;
  label: string;
  schema: MappingSchema;
  providerId: string;
  rows: SyncRows;
  tref: TableRef;
  /** Counts across passes; partial state reports them as they stand. */
  total: SyncSummary;
  /** The pass whose writes are under way: what it read, its plan, and the writes Dataverse confirmed. */
  current?: PassWrites;
  /**
   * An update that touches only the rows that changed (deltaSync): the applied rows it leaves
   * alone, and how to read the rows it touches.
   */
  delta?: { base: () => RowMap; read: () => Promise<RemoteRow[]> };
}

/** One pass's writes: the remote rows it planned from, the plan, and the indices of confirmed writes. */
interface PassWrites {
  remote: RemoteRow[];
  plan: Plan;
  confirmed: { add: number[]; change: number[]; remove: number[] };
}

/**
 * The remote rows after a pass's confirmed writes, worked out from what the pass read and what
 * Dataverse confirmed (for a failed run whose rows cannot be read back, e.g. the token was
 * revoked). A create whose answer never came is not counted.
 */
function remoteAfter(p: PassWrites): RemoteRow[] {
  const removed = new Set(p.confirmed.remove.map((i) => p.plan.remove[i].id.toLowerCase()));
  const changed = new Map(p.confirmed.change.map((i) => [p.plan.change[i].id.toLowerCase(), p.plan.change[i].row] as const));
  const out: RemoteRow[] = [];
  for (const r of p.remote) {
    const id = r.id.toLowerCase();
    if (removed.has(id)) continue;
    const c = changed.get(id);
    out.push(c ? { ...r, group: c.group, field: c.field, value: c.value, target: c.target } : r);
  }
  for (const i of p.confirmed.add) {
    const { id, row } = p.plan.add[i];
    out.push({ id, group: row.group, field: row.field, value: row.value, target: row.target, account: row.account ?? "" });
  }
  return out;
}

/**
 * Ids of the names the writes bind to, by lower-cased name (null: several rows match; for targets
 * "": not found), and the lookups started early on create.
 */
interface NameIds {
  targets: Map<string, string | null>;
  groups: Map<string, string | null>;
  accounts: Map<string, string | null>;
  prefetchTargets?: Promise<Map<string, string | null>>;
  /** Every desired row's target was looked up (prefetchTargets answered): one absent from `targets` was not found. */
  targetsComplete?: boolean;
  prefetchGroups?: Promise<Map<string, string | null>>;
}

/**
 * The rows of a create and their owned ids, worked out while discovery's requests are in flight
 * (a turn of the event loop at a time, so answers are not held up for long) instead of between
 * the last read and the first write. Neither depends on the schema, except on a table without a
 * Mapping Group column, whose rows leave the group out of their identity (prepareRows drops the ids).
 */
interface EarlyRows {
  desired: Promise<MappingRow[]>;
  ids: Promise<string[] | undefined>;
  /** The ids are not wanted: stop working them out. */
  stop(): void;
}

/**
 * The rows of the inputs; of packed rows with no change on top (a create after check), read from
 * their view, which the applied rows' hash reads too (appliedOutputs), rather than decoded a second
 * time into a 50,000-key object kept for the process's later calls (packedRows).
 */
function desiredRows(inputs: SyncInputs): MappingRow[] {
  const p = inputs.packed;
  if (p && changeCount(p.changes) === 0) return viewToRows(packedView(p.rows), inputs.mappingGroup);
  return mapToRows(inputs.rows, inputs.mappingGroup);
}

/** Rows per slice of earlyRows' owned ids (a few milliseconds of hashing). */
const ID_SLICE = 1000;

function earlyRows(inputs: SyncInputs, seed: string): EarlyRows {
  let stopped = false;
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
  // After a turn: the first discovery request leaves before the rows are decoded.
  const desired = turn().then(() => desiredRows(inputs));
  const ids = desired.then(async (rows) => {
    const { ownedIdOf } = rowCodec();
    const out: string[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i += ID_SLICE) {
      await turn();
      if (stopped) return undefined;
      const end = Math.min(rows.length, i + ID_SLICE);
      for (let j = i; j < end; j++) out[j] = ownedIdOf(seed, rows[j]);
    }
    return out;
  });
  // Awaited (and an error surfaced) by prepareRows, unless discovery fails first.
  desired.catch(() => undefined);
  ids.catch(() => undefined);
  return { desired, ids, stop: () => void (stopped = true) };
}

/**
 * The rows as identities for this schema (rows.ts identityRows: no group on a table without one);
 * `early`: the rows and ids earlyRows worked out.
 */
function prepareRows(client: DataverseClient, inputs: SyncInputs, olds: SyncOutputs | undefined, seed: string, s: MappingSchema, early?: { rows: MappingRow[]; ids: EarlyRows }): SyncRows {
  const desired = early?.rows ?? desiredRows(inputs);
  checkRowsFitSchema(s, desired, inputs.mappingGroup, inputs.kind);
  const hasGroup = s.group !== undefined;
  identityRows(hasGroup, desired);
  // Without a group column the identity changed (identityRows): the ids worked out before are not the rows' ids.
  if (!hasGroup) early?.ids.stop();
  const idGroup = identityGroup(s.group !== undefined, inputs.mappingGroup);
  // Rows applied last time that are no longer desired (usually few): at 50,000 rows, holding the
  // whole previous set as row objects next to the desired ones is a large part of the peak memory.
  const prev = olds ? previousRows(olds, inputs, desired, seed, s.group !== undefined) : { previous: [], appliedIds: 0 };
  return {
    desired,
    previous: prev.previous,
    scope: scopeOf(idGroup, desired, prev.previous),
    ranges: readRanges(client, prev.appliedIds),
    idGroup,
    ids: early && hasGroup ? early.ids.ids : undefined,
  };
}

/**
 * The schema and provider id, the rows prepared for them, and (when the saved schema was reused)
 * the first read of the remote rows.
 */
async function resolveSchemaAndRows(
  client: DataverseClient, inputs: SyncInputs, olds: SyncOutputs | undefined, seed: string, log: LogFn, early?: EarlyRows,
): Promise<{ schema: MappingSchema; providerId: string; rows: SyncRows; firstRemote?: RemoteRow[] }> {
  // Reuse the schema and provider id resolved last time when nothing that determines them changed
  // (saves ~7 metadata requests per run); if the environment's schema changed under us, the first
  // read fails with 400/404 and we discover again.
  if (
    olds?.schema && olds.providerId !== undefined && olds.environmentUrl === inputs.environmentUrl && olds.kind === inputs.kind && olds.schemaOverride === inputs.schemaOverride && olds.targetKeyColumn === inputs.targetKeyColumn && olds.providerName === inputs.providerName
  ) {
    const rows = prepareRows(client, inputs, olds, seed, olds.schema);
    const saved = olds.schema;
    try {
      // States written before MaxLength was read get it now (one request, alongside the read).
      const [firstRemote, maxLength] = await Promise.all([
        listRemote(client, saved, olds.providerId, log, rows.scope, rows.ranges),
        saved.maxLength ?? readMaxLengths(client, saved.table, { fieldName: saved.fieldName, fieldValue: saved.fieldValue }),
      ]);
      return { schema: { ...saved, maxLength }, providerId: olds.providerId, rows, firstRemote };
    } catch (e) {
      if (!isDataverseError(e) || (e.status !== 400 && e.status !== 404)) throw e;
      log("info", `${inputs.kind} mappings: the saved schema no longer matches (${e.message}); discovering again`);
    }
  }
  const schema = await discover(client, inputs, log);
  const providerId = await resolveProvider(client, schema, inputs.providerName);
  return { schema, providerId, rows: prepareRows(client, inputs, olds, seed, schema, early && { rows: await early.desired, ids: early }) };
}

/**
 * Start, alongside the first read, what the writes will need: whether the table takes the bulk
 * messages, and the ids of the rows' groups and (past `targetsFrom` rows) targets. A full sync
 * from empty does this for every row; a delta update for the rows it adds or changes (known before
 * the read: a 1% change waits one round trip less). A lookup nothing needs costs one query.
 */
function startNameLookups(run: SyncRun, messages: string[], targetsFrom: number): NameIds {
  const { client, schema, tref } = run;
  const { desired } = run.rows;
  const names: NameIds = { targets: new Map(), groups: new Map(), accounts: new Map() };
  if (desired.length > 0) {
    for (const m of messages) void client.supportsMessage(tref, m);
    if (schema.group) {
      names.prefetchGroups = resolveKeys(client, schema.group, [...new Set(desired.map((d) => d.group))]);
      names.prefetchGroups.catch(() => undefined); // awaited (and its error surfaced) below
    }
    if (desired.length > targetsFrom) {
      names.prefetchTargets = resolveKeys(client, schema.target, desired.map((d) => d.target));
      names.prefetchTargets.catch(() => undefined); // awaited (and its error surfaced) below
    }
  }
  return names;
}

/**
 * The target, group and account names some writes bind to: the targets are the rows' own
 * (targetNames picks the ones a step needs), not a map of every row's lower-cased target, which a
 * 50,000-row create held through all of its writes.
 */
interface WantedNames {
  writes: MappingRow[];
  wantedGroups: string[];
  wantedAccounts: string[];
}

function namesOf(schema: MappingSchema, writes: MappingRow[]): WantedNames {
  const wantedGroups = schema.group ? [...new Set(writes.map((r) => r.group))] : [];
  const wantedAccounts = [...new Set(writes.filter((r) => r.account).map((r) => r.account!))];
  return { writes, wantedGroups, wantedAccounts };
}

/** Lower-cased target → as written (the last row's spelling, in the first row's place) of the rows whose target `pick` takes. */
function targetNames(rows: MappingRow[], pick: (lowerCased: string) => boolean): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of rows) {
    const k = r.target.toLowerCase();
    if (pick(k)) out.set(k, r.target);
  }
  return out;
}

/** Resolve, in bulk, every name these writes need that is not known yet (into `names`). */
async function resolveWriteNames(run: SyncRun, names: NameIds, { writes, wantedGroups, wantedAccounts }: WantedNames): Promise<void> {
  const { client, schema } = run;
  if (names.prefetchTargets) {
    const pre = await names.prefetchTargets;
    names.prefetchTargets = undefined;
    // The answer of a lookup of every desired row's target: the targets' ids as they are (a row per
    // target found, null when several match), no pass over the rows (10,000 on a full sync, between
    // the last read and the first write); a target absent from it was not found.
    if (names.targets.size === 0) names.targets = pre;
    else for (const [k, id] of pre) if (!names.targets.has(k)) names.targets.set(k, id);
    names.targetsComplete = true;
  }
  const { targets: targetIds, groups: groupIds, accounts: accountIds } = names;
  if (names.prefetchGroups) {
    const pre = await names.prefetchGroups;
    names.prefetchGroups = undefined;
    for (const [k, id] of pre) groupIds.set(k, id);
  }
  const original = names.targetsComplete ? new Map<string, string>() : targetNames(writes, (k) => !targetIds.has(k));
  const needTargets = [...original.keys()];
  const groupTable = schema.group;
  const needGroups = wantedGroups.filter((gn) => !groupIds.has(gn.toLowerCase()));
  const needAccounts = wantedAccounts.filter((a) => !accountIds.has(a.toLowerCase()));
  const none = Promise.resolve(new Map<string, string | null>());
  const [t, g, a] = await Promise.all([
    needTargets.length ? resolveKeys(client, schema.target, needTargets.map((k) => original.get(k)!)) : none,
    groupTable && needGroups.length ? resolveKeys(client, groupTable, needGroups) : none,
    schema.account && needAccounts.length ? resolveAccounts(client, schema.account, needAccounts) : none,
  ]);
  for (const an of needAccounts) {
    const k = an.toLowerCase();
    if (a.has(k)) accountIds.set(k, a.get(k)!);
  }
  for (const k of needTargets) targetIds.set(k, t.get(k) ?? (t.has(k) ? null : ""));
  for (const gn of needGroups) {
    const k = gn.toLowerCase();
    if (g.has(k)) groupIds.set(k, g.get(k)!);
  }
}

/** Every name these writes need that did not resolve to exactly one row, reported at once. */
function unresolvedNames(schema: MappingSchema, names: NameIds, { writes, wantedGroups, wantedAccounts }: WantedNames): string[] {
  const { targets: targetIds, groups: groupIds, accounts: accountIds } = names;
  const unresolved: string[] = [];
  const missing = (k: string) => {
    const id = targetIds.get(k);
    return id === "" || id === undefined || id === null;
  };
  for (const [k, name] of targetNames(writes, missing)) {
    const id = targetIds.get(k);
    if (id === "" || id === undefined) unresolved.push(`${schema.target.table} "${name}" (by ${schema.target.keyColumn}) not found`);
    if (id === null) unresolved.push(`${schema.target.table} "${name}" matches several rows`);
  }
  for (const gn of wantedGroups) {
    const id = groupIds.get(gn.toLowerCase());
    if (id === undefined) unresolved.push(`mapping group "${gn}" not found in ${schema.group?.table}`);
    if (id === null) unresolved.push(`mapping group "${gn}" matches several rows`);
  }
  for (const an of wantedAccounts) {
    const id = accountIds.get(an.toLowerCase());
    if (id === undefined) unresolved.push(`account "${an}" not found (by account number or name)`);
    if (id === null) unresolved.push(`account "${an}" matches several accounts`);
  }
  return unresolved;
}

/** Resolve the names the plan's writes bind to; the ones that did not resolve (what they need is let go before the writes). */
async function resolveNamesFor(run: SyncRun, names: NameIds, plan: Plan): Promise<string[]> {
  const wanted = namesOf(run.schema, [...plan.add.map((a) => a.row), ...plan.change.map((c) => c.row)]);
  await resolveWriteNames(run, names, wanted);
  return unresolvedNames(run.schema, names, wanted);
}

/** The create and update bodies for the plan's rows, binding the resolved ids. */
function recordBuilders(run: SyncRun, names: NameIds): { record: (r: MappingRow, id: string) => Record<string, unknown>; update: (c: Plan["change"][number]) => Record<string, unknown> } {
  const { schema, providerId } = run;
  const { targets: targetIds, groups: groupIds, accounts: accountIds } = names;
  const bind = (l: MappingSchema["target"], id: string) => ({ [`${l.nav}@odata.bind`]: `/${l.entitySet}(${id})` });
  // Optional columns (IOM versions differ) are written only when the table has them; a
  // polymorphic target binds through the navigation property of the target table (schema.ts).
  const { group: groupTable, provider: providerTable, account: accountTable, target: targetTable } = schema;
  const groupBind = groupTable && `${groupTable.nav}@odata.bind`;
  const providerBind = providerTable && `${providerTable.nav}@odata.bind`;
  const providerRef = providerTable && `/${providerTable.entitySet}(${providerId})`;
  const accountBind = accountTable && `${accountTable.nav}@odata.bind`;
  const targetBind = `${targetTable.nav}@odata.bind`;
  const record = (r: MappingRow, id: string): Record<string, unknown> => {
    const rec: Record<string, unknown> = {};
    rec[schema.primaryId] = id;
    rec[schema.fieldName] = r.field;
    rec[schema.fieldValue] = r.value;
    if (groupTable && groupBind) rec[groupBind] = `/${groupTable.entitySet}(${groupIds.get(r.group.toLowerCase())!})`;
    if (providerBind) rec[providerBind] = providerRef;
    if (accountTable && accountBind && r.account) rec[accountBind] = `/${accountTable.entitySet}(${accountIds.get(r.account.toLowerCase())!})`;
    rec[targetBind] = `/${targetTable.entitySet}(${targetIds.get(r.target.toLowerCase())!})`;
    return rec;
  };
  const update = (c: Plan["change"][number]): Record<string, unknown> => {
    const rec: Record<string, unknown> = { [schema.primaryId]: c.id };
    if (c.before.field !== c.row.field) rec[schema.fieldName] = c.row.field;
    if (c.before.value !== c.row.value) rec[schema.fieldValue] = c.row.value;
    if (groupTable && (c.before.group ?? "").toLowerCase() !== c.row.group.toLowerCase()) Object.assign(rec, bind(groupTable, groupIds.get(c.row.group.toLowerCase())!));
    if ((c.before.target ?? "").toLowerCase() !== c.row.target.toLowerCase() || c.before.target !== c.row.target) {
      Object.assign(rec, bind(schema.target, targetIds.get(c.row.target.toLowerCase())!));
    }
    return rec;
  };
  return { record, update };
}

/**
 * Send the plan's creates, updates and deletes; returns the per-row failures and how many creates
 * had an unknown outcome. Throws when a write stopped altogether.
 */
async function writePlan(run: SyncRun, names: NameIds, plan: Plan, confirmed: PassWrites["confirmed"]): Promise<{ failures: string[]; uncertain: number }> {
  const { client, tref, label } = run;
  const { record, update } = recordBuilders(run, names);
  const failures: string[] = [];
  const note = (what: string, keys: (i: number) => string, fs: WriteFailure[]) => {
    for (const f of fs) failures.push(`${what} ${keys(f.index)}: HTTP ${f.status}${f.code ? ` ${f.code}` : ""} ${f.message}`);
  };
  let uncertain = 0;
  // Creates, updates and deletes touch different rows: send them together, sharing the
  // client's concurrency, rather than one kind after the other (a small plan over every slot).
  const planRows = plan.add.length + plan.change.length + plan.remove.length;
  await settleAll([
    plan.add.length
      ? client.createMany(tref, { count: plan.add.length, get: (i) => record(plan.add[i].row, plan.add[i].id), written: (i) => confirmed.add.push(i) }, `${label}: created`, planRows).then((res) => {
          note("create", (i) => `${plan.add[i].row.field}=${plan.add[i].row.value}`, res.failures);
          uncertain += res.uncertain.length;
        })
      : undefined,
    plan.change.length
      ? client.updateMany(tref, { count: plan.change.length, get: (i) => update(plan.change[i]), written: (i) => confirmed.change.push(i) }, `${label}: updated`, planRows).then((res) => note("update", (i) => `${plan.change[i].row.field}=${plan.change[i].row.value}`, res.failures))
      : undefined,
    plan.remove.length
      ? client.deleteMany(tref, plan.remove.map((r) => r.id), `${label}: removed`, (i) => confirmed.remove.push(i), planRows).then((res) => note("delete", (i) => `${plan.remove[i].field}=${plan.remove[i].value}`, res.failures))
      : undefined,
  ]);
  return { failures, uncertain };
}

/**
 * One pass on a plan: stop on conflicts, count, resolve names and write. Returns how many creates
 * had an unknown outcome (0: this pass converged). A failure on pass 1 (nothing written yet) is a
 * plain error; on a later pass it carries the partial state.
 */
async function applyPlan(run: SyncRun, names: NameIds, plan: Plan, remote: RemoteRow[], pass: number): Promise<number> {
  const { client, tref, label, total } = run;
  if (plan.conflict.length > 0) {
    // Only reachable without adoptExisting. On the first pass nothing has been written yet; on a
    // later one (someone created rows meanwhile) report what was written as partial state.
    const message =
      `${plan.conflict.length} ${label} already exist with a different target and were not created by this stack (set adoptExisting to take them over): ` +
      listSome(plan.conflict.map((c) => `${c.row.field}=${c.row.value}${c.row.group ? ` in "${c.row.group}"` : ""}: existing -> ${JSON.stringify(c.remote.target)}, wanted -> ${JSON.stringify(c.row.target)}`));
    if (pass === 1) throw new SyncError(message);
    return partialState(run, message);
  }
  if (pass === 1) {
    run.log("info", `${label}: ${plan.add.length} to add, ${plan.change.length} to change, ${plan.remove.length} to remove, ${plan.adopt.length} adopted, ${plan.unchanged} unchanged`);
  }
  total.added += plan.add.length;
  total.changed += plan.change.length;
  total.removed += plan.remove.length;
  if (pass === 1) {
    total.adopted = plan.adopt.length;
    total.unchanged = plan.unchanged;
  }
  if (plan.add.length + plan.change.length + plan.remove.length === 0) return 0;

  // Ask (once) whether the table has the bulk messages these writes use, alongside the name
  // resolution below rather than after it.
  if (plan.add.length) void client.supportsMessage(tref, "CreateMultiple");
  if (plan.change.length) void client.supportsMessage(tref, "UpdateMultiple");
  const unresolved = await resolveNamesFor(run, names, plan);
  if (unresolved.length > 0) {
    if (pass === 1) throw new SyncError(`${unresolved.length} name(s) could not be resolved for ${label}: ${listSome(unresolved)}`);
    return partialState(run, `unresolved names on pass ${pass}: ${listSome(unresolved)}`);
  }
  let written: { failures: string[]; uncertain: number };
  run.current = { remote, plan, confirmed: { add: [], change: [], remove: [] } };
  try {
    written = await writePlan(run, names, plan, run.current.confirmed);
  } catch (e) {
    return partialState(run, `${label}: sync stopped: ${(e as Error).message}`);
  }
  if (written.failures.length > 0) return partialState(run, `${written.failures.length} ${label} could not be written: ${listSome(written.failures)}`);
  return written.uncertain;
}

/** The outputs every result of a run shares (the inputs without the rows, the seed, schema and provider). */
function baseOutputs(run: SyncRun): Omit<SyncOutputs, "applied" | "appliedHash" | "rowCount" | "ownedCount" | "adoptedCount" | "lastSync"> {
  const { inputs } = run;
  return {
    environmentUrl: inputs.environmentUrl,
    kind: inputs.kind,
    targetKeyColumn: inputs.targetKeyColumn,
    mappingGroup: inputs.mappingGroup,
    providerName: inputs.providerName,
    adoptExisting: inputs.adoptExisting,
    schemaOverride: inputs.schemaOverride,
    ownerSeed: inputs.ownerSeed,
    seed: run.seed,
    schema: run.schema,
    providerId: run.providerId,
    ...bulkMessagesOf(run),
  };
}

/** SyncOutputs.bulkMessages: what this run's client confirmed for the mapping table (omitted when none). */
function bulkMessagesOf(run: Pick<SyncRun, "client" | "tref">): Pick<SyncOutputs, "bulkMessages"> {
  const confirmed = run.client.bulkConfirmed(run.tref).sort();
  return confirmed.length ? { bulkMessages: confirmed } : {};
}

/**
 * Read, plan and apply, up to three passes, until no create's outcome is uncertain (one that timed
 * out may exist or not: the next read tells). Returns the first pass's plan. Once anything may have
 * been written, every failure carries the state of what exists (partialState throws it).
 */
async function converge(run: SyncRun, names: NameIds, read: (pass: number) => Promise<RemoteRow[]>, planOf: (remote: RemoteRow[]) => Plan | Promise<Plan>): Promise<Plan> {
  let first: Plan | undefined;
  try {
    for (let pass = 1; pass <= 3; pass++) {
      const remote = await read(pass);
      const plan = await planOf(remote);
      first ??= plan;
      const uncertain = await applyPlan(run, names, plan, remote, pass);
      if (uncertain === 0) break;
      run.log("warn", `${run.label}: ${uncertain} create(s) had an unknown outcome; re-reading to converge (pass ${pass + 1})`);
      if (pass === 3) return await partialState(run, `${run.label}: ${uncertain} create(s) still uncertain after 3 passes`);
    }
  } catch (e) {
    if ((e as SyncError).partial || !run.current) throw e;
    return partialState(run, `${run.label}: sync stopped: ${(e as Error).message}`);
  }
  return first!;
}

/**
 * Stop with a SyncError carrying what the remote now holds for the rows in play (partial state):
 * read back when Dataverse answers, else worked out from what the pass read and the writes it
 * confirmed (a revoked token answers nothing), else the previous state. The message says which.
 */
async function partialState(run: SyncRun, message: string): Promise<never> {
  const { client, olds, rows } = run;
  const all = [...rows.desired, ...rows.previous];
  let state: { map: RowMap; owned: number } | undefined;
  let how: string;
  try {
    const remote = run.delta ? await run.delta.read() : await listRemote(client, run.schema, run.providerId, undefined, rows.scope);
    state = actualState(all, remote, run.seed, rows.idGroup);
    how = "read back from Dataverse";
  } catch (e) {
    if (run.current) {
      state = actualState(all, remoteAfter(run.current), run.seed, rows.idGroup);
      how = `worked out from the writes Dataverse confirmed, as the rows could not be read back (${(e as Error).message.split("\n")[0]})`;
    } else how = "unchanged: nothing was confirmed written and the rows could not be read back";
  }
  // An update of the changed rows only: the rows it did not touch are as they were.
  const map = run.delta && state ? Object.assign(run.delta.base(), state.map) : (state?.map ?? (olds ? appliedRowsOf(olds) : {}));
  const rowCount = Object.keys(map).length;
  const confirmed = run.current?.confirmed;
  const owned = run.delta ? (olds?.ownedCount ?? 0) + (confirmed?.add.length ?? 0) - (confirmed?.remove.length ?? 0) : (state?.owned ?? olds?.ownedCount ?? 0);
  const out: SyncOutputs = { ...baseOutputs(run), ...encodeAppliedWithHash(map), rowCount, ownedCount: Math.min(owned, rowCount), adoptedCount: Math.max(0, rowCount - owned), lastSync: { ...run.total, requests: client.stats.requests } };
  const wanted = Object.keys(run.inputs.rows).length;
  throw new SyncError(`${message}\n${rowCount.toLocaleString("en-US")} of the ${wanted.toLocaleString("en-US")} rows in the file exist now; the state records them (${how}). The next run writes the rest.`, out);
}

/**
 * Values longer than the mapping table's columns take (MaxLength, schema.ts readMaxLengths): an
 * error naming file, line and key before anything is written (Dataverse would refuse each such
 * row, after the others of its request were written).
 */
function checkLengths(schema: MappingSchema, inputs: SyncInputs, desired: MappingRow[], writeKeys?: string[]): void {
  const max = schema.maxLength;
  if (!max || (max.fieldName === undefined && max.fieldValue === undefined)) return;
  const file = inputs.sourceFile ?? "<rows>";
  const found: string[] = [];
  let n = 0;
  // The rows' keys in `desired`'s order, listed only for a row too long (packed rows are then decoded).
  let keys = writeKeys;
  const tooLong = (i: number, name: string, v: string, col: string, m: number) => {
    n++;
    if (found.length >= LIST_LIMIT) return;
    keys ??= Object.keys(inputs.rows);
    const line = inputs.sourceLines?.[keys[i]];
    const where = line !== undefined ? `${file}:${line}` : `${file} (no line: only rows longer than ${LONG_VALUE} characters carry theirs)`;
    found.push(`${where}: ${name} of ${quoted(keys[i])} has ${v.length.toLocaleString("en-US")} characters; ${schema.table}.${col} takes at most ${m.toLocaleString("en-US")}`);
  };
  // Two comparisons a row, nothing allocated (a 10,000-row create checks every row).
  const [fieldMax, valueMax] = [max.fieldName ?? Infinity, max.fieldValue ?? Infinity];
  for (let i = 0; i < desired.length; i++) {
    const d = desired[i];
    if (d.field.length > fieldMax) tooLong(i, "externalFieldName", d.field, schema.fieldName, fieldMax);
    if (d.value.length > valueMax) tooLong(i, "externalFieldValue", d.value, schema.fieldValue, valueMax);
  }
  if (n > 0) {
    throw new SyncError(`${inputs.kind} mappings: ${n} value(s) longer than the mapping table's columns take (their MaxLength); nothing was written:\n  ${found.join("\n  ")}${n > found.length ? `\n  ... and ${n - found.length} more` : ""}`);
  }
}

/**
 * The by-id and by-key filters of readRowsFor (schema.ts orFilters: as few as the URL limit
 * allows). `known`: the owned ids of the first rows, worked out already.
 */
function touchedRowFilters(schema: MappingSchema, seed: string, rows: MappingRow[], byKey: MappingRow[], known: string[] = []): { ids: string[]; keys: string[] } {
  const { ownedIdOf } = rowCodec();
  return {
    ids: orFilters(rows.map((r, i) => `${schema.primaryId} eq ${i < known.length ? known[i] : ownedIdOf(seed, r)}`)),
    keys: orFilters(byKey.map((r) => `(${schema.fieldName} eq ${odataString(r.field)} and ${schema.fieldValue} eq ${odataString(r.value)})`)),
  };
}

/**
 * The remote rows of these rows, by their owned ids, and, for `byKey`, any row of someone else's
 * with the same key (for adoption and conflicts, as computePlan decides on a full read). A row of
 * ours found by key for another row is left out: only the rows in play are planned.
 */
async function readRowsFor(client: DataverseClient, schema: MappingSchema, providerId: string, scope: RemoteScope, seed: string, rows: MappingRow[], byKey: MappingRow[], known?: string[]): Promise<RemoteRow[]> {
  const base = remoteRowsQuery(schema, providerId);
  const filters = touchedRowFilters(schema, seed, rows, byKey, known);
  const idQueries = filters.ids.map((f) => withFilter(base, f));
  const keyQueries = filters.keys.map((f) => withFilter(base, f));
  const [byId, sameKey] = await Promise.all([
    Promise.all(idQueries.map((q) => client.getAll<Record<string, unknown>>(q))),
    Promise.all(keyQueries.map((q) => client.getAll<Record<string, unknown>>(q))),
  ]);
  const out: RemoteRow[] = [];
  const seen = new Set<string>();
  for (const page of byId) {
    for (const raw of page) {
      const r = toRemoteRow(schema, raw, scope);
      if (!seen.has(r.id)) out.push(r);
      seen.add(r.id);
    }
  }
  for (const page of sameKey) {
    for (const raw of page) {
      const r = toRemoteRow(schema, raw, scope);
      if (seen.has(r.id)) continue;
      seen.add(r.id);
      const ours = r.group !== null && r.field !== null && r.value !== null && ownedIdOf(seed, { group: r.group, field: r.field, value: r.value, account: r.account ?? "" }) === r.id;
      if (!ours) out.push(r);
    }
  }
  return out;
}

/**
 * The applied rows as outputs once every row of `inputs` is written: packed inputs (as check
 * stores them) are kept as they are, packed rows and changes (no packing of every row anew);
 * rows as a map are packed. `rowCount`: the rows themselves counted (packed: as the hash walks
 * them), not the state's count, which a hand-edited or older state can have wrong.
 */
function appliedOutputs(inputs: SyncInputs, started?: ReturnType<typeof rowsWithChangesHasher>): Pick<SyncOutputs, "applied" | "appliedChanges" | "appliedHash" | "rowCount"> {
  const p = inputs.packed;
  if (!p) return { ...encodeAppliedWithHash(inputs.rows), appliedChanges: noChanges(), rowCount: Object.keys(inputs.rows).length };
  // `started`: a hash of these rows already part done (appliedOutputsMeanwhile), finished here.
  const hasher = started ?? rowsWithChangesHasher(packedHashableInSteps(p.rows)(Infinity)!, p.changes);
  while (!hasher.step());
  return { applied: p.rows, appliedChanges: p.changes, appliedHash: hasher.digest(), rowCount: hasher.rows };
}

/**
 * appliedOutputs, worked out while the writes are in flight instead of after the last write's
 * answer, where it was the run's last step (at 10,000 rows that hash was a tenth of a 1% change's
 * update): from when the writes have left (`writing`, DataverseClient), the hash of packed rows
 * a piece per turn of the event loop (rows.ts rowsWithChangesHasher), so that answers arriving
 * meanwhile wait for one piece, not for the whole hash. Not earlier: pieces that ran while the
 * reads were answered and the writes planned and handed over delayed each of those steps by a
 * piece per turn of the loop (at 200,000 rows, ~50 ms between the last read's answer and the
 * first write; at 10,000 rows, ~20 ms of pieces among the hand-over of a 1% change's 51 writes).
 * Finished at once, and any error thrown, when asked for before it is done (or before any write).
 */
function appliedOutputsMeanwhile(inputs: SyncInputs, writing: Promise<void>): () => ReturnType<typeof appliedOutputs> {
  const p = inputs.packed;
  if (!p) return () => appliedOutputs(inputs);
  let hasher: ReturnType<typeof rowsWithChangesHasher> | undefined;
  let rowsOf: ((rows: number) => HashableRows | undefined) | undefined;
  let done = false;
  let failed = false;
  let turn: NodeJS.Immediate | undefined;
  let asked = false;
  const piece = () => {
    turn = undefined;
    try {
      if (!hasher) {
        // Where the rows are first, 20,000 rows (~2 ms) a turn too (a view of 200,000 rows in one
        // block, ~0.1 s, held back the requests still leaving).
        rowsOf ??= packedHashableInSteps(p.rows);
        const rows = rowsOf(20_000);
        if (rows) hasher = rowsWithChangesHasher(rows, p.changes);
      } else done = hasher.step();
      if (!done) turn = setImmediate(piece);
    } catch {
      failed = true; // worked out again, and its error thrown, when asked for (below)
    }
  };
  void writing.then(() => {
    if (!asked) turn = setImmediate(piece);
  });
  return () => {
    asked = true;
    if (turn) clearImmediate(turn);
    if (failed) return appliedOutputs(inputs);
    // Asked for before the pieces were done: the rest now, from where they stopped.
    return appliedOutputs(inputs, hasher ?? rowsWithChangesHasher((rowsOf ?? packedHashableInSteps(p.rows))(Infinity)!, p.changes));
  };
}

/**
 * How many rows the applied packed rows hold with `wanted` changes on top instead of `applied`,
 * from the applied count the state keeps (`stateRows`): a key a change set adds is not in the
 * packed rows, one it removes is (rows.ts changedSides). Counted on a view of the rows when the
 * state has no count. An estimate for choosing between a delta and a full read: the outputs count
 * the rows themselves (appliedOutputs).
 */
function countAfter(olds: SyncOutputs, stateRows: number | undefined, applied: RowChanges, wanted: RowChanges): number {
  const n = (m: RowMap) => Object.keys(m).length;
  if (stateRows === undefined) return countWithChanges(packedView(olds.applied), wanted);
  return stateRows - n(applied.added) + n(applied.removed) + n(wanted.added) - n(wanted.removed);
}

/**
 * Update touching only the rows that changed since the last run: the keys added, changed and
 * removed between the applied rows and the inputs (plan.ts diffRowMaps), read by their owned ids
 * (and added keys by key, for rows of someone else's), planned and written. A 1% change of
 * 200,000 rows reads a few thousand rows instead of all of them. Rows the environment changed
 * outside Pulumi are found by `pulumi refresh` (readMappings), whose result the next update
 * repairs the same way. Undefined when a full sync is due instead: no saved schema, a change of
 * what decides the rows' identity or table, or a delta whose reads would cost more requests than
 * reading every row.
 */
async function deltaSync(client: DataverseClient, inputs: SyncInputs, olds: SyncOutputs, log: LogFn): Promise<SyncOutputs | undefined> {
  const saved = olds.schema;
  if (
    !saved || olds.providerId === undefined || !olds.applied || olds.environmentUrl !== inputs.environmentUrl || olds.kind !== inputs.kind ||
    (olds.schemaOverride ?? "") !== inputs.schemaOverride || olds.targetKeyColumn !== inputs.targetKeyColumn || olds.providerName !== inputs.providerName
  ) return undefined;
  const hasGroup = saved.group !== undefined;
  if (hasGroup && olds.mappingGroup !== inputs.mappingGroup) return undefined; // every row moves to the new group
  const seed = olds.seed;
  // Inputs that keep the applied packed rows differ from them only in the keys either change set
  // names: compare those (and decode nothing more than the shared packed rows).
  const packed = inputs.packed;
  const sameBase = packed !== undefined && packed.rows === olds.applied;
  const appliedChanges = changesOf(olds.appliedChanges);
  const sides = sameBase ? changedSides(packedTargets(olds.applied), appliedChanges, packed!.changes) : undefined;
  const applied = sides ? sides.a : appliedRowsOf(olds);
  const wantedRows = sides ? sides.b : inputs.rows;
  const d = diffRowMaps(applied, olds.mappingGroup, wantedRows, inputs.mappingGroup, hasGroup);
  const touched = d.added.length + d.changed.length + d.removed.length;
  // The state's count as the estimates' start, when it is one (a hand-edited or older state's may not be).
  const stateRows = Number.isSafeInteger(olds.rowCount) && olds.rowCount >= 0 ? olds.rowCount : undefined;
  const estimatedRows = sameBase ? countAfter(olds, stateRows, appliedChanges, packed!.changes) : Object.keys(inputs.rows).length;
  // The reads readRowsFor will make (orFilters): an id term is about 75 URL-encoded characters, a
  // key term about twice that (a filter takes some 400 ids or 200 keys).
  const reads = Math.ceil((touched * 75) / MAX_FILTER_CHARS) + Math.ceil((d.added.length * 150) / MAX_FILTER_CHARS);
  if (reads > Math.max(1, Math.ceil(Math.max(estimatedRows, stateRows ?? 0) / client.pageSize))) return undefined;
  let schema: MappingSchema = saved;
  if (!saved.maxLength) {
    try {
      schema = { ...saved, maxLength: await readMaxLengths(client, saved.table, { fieldName: saved.fieldName, fieldValue: saved.fieldValue }) };
    } catch (e) {
      if (isDataverseError(e) && (e.status === 400 || e.status === 404)) return undefined; // the table changed: discover again
      throw e;
    }
  }
  const writeKeys = [...d.added, ...d.changed];
  const wanted: RowMap = {};
  for (const k of writeKeys) wanted[k] = wantedRows[k];
  const desired = identityRows(hasGroup, mapToRows(wanted, inputs.mappingGroup));
  checkRowsFitSchema(schema, desired, inputs.mappingGroup, inputs.kind);
  checkLengths(schema, inputs, desired, writeKeys);
  const gone: RowMap = {};
  for (const k of d.removed) gone[k] = applied[k];
  const previous = identityRows(hasGroup, mapToRows(gone, olds.mappingGroup));
  // What stays as it was (for a partial state): the applied rows less the ones in play (by their old key).
  const untouched = () => {
    const rest = { ...appliedRowsOf(olds) };
    for (const k of d.removed) delete rest[k];
    for (const k of d.changedOld) delete rest[k];
    return rest;
  };
  const idGroup = identityGroup(hasGroup, inputs.mappingGroup);
  const scope = scopeOf(idGroup, desired, previous);
  const added = desired.slice(0, d.added.length);
  // The desired rows' owned ids once, for the reads' filters and the plan.
  const { ownedIdOf } = rowCodec();
  const ids = desired.map((r) => ownedIdOf(seed, r));
  const read = () => readRowsFor(client, schema, olds.providerId, scope, seed, [...desired, ...previous], added, ids);
  const run: SyncRun = {
    client, log, inputs, olds, seed, schema,
    rows: { desired, previous, scope, ranges: [], idGroup },
    label: `${inputs.kind} mappings`,
    providerId: olds.providerId,
    tref: { logicalName: schema.table, entitySet: schema.entitySet, primaryId: schema.primaryId },
    total: { added: 0, changed: 0, removed: 0, adopted: 0, unchanged: 0, requests: 0 },
    delta: { base: untouched, read },
  };
  const bulk = [...(d.added.length ? ["CreateMultiple"] : []), ...(d.changed.length ? ["UpdateMultiple"] : [])];
  const names: NameIds = touched > 0 ? startNameLookups(run, bulk, 0) : { targets: new Map(), groups: new Map(), accounts: new Map() };
  let first: Plan | undefined;
  let outputs = () => appliedOutputs(inputs);
  if (touched > 0) {
    const planned = converge(run, names, read, (remote) => computePlan(desired, remote, seed, inputs.adoptExisting, previous, ids));
    outputs = appliedOutputsMeanwhile(inputs, client.writing);
    first = await planned;
  } else log("info", `${run.label}: no row changed; nothing to read or write`);
  const plan = first ?? { add: [], change: [], remove: [], adopt: [], conflict: [], unchanged: 0 };
  const kept = outputs();
  const { rowCount } = kept;
  const ownedCount = Math.max(0, Math.min(rowCount, (olds.ownedCount ?? 0) + plan.add.length - plan.remove.length));
  const { total } = run;
  return {
    ...baseOutputs(run),
    ...kept,
    ownedCount,
    adoptedCount: rowCount - ownedCount,
    lastSync: { added: total.added, changed: total.changed, removed: total.removed, adopted: plan.adopt.length, unchanged: rowCount - plan.add.length - plan.change.length - plan.adopt.length, requests: client.stats.requests },
  };
}

/**
 * Create or update: bring the remote rows in scope to `inputs.rows`, writing only the delta.
 * Up to three passes: a pass whose creates had an unknown outcome (a connection lost mid-request)
 * re-reads and re-plans, which converges without duplicates because ids are deterministic.
 */
export async function syncMappings(inputs: SyncInputs, olds: SyncOutputs | undefined, deps: Deps = {}): Promise<SyncOutputs> {
  const client = makeClient(inputs.environmentUrl, deps);
  // What earlier runs confirmed for the mapping table: written in bulk without a probe (or asking) first.
  if (olds?.schema?.table && Array.isArray(olds.bulkMessages)) client.trustBulk({ logicalName: olds.schema.table }, olds.bulkMessages.filter((m) => typeof m === "string"));
  const log = deps.log ?? (() => undefined);
  if (olds) {
    const delta = await deltaSync(client, inputs, olds, log);
    if (delta) return delta;
  }
  const seed = olds?.seed ?? effectiveSeed(inputs);
  // A create discovers the schema first: the rows and their ids are worked out meanwhile.
  const early = olds ? undefined : earlyRows(inputs, seed);
  const resolved = await resolveSchemaAndRows(client, inputs, olds, seed, log, early);
  const { schema, rows } = resolved;
  checkLengths(schema, inputs, rows.desired);
  let firstRemote = resolved.firstRemote;
  const run: SyncRun = {
    client, log, inputs, olds, seed, schema, rows,
    label: `${inputs.kind} mappings`,
    providerId: resolved.providerId,
    tref: { logicalName: schema.table, entitySet: schema.entitySet, primaryId: schema.primaryId },
    total: { added: 0, changed: 0, removed: 0, adopted: 0, unchanged: 0, requests: 0 },
  };
  const names = run.olds ? { targets: new Map(), groups: new Map(), accounts: new Map() } : startNameLookups(run, ["CreateMultiple"], 2000);
  let lastRemote: RemoteRow[] = [];
  const readAll = async (pass: number) => {
    lastRemote = firstRemote ?? (await listRemote(client, schema, run.providerId, log, rows.scope, pass === 1 ? rows.ranges : readRanges(client, lastRemote.length)));
    firstRemote = undefined;
    return lastRemote;
  };
  const planned = converge(run, names, readAll, async (remote) => computePlan(rows.desired, remote, seed, inputs.adoptExisting, rows.previous, await rows.ids));
  const outputs = appliedOutputsMeanwhile(inputs, client.writing);
  const plan = await planned;
  const owned = plan.unchanged + plan.add.length + plan.change.filter((c) => c.owned).length;
  const { total } = run;
  return {
    ...baseOutputs(run),
    ...outputs(),
    rowCount: rows.desired.length,
    ownedCount: owned,
    adoptedCount: rows.desired.length - owned,
    lastSync: { ...summaryOf(plan, client.stats.requests), ...{ added: total.added, changed: total.changed, removed: total.removed } },
  };
}

/** Refresh: what the environment holds for the applied keys (drift), as outputs and as inputs. */
export async function readMappings(olds: SyncOutputs, deps: Deps = {}): Promise<{ outputs: SyncOutputs }> {
  const client = makeClient(olds.environmentUrl, deps);
  const schema = olds.schema ?? (await discover(client, olds, deps.log));
  const providerId = olds.providerId ?? (await resolveProvider(client, schema, olds.providerName));
  // The applied rows by position, read from the packed rows and the changes on top: no object per row.
  const hasGroup = schema.group !== undefined;
  const byPosition = appliedByPosition(olds, hasGroup);
  const appliedChanges = changesOf(olds.appliedChanges);
  const idGroup = identityGroup(hasGroup, olds.mappingGroup);
  // Each row's owned id once: to cut the read into ranges and to find the rows in what it returns.
  const owned = ownedIdTable(olds.seed, byPosition);
  const identical = identicalOwnedRows(byPosition, owned.find);
  const ranges = readRanges(client, owned.list);
  const remote = await listRemote(client, schema, providerId, deps.log, { defaultGroup: idGroup, accountLabels: owned.accountLabels }, ranges, identical.keep);
  // Every row found as it is under its own id: no drift, and no row object is built. Otherwise the
  // rows as objects, compared as before (by id, else by key).
  const drifted = identical.sameCount() === byPosition.count ? undefined : rowsByPosition(byPosition, identical.same);
  const drift: DriftReport = drifted ? actualState(drifted.rows, remote, olds.seed, idGroup, false, undefined, drifted.same).drift : { missing: 0, changed: 0, sample: [] };
  const same = drift.missing + drift.changed === 0;
  // No drift: the remote holds exactly the applied rows, whose encoding is kept as it is (no map of
  // 200,000 keys built, sorted and gzipped again); drift: the rows as they are, packed anew.
  const applied = same
    ? { applied: olds.applied, appliedChanges, appliedHash: olds.appliedHash, rowCount: byPosition.count }
    : (() => {
        const map = actualState(drifted!.rows, remote, olds.seed, idGroup, true, undefined, drifted!.same).map;
        deps.log?.("warn", `${olds.kind} mappings drifted: ${drift.missing} missing, ${drift.changed} changed (${drift.sample.slice(0, 5).join("; ")})`);
        return { ...encodeAppliedWithHash(map), appliedChanges: noChanges(), rowCount: Object.keys(map).length };
      })();
  return {
    outputs: {
      ...olds,
      schema,
      providerId,
      ...applied,
      drift,
      lastSync: { ...olds.lastSync, requests: client.stats.requests },
    },
  };
}

/** Destroy: delete the rows this resource created; leave every other row alone. */
export async function deleteMappings(olds: SyncOutputs, deps: Deps = {}): Promise<{ removed: number; requests: number }> {
  const client = makeClient(olds.environmentUrl, deps);
  const schema = olds.schema ?? (await discover(client, olds, deps.log));
  const providerId = olds.providerId ?? (await resolveProvider(client, schema, olds.providerName));
  const appliedRows = identityRows(schema.group !== undefined, mapToRows(appliedRowsOf(olds), olds.mappingGroup));
  const idGroup = identityGroup(schema.group !== undefined, olds.mappingGroup);
  const remote = await listRemote(client, schema, providerId, deps.log, scopeOf(idGroup, appliedRows), readRanges(client, ownedIds(olds.seed, appliedRows)));
  const plan = computePlan([], remote, olds.seed, false, appliedRows);
  if (plan.remove.length > 0) {
    const res = await client.deleteMany({ logicalName: schema.table, entitySet: schema.entitySet, primaryId: schema.primaryId }, plan.remove.map((r) => r.id), `${olds.kind} mappings: deleted`);
    if (res.failures.length > 0) {
      throw new DataverseError(`${res.failures.length} ${olds.kind} mappings could not be deleted: ${listSome(res.failures.map((f) => `${plan.remove[f.index].field}=${plan.remove[f.index].value}: HTTP ${f.status} ${f.message}`))}`, res.failures[0].status);
    }
  }
  deps.log?.("info", `${olds.kind} mappings: deleted ${plan.remove.length} owned row(s); other rows left alone`);
  return { removed: plan.remove.length, requests: client.stats.requests };
}
