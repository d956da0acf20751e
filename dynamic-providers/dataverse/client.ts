/**
 * A small Dataverse Web API client for bulk synchronisation.
 *
 * - Token: `DATAVERSE_ACCESS_TOKEN` when set, else `@azure/identity` DefaultAzureCredential with
 *   scope `<env url>/.default` (cached until 5 minutes before expiry). The token only ever lives in
 *   the Authorization header: errors are re-thrown as DataverseError built from status, code,
 *   method and path, never from axios errors (whose config carries the header).
 * - OData headers on every request; paging with `Prefer: odata.maxpagesize` following
 *   `@odata.nextLink` unmodified.
 * - Writes: `CreateMultiple` / `UpdateMultiple` where the table supports them (detected on first
 *   use: a 404 for the action segment falls back to `$batch` for that table from then on), else
 *   `$batch` with change sets; at most 1000 operations per request; the chunk size adapts so a
 *   request stays well inside the two-minute budget (EWMA of ms per row; halved on a timeout).
 * - Service protection: a 429 pauses *all* requests of this client for `Retry-After` (a second
 *   429 grows the wait); never more than 52 requests in flight, fewer when the service sends
 *   `x-ms-dop-hint`; bounded exponential backoff with jitter on 5xx and network errors.
 *
 * Why not `dynamics-web-api`: it has batch and paging, but by design no 429/Retry-After handling,
 * no concurrency gate and no CreateMultiple fallback logic; with those three being most of the
 * work here, wrapping it would add a dependency without removing code. axios is already a
 * dependency of this project.
 */
import type { AxiosInstance, AxiosResponse } from "axios";
import { BatchOp, OpResult, buildBatch, parseBatchResponse } from "./batch";

export type LogFn = (level: "info" | "warn" | "debug", message: string) => void;

export interface ClientOptions {
  environmentUrl: string;
  /** Token source; default: DATAVERSE_ACCESS_TOKEN, else DefaultAzureCredential. */
  getToken?: () => Promise<string>;
  /** Upper bound on requests in flight (hard cap 52; lowered by x-ms-dop-hint). Default 16. */
  maxConcurrency?: number;
  /** Retries on 5xx / network errors. Default 5. */
  maxRetries?: number;
  /** Retries on 429. Default 30. */
  max429Retries?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Cap on a single Retry-After wait. Default 5 minutes. */
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

export type RecordSource = Record<string, unknown>[] | { count: number; get: (i: number) => Record<string, unknown> };

export interface TableRef {
  logicalName: string;
  entitySet: string;
  primaryId: string;
}

interface Resp {
  status: number;
  headers: Record<string, string>;
  data: unknown;
  text: string;
}

const HARD_MAX_CONCURRENCY = 52;
const HARD_MAX_BATCH = 1000;

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

export function defaultTokenSource(environmentUrl: string): () => Promise<string> {
  let cached: { token: string; expires: number } | undefined;
  return async () => {
    const fromEnv = process.env.DATAVERSE_ACCESS_TOKEN;
    if (fromEnv) return fromEnv;
    if (cached && cached.expires - Date.now() > 5 * 60_000) return cached.token;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { DefaultAzureCredential } = require("@azure/identity") as typeof import("@azure/identity");
    const scope = `${new URL(environmentUrl).origin}/.default`;
    const t = await new DefaultAzureCredential().getToken(scope);
    if (!t) throw new DataverseError(`could not get a token for ${scope} (DefaultAzureCredential)`, 401);
    cached = { token: t.token, expires: t.expiresOnTimestamp };
    return t.token;
  };
}

export class DataverseClient {
  // No field initializers in this class: Pulumi's closure serializer rebuilds a class from its
  // constructor and drops ES class-field initializers, so every field is set in the constructor.
  readonly apiRoot: string;
  readonly stats: Stats;
  private readonly o: Required<Omit<ClientOptions, "getToken" | "log">> & Pick<ClientOptions, "log">;
  private readonly getToken: () => Promise<string>;
  private readonly http: AxiosInstance;
  private inFlight: number;
  private waiters: (() => void)[];
  private limit: number;
  private pausedUntil: number;
  private consecutive429: number;
  private noBulk: Set<string>;
  private msPerRow: Map<string, number>;

  constructor(options: ClientOptions) {
    this.stats = { requests: 0, throttled: 0, retries: 0, writeRequests: 0 };
    this.inFlight = 0;
    this.waiters = [];
    this.pausedUntil = 0;
    this.consecutive429 = 0;
    this.noBulk = new Set<string>();
    this.msPerRow = new Map<string, number>();
    const url = new URL(options.environmentUrl);
    const budget = options.requestBudgetMs ?? 120_000;
    this.o = {
      environmentUrl: url.origin,
      maxConcurrency: Math.min(HARD_MAX_CONCURRENCY, options.maxConcurrency ?? 16),
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
    this.limit = this.o.maxConcurrency;
    this.apiRoot = `${url.origin}/api/data/v9.2/`;
    this.getToken = options.getToken ?? defaultTokenSource(url.origin);
    // Lazy requires: this module is loaded inside serialized provider methods.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const axios = require("axios") as typeof import("axios");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const httpMod = require(url.protocol === "https:" ? "https" : "http") as typeof import("https");
    this.http = axios.create({
      baseURL: this.apiRoot,
      timeout: this.o.timeoutMs,
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
  }

  private log(level: "info" | "warn" | "debug", msg: string): void {
    this.o.log?.(level, msg);
  }

  // ---- concurrency gate ------------------------------------------------------------------------

  private async acquire(): Promise<void> {
    while (this.inFlight >= this.limit) await new Promise<void>((r) => this.waiters.push(r));
    this.inFlight++;
  }

  private release(): void {
    this.inFlight--;
    const w = this.waiters.shift();
    if (w) w();
  }

  private applyDopHint(h: string | undefined): void {
    const n = Number(h);
    if (Number.isInteger(n) && n > 0) {
      const next = Math.max(1, Math.min(this.o.maxConcurrency, n));
      if (next !== this.limit) {
        this.log("debug", `x-ms-dop-hint ${n}: parallelism ${this.limit} -> ${next}`);
        this.limit = next;
        // wake waiters in case the limit went up
        for (const w of this.waiters.splice(0)) w();
      }
    }
  }

  // ---- one request, with retries ---------------------------------------------------------------

  /**
   * Send one request. 429 is always retried after Retry-After. 5xx and network errors are retried
   * with backoff when `retry` (default true; every request this client sends is idempotent or made
   * so by client-chosen ids).
   */
  async request(method: string, path: string, opts: { body?: unknown; rawBody?: string; headers?: Record<string, string>; retry?: boolean } = {}): Promise<Resp> {
    const retry = opts.retry ?? true;
    let attempt = 0;
    let throttles = 0;
    for (;;) {
      const wait = this.pausedUntil - Date.now();
      if (wait > 0) await sleep(wait);
      await this.acquire();
      let res: AxiosResponse<string> | undefined;
      let netErr: string | undefined;
      const started = Date.now();
      try {
        const token = await this.getToken();
        const headers: Record<string, string> = {
          Authorization: `Bearer ${token}`,
          Accept: "application/json",
          "OData-MaxVersion": "4.0",
          "OData-Version": "4.0",
          ...opts.headers,
        };
        let data: string | undefined = opts.rawBody;
        if (opts.body !== undefined) {
          data = JSON.stringify(opts.body);
          headers["Content-Type"] = "application/json; charset=utf-8";
        }
        this.stats.requests++;
        res = await this.http.request<string>({ method, url: path, data, headers });
      } catch (e) {
        const err = e as { code?: string; message?: string };
        netErr = `${err.code ?? "network error"}${err.message ? `: ${err.message}` : ""}`;
      } finally {
        this.release();
      }
      const elapsed = Date.now() - started;
      if (res) {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers ?? {})) if (typeof v === "string") headers[k.toLowerCase()] = v;
        this.applyDopHint(headers["x-ms-dop-hint"]);
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
          this.stats.throttled++;
          this.consecutive429++;
          throttles++;
          if (throttles > this.o.max429Retries) {
            throw new DataverseError(`${method} ${this.describe(path)}: still throttled (429) after ${this.o.max429Retries} retries`, 429, errorOf(data).code);
          }
          const ra = parseRetryAfter(headers["retry-after"]);
          // The service's wait grows if a client keeps sending; back off more on repeated 429s.
          const ms = Math.min(this.o.maxRetryAfterMs, ra ?? this.backoff(this.consecutive429));
          this.pausedUntil = Math.max(this.pausedUntil, Date.now() + ms);
          this.log("info", `throttled by Dataverse (${errorOf(data).code ?? "429"}); waiting ${(ms / 1000).toFixed(1)} s as Retry-After says`);
          continue;
        }
        this.consecutive429 = 0;
        if (res.status >= 500 && retry && attempt < this.o.maxRetries) {
          attempt++;
          this.stats.retries++;
          const ms = this.backoff(attempt);
          this.log("warn", `${method} ${this.describe(path)}: HTTP ${res.status}; retry ${attempt}/${this.o.maxRetries} in ${ms} ms`);
          await sleep(ms);
          continue;
        }
        return { status: res.status, headers, data, text };
      }
      if (retry && attempt < this.o.maxRetries) {
        attempt++;
        this.stats.retries++;
        const ms = this.backoff(attempt);
        this.log("warn", `${method} ${this.describe(path)}: ${netErr} after ${elapsed} ms; retry ${attempt}/${this.o.maxRetries} in ${ms} ms`);
        await sleep(ms);
        continue;
      }
      throw new DataverseError(`${method} ${this.describe(path)}: ${netErr}`, 0, /timeout|ECONNABORTED|ETIMEDOUT/i.test(netErr ?? "") ? "timeout" : "network");
    }
  }

  private backoff(attempt: number): number {
    const base = Math.min(this.o.retryMaxMs, this.o.retryBaseMs * 2 ** (attempt - 1));
    return Math.round(base / 2 + Math.random() * (base / 2));
  }

  /** Path for messages: no query string (filters can be long). */
  private describe(path: string): string {
    const p = path.startsWith("http") ? new URL(path).pathname : path;
    return p.split("?")[0];
  }

  private fail(method: string, path: string, r: Resp): never {
    const e = errorOf(r.data);
    throw new DataverseError(`${method} ${this.describe(path)}: HTTP ${r.status}${e.code ? ` ${e.code}` : ""}: ${e.message ?? r.text.slice(0, 300)}`, r.status, e.code);
  }

  async getJson<T>(path: string): Promise<T> {
    const r = await this.request("GET", path);
    if (r.status !== 200) this.fail("GET", path, r);
    return r.data as T;
  }

  /** GET a collection, following @odata.nextLink unmodified; each page is handed over and dropped. */
  async forEachPage<T>(path: string, onPage: (rows: T[], total: number) => void): Promise<number> {
    let total = 0;
    let next: string | undefined = path;
    while (next) {
      const r = await this.request("GET", next, { headers: { Prefer: `odata.maxpagesize=${this.o.pageSize}` } });
      if (r.status !== 200) this.fail("GET", next, r);
      const body = r.data as { value?: T[]; "@odata.nextLink"?: string };
      if (!Array.isArray(body?.value)) throw new DataverseError(`GET ${this.describe(next)}: response has no value array`, r.status);
      total += body.value.length;
      onPage(body.value, total);
      next = body["@odata.nextLink"];
    }
    return total;
  }

  /** GET a whole collection. */
  async getAll<T>(path: string): Promise<T[]> {
    const out: T[] = [];
    await this.forEachPage<T>(path, (rows) => {
      for (const v of rows) out.push(v);
    });
    return out;
  }

  // ---- bulk writes ------------------------------------------------------------------------------

  private chunkSize(key: string): number {
    const ms = this.msPerRow.get(key);
    if (!ms) return this.o.maxBatchSize;
    const target = this.o.requestBudgetMs / 4;
    return Math.max(1, Math.min(this.o.maxBatchSize, Math.floor(target / ms)));
  }

  private observe(key: string, rows: number, elapsed: number): void {
    const per = Math.max(0.001, elapsed / Math.max(1, rows));
    const prev = this.msPerRow.get(key);
    this.msPerRow.set(key, prev === undefined ? per : prev * 0.7 + per * 0.3);
  }

  /**
   * Run `items` through `send` in adaptive chunks, `parallel` chunks at a time. A chunk that times
   * out is split in half and re-queued (and the estimate raised), so one slow batch does not sink
   * the run.
   */
  private async chunked(key: string, total: number, send: (idx: number[]) => Promise<void>, progress: string): Promise<void> {
    const queue: number[][] = [];
    let pos = 0;
    let done = 0;
    let lastLog = 0;
    const take = (): number[] | undefined => {
      const q = queue.shift();
      if (q) return q;
      if (pos >= total) return undefined;
      const n = this.chunkSize(key);
      const idx = Array.from({ length: Math.min(n, total - pos) }, (_, i) => pos + i);
      pos += idx.length;
      return idx;
    };
    const worker = async () => {
      for (let idx = take(); idx; idx = take()) {
        const t0 = Date.now();
        try {
          await send(idx);
          this.observe(key, idx.length, Date.now() - t0);
          done += idx.length;
          if (progress && (done === total || Date.now() - lastLog > 2000)) {
            lastLog = Date.now();
            this.log("info", `${progress}: ${done}/${total} rows`);
          }
        } catch (e) {
          if (isDataverseError(e) && e.code === "timeout" && idx.length > 1) {
            this.msPerRow.set(key, Math.max(this.msPerRow.get(key) ?? 0, (Date.now() - t0) / idx.length) * 2);
            const half = Math.ceil(idx.length / 2);
            queue.push(idx.slice(0, half), idx.slice(half));
            this.log("warn", `${progress}: a request of ${idx.length} rows timed out; splitting`);
            continue;
          }
          throw e;
        }
      }
    };
    const parallel = Math.max(1, Math.min(this.limit, 12));
    await Promise.all(Array.from({ length: parallel }, worker));
  }

  /**
   * Create rows (each with its primary id set by the caller, so a retried create cannot
   * duplicate). `records` may be a function building row i on demand, so 50,000 request bodies
   * never exist at once.
   */
  async createMany(t: TableRef, records: RecordSource, progress = ""): Promise<WriteResult> {
    return this.writeMany(t, "create", records, progress);
  }

  /** Update rows (each with its primary id); never creates (If-Match: * in $batch). */
  async updateMany(t: TableRef, records: RecordSource, progress = ""): Promise<WriteResult> {
    return this.writeMany(t, "update", records, progress);
  }

  async deleteMany(t: TableRef, ids: string[], progress = ""): Promise<WriteResult> {
    const result: WriteResult = { failures: [], uncertain: [] };
    await this.chunked(`${t.entitySet}:delete`, ids.length, async (idx) => {
      const ops: BatchOp[] = idx.map((i) => ({ method: "DELETE", path: `${t.entitySet}(${ids[i]})` }));
      const res = await this.batch(ops);
      res.forEach((r, j) => {
        if (r.status === 204 || r.status === 404) return; // 404: already gone
        result.failures.push({ index: idx[j], status: r.status, code: errorOf(r.body).code, message: errorOf(r.body).message ?? `HTTP ${r.status}` });
      });
    }, progress);
    return result;
  }

  private async writeMany(t: TableRef, mode: "create" | "update", source: RecordSource, progress: string): Promise<WriteResult> {
    const result: WriteResult = { failures: [], uncertain: [] };
    const action = mode === "create" ? "CreateMultiple" : "UpdateMultiple";
    const count = Array.isArray(source) ? source.length : source.count;
    const get = Array.isArray(source) ? (i: number) => source[i] : source.get;
    await this.chunked(`${t.entitySet}:${mode}`, count, async (idx) => {
      if (!this.noBulk.has(t.entitySet)) {
        const targets = idx.map((i) => ({ "@odata.type": `Microsoft.Dynamics.CRM.${t.logicalName}`, ...get(i) }));
        const path = `${t.entitySet}/Microsoft.Dynamics.CRM.${action}`;
        this.stats.writeRequests++;
        let r: Resp;
        try {
          r = await this.request("POST", path, { body: { Targets: targets } });
        } catch (e) {
          if (mode === "create" && isDataverseError(e) && e.status === 0 && e.code !== "timeout") {
            result.uncertain.push(...idx);
            return;
          }
          throw e;
        }
        if (r.status === 200 || r.status === 204) return;
        if (r.status === 404 && /segment|not found for/i.test(errorOf(r.data).message ?? "")) {
          this.noBulk.add(t.entitySet);
          this.log("info", `${t.logicalName} does not support ${action}; using $batch`);
        } else if (mode === "create" && r.status === 412) {
          // Bulk messages are atomic: a duplicate of one of our client-chosen ids means an earlier
          // (retried) attempt committed, or someone created it meanwhile. Re-check next pass.
          result.uncertain.push(...idx);
          return;
        } else if (r.status >= 400 && r.status < 500 && idx.length > 1 && r.status !== 401 && r.status !== 403) {
          // A data error in one row fails the whole (atomic) request: isolate it through $batch.
          this.log("warn", `${action} of ${idx.length} rows failed (HTTP ${r.status}: ${errorOf(r.data).message ?? ""}); retrying them one by one to isolate the failing rows`);
        } else {
          this.fail("POST", path, r);
        }
      }
      const ops: BatchOp[] = idx.map((i) => {
        const rec = get(i);
        const id = String(rec[t.primaryId]);
        if (mode === "create") return { method: "POST", path: t.entitySet, body: rec };
        const { [t.primaryId]: _omit, ...rest } = rec;
        return { method: "PATCH", path: `${t.entitySet}(${id})`, body: rest, headers: { "If-Match": "*" } };
      });
      const res = await this.batch(ops);
      res.forEach((r, j) => {
        if (r.status >= 200 && r.status < 300) return;
        if (mode === "create" && r.status === 412) {
          result.uncertain.push(idx[j]);
          return;
        }
        result.failures.push({ index: idx[j], status: r.status, code: errorOf(r.body).code, message: errorOf(r.body).message ?? `HTTP ${r.status}` });
      });
    }, progress);
    return result;
  }

  /**
   * Send ops as one or more `$batch` requests (≤ 1000 ops each) with change sets and
   * continue-on-error. Change sets that were rolled back are re-run one op per change set to
   * isolate the failing op; ops that failed transiently (5xx, 429 inside the batch, not executed)
   * are retried a bounded number of times.
   */
  async batch(ops: BatchOp[], changeSetSize = this.o.changeSetSize): Promise<OpResult[]> {
    const results: OpResult[] = new Array(ops.length);
    let pending = ops.map((_, i) => i);
    let size = changeSetSize;
    for (let round = 0; pending.length > 0; round++) {
      const next: number[] = [];
      for (let start = 0; start < pending.length; start += HARD_MAX_BATCH) {
        const idx = pending.slice(start, start + HARD_MAX_BATCH);
        const { contentType, body, units } = buildBatch(this.apiRoot, idx.map((i) => ops[i]), size);
        this.stats.writeRequests++;
        const r = await this.request("POST", "$batch", { rawBody: body, headers: { "Content-Type": contentType, Prefer: "odata.continue-on-error" } });
        if (r.status !== 200) this.fail("POST", "$batch", r);
        const parsed = parseBatchResponse(r.headers["content-type"] ?? "", r.text, units, idx.length);
        parsed.forEach((p, j) => {
          const i = idx[j];
          const transient = p.status === 0 || p.status === 429 || p.status >= 500;
          if ((p.rolledBack || transient) && round < this.o.maxRetries) next.push(i);
          else results[i] = p;
        });
      }
      if (next.length > 0) {
        this.stats.retries++;
        await sleep(this.backoff(round + 1));
      }
      pending = next;
      size = 1; // isolate on re-runs
    }
    return results;
  }
}
