/**
 * Reading a large table without waiting page by page: split the query into ranges of the primary
 * key (`<id> ge a and <id> lt b`) and read the ranges in parallel, each following its own
 * `@odata.nextLink`. Dataverse pages at most 5,000 rows and only forward (`$skip` is not
 * supported), so this is the only way to read 50,000 rows in one round trip instead of ten.
 *
 * Correctness does not depend on how the service orders GUIDs: the ranges are disjoint and cover
 * every value for any total order. Balance does: Dataverse stores ids as SQL Server
 * `uniqueidentifier`, which compares the last group (bytes 10-15) first, then bytes 8-9, 6-7, 4-5
 * and 0-3 (SqlGuid's comparison order), so ranges are cut on that order.
 */

/** A key that sorts GUID strings the way SQL Server compares uniqueidentifier values. */
export function sqlGuidKey(id: string): string {
  const h = id.toLowerCase().replace(/-/g, "");
  const byte = (i: number) => h.slice(i * 2, i * 2 + 2);
  // Guid.ToByteArray order: the first three groups are little-endian.
  const bytes = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15].map(byte);
  return [10, 11, 12, 13, 14, 15, 8, 9, 6, 7, 4, 5, 0, 1, 2, 3].map((i) => bytes[i]).join("");
}

/** `n - 1` ascending boundaries splitting uniformly distributed ids into `n` ranges. */
export function uniformBoundaries(n: number): string[] {
  const out: string[] = [];
  for (let i = 1; i < n; i++) {
    // The most significant byte in SQL Server's order is byte 10: the first of the last group.
    const b = Math.floor((i * 256) / n).toString(16).padStart(2, "0");
    out.push(`00000000-0000-0000-0000-${b}0000000000`);
  }
  return out;
}

/**
 * Boundaries for reading about `expected` rows whose ids are not known: ranges of about 5/6 of a
 * page (headroom for an uneven spread), at most `maxRanges` (the requests allowed in flight).
 */
export function rangesForCount(expected: number, pageSize: number, maxRanges: number): string[] {
  if (expected <= pageSize) return [];
  return uniformBoundaries(Math.max(1, Math.min(maxRanges, Math.ceil((expected * 1.2) / pageSize))));
}

/**
 * Boundaries such that each range holds at most `perRange` of the given ids: when the caller knows
 * the ids it expects (rows it created have deterministic ids), every range is one full page.
 */
export function boundariesFromIds(ids: string[], perRange: number): string[] {
  return boundariesOfIdList(idListOf(ids), perRange);
}

/** Ids as text, as an IdList. */
export function idListOf(ids: string[]): IdList {
  // Locals: in the serialized provider a module constant or global named in a loop is looked up through a with-scope per use.
  const [hex4, parse] = [HEX4, parseInt];
  const bucket = (i: number): number => {
    const h = ids[i].slice(24, 28);
    return hex4.test(h) ? parse(h, 16) : -1;
  };
  return { count: ids.length, bucket, id: (i) => ids[i] };
}

/**
 * Ids as boundariesOfIdList reads them: `bucket(i)` is the first four hex digits of id i's last
 * group (characters 24-27) as a number, or -1 when id i is not a GUID as Dataverse writes them.
 */
export interface IdList {
  count: number;
  bucket(i: number): number;
  id(i: number): string;
}

/** boundariesFromIds of any id list (e.g. ids held as numbers, sync.ts ownedIdTable). */
export function boundariesOfIdList(ids: IdList, perRange: number): string[] {
  const n = ids.count;
  if (n <= perRange) return [];
  // The first 8 bytes of SQL Server's order are the last group and the fourth group as written:
  // enough to order hashed ids (a tie only moves a row to the neighbouring range). Only every
  // perRange-th id in that order is wanted: the ids are counted into buckets by the first two of
  // those bytes, and only the buckets holding a boundary are sorted (sorting 200,000 ids was most
  // of a 200,000-row refresh's work before its first request).
  const sortKey = (id: string) => {
    const l = id.toLowerCase();
    return l.slice(24) + l.slice(19, 23) + l;
  };
  const BUCKETS = 65536;
  const bucketOf = new Int32Array(n);
  const counts = new Uint32Array(BUCKETS);
  for (let i = 0; i < n; i++) {
    const b = ids.bucket(i);
    if (b < 0) {
      // Not a GUID as Dataverse writes them: every id sorted.
      const keys: string[] = [];
      for (let j = 0; j < n; j++) keys.push(sortKey(ids.id(j)));
      return sortedBoundaries(keys, perRange);
    }
    bucketOf[i] = b;
    counts[b]++;
  }
  // The bucket and the rank within it of each boundary (every perRange-th id in order).
  const wanted = new Map<number, number[]>();
  let seen = 0;
  let next = perRange;
  for (let b = 0; b < BUCKETS && next < n; b++) {
    while (next < n && next < seen + counts[b]) {
      const ranks = wanted.get(b) ?? [];
      ranks.push(next - seen);
      wanted.set(b, ranks);
      next += perRange;
    }
    seen += counts[b];
  }
  const members = new Map<number, string[]>();
  for (let i = 0; i < n; i++) {
    if (!wanted.has(bucketOf[i])) continue;
    const list = members.get(bucketOf[i]);
    if (list) list.push(sortKey(ids.id(i)));
    else members.set(bucketOf[i], [sortKey(ids.id(i))]);
  }
  const out: string[] = [];
  for (const [b, ranks] of [...wanted].sort((x, y) => x[0] - y[0])) {
    const sorted = members.get(b)!.sort();
    for (const r of ranks) out.push(sorted[r].slice(16));
  }
  return out;
}

const HEX4 = /^[0-9a-fA-F]{4}$/;

/** Every perRange-th of the sort keys in order, as an id (boundariesFromIds' sort key without its 16-character prefix). */
function sortedBoundaries(keys: string[], perRange: number): string[] {
  keys.sort();
  const out: string[] = [];
  for (let i = perRange; i < keys.length; i += perRange) out.push(keys[i].slice(16));
  return out;
}

/** The `$filter` clause of each range for the given boundaries (one range when there are none). */
export function rangeFilters(primaryId: string, boundaries: string[]): (string | undefined)[] {
  if (boundaries.length === 0) return [undefined];
  const out: string[] = [`${primaryId} lt ${boundaries[0]}`];
  for (let i = 1; i < boundaries.length; i++) out.push(`${primaryId} ge ${boundaries[i - 1]} and ${primaryId} lt ${boundaries[i]}`);
  out.push(`${primaryId} ge ${boundaries[boundaries.length - 1]}`);
  return out;
}

/** Add a clause to the `$filter` of a relative query path (URL-encoded or not). */
export function withFilter(path: string, clause: string | undefined): string {
  if (!clause) return path;
  const q = path.indexOf("?");
  const base = q < 0 ? path : path.slice(0, q);
  const params = q < 0 ? [] : path.slice(q + 1).split("&");
  const i = params.findIndex((p) => p.startsWith("$filter=") || p.startsWith("%24filter="));
  if (i < 0) params.push(`$filter=${encodeURIComponent(clause)}`);
  else {
    const existing = decodeURIComponent(params[i].slice(params[i].indexOf("=") + 1));
    params[i] = `$filter=${encodeURIComponent(`(${existing}) and (${clause})`)}`;
  }
  return `${base}?${params.join("&")}`;
}
