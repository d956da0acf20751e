/**
 * A small Dataverse Web API client for bulk synchronisation.
 *
 * - Token: see auth.ts (`DATAVERSE_ACCESS_TOKEN`, else DefaultAzureCredential). The token only
 *   ever lives in the Authorization header: errors are re-thrown as DataverseError built from
 *   status, code, method and path, never from axios errors (whose config carries the header).
 *   A 401/403 becomes an AuthError naming the environment, the token's source and the fix.
 * - OData headers on every request; paging with `Prefer: odata.maxpagesize` following
 *   `@odata.nextLink` unmodified; large reads split into primary-key ranges read in parallel
 *   (partition.ts).
 * - Writes: `CreateMultiple` / `UpdateMultiple` where the table supports them, found the way
 *   Microsoft documents it ("Use bulk operation messages"): one `sdkmessagefilters` query per
 *   table and message per client. The actions are bound to `Collection(crmbaseentity)`, so the URL
 *   always resolves; a table without them answers 0x80040800 (SdkEntityDoesNotSupportMessage),
 *   which also switches that table to `$batch` should the query have said otherwise. `$batch`
 *   with change sets otherwise; at most 1000 operations per request; the chunk size adapts so a
 *   request stays well inside the two-minute budget (EWMA of ms per row; halved on a timeout) and
 *   the remaining rows are spread over all free slots, so the last requests finish together.
 * - Service protection: a 429 pauses *all* requests of this client for `Retry-After` (a second
 *   429 grows the wait); the pause is set before the throttled request frees its slot and is
 *   checked again right before a request is sent, so no request leaves during a pause. In flight:
 *   the service's `x-ms-dop-hint`, up to 52 (its concurrency limit); 16 until a hint arrives.
 *   Bounded exponential backoff with jitter on 5xx and network errors.
 *
 * Serialized with the providers that use it (dynamic-providers/README.md): `createDataverseClient`
 * is called inside provider methods, its state lives in its closure, packages are required when
 * it runs, and the only class is the Error subclass.
 *
 * Why not `dynamics-web-api`: it has batch and paging, but by design no 429/Retry-After handling,
 * no concurrency gate and no CreateMultiple fallback logic; with those three being most of the
 * work here, wrapping it would add a dependency without removing code. axios is already a
 * dependency of this project.
 */
import type { AxiosInstance, AxiosResponse } from "axios";
import { BatchOp, OpResult, buildBatch, parseBatchResponse } from "./batch";
import { TokenSource, authError, defaultTokenSource, tokenSourceOf } from "./auth";
import { rangeFilters, withFilter } from "./partition";

export { defaultTokenSource } from "./auth";

export type LogFn = (level: "info" | "warn" | "debug", message: string) => void;

export interface ClientOptions {
  environmentUrl: string;
  /** Token source; default: DATAVERSE_ACCESS_TOKEN, else DefaultAzureCredential (auth.ts). */
  getToken?: (() => Promise<string>) | TokenSource;
  /** Upper bound on requests in flight, whatever x-ms-dop-hint says. Default and hard cap 52. */
  maxConcurrency?: number;
  /** Requests in flight until the service sends x-ms-dop-hint. Default 16. */
  initialConcurrency?: number;
  /** Retries on 5xx / network errors. Default 5. */
  maxRetries?: number;
  /** Retries on 429. Default 30. */
  max429Retries?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Longest Retry-After this client waits; a longer one fails the run (never sent early). Default 5 minutes. */
  maxRetryAfterMs?: number;
  pageSize?: number;
  /** Max rows per CreateMultiple/UpdateMultiple request or operations per $batch (≤ 1000). */
  maxBatchSize?: number;
  /** Operations per change set inside a $batch. Default 100. */
  changeSetSize?: number;
  /** The service's per-request budget; chunks aim at a quarter of it. Default 120 s. */
  requestBudgetMs?: number;
  /** Client-side timeout per request. Default requestBudgetMs + 10 s. */
  timeoutMs?: number;
  log?: LogFn;
}

/** What a provider built on this client lets a test tune: plain data, captured into the serialized closure. */
export interface DataverseProviderOptions {
  client?: Partial<ClientOptions>;
}

export class DataverseError extends Error {
  constructor(
    message: string,
    public readonly status: number,
    public readonly code?: string,
  ) {
    super(message);
    this.message = message; // see SyncError: needed in the serialized provider
    this.name = "DataverseError";
  }
}

/**
 * Duck-typed check: in the serialized provider, Pulumi's closure serializer rebuilds classes as
 * functions, and `instanceof` against Error subclasses is not reliable there.
 */
export function isDataverseError(e: unknown): e is DataverseError {
  return typeof e === "object" && e !== null && (e as { name?: unknown }).name === "DataverseError" && typeof (e as { status?: unknown }).status === "number";
}

export interface Stats {
  requests: number;
  throttled: number;
  retries: number;
  writeRequests: number;
  /** Bulk-message calls the table turned out not to support (at most one per table and message). */
  bulkRejected: number;
}

export interface WriteFailure {
  index: number;
  status: number;
  code?: string;
  message: string;
}

export interface WriteResult {
  failures: WriteFailure[];
  /** Creates whose outcome is unknown (connection lost after retries; 412 on a retried create). */
  uncertain: number[];
}

/** Rows to write; `written(i)` (optional) hears of each row the service confirmed, so a caller whose run fails knows what exists. */
export type RecordSource = Record<string, unknown>[] | { count: number; get: (i: number) => Record<string, unknown>; written?: (i: number) => void };

export interface TableRef {
  logicalName: string;
  entitySet: string;
  primaryId: string;
}

/** One answer: headers lower-cased; `data` the parsed JSON, `text` the raw body only when it was not JSON. */
export interface Resp {
  status: number;
  headers: Record<string, string>;
  data: unknown;
  text: string;
}

export interface RequestOptions {
  body?: unknown;
  rawBody?: string | Buffer;
  headers?: Record<string, string>;
  /** Retry 5xx and network errors (default true); 429 is always waited out and retried. */
  retry?: boolean;
}

/**
 * What `createDataverseClient` returns. `stats` and `concurrency` change as requests go out: read
 * them when needed, do not copy them.
 */
export interface DataverseClient {
  /** `<environment origin>/api/data/v9.2/`. */
  readonly apiRoot: string;
  readonly stats: Stats;
  /** Rows per page this client asks for (the service's maximum is 5,000). */
  readonly pageSize: number;
  /** Requests this client lets in flight right now (x-ms-dop-hint, capped at 52). */
  readonly concurrency: number;
  request(method: string, path: string, opts?: RequestOptions): Promise<Resp>;
  getJson<T>(path: string): Promise<T>;
  forEachPage<T>(path: string, onPage: (rows: T[], total: number) => void): Promise<number>;
  getAll<T>(path: string): Promise<T[]>;
  forEachPagePartitioned<T>(path: string, primaryId: string, boundaries: string[], onPage: (rows: T[], total: number) => void): Promise<number>;
  supportsMessage(t: Pick<TableRef, "logicalName">, message: string): Promise<boolean | undefined>;
  createMany(t: TableRef, records: RecordSource, progress?: string): Promise<WriteResult>;
  updateMany(t: TableRef, records: RecordSource, progress?: string): Promise<WriteResult>;
  deleteMany(t: TableRef, ids: string[], progress?: string, written?: (i: number) => void): Promise<WriteResult>;
  batch(ops: BatchOp[], changeSetSize?: number): Promise<OpResult[]>;
}

/** The service's concurrent-request limit per user and web server ("Service protection API limits"). */
const HARD_MAX_CONCURRENCY = 52;
const DEFAULT_CONCURRENCY = 16;
/** SdkEntityDoesNotSupportMessage ("Web service error codes"). */
const NOT_SUPPORTED_CODE = "0x80040800";
/** Smallest chunk worth a request of its own (per-request latency dominates below it). */
const MIN_CHUNK = 50;
/** Rows in the first bulk call to a table not known to support the message. */
const BULK_PROBE_ROWS = 10;

/**
 * A bulk message the table does not support. Reported messages: "The 'CreateMultiple' method does
 * not support entities of type 'queue'" and "UpsertMultiple is not enabled on the entity team".
 */
function isNotSupported(e: { code?: string; message?: string }): boolean {
  return e.code?.toLowerCase() === NOT_SUPPORTED_CODE || /does not support entities of type|is not enabled on the entity/i.test(e.message ?? "");
}
const HARD_MAX_BATCH = 1000;

/** `{"Targets":[...]}` of a CreateMultiple/UpdateMultiple request, as bytes. */
function bulkBody(logicalName: string, idx: number[], get: (i: number) => Record<string, unknown>): Buffer {
  const type = `Microsoft.Dynamics.CRM.${logicalName}`;
  const parts: string[] = [];
  for (const i of idx) parts.push(JSON.stringify({ "@odata.type": type, ...get(i) }));
  return Buffer.from(`{"Targets":[${parts.join(",")}]}`, "utf8");
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function errorOf(data: unknown): { code?: string; message?: string } {
  const e = (data as { error?: { code?: string; message?: string } } | undefined)?.error;
  return { code: e?.code, message: e?.message };
}

/** Parse Retry-After: seconds (fractions accepted) or an HTTP date. */
export function parseRetryAfter(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const n = Number(v);
  if (Number.isFinite(n) && n >= 0) return n * 1000;
  const d = Date.parse(v);
  return Number.isFinite(d) ? Math.max(0, d - Date.now()) : undefined;
}

/**
 * A client for one environment. Its state (the concurrency gate, the Retry-After pause, what each
 * table supports, the chunk-size estimates) lives in this closure and is shared by every call made
 * through the returned object, so build one client per provider call and pass it around.
 */
export function createDataverseClient(options: ClientOptions): DataverseClient {
  const url = new URL(options.environmentUrl);
  const budget = options.requestBudgetMs ?? 120_000;
  const o: Required<Omit<ClientOptions, "getToken" | "log">> & Pick<ClientOptions, "log"> = {
    environmentUrl: url.origin,
    maxConcurrency: Math.max(1, Math.min(HARD_MAX_CONCURRENCY, options.maxConcurrency ?? HARD_MAX_CONCURRENCY)),
    initialConcurrency: Math.max(1, options.initialConcurrency ?? DEFAULT_CONCURRENCY),
    maxRetries: options.maxRetries ?? 5,
    max429Retries: options.max429Retries ?? 30,
    retryBaseMs: options.retryBaseMs ?? 500,
    retryMaxMs: options.retryMaxMs ?? 30_000,
    maxRetryAfterMs: options.maxRetryAfterMs ?? 300_000,
    pageSize: Math.min(5000, options.pageSize ?? 5000),
    maxBatchSize: Math.min(HARD_MAX_BATCH, options.maxBatchSize ?? HARD_MAX_BATCH),
    changeSetSize: options.changeSetSize ?? 100,
    requestBudgetMs: budget,
    timeoutMs: options.timeoutMs ?? budget + 10_000,
    log: options.log,
  };
  const apiRoot = `${url.origin}/api/data/v9.2/`;
  const stats: Stats = { requests: 0, throttled: 0, retries: 0, writeRequests: 0, bulkRejected: 0 };
  const tokens: TokenSource = options.getToken ? tokenSourceOf(options.getToken) : defaultTokenSource(url.origin);
  let inFlight = 0;
  const waiters: (() => void)[] = [];
  let limit = Math.min(o.maxConcurrency, o.initialConcurrency);
  let pausedUntil = 0;
  let consecutive429 = 0;
  /** `<table>:<message>` → whether the table supports it (one sdkmessagefilters query each). */
  const bulkSupport = new Map<string, Promise<boolean | undefined>>();
  /** `<table>:<message>` pairs a bulk call has succeeded for in this client. */
  const bulkConfirmed = new Set<string>();
  const msPerRow = new Map<string, number>();
  // Lazy requires: this module is loaded inside serialized provider methods.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const axios = require("axios") as typeof import("axios");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const httpMod = require(url.protocol === "https:" ? "https" : "http") as typeof import("https");
  const http: AxiosInstance = axios.create({
    baseURL: apiRoot,
    timeout: o.timeoutMs,
    validateStatus: () => true,
    transformResponse: [(d: unknown) => d],
    // Bodies are already JSON text; axios' default transform would re-parse them to "validate".
    transformRequest: [(d: unknown) => d],
    responseType: "text",
    maxBodyLength: Infinity,
    maxContentLength: Infinity,
    httpAgent: url.protocol === "http:" ? new httpMod.Agent({ keepAlive: true, maxSockets: HARD_MAX_CONCURRENCY }) : undefined,
    httpsAgent: url.protocol === "https:" ? new httpMod.Agent({ keepAlive: true, maxSockets: HARD_MAX_CONCURRENCY }) : undefined,
  });

  function log(level: "info" | "warn" | "debug", msg: string): void {
    o.log?.(level, msg);
  }

  // ---- concurrency gate ------------------------------------------------------------------------

  async function acquire(): Promise<void> {
    while (inFlight >= limit) await new Promise<void>((r) => waiters.push(r));
    inFlight++;
  }

  function release(): void {
    inFlight--;
    const w = waiters.shift();
    if (w) w();
  }

  function applyDopHint(h: string | undefined): void {
    const n = Number(h);
    if (Number.isInteger(n) && n > 0) {
      const next = Math.max(1, Math.min(o.maxConcurrency, n));
      if (next !== limit) {
        log("debug", `x-ms-dop-hint ${n}: parallelism ${limit} -> ${next}`);
        limit = next;
        // wake waiters in case the limit went up
        for (const w of waiters.splice(0)) w();
      }
    }
  }

  // ---- one request, with retries ---------------------------------------------------------------

  /** Resolve when no Retry-After pause is in force (a pause may be extended while waiting). */
  async function waitOutPause(): Promise<void> {
    for (let wait = pausedUntil - Date.now(); wait > 0; wait = pausedUntil - Date.now()) await sleep(wait);
  }

  /**
   * Send one request. 429 is always retried after Retry-After. 5xx and network errors are retried
   * with backoff when `retry` (default true; every request this client sends is idempotent or made
   * so by client-chosen ids). 401/403 throw an AuthError (auth.ts) and are never retried.
   */
  async function request(method: string, path: string, opts: RequestOptions = {}): Promise<Resp> {
    const retry = opts.retry ?? true;
    let attempt = 0;
    let throttles = 0;
    for (;;) {
      await waitOutPause();
      await acquire();
      let res: AxiosResponse<string> | undefined;
      let netErr: string | undefined;
      let token = "";
      let started = Date.now();
      try {
        token = await tokens.getToken();
        // A 429 may have arrived while this request waited for its slot or its token. Checked
        // again here, with nothing asynchronous between this check and the send.
        await waitOutPause();
        const headers: Record<string, string> = {
          Authorization: `Bearer ${token}`,
          Accept: "application/json",
          "OData-MaxVersion": "4.0",
          "OData-Version": "4.0",
          ...opts.headers,
        };
        let data: string | Buffer | undefined = opts.rawBody;
        if (opts.body !== undefined) {
          data = JSON.stringify(opts.body);
          headers["Content-Type"] = "application/json; charset=utf-8";
        }
        stats.requests++;
        started = Date.now();
        res = await http.request<string>({ method, url: path, data, headers });
      } catch (e) {
        if (isDataverseError(e)) {
          release(); // the token source failed: not a network error, nothing to retry
          throw e;
        }
        const err = e as { code?: string; message?: string };
        netErr = `${err.code ?? "network error"}${err.message ? `: ${err.message}` : ""}`;
      }
      const elapsed = Date.now() - started;
      if (!res) {
        release();
        if (retry && attempt < o.maxRetries) {
          attempt++;
          stats.retries++;
          const ms = backoff(attempt);
          log("warn", `${method} ${describe(path)}: ${netErr} after ${elapsed} ms; retry ${attempt}/${o.maxRetries} in ${ms} ms`);
          await sleep(ms);
          continue;
        }
        throw new DataverseError(`${method} ${describe(path)}: ${netErr}`, 0, /timeout|ECONNABORTED|ETIMEDOUT/i.test(netErr ?? "") ? "timeout" : "network");
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers ?? {})) if (typeof v === "string") headers[k.toLowerCase()] = v;
      const text = typeof res.data === "string" ? res.data : "";
      let data: unknown = undefined;
      if (text && /json/i.test(headers["content-type"] ?? "")) {
        try {
          data = JSON.parse(text);
        } catch {
          data = undefined;
        }
      }
      if (res.status === 429) {
        stats.throttled++;
        consecutive429++;
        throttles++;
        const ra = parseRetryAfter(headers["retry-after"]);
        // The service's wait grows if a client keeps sending; back off more on repeated 429s.
        const ms = ra ?? Math.min(o.maxRetryAfterMs, backoff(consecutive429));
        if (ms > o.maxRetryAfterMs) {
          // Sending before Retry-After ends would only extend it: stop instead.
          pausedUntil = Math.max(pausedUntil, Date.now() + ms);
          release();
          throw new DataverseError(`${method} ${describe(path)}: throttled (${errorOf(data).code ?? "429"}); Dataverse asks to wait ${(ms / 1000).toFixed(0)} s, more than the ${(o.maxRetryAfterMs / 1000).toFixed(0)} s this run may wait (DATAVERSE_SYNC_MAX_RETRY_AFTER_MS); run again later`, 429, errorOf(data).code);
        }
        // Pause everyone *before* this request frees its slot, so no queued request slips out.
        pausedUntil = Math.max(pausedUntil, Date.now() + ms);
        release();
        if (throttles > o.max429Retries) {
          throw new DataverseError(`${method} ${describe(path)}: still throttled (429) after ${o.max429Retries} retries`, 429, errorOf(data).code);
        }
        log("info", `throttled by Dataverse (${errorOf(data).code ?? "429"}); waiting ${(ms / 1000).toFixed(1)} s as Retry-After says`);
        continue;
      }
      release();
      applyDopHint(headers["x-ms-dop-hint"]);
      consecutive429 = 0;
      if (res.status === 401 || res.status === 403) {
        const e = errorOf(data);
        throw authError({
          environmentUrl: o.environmentUrl,
          status: res.status,
          code: e.code,
          serviceMessage: e.message ?? (text.trim() ? text.trim().slice(0, 300) : undefined),
          challenge: headers["www-authenticate"],
          tokenSource: tokens.describe(),
          token,
          what: `${method} ${describe(path)}`,
        });
      }
      if (res.status >= 500 && retry && attempt < o.maxRetries) {
        attempt++;
        stats.retries++;
        const ms = backoff(attempt);
        log("warn", `${method} ${describe(path)}: HTTP ${res.status}; retry ${attempt}/${o.maxRetries} in ${ms} ms`);
        await sleep(ms);
        continue;
      }
      // Keep the raw text only when it was not parsed (multipart $batch answers, non-JSON errors):
      // ten 5,000-row pages in flight would otherwise be held twice.
      return { status: res.status, headers, data, text: data === undefined ? text : "" };
    }
  }

  function backoff(attempt: number): number {
    const base = Math.min(o.retryMaxMs, o.retryBaseMs * 2 ** (attempt - 1));
    return Math.round(base / 2 + Math.random() * (base / 2));
  }

  /** Path for messages: no query string (filters can be long). */
  function describe(path: string): string {
    const p = path.startsWith("http") ? new URL(path).pathname : path;
    return p.split("?")[0];
  }

  function fail(method: string, path: string, r: Resp): never {
    const e = errorOf(r.data);
    throw new DataverseError(`${method} ${describe(path)}: HTTP ${r.status}${e.code ? ` ${e.code}` : ""}: ${e.message ?? (r.text || (JSON.stringify(r.data) ?? "")).slice(0, 300)}`, r.status, e.code);
  }

  async function getJson<T>(path: string): Promise<T> {
    const r = await request("GET", path);
    if (r.status !== 200) fail("GET", path, r);
    return r.data as T;
  }

  /** GET a collection, following @odata.nextLink unmodified; each page is handed over and dropped. */
  async function forEachPage<T>(path: string, onPage: (rows: T[], total: number) => void): Promise<number> {
    let total = 0;
    let next: string | undefined = path;
    while (next) {
      const r = await request("GET", next, { headers: { Prefer: `odata.maxpagesize=${o.pageSize}` } });
      if (r.status !== 200) fail("GET", next, r);
      const body = r.data as { value?: T[]; "@odata.nextLink"?: string };
      if (!Array.isArray(body?.value)) throw new DataverseError(`GET ${describe(next)}: response has no value array`, r.status);
      total += body.value.length;
      onPage(body.value, total);
      next = body["@odata.nextLink"];
    }
    return total;
  }

  /** GET a whole collection. */
  async function getAll<T>(path: string): Promise<T[]> {
    const out: T[] = [];
    await forEachPage<T>(path, (rows) => {
      for (const v of rows) out.push(v);
    });
    return out;
  }

  /**
   * GET a collection split into primary-key ranges (partition.ts), the ranges read in parallel and
   * each page handed over as it arrives. A service that refuses the range filter answers 400 to
   * the first request of every range, before any page was handed over: the read then goes page
   * by page, and costs no duplicate row.
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
      log("info", `${describe(path)}: key-range read refused (${e.message}); reading page by page`);
      return forEachPage(path, onPage);
    }
    throw e;
  }

  // ---- bulk-message support ---------------------------------------------------------------------

  /**
   * Whether `table` supports `message` (CreateMultiple, UpdateMultiple), asked once per client with
   * the query Microsoft documents ("Use bulk operation messages", Availability with standard
   * tables). `undefined` when the query itself failed (e.g. no read privilege on
   * sdkmessagefilter): the first bulk call then tells.
   */
  function supportsMessage(t: Pick<TableRef, "logicalName">, message: string): Promise<boolean | undefined> {
    const key = `${t.logicalName}:${message}`;
    let p = bulkSupport.get(key);
    if (!p) {
      const q =
        `sdkmessagefilters?$select=sdkmessagefilterid&$filter=${encodeURIComponent("sdkmessageid/name eq @message and primaryobjecttypecode eq @table")}` +
        `&@message=${encodeURIComponent(`'${message}'`)}&@table=${encodeURIComponent(`'${t.logicalName}'`)}`;
      p = getJson<{ value?: unknown[] }>(q).then(
        (r) => Array.isArray(r?.value) && r.value.length > 0,
        (e: Error) => {
          log("warn", `could not ask Dataverse whether ${t.logicalName} supports ${message} (${e.message.split("\n")[0]}); trying it once`);
          return undefined;
        },
      );
      bulkSupport.set(key, p);
    }
    return p;
  }

  function markBulk(t: TableRef, message: string, supported: boolean): void {
    bulkSupport.set(`${t.logicalName}:${message}`, Promise.resolve(supported));
  }

  // ---- bulk writes ------------------------------------------------------------------------------

  function chunkSize(key: string): number {
    const ms = msPerRow.get(key);
    if (!ms) return o.maxBatchSize;
    const target = o.requestBudgetMs / 4;
    return Math.max(1, Math.min(o.maxBatchSize, Math.floor(target / ms)));
  }

  function observe(key: string, rows: number, elapsed: number): void {
    const per = Math.max(0.001, elapsed / Math.max(1, rows));
    const prev = msPerRow.get(key);
    msPerRow.set(key, prev === undefined ? per : prev * 0.7 + per * 0.3);
  }

  /**
   * Run rows `from..total-1` through `send` in chunks, as many at a time as the service allows.
   * Each chunk takes its share of what is left (remaining ÷ parallel requests, within the
   * two-minute budget and 1000 rows), so every slot stays busy until the end and the last
   * requests finish together instead of one long request finishing alone. A chunk that times out
   * is split in half and re-queued (and the estimate raised), so one slow batch does not sink the run.
   */
  async function chunked(key: string, total: number, send: (idx: number[]) => Promise<void>, progress: string, from = 0): Promise<void> {
    const queue: number[][] = [];
    let pos = from;
    let done = from;
    let lastLog = 0;
    const parallel = Math.max(1, limit);
    // The first wave splits the rows evenly over the slots; later takes (a slot freed while the
    // others are still busy) take their share of what is left, so the tail stays spread out.
    const firstWave = Math.ceil((total - from) / parallel);
    let taken = 0;
    // After a failure no new chunk starts, and the error is thrown once the chunks in flight have
    // settled, so what the caller reads back afterwards is what was written.
    let failure: { e: unknown } | undefined;
    const take = (): number[] | undefined => {
      if (failure) return undefined;
      const q = queue.shift();
      if (q) return q;
      if (pos >= total) return undefined;
      const budget = chunkSize(key);
      const share = taken++ < parallel ? firstWave : Math.ceil((total - pos) / parallel);
      const n = Math.min(budget, Math.max(Math.min(MIN_CHUNK, budget), share));
      const idx = Array.from({ length: Math.min(n, total - pos) }, (_, i) => pos + i);
      pos += idx.length;
      return idx;
    };
    const worker = async () => {
      for (let idx = take(); idx; idx = take()) {
        const t0 = Date.now();
        try {
          await send(idx);
          observe(key, idx.length, Date.now() - t0);
          done += idx.length;
          if (progress && (done === total || Date.now() - lastLog > 2000)) {
            lastLog = Date.now();
            log("info", `${progress}: ${done}/${total} rows`);
          }
        } catch (e) {
          if (isDataverseError(e) && e.code === "timeout" && idx.length > 1) {
            msPerRow.set(key, Math.max(msPerRow.get(key) ?? 0, (Date.now() - t0) / idx.length) * 2);
            const half = Math.ceil(idx.length / 2);
            queue.push(idx.slice(0, half), idx.slice(half));
            log("warn", `${progress}: a request of ${idx.length} rows timed out; splitting`);
            continue;
          }
          failure ??= { e };
        }
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    if (failure) throw failure.e;
  }

  /**
   * Create rows (each with its primary id set by the caller, so a retried create cannot
   * duplicate). `records` may be a function building row i on demand, so 50,000 request bodies
   * never exist at once.
   */
  async function createMany(t: TableRef, records: RecordSource, progress = ""): Promise<WriteResult> {
    return writeMany(t, "create", records, progress);
  }

  /** Update rows (each with its primary id); never creates (If-Match: * in $batch). */
  async function updateMany(t: TableRef, records: RecordSource, progress = ""): Promise<WriteResult> {
    return writeMany(t, "update", records, progress);
  }

  async function deleteMany(t: TableRef, ids: string[], progress = "", written?: (i: number) => void): Promise<WriteResult> {
    const result: WriteResult = { failures: [], uncertain: [] };
    await chunked(`${t.entitySet}:delete`, ids.length, async (idx) => {
      const ops: BatchOp[] = idx.map((i) => ({ method: "DELETE", path: `${t.entitySet}(${ids[i]})` }));
      const res = await batch(ops);
      res.forEach((r, j) => {
        if (r.status === 204 || r.status === 404) return written?.(idx[j]); // 404: already gone
        result.failures.push({ index: idx[j], status: r.status, code: errorOf(r.body).code, message: errorOf(r.body).message ?? `HTTP ${r.status}` });
      });
    }, progress);
    return result;
  }

  async function writeMany(t: TableRef, mode: "create" | "update", source: RecordSource, progress: string): Promise<WriteResult> {
    const result: WriteResult = { failures: [], uncertain: [] };
    const action = mode === "create" ? "CreateMultiple" : "UpdateMultiple";
    const count = Array.isArray(source) ? source.length : source.count;
    const get = Array.isArray(source) ? (i: number) => source[i] : source.get;
    const written = Array.isArray(source) ? undefined : source.written;
    if (count === 0) return result;
    // Bulk until the table is known not to support the message. A table the sdkmessagefilters
    // query could not vouch for gets one small probe first, so a refusal costs one call, not one
    // per parallel request.
    let bulk = (await supportsMessage(t, action)) !== false;
    const sendChunk = async (idx: number[]) => {
      if (bulk) {
        const path = `${t.entitySet}/Microsoft.Dynamics.CRM.${action}`;
        stats.writeRequests++;
        let r: Resp;
        try {
          // Encoded before the request: only the bytes stay alive while it is in flight, not up to
          // 1,000 row objects and their JSON text per request (52 requests at once).
          r = await request("POST", path, { rawBody: bulkBody(t.logicalName, idx, get), headers: { "Content-Type": "application/json; charset=utf-8" } });
        } catch (e) {
          if (mode === "create" && isDataverseError(e) && e.status === 0 && e.code !== "timeout") {
            result.uncertain.push(...idx);
            return;
          }
          throw e;
        }
        if (r.status === 200 || r.status === 204) {
          bulkConfirmed.add(`${t.logicalName}:${action}`);
          if (written) for (const i of idx) written(i);
          return;
        }
        const err = errorOf(r.data);
        if (isNotSupported(err)) {
          // Dataverse answers an unsupported table with 0x80040800 (SdkEntityDoesNotSupportMessage),
          // not with a 404: the action is bound to Collection(crmbaseentity) and always resolves.
          bulk = false;
          markBulk(t, action, false);
          stats.bulkRejected++;
          log("info", `${t.logicalName} does not support ${action} (${err.code ?? r.status}: ${err.message ?? ""}); using $batch`);
        } else if (mode === "create" && r.status === 412) {
          // Bulk messages are atomic: a duplicate of one of our client-chosen ids means an earlier
          // (retried) attempt committed, or someone created it meanwhile. Re-check next pass.
          result.uncertain.push(...idx);
          return;
        } else if (r.status >= 400 && r.status < 500 && idx.length > 1) {
          // A data error in one row fails the whole (atomic) request: isolate it through $batch.
          log("warn", `${action} of ${idx.length} rows failed (HTTP ${r.status}: ${err.message ?? ""}); retrying them one by one to isolate the failing rows`);
        } else {
          fail("POST", path, r);
        }
      }
      const ops: BatchOp[] = idx.map((i) => {
        const rec = get(i);
        const id = String(rec[t.primaryId]);
        if (mode === "create") return { method: "POST", path: t.entitySet, body: rec };
        const { [t.primaryId]: _omit, ...rest } = rec;
        return { method: "PATCH", path: `${t.entitySet}(${id})`, body: rest, headers: { "If-Match": "*" } };
      });
      const res = await batch(ops);
      res.forEach((r, j) => {
        if (r.status >= 200 && r.status < 300) return written?.(idx[j]);
        if (mode === "create" && r.status === 412) {
          result.uncertain.push(idx[j]);
          return;
        }
        result.failures.push({ index: idx[j], status: r.status, code: errorOf(r.body).code, message: errorOf(r.body).message ?? `HTTP ${r.status}` });
      });
    };
    let from = 0;
    if (bulk && !bulkConfirmed.has(`${t.logicalName}:${action}`) && count > BULK_PROBE_ROWS) {
      await sendChunk(Array.from({ length: BULK_PROBE_ROWS }, (_, i) => i));
      from = BULK_PROBE_ROWS;
    }
    await chunked(`${t.entitySet}:${mode}`, count, sendChunk, progress, from);
    return result;
  }

  /**
   * Send ops as one or more `$batch` requests (≤ 1000 ops each) with change sets and
   * continue-on-error. Change sets that were rolled back are re-run one op per change set to
   * isolate the failing op; ops that failed transiently (5xx, 429 inside the batch, not executed)
   * are retried a bounded number of times.
   */
  async function batch(ops: BatchOp[], changeSetSize = o.changeSetSize): Promise<OpResult[]> {
    const results: OpResult[] = new Array(ops.length);
    let pending = ops.map((_, i) => i);
    let size = changeSetSize;
    for (let round = 0; pending.length > 0; round++) {
      const next: number[] = [];
      for (let start = 0; start < pending.length; start += HARD_MAX_BATCH) {
        const idx = pending.slice(start, start + HARD_MAX_BATCH);
        const { contentType, body, units } = buildBatch(apiRoot, idx.map((i) => ops[i]), size);
        stats.writeRequests++;
        const r = await request("POST", "$batch", { rawBody: Buffer.from(body, "utf8"), headers: { "Content-Type": contentType, Prefer: "odata.continue-on-error" } });
        if (r.status !== 200) fail("POST", "$batch", r);
        const parsed = parseBatchResponse(r.headers["content-type"] ?? "", r.text, units, idx.length);
        parsed.forEach((p, j) => {
          const i = idx[j];
          const transient = p.status === 0 || p.status === 429 || p.status >= 500;
          if ((p.rolledBack || transient) && round < o.maxRetries) next.push(i);
          else results[i] = p;
        });
      }
      if (next.length > 0) {
        stats.retries++;
        await sleep(backoff(round + 1));
      }
      pending = next;
      size = 1; // isolate on re-runs
    }
    return results;
  }

  return {
    apiRoot,
    stats,
    pageSize: o.pageSize,
    get concurrency() {
      return limit;
    },
    request,
    getJson,
    forEachPage,
    getAll,
    forEachPagePartitioned,
    supportsMessage,
    createMany,
    updateMany,
    deleteMany,
    batch,
  };
}
