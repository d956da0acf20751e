/**
 * The Dataverse client's reads: one JSON answer, and collections page by page with
 * `Prefer: odata.maxpagesize`, following `@odata.nextLink` unmodified (the service pages only
 * forward) but only on the client's own origin: a link elsewhere is refused before it is
 * requested, since the request would carry the token. Large reads split into primary-key ranges
 * read in parallel (partition.ts).
 *
 * Serialized with the providers: functions over the transport, no state of their own.
 */
import type { DataverseClient } from "./client";
import { isDataverseError } from "./errors";
import { rangeFilters, withFilter } from "./partition";
import { type Transport, describe } from "./transport";

export type Reads = Pick<DataverseClient, "getJson" | "forEachPage" | "getAll" | "forEachPagePartitioned">;

export function createReads(t: Transport): Reads {
  async function getJson<T>(path: string): Promise<T> {
    const r = await t.request("GET", path);
    if (r.status !== 200) t.fail("GET", path, r);
    return r.data as T;
  }

  /** GET a collection, following @odata.nextLink on this origin; each page is handed over and dropped. */
  async function forEachPage<T>(path: string, onPage: (rows: T[], total: number) => void): Promise<number> {
    let total = 0;
    let next: string | undefined = path;
    while (next) {
      const r = await t.request("GET", next, { headers: { Prefer: `odata.maxpagesize=${t.settings.pageSize}` } });
      if (r.status !== 200) t.fail("GET", next, r);
      const body = r.data as { value?: T[]; "@odata.nextLink"?: string };
      if (!Array.isArray(body?.value)) throw t.error(`GET ${describe(next)}: response has no value array`, r.status);
      total += body.value.length;
      onPage(body.value, total);
      const link = body["@odata.nextLink"];
      if (link !== undefined) t.checkOrigin(link, `the @odata.nextLink of GET ${describe(path)}`);
      next = link;
    }
    return total;
  }

  async function getAll<T>(path: string): Promise<T[]> {
    const out: T[] = [];
    await forEachPage<T>(path, (rows) => {
      for (const v of rows) out.push(v);
    });
    return out;
  }

  /**
   * GET a collection split into primary-key ranges, the ranges read in parallel and each page
   * handed over as it arrives. A service that refuses the range filter answers 400 to the first
   * request of every range, before any page was handed over: the read then goes page by page,
   * and costs no duplicate row.
   */
  async function forEachPagePartitioned<T>(path: string, primaryId: string, boundaries: string[], onPage: (rows: T[], total: number) => void): Promise<number> {
    const filters = rangeFilters(primaryId, boundaries);
    if (filters.length === 1) return forEachPage(path, onPage);
    let total = 0;
    const results = await Promise.allSettled(
      filters.map((f) =>
        forEachPage<T>(withFilter(path, f), (rows) => {
          total += rows.length;
          onPage(rows, total);
        }),
      ),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (!failed) return total;
    const e: unknown = failed.reason;
    if (total === 0 && isDataverseError(e) && e.status === 400) {
      t.log("info", `${describe(path)}: key-range read refused (${e.message}); reading page by page`);
      return forEachPage(path, onPage);
    }
    throw e;
  }

  return { getJson, forEachPage, getAll, forEachPagePartitioned };
}
