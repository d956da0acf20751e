/**
 * A small Dataverse Web API client for bulk synchronisation, built from small pieces each readable
 * on its own:
 *
 * - transport.ts: one request through the shared HTTP helper (../http.ts): the token (auth.ts),
 *   OData headers, deadlines per request and per operation, only to the client's own origin,
 *   retries, auth errors an operator can act on, every message redacted;
 * - pacing.ts: the concurrency gate (`x-ms-dop-hint`, up to 52) and the service-protection pause
 *   after a 429 (`Retry-After`; beyond the cap the run fails at once);
 * - paging.ts: reads, `@odata.nextLink` paging on the same origin, partitioned reads (partition.ts);
 * - writes.ts: `CreateMultiple` / `UpdateMultiple`, `$batch` with change sets (batch.ts), deletes.
 *
 * The same client talks to the Power Platform admin API (power-platform/admin-api.ts) and the
 * Power Platform API: its `request` is the one HTTP path for every Microsoft service here.
 *
 * Serialized with the providers that use it (dynamic-providers/README.md): `createDataverseClient`
 * is called inside provider methods, its state lives in the pieces' closures, packages are required
 * when it runs, and the only classes are Error subclasses.
 *
 * Why not `dynamics-web-api`: it has batch and paging, but by design no 429/Retry-After handling,
 * no concurrency gate and no CreateMultiple fallback logic; with those three being most of the
 * work here, wrapping it would add a dependency without removing code (and the HTTP library it
 * brings: the clients send with Node's own, ../http.ts).
 */
import type { BatchOp, OpResult } from "./batch";
import type { TokenSource } from "./auth";
import type { TokenService } from "../clouds";
import { createReads } from "./paging";
import { createTransport } from "./transport";
import { createWrites } from "./writes";

export { defaultTokenSource } from "./auth";
export { DataverseError, isDataverseError } from "./errors";
export { parseRetryAfter } from "../http";

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
  /** Client-side deadline per request, a trickling answer included. Default requestBudgetMs + 10 s. */
  timeoutMs?: number;
  /**
   * Deadline of everything this client does (one provider call: a whole sync, a link and its
   * polls), from its creation. Default 60 minutes.
   */
  operationTimeoutMs?: number;
  /**
   * Execution time this client's requests may take per `executionWindowMs` (the service allows 20
   * minutes per 5-minute sliding window per user; "Service protection API limits"). Default 20
   * minutes per 5 (elapsed time, which is at least what the service counts); a request that would
   * pass it waits for room instead of being throttled.
   */
  executionBudgetMs?: number;
  executionWindowMs?: number;
  /**
   * The service `environmentUrl` is, for the origin check, the token audience and messages.
   * Default: by its host (clouds.ts), else Dataverse; only the emulators' loopback needs it.
   */
  service?: TokenService;
  log?: LogFn;
}

/** What a provider built on this client lets a test tune: plain data, captured into the serialized closure. */
export interface DataverseDynamicProviderOptions {
  client?: Partial<ClientOptions>;
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
  /**
   * The body, built for each attempt and let go once its bytes are sent, instead of `rawBody`
   * kept until the answer: a 50,000-row create has 52 bulk bodies of 500 KB waiting for answers.
   */
  bodyOf?: () => Buffer;
  headers?: Record<string, string>;
  /** Retry 5xx and network errors (default true); 429 is always waited out and retried. */
  retry?: boolean;
  /** Rows the request writes: its execution time is estimated from them (pacing.ts). */
  rows?: number;
  /** Called as the request leaves, after any pacing wait (writes.ts times the service's work from then). */
  onSent?: () => void;
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
  /**
   * Settles once a write (a request that is not a GET) has left and no request handed over is still
   * leaving: work that can wait for the writes' answers starts then (sync.ts
   * appliedOutputsMeanwhile), not while reads are answered or a burst of writes is handed over.
   */
  readonly writing: Promise<void>;
  request(method: string, path: string, opts?: RequestOptions): Promise<Resp>;
  getJson<T>(path: string): Promise<T>;
  forEachPage<T>(path: string, onPage: (rows: T[], total: number) => void): Promise<number>;
  getAll<T>(path: string): Promise<T[]>;
  forEachPagePartitioned<T>(path: string, primaryId: string, boundaries: string[], onPage: (rows: T[], total: number) => void): Promise<number>;
  supportsMessage(t: Pick<TableRef, "logicalName">, message: string): Promise<boolean | undefined>;
  /** Bulk messages an earlier run confirmed for `t`: used without asking or probing first (writes.ts createBulkSupport `trust`). */
  trustBulk(t: Pick<TableRef, "logicalName">, messages: string[]): void;
  /** The bulk messages a call succeeded with (or trusted) for `t`, and not refused since. */
  bulkConfirmed(t: Pick<TableRef, "logicalName">): string[];
  /** `planRows`: the rows of every write sent alongside (a small plan is spread over every slot, writes.ts minChunkFor). */
  createMany(t: TableRef, records: RecordSource, progress?: string, planRows?: number): Promise<WriteResult>;
  updateMany(t: TableRef, records: RecordSource, progress?: string, planRows?: number): Promise<WriteResult>;
  deleteMany(t: TableRef, ids: string[], progress?: string, written?: (i: number) => void, planRows?: number): Promise<WriteResult>;
  batch(ops: BatchOp[], changeSetSize?: number): Promise<OpResult[]>;
}

/**
 * A client for one environment (or one BAP / Power Platform API host). Its state (the concurrency
 * gate, the Retry-After pause, the operation's deadline, what each table supports, the chunk-size
 * estimates) is shared by every call made through the returned object, so build one client per
 * provider call and pass it around.
 */
export function createDataverseClient(options: ClientOptions): DataverseClient {
  const transport = createTransport(options);
  const reads = createReads(transport);
  const writes = createWrites(transport, reads.getJson);
  return {
    apiRoot: transport.apiRoot,
    stats: transport.stats,
    pageSize: transport.settings.pageSize,
    get concurrency() {
      return transport.pacing.limit;
    },
    writing: transport.writing,
    request: transport.request,
    ...reads,
    ...writes,
  };
}
