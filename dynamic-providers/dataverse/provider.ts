/**
 * `IomMappingSet`: one Pulumi resource per mapping kind per stack, holding every mapping row of
 * that kind, and its dynamic provider.
 *
 * The program sends the rows packed (sync.ts encodeApplied: gzip+base64 of the JSON of the map
 * `key -> target` in key order, see rows.ts), because the dynamic-provider host decodes every
 * input as a protobuf Struct: a map of 200,000 keys cost it over a second of CPU in every preview,
 * one string next to nothing. `check` keeps those packed rows, with every later change listed key
 * by key in `rowChanges` and counted in `rowSummary` (compactPackedInputs; rows as a map, from
 * older programs and tests, compactInputs), so a preview still shows which mappings change (the dynamic-provider host does
 * not forward a provider's detailedDiff: the provider's `diff` decides *whether* and *how*
 * (update/replace), the engine's input diff shows *which*).
 *
 * State size: at 50,000 rows the inputs hold the rows packed (≈ 0.33 MB) plus the changes since;
 * the outputs keep the applied rows in the same encoding (≈ 0.33 MB; `read` needs them because the
 * host passes it outputs only), a content hash, counts and the small resolved schema. Row ids are
 * not stored at all: rows this resource creates get deterministic ids (rows.ts ownedId), so
 * ownership is recomputed from the rows themselves.
 *
 * No token or secret is an input or output: the provider gets its token at run time from
 * DATAVERSE_ACCESS_TOKEN or DefaultAzureCredential.
 */
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { createHash } from "crypto";
import { DEFAULT_MAPPING_GROUP, KINDS, MappingKind, isMappingKind } from "./kinds";
import { RowChanges, RowMap, changeCount, changesOf, noChanges, sameChanges } from "./rows";
import { MappingValidationError, ParsedMappingFile, RowEntry, loadMappingFile, problemList, rowChecker, textChecker } from "./validation";
import type { DataverseDynamicProviderOptions } from "./client";
import type { DriftReport, SyncInputs, SyncOutputs, SyncSummary } from "./sync";
import * as sync from "./sync";
import * as plan from "./plan";
import * as rows from "./rows";
import * as schemaMod from "./schema";
import { cleanInputs, endpointUrlProblem, isKnown, isUnknown, numbersFromEnv, pulumiLog, type DetailedDiffResult, type ProviderWithoutConfigure } from "../common";

/** What the provider receives: the resource's inputs as plain values (sync.ts works on the same shape). */
export type IomMappingSetInputs = SyncInputs;
/** What the provider returns and the state keeps. */
export type IomMappingSetOutputs = SyncOutputs;

/** One mapping row as the program passes it (`IomMappingSetArgs.rows`). */
export interface MappingRowInput {
  externalFieldName: string;
  externalFieldValue: string;
  /** Business key of the target (account number or name, price list name, unit name, product number). */
  target: string;
  /** Defaults to the set's mappingGroup. */
  mappingGroup?: string;
  /** Account number or name scoping the mapping (products, price lists, units); absent: generic. */
  account?: string;
}

export interface IomMappingSetArgs {
  /** `https://<org>.<region>.dynamics.com` */
  environmentUrl: pulumi.Input<string>;
  kind: MappingKind;
  /** A mapping CSV (validated at construction, before any call). Exactly one of file / parsed / rows. */
  file?: string;
  /** A mapping CSV as loadMappingDir parsed it (so the program reads each file once). */
  parsed?: ParsedMappingFile;
  rows?: MappingRowInput[];
  /** With `rows`: the target column the keys refer to; default the kind's first key column. */
  targetKeyColumn?: string;
  /** Default mapping group. Default "Default Mapping Group". */
  mappingGroup?: string;
  /** The IOM provider the mappings belong to (by name), e.g. "BigCommerce". */
  providerName: pulumi.Input<string>;
  /** Take over rows someone else created with the same key but a different target. Default false. */
  adoptExisting?: pulumi.Input<boolean>;
  /** Flat schema override, e.g. "table=abc_productmapping;target=abc_product" (see docs/dataverse.md). */
  schemaOverride?: pulumi.Input<string>;
}
/** What clean() gives an input the engine dropped. */
const SCALAR_DEFAULTS: Record<string, unknown> = { mappingGroup: DEFAULT_MAPPING_GROUP, adoptExisting: false, schemaOverride: "" };

/** The client options an operator or a test may tune through `DATAVERSE_SYNC_<OPTION>` variables. */
const ENV_CLIENT_OPTIONS = ["maxConcurrency", "maxRetries", "max429Retries", "retryBaseMs", "retryMaxMs", "maxRetryAfterMs", "pageSize", "maxBatchSize", "requestBudgetMs", "timeoutMs", "operationTimeoutMs", "executionBudgetMs", "executionWindowMs"] as const;

/**
 * The inputs with defaults for anything the engine dropped (an undefined input is simply absent),
 * and the rows as a map. Packed rows (as check stores them) are also kept as `packed`, and decoded
 * into the map only when something reads `rows` (an update on the applied packed rows never does).
 */
function clean(inputs: object): SyncInputs {
  const i = cleanInputs<SyncInputs>(inputs);
  const out: SyncInputs = { ...i, mappingGroup: i.mappingGroup ?? DEFAULT_MAPPING_GROUP, adoptExisting: i.adoptExisting ?? false, schemaOverride: i.schemaOverride ?? "" };
  const raw = inputs as Record<string, unknown>;
  if (typeof raw.rows === "string") {
    const packed = { rows: raw.rows, changes: changesOf(raw.rowChanges) };
    let rowMap: RowMap | undefined;
    Object.defineProperty(out, "rows", { enumerable: true, configurable: true, get: () => (rowMap ??= sync.unpackRows(packed.rows, packed.changes)) });
    out.packed = packed;
  }
  return out;
}

/**
 * The rows of the resource's changes since its packed rows: keys added or given another target,
 * and keys removed (with the target they had). What a preview shows key by key.
 */
export type { RowChanges };

/** Counts of what an update changes in the rows, against the previous inputs (check writes them). */
export interface RowSummary {
  rows: number;
  added: number;
  changed: number;
  removed: number;
}

/**
 * The rows of inputs in either shape: a map `key -> target` (what the program sends, and the
 * stored inputs of states written before issue 21), or, as `check` stores them, the rows packed
 * (`rows`: gzip+base64 JSON of the sorted map, the encoding of the `applied` output) and the
 * changes since those packed rows (`rowChanges`). Undefined when the inputs carry no rows.
 */
export function rowsOfInputs(inputs: Record<string, unknown>): RowMap | undefined {
  const packed = inputs.rows;
  if (typeof packed !== "string") return packed !== null && typeof packed === "object" && !Array.isArray(packed) ? (packed as RowMap) : undefined;
  // A copy: the decoded packed rows are shared with the provider's other calls in this process.
  return { ...sync.unpackRows(packed, inputs.rowChanges) };
}

/**
 * Keys of `next` (`nextKeys`, its own keys) not in `prev`, with another target, and keys of `prev`
 * not in `next` (by key text). `prev` is a sorted view (packed rows), no object of its keys is
 * built. The host hands the program's rows over in key order (the engine's protobuf Struct:
 * toJavaScript lists a map's keys sorted), so a key is first compared with the one after the last
 * found, and looked up by binary search only when that is not it.
 */
function rowChanges(prev: rows.SortedRows, next: RowMap, nextKeys: string[]): RowChanges {
  const out: RowChanges = { added: {}, changed: {}, removed: {} };
  const prevKeys = prev.keys;
  const { lowerBound, targetIs, target } = prev;
  const kept = new Uint8Array(prevKeys.length);
  let keptCount = 0;
  let after = 0;
  for (let j = 0; j < nextKeys.length; j++) {
    const k = nextKeys[j];
    const at = after < prevKeys.length && prevKeys[after] === k ? after : lowerBound(k);
    const found = at < prevKeys.length && prevKeys[at] === k;
    after = found ? at + 1 : at;
    const i = found ? at : -1;
    if (i < 0) out.added[k] = next[k];
    else {
      kept[i] = 1;
      keptCount++;
      if (!targetIs(i, next[k])) out.changed[k] = next[k];
    }
  }
  // Every previous key is still there (the common change): no key was removed, no second pass.
  if (keptCount < prevKeys.length) for (let i = 0; i < prevKeys.length; i++) if (!kept[i]) out.removed[prevKeys[i]] = target(i);
  return out;
}

/**
 * The inputs as the state keeps them (issue 21: 200,000 rows as a map were 5 MB of inputs): the
 * rows packed once, and every later change as `rowChanges` against those packed rows, so a
 * preview still lists each key added, changed or removed while the packed text stays as it was.
 * When the changes since the packing pass max(1,000, 2% of the rows), the rows are packed anew
 * (that preview shows the packed text change; `rowSummary` counts it all the same).
 * `rowSummary` counts the change against the previous inputs. States with the rows as a map are
 * packed on their first preview; their diff finds no change, so the migration is a no-op update.
 */
function compactInputs(olds: Record<string, unknown>, news: Record<string, unknown>, rowMap: RowMap, rowKeys: string[], ownPacked?: string): { inputs: Record<string, unknown>; newSincePacked?: string[] } {
  const count = rowKeys.length;
  let packed = typeof olds.rows === "string" ? olds.rows : undefined;
  // The old packed rows are viewed once (and the view kept for diff and update); rows of older
  // states, a map, are viewed from the map. The previous rows are them with the old changes applied.
  const oldMap = packed === undefined ? rowsOfInputs(olds) : undefined;
  const base = packed !== undefined ? sync.packedView(packed) : oldMap ? rows.sortedRowsOfMap(oldMap) : undefined;
  const oldChanges = packed !== undefined ? changesOf(olds.rowChanges) : undefined;
  let changes = base ? rowChanges(base, rowMap, rowKeys) : { added: rowMap, changed: {}, removed: {} };
  // Keys added or given another target since the previous inputs, when those had packed rows.
  const newSincePacked: string[] | undefined = packed !== undefined ? [] : undefined;
  // Against the previous inputs, only the keys either change set names can differ.
  let since = { added: 0, changed: 0, removed: 0 };
  if (!base) since.added = count;
  else {
    const hasOwn = Object.prototype.hasOwnProperty;
    const found = changedSince([changes, oldChanges ?? noChanges()], rows.targetAfterOf(base, oldChanges ?? noChanges()), (k) => (hasOwn.call(rowMap, k) ? rowMap[k] : undefined));
    since = found.since;
    newSincePacked?.push(...Object.keys(found.now));
  }
  if (!base || changeCount(changes) > Math.max(1000, count * 0.02)) {
    // The program's own packed text (rowMap is what it decodes to), or the map packed.
    packed = ownPacked ?? sync.encodeApplied(rowMap);
    changes = noChanges();
  }
  packed ??= sync.encodeApplied(oldMap!);
  const rowSummary: RowSummary = { rows: count, ...since };
  return { inputs: { ...news, rows: packed, rowChanges: changes, rowSummary }, newSincePacked };
}

/**
 * The change from the previous inputs' rows (`was`) to the new ones (`isNow`), counted, and the
 * keys added or given another target with their new target (`now`), over the keys either change
 * set names: every other key has the same target in both (both are the same packed rows with
 * their own changes on top).
 */
function changedSince(sets: RowChanges[], was: (k: string) => string | undefined, isNow: (k: string) => string | undefined): { since: Omit<RowSummary, "rows">; now: RowMap } {
  const since = { added: 0, changed: 0, removed: 0 };
  const now: RowMap = {};
  const touched = new Set<string>();
  for (const c of sets) for (const part of [c.added, c.changed, c.removed]) for (const k of Object.keys(part)) touched.add(k);
  for (const k of touched) {
    const [before, after] = [was(k), isNow(k)];
    if (before === undefined && after !== undefined) since.added++;
    else if (before !== undefined && after === undefined) since.removed++;
    else if (before !== after) since.changed++;
    if (after !== undefined && before !== after) now[k] = after;
  }
  return { since, now };
}

/**
 * compactInputs for rows the program sent packed (`IomMappingSet` packs them: the host decodes a
 * map of 200,000 keys as a protobuf Struct for over a second), against previous inputs with
 * packed rows: the same inputs, from a merge walk over the two JSON texts (rows.ts
 * diffSortedTexts) instead of an object and a key array of the program's rows. Also the targets
 * of the keys added or changed since the previous inputs (`now`), which check validates.
 * Undefined when the previous inputs have no packed rows, or either text is not packed rows in
 * key order: check then decodes the rows (compactInputs). Throws when the program's text does not
 * unpack.
 */
function compactPackedInputs(olds: Record<string, unknown>, news: Record<string, unknown>, packed: string): { inputs: Record<string, unknown>; newSincePacked: string[]; now: RowMap } | undefined {
  const base = olds.rows;
  if (typeof base !== "string") return undefined;
  const oldChanges = changesOf(olds.rowChanges);
  let found: rows.TextDiff | undefined;
  const text = sync.packedText(packed);
  if (packed === base && text.charCodeAt(0) === 0x7b && text.charCodeAt(text.length - 1) === 0x7d) {
    // The packed rows of the previous inputs themselves: no row differs from them. Their count is
    // that of the text's keys (a walk of ~4 ms at 200,000 rows, no view; check unzips the text
    // anyway), not the previous inputs' rowSummary, which a hand-edited or older state can have wrong.
    let count = 0;
    rows.eachKeyOfText(text, () => count++);
    found = { ...noChanges(), changedFrom: {}, count };
  } else found = rows.diffSortedTexts(sync.packedText(base), text);
  if (!found) return undefined;
  const { changedFrom, count } = found;
  let changes: RowChanges = { added: found.added, changed: found.changed, removed: found.removed };
  // Against the previous inputs (the packed rows with their changes), only the keys either change
  // set names can differ. A key's target in the packed rows is in whichever set names it, but for
  // a key the old changes gave another target and the program's rows give back its packed one.
  const hasOwn = Object.prototype.hasOwnProperty;
  // The rest: keys the old changes gave another target and the program's rows give back their
  // packed one, read from the packed text (no view of every row).
  const named = (k: string) => hasOwn.call(changes.removed, k) || hasOwn.call(changedFrom, k) || hasOwn.call(changes.added, k);
  const reverted = Object.keys(oldChanges.changed).filter((k) => !named(k));
  const revertedTargets = reverted.length ? sync.packedTargets(base)(reverted) : new Map<string, string>();
  const inBase = (k: string): string | undefined => {
    if (hasOwn.call(changes.removed, k)) return changes.removed[k];
    if (hasOwn.call(changedFrom, k)) return changedFrom[k];
    if (hasOwn.call(changes.added, k) || hasOwn.call(oldChanges.added, k)) return undefined;
    if (hasOwn.call(oldChanges.removed, k)) return oldChanges.removed[k];
    return revertedTargets.get(k);
  };
  const after = (c: RowChanges) => (k: string) => (hasOwn.call(c.removed, k) ? undefined : hasOwn.call(c.added, k) ? c.added[k] : hasOwn.call(c.changed, k) ? c.changed[k] : inBase(k));
  const { since, now } = changedSince([changes, oldChanges], after(oldChanges), after(changes));
  const newSincePacked = Object.keys(now);
  let rowsText = base;
  if (changeCount(changes) > Math.max(1000, count * 0.02)) {
    // Packed anew: the program's own text is those rows packed.
    rowsText = packed;
    changes = noChanges();
  }
  const rowSummary: RowSummary = { rows: count, ...since };
  return { inputs: { ...news, rows: rowsText, rowChanges: changes, rowSummary }, newSincePacked, now };
}

/**
 * What the dynamic-provider host stores goes through protobuf's Struct.fromJavaScript, which
 * throws on `undefined`: return plain JSON only.
 */
function plain<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x) => plain(x)) as T;
  if (v === null || typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x === undefined) continue;
    // The row map (up to 100,000s of entries) holds strings only, by construction: no copy.
    out[k] = k === "rows" ? x : plain(x);
  }
  return out as T;
}

/** The inputs' problems; the rows' own (checkRowMap) when `rows` is true. */
function checkInputs(i: Partial<SyncInputs>, rows = true): pulumi.dynamic.CheckFailure[] {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  if (typeof i.environmentUrl !== "string" || !i.environmentUrl) failures.push({ property: "environmentUrl", reason: "required" });
  else if (isKnown(i.environmentUrl)) {
    const problem = endpointUrlProblem(i.environmentUrl, "must be https://<org>.<region>.dynamics.com");
    if (problem) failures.push({ property: "environmentUrl", reason: problem });
  }
  if (typeof i.kind !== "string" || !isMappingKind(i.kind)) failures.push({ property: "kind", reason: `one of ${Object.keys(KINDS).join(", ")}` });
  else if (!Object.values(KINDS[i.kind].keyColumns).includes(String(i.targetKeyColumn))) {
    failures.push({ property: "targetKeyColumn", reason: `one of ${Object.values(KINDS[i.kind].keyColumns).join(", ")}` });
  }
  if (typeof i.providerName !== "string" || (isKnown(i.providerName) && !i.providerName.trim())) failures.push({ property: "providerName", reason: "required (the IOM provider the mappings belong to, e.g. BigCommerce)" });
  if (typeof i.mappingGroup !== "string" || !i.mappingGroup.trim()) failures.push({ property: "mappingGroup", reason: "required" });
  if (!i.rows || typeof i.rows !== "object" || Array.isArray(i.rows)) failures.push({ property: "rows", reason: "the rows packed (IomMappingSet), or a map of mapping key to target" });
  else if (rows) failures.push(...checkRowMap(i.rows, i.mappingGroup ?? DEFAULT_MAPPING_GROUP, kindOf(i)));
  if (i.sourceFile !== undefined && typeof i.sourceFile !== "string") failures.push({ property: "sourceFile", reason: "the mapping file the rows come from, or absent" });
  if (i.sourceLines !== undefined && (typeof i.sourceLines !== "object" || i.sourceLines === null || Object.values(i.sourceLines).some((n) => typeof n !== "number"))) {
    failures.push({ property: "sourceLines", reason: "a map of mapping key to line number, or absent" });
  }
  if (typeof i.schemaOverride === "string" && isKnown(i.schemaOverride)) {
    try {
      schemaMod.parseSchemaOverride(i.schemaOverride);
    } catch (e) {
      failures.push({ property: "schemaOverride", reason: (e as Error).message });
    }
  }
  return failures;
}

/**
 * check of rows the program sent packed, against previous inputs with packed rows
 * (compactPackedInputs): validates the rows added or changed since those inputs (each against
 * every key of the program's rows for a clash ignoring case), every row when the kind or default
 * group changed. Undefined when the texts need decoding (check's map path).
 */
function checkPacked(olds: Record<string, unknown>, news: Record<string, unknown>, packed: string): pulumi.dynamic.CheckResult<Record<string, unknown>> | undefined {
  let compact: ReturnType<typeof compactPackedInputs>;
  try {
    compact = compactPackedInputs(olds, news, packed);
  } catch (e) {
    return { inputs: news, failures: [{ property: "rows", reason: `packed rows that do not decode: ${(e as Error).message}` }] };
  }
  if (!compact) return undefined;
  // The other inputs' problems (the rows are checked below, from the text).
  const n = clean({ ...news, rows: {} });
  const failures = checkInputs(n, false);
  const group = n.mappingGroup ?? DEFAULT_MAPPING_GROUP;
  if (olds.kind === n.kind && (olds.mappingGroup ?? DEFAULT_MAPPING_GROUP) === group) {
    const text = sync.packedText(packed);
    failures.push(...checkRowMap(compact.now, group, kindOf(n), compact.newSincePacked, (visit) => rows.eachKeyOfText(text, visit)));
  } else {
    const all = sync.packedRows(packed);
    failures.push(...checkRowMap(all.rows, group, kindOf(n), undefined, all.keys));
  }
  return failures.length ? { inputs: news, failures } : { inputs: compact.inputs };
}

const kindOf = (i: Partial<SyncInputs>): MappingKind | undefined => (typeof i.kind === "string" && isMappingKind(i.kind) ? i.kind : undefined);

/**
 * The row map as Dataverse would store it: refuse what it would mangle. An empty or blank part is
 * stored as null (and rewritten on every `up`), and two keys equal ignoring case are one row to
 * Dataverse, which compares text case-insensitively. Inputs may come from any program, not only from
 * our CSV loader, so this runs in `check`. Reports at most 10 keys, then a count.
 */
function checkRowMap(rowMap: Record<string, unknown>, defaultGroup: string, kind: MappingKind | undefined, only?: string[], keys: string[] | KeysOf = Object.keys(rowMap)): pulumi.dynamic.CheckFailure[] {
  const reasons: string[] = [];
  const seen = new Map<string, string>();
  // Per row only closures made here (rows.ts rowCodec) and no array but the problems: at 50,000 rows
  // module functions and per-row part lists were most of check's CPU.
  const { decodeKey, matchKey } = rows.rowCodec();
  const textProblemOf = textChecker();
  const unscopedKind = kind !== undefined && !KINDS[kind].accountScoped;
  const partNames = ["external field name", "external field value", "mapping group"];
  for (const k of only ?? (typeof keys === "function" ? [] : keys)) {
    const v = rowMap[k];
    const problems: string[] = [];
    if (k === "") problems.push("empty key");
    else {
      try {
        const d = decodeKey(k, defaultGroup);
        let blank = "";
        for (let i = 0; i < 3; i++) if (!(i === 0 ? d.field : i === 1 ? d.value : d.group).trim()) blank += `${blank ? ", " : ""}${partNames[i]}`;
        if (k.startsWith("{") && !d.account.trim()) blank += `${blank ? ", " : ""}account`;
        if (blank) problems.push(`empty ${blank} (Dataverse stores an empty string as null)`);
        if (d.account && unscopedKind) problems.push(`scoped to account "${d.account}" but IOM's ${kind} mapping has no Account`);
        for (let i = 0; i < 3; i++) {
          const p = textProblemOf(partNames[i], i === 0 ? d.field : i === 1 ? d.value : d.group);
          if (p) problems.push(p);
        }
        const m = matchKey(d.group, d.field, d.value, d.account);
        const other = seen.get(m);
        if (other !== undefined) problems.push(`same mapping as ${JSON.stringify(other)} to Dataverse, which compares text ignoring case`);
        else seen.set(m, k);
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    if (typeof v !== "string" || !v.trim()) problems.push("empty target (Dataverse stores an empty string as null)");
    for (const p of problems) reasons.push(`${JSON.stringify(k)}: ${p}`);
  }
  if (only && only.length > 0) reasons.push(...sameIgnoringCase(keys, defaultGroup, only));
  const shown = reasons.slice(0, 10).map((reason) => ({ property: "rows", reason }));
  if (reasons.length > 10) shown.push({ property: "rows", reason: `... and ${reasons.length - 10} more problem(s)` });
  return shown;
}

/**
 * Every key of a row set, one by one, as the text `s` from `from` to `to` (rows.ts eachKeyOfText:
 * packed rows' keys read in place, without an array or a string of each).
 */
type KeysOf = (visit: (s: string, from: number, to: number) => void) => void;

/**
 * A key's identity as text (the same for two keys Dataverse takes for one row), cheap for the
 * common key without account or group: the key lower-cased (a field holds no "=", so
 * `field=value` lower-cased stands for the pair; "=" ends a final-sigma context either way). A
 * closure made per call of sameIgnoringCase (rows.ts rowCodec: no module function per row).
 */
function identityTextOf(defaultGroup: string): (k: string) => string {
  const { decodeKey, matchKey } = rows.rowCodec();
  const group = defaultGroup.toLowerCase();
  return (k) => {
    const c = k.charCodeAt(0);
    if (c !== 0x7b && c !== 0x5b) return k.toLowerCase(); // neither "{" nor "["
    const d = decodeKey(k, defaultGroup);
    if (!d.account && d.group.toLowerCase() === group) return `${d.field}=${d.value}`.toLowerCase();
    return `\u0000${matchKey(d.group, d.field, d.value, d.account)}`;
  };
}

/**
 * Keys among `only` that Dataverse would take for the same row as another of the row map's `keys`
 * (it compares text ignoring case): for a check that validates only the rows that changed, whose
 * other keys were checked with the inputs they come from.
 */
function sameIgnoringCase(keys: string[] | KeysOf, defaultGroup: string, only: string[]): string[] {
  const mine = new Map<string, string>();
  const reasons: string[] = [];
  const identityText = identityTextOf(defaultGroup);
  /**
   * A fingerprint of a plain ASCII key that lower-casing keeps (A-Z folded), so that most of
   * 200,000 keys are ruled out without building their lower-cased text; -1 for any other key
   * ("{", "[" or a character past ASCII, whose lower case may be ASCII: the Kelvin sign's is "k").
   */
  const fingerprint = (k: string, from = 0, to = k.length): number => {
    let h = to - from;
    const c0 = k.charCodeAt(from);
    if (c0 === 0x7b || c0 === 0x5b) return -1;
    for (let j = from; j < to; j++) {
      let c = k.charCodeAt(j);
      if (c > 0x7f) return -1;
      if (c >= 0x41 && c <= 0x5a) c += 0x20;
      h = (h * 31 + c) | 0; // exact in a double (below 2^37); no Math.imul: a global in a loop is slow in the serialized provider
    }
    return h & 0x7fffffff;
  };
  const fingerprints = new Set<number>();
  for (const k of only) {
    try {
      const id = identityText(k);
      mine.set(id, k);
      // Of the identity: a key that is not plain ASCII may have one a plain ASCII key shares.
      fingerprints.add(fingerprint(id));
    } catch {
      // A malformed key: reported by checkRowMap already.
    }
  }
  const onlySet = new Set(only);
  const visit = (s: string, from: number, to: number) => {
    const f = fingerprint(s, from, to);
    if (f >= 0 && !fingerprints.has(f)) return; // its identity is none of `only`'s
    const k = from === 0 && to === s.length ? s : s.slice(from, to);
    let id: string;
    try {
      id = identityText(k);
    } catch {
      return;
    }
    const other = mine.get(id);
    // A key of `only` itself (or one like it, which checkRowMap reports) is no other key.
    if (other !== undefined && !onlySet.has(k)) reasons.push(`${JSON.stringify(other)}: same mapping as ${JSON.stringify(k)} to Dataverse, which compares text ignoring case`);
  };
  if (typeof keys === "function") keys(visit);
  else for (const k of keys) visit(k, 0, k.length);
  return reasons;
}

function resourceId(i: SyncInputs, seed: string): string {
  return `iom-${i.kind}-mappings-${seed.slice(0, 12)}`;
}

/** Turn a SyncError carrying partial state into the shape the dynamic host records as a partial failure. */
function partialFailure(e: unknown, id: string): Error {
  const err = e as Error & { partial?: SyncOutputs };
  if (err && err.partial) {
    return Object.assign(new Error(err.message), { id, properties: plain(err.partial), reasons: [err.message] });
  }
  // Duck-typed: `instanceof Error` is unreliable for the serializer's rebuilt Error subclasses.
  return new Error(err && typeof err.message === "string" ? err.message : String(err));
}

/** `diff`'s result: its detailedDiff is the row-level plan (`rows["<key>"]`). */
export type MappingDiffResult = DetailedDiffResult;

/** No `configure`: the provider reads no stack config. */
export type IomMappingSetDynamicProvider = ProviderWithoutConfigure<IomMappingSetInputs, IomMappingSetOutputs>;

export type IomMappingSetDynamicProviderOptions = DataverseDynamicProviderOptions;

/** Build the provider. `options` (tests only) are captured into the serialized closure, so keep them plain data. */
export function createIomMappingSetDynamicProvider(options: IomMappingSetDynamicProviderOptions = {}): IomMappingSetDynamicProvider {
  const deps = (): sync.Deps => ({ client: { ...numbersFromEnv("DATAVERSE_SYNC_", ENV_CLIENT_OPTIONS), ...options.client }, log: pulumiLog() });
  return {
    async check(olds: IomMappingSetInputs, news: IomMappingSetInputs): Promise<pulumi.dynamic.CheckResult<IomMappingSetInputs>> {
      const o = (olds ?? {}) as unknown as Record<string, unknown>;
      const raw = news as unknown as Record<string, unknown>;
      if (typeof raw.rows === "string") {
        const checked = checkPacked(o, raw, raw.rows);
        if (checked) return checked as unknown as pulumi.dynamic.CheckResult<IomMappingSetInputs>;
      }
      let n: SyncInputs;
      try {
        n = clean(news as unknown as Record<string, unknown>);
        void n.rows; // packed rows are decoded here, so that text that does not decode is this failure
      } catch (e) {
        return { inputs: news, failures: [{ property: "rows", reason: `packed rows that do not decode: ${(e as Error).message}` }] };
      }
      const failures = checkInputs(n, false);
      const rowsOk = !!n.rows && typeof n.rows === "object" && !Array.isArray(n.rows);
      if (!rowsOk) return { inputs: news, failures };
      // The keys once: Object.keys of 200,000 keys is tens of milliseconds.
      const rowKeys = Object.keys(n.rows);
      // Packed rows are stored as the program sent them only in the order later checks and diffs
      // read them in (text from another writer is packed anew).
      const own = n.packed && sync.packedInOrder(n.packed.rows) ? n.packed.rows : undefined;
      const compact = compactInputs(o, raw, n.rows, rowKeys, own);
      // Rows as they were in previous inputs with packed rows (stored by check, or by read from
      // rows written from checked inputs) were checked then: check the rows added or changed
      // since, every row when what decides a key's meaning (kind, default group) changed.
      const group = n.mappingGroup ?? DEFAULT_MAPPING_GROUP;
      const trusted = compact.newSincePacked && o.kind === n.kind && (o.mappingGroup ?? DEFAULT_MAPPING_GROUP) === group;
      const only = trusted ? compact.newSincePacked : undefined;
      failures.push(...checkRowMap(n.rows, group, kindOf(n), only, rowKeys));
      if (failures.length) return { inputs: news, failures };
      return { inputs: compact.inputs as unknown as IomMappingSetInputs };
    },

    async diff(_id: string, olds: IomMappingSetOutputs, news: IomMappingSetInputs): Promise<MappingDiffResult> {
      const raw = news as unknown as Record<string, unknown>;
      const replaces = (["environmentUrl", "kind", "providerName"] as const).filter((k) => isUnknown(raw[k]) || raw[k] !== olds[k]);
      if (replaces.length) return { changes: true, replaces: [...replaces], deleteBeforeReplace: false };
      const scalars = ["mappingGroup", "targetKeyColumn", "schemaOverride", "adoptExisting"] as const;
      const stables = ["environmentUrl", "kind", "providerName"];
      const sameScalars = (i: Record<string, unknown>) => scalars.every((k) => (i[k] ?? SCALAR_DEFAULTS[k]) === olds[k]);
      // Checked inputs whose packed rows are the applied ones, with the same changes on top: nothing to decode.
      const sameBase = typeof raw.rows === "string" && raw.rows === olds.applied;
      if (sameBase && sameChanges(changesOf(raw.rowChanges), changesOf(olds.appliedChanges)) && sameScalars(raw)) {
        return { changes: false, replaces: [], stables, detailedDiff: {} };
      }
      const n = clean(raw);
      // On a table without a Mapping Group column (as the state records it) the group is not part
      // of a row, so a new default group moves no row: no row-level ADD/DELETE for it.
      const tableHasGroup = sync.tableHasGroupColumn(olds, n);
      let d: ReturnType<typeof plan.diffRowMaps>;
      if (sameBase && n.packed && (n.mappingGroup === olds.mappingGroup || !tableHasGroup)) {
        // The same packed rows on both sides: only the keys either change set names can differ
        // (a 1% change of 200,000 rows compares 2,000 keys, not 200,000).
        const sides = rows.changedSides(sync.packedTargets(olds.applied), changesOf(olds.appliedChanges), n.packed.changes);
        d = plan.diffRowMaps(sides.a, olds.mappingGroup, sides.b, n.mappingGroup, tableHasGroup);
      } else {
        if (typeof n.rows !== "object" || n.rows === null) return { changes: true };
        // Nothing changed (the common preview): the rows' hash is the applied one, so the applied rows
        // need not be decoded nor compared key by key (at 50,000 rows most of diff's CPU).
        if (olds.appliedHash && scalars.every((k) => n[k] === olds[k]) && rows.hashRows(n.rows) === olds.appliedHash) {
          return { changes: false, replaces: [], stables, detailedDiff: {} };
        }
        d = plan.diffRowMaps(sync.appliedRowsOf(olds), olds.mappingGroup, n.rows, n.mappingGroup, tableHasGroup);
      }
      const detailedDiff: MappingDiffResult["detailedDiff"] = {};
      for (const k of d.added) detailedDiff[`rows["${k}"]`] = { kind: "ADD", inputDiff: true };
      for (const k of d.changed) detailedDiff[`rows["${k}"]`] = { kind: "UPDATE", inputDiff: true };
      for (const k of d.removed) detailedDiff[`rows["${k}"]`] = { kind: "DELETE", inputDiff: true };
      // A new mappingGroup stays a change on a table without the column, shown as what it is: an
      // update of that input alone, with no row in it (the update reads once and writes nothing).
      // Reporting no change would leave the old group in the outputs (the engine keeps them on an
      // unchanged resource), which decode the applied keys and which `read` copies back into the
      // inputs: a refresh would undo the config change and every later preview would show it again.
      const scalarChange = scalars.some((k) => n[k] !== olds[k]);
      for (const k of scalars) {
        if (n[k] !== olds[k]) detailedDiff[k] = { kind: "UPDATE", inputDiff: true };
      }
      const changes = scalarChange || d.added.length + d.changed.length + d.removed.length > 0;
      return { changes, replaces: [], stables, detailedDiff };
    },

    async create(inputs: IomMappingSetInputs): Promise<pulumi.dynamic.CreateResult<IomMappingSetOutputs>> {
      const i = clean(inputs);
      const id = resourceId(i, sync.effectiveSeed(i));
      try {
        const outs = await sync.syncMappings(i, undefined, deps());
        return { id, outs: plain(outs) };
      } catch (e) {
        throw partialFailure(e, id);
      }
    },

    async read(id: string, props?: IomMappingSetOutputs): Promise<pulumi.dynamic.ReadResult<IomMappingSetOutputs>> {
      if (!props || !props.applied) return { id, props };
      const o = clean(props as unknown as Record<string, unknown>) as unknown as IomMappingSetOutputs;
      const { outputs } = await sync.readMappings(o, deps());
      // The inputs as check stores them: the rows packed (no drift: the applied text itself), no change since.
      const inputs = {
        environmentUrl: o.environmentUrl,
        kind: o.kind,
        rows: outputs.applied,
        rowChanges: changesOf(outputs.appliedChanges),
        rowSummary: { rows: outputs.rowCount, added: 0, changed: 0, removed: 0 },
        targetKeyColumn: o.targetKeyColumn,
        mappingGroup: o.mappingGroup ?? DEFAULT_MAPPING_GROUP,
        providerName: o.providerName,
        adoptExisting: o.adoptExisting ?? false,
        schemaOverride: o.schemaOverride ?? "",
        ownerSeed: o.ownerSeed,
      };
      // ReadResult types `inputs` as Outputs; the host stores them as the new inputs.
      return { id, props: plain(outputs), inputs: plain(inputs) as unknown as IomMappingSetOutputs };
    },

    async update(id: string, olds: IomMappingSetOutputs, news: IomMappingSetInputs): Promise<pulumi.dynamic.UpdateResult<IomMappingSetOutputs>> {
      const o = clean(olds) as unknown as IomMappingSetOutputs;
      try {
        const outs = await sync.syncMappings(clean(news), o, deps());
        return { outs: plain(outs) };
      } catch (e) {
        throw partialFailure(e, id);
      }
    },

    async delete(_id: string, props: IomMappingSetOutputs): Promise<void> {
      await sync.deleteMappings(clean(props) as unknown as IomMappingSetOutputs, deps());
    },
  };
}

/** The provider object `IomMappingSet` uses. */
export const iomMappingSetDynamicProvider = createIomMappingSetDynamicProvider();

// ---- the resource --------------------------------------------------------------------------------

/**
 * Keeps one kind of IOM's ID mappings in Dataverse equal to a CSV file or a list of rows: creates
 * and updates rows to match, deletes only rows this resource created (adopted rows, existing ones
 * it took over, are never deleted), and on refresh reports rows changed outside Pulumi in `drift`.
 * Validates the whole file before any call. Holds no secret: the token is read at run time.
 */
export class IomMappingSet extends pulumi.dynamic.Resource {
  /** Rows in the set; of them, the rows this resource created (it may delete them) and the ones it took over (never deleted). */
  declare public readonly rowCount: pulumi.Output<number>;
  declare public readonly ownedCount: pulumi.Output<number>;
  declare public readonly adoptedCount: pulumi.Output<number>;
  /** After a refresh: the rows changed outside Pulumi. */
  declare public readonly drift: pulumi.Output<DriftReport | undefined>;
  /** A hash of the rows last written, and what that sync did. */
  declare public readonly appliedHash: pulumi.Output<string>;
  declare public readonly lastSync: pulumi.Output<SyncSummary>;

  constructor(name: string, args: IomMappingSetArgs, opts?: pulumi.CustomResourceOptions) {
    const group = args.mappingGroup ?? DEFAULT_MAPPING_GROUP;
    const { rows: map, targetKeyColumn, sourceFile, sourceLines } = IomMappingSet.rowsOf(args, group);
    const ownerSeed = createHash("sha256").update(`${pulumi.getProject()}/${pulumi.getStack()}/${name}`).digest("hex").slice(0, 32);
    const props: Record<string, unknown> = {
      environmentUrl: args.environmentUrl,
      kind: args.kind,
      // Packed: one string for the host to decode, not a Struct of every key (see the top of this file).
      rows: sync.encodeApplied(map),
      targetKeyColumn,
      mappingGroup: group,
      providerName: args.providerName,
      adoptExisting: args.adoptExisting ?? false,
      schemaOverride: args.schemaOverride ?? "",
      ownerSeed,
      sourceFile,
      sourceLines,
      rowCount: undefined,
      ownedCount: undefined,
      adoptedCount: undefined,
      appliedHash: undefined,
      lastSync: undefined,
      drift: undefined,
    };
    super(iomMappingSetDynamicProvider, name, props, opts, "dataverse", "IomMappingSet");
  }

  /**
   * Validate file or rows (all problems at once) and build the row map. A file already parsed by
   * loadMappingDir (`parsed`) is taken as it is: a file is parsed once.
   */
  static rowsOf(args: Pick<IomMappingSetArgs, "kind" | "file" | "parsed" | "rows" | "targetKeyColumn">, group: string): { rows: RowMap; targetKeyColumn: string; sourceFile: string; sourceLines: Record<string, number> } {
    const where = args.parsed?.file ?? args.file ?? "<rows>";
    if (!isMappingKind(args.kind)) throw new MappingValidationError([{ file: where, line: 0, message: `unknown mapping kind "${String(args.kind)}"` }]);
    if ([args.file, args.parsed, args.rows].filter((x) => x !== undefined).length !== 1) throw new Error("IomMappingSet: give exactly one of `file`, `parsed` or `rows`");
    if (args.file !== undefined || args.parsed !== undefined) {
      const base = path.basename(where).replace(/\.csv$/i, "");
      if (isMappingKind(base) && base !== args.kind) {
        throw new MappingValidationError([{ file: where, line: 0, message: `file is for kind "${base}" but the set is "${args.kind}"` }]);
      }
      const parsed = args.parsed ?? loadMappingFile(args.file!, group, args.kind);
      return { rows: parsed.rows, targetKeyColumn: parsed.targetKeyColumn, sourceFile: parsed.file, sourceLines: parsed.longRowLines };
    }
    const keyColumns = Object.values(KINDS[args.kind].keyColumns);
    const targetKeyColumn = args.targetKeyColumn ?? keyColumns[0];
    const problems = problemList();
    if (!keyColumns.includes(targetKeyColumn)) problems.add("<rows>", 0, `targetKeyColumn must be one of ${keyColumns.join(", ")}`);
    const entries: RowEntry[] = args.rows!.map((r, i) => ({ line: i + 1, field: (r.externalFieldName ?? "").trim(), value: (r.externalFieldValue ?? "").trim(), target: (r.target ?? "").trim(), group: (r.mappingGroup ?? "").trim(), account: (r.account ?? "").trim() }));
    if (!KINDS[args.kind].accountScoped) {
      entries.forEach((e) => e.account && problems.add("<rows>", e.line, `account is only for the kinds whose IOM form has one, not ${args.kind}`));
    }
    const checker = rowChecker("<rows>", group, "target", problems);
    for (const e of entries) checker.add(e);
    if (problems.count) throw new MappingValidationError(problems.list, problems.omitted);
    // Rows in code: a row's "line" is its position in the list.
    return { rows: checker.rows, targetKeyColumn, sourceFile: "<rows>", sourceLines: checker.longRowLines };
  }
}
