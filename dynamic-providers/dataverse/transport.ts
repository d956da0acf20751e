/**
 * The Dataverse client's transport: one request, sent with the shared HTTP helper (../http.ts),
 * with the token, the OData headers and bounded retries.
 *
 * - Where: only to the origin the client was built for, and only when that origin is a host of
 *   its service in ../clouds.ts (or loopback http, the emulators). A URL elsewhere (a follow-up
 *   link, a configured endpoint) is refused before the token is even requested.
 * - How long: each request ends by `timeoutMs` (a trickling answer included) and everything ends
 *   by the operation's deadline (`operationTimeoutMs`, counted from the client's creation: one
 *   client per provider call). A wait that would pass either is refused at once.
 * - Retries: 429 after the pause of pacing.ts (a `Retry-After` beyond `maxRetryAfterMs` fails at
 *   once, naming the wait); 5xx and network errors with backoff, when `retry`. A token source that
 *   fails is never retried. 401/403 become an AuthError naming the service, the token's source and
 *   the audience expected (auth.ts).
 * - Messages: the token never appears. Errors are built from status, code, method and path (never
 *   from a request object, which carries the header), and every message and log line goes
 *   through `redact`, which removes the tokens this client sent and anything token-shaped.
 *
 * Serialized with the providers: state lives in the closure, Node's modules are required when it runs.
 */
import type { ClientOptions, LogFn, RequestOptions, Resp, Stats } from "./client";
import { TokenSource, authError, defaultTokenSource, tokenSourceOf } from "./auth";
import { DataverseError } from "./errors";
import { Pacing, Ticket, createPacing } from "./pacing";
import { SERVICE_LABELS, TokenService, serviceOfUrl, tokenEndpointProblem, tokenScopeFor } from "../clouds";
import { Deadline, HttpAnswer, HttpTarget, backoffMs, createDeadline, createHttpTarget, deadlineMessage, exchange, originProblem, parseRetryAfter, redactSecrets, sleep, waitProblem } from "../http";

/** The service's concurrent-request limit per user and web server ("Service protection API limits"). */
export const HARD_MAX_CONCURRENCY = 52;
const DEFAULT_CONCURRENCY = 16;
/** Operations per `$batch` request and rows per CreateMultiple/UpdateMultiple: the service's maximum. */
export const HARD_MAX_BATCH = 1000;
/** Prefix of the environment variables that tune the client of each service (provider.ts files read them). */
const ENV_PREFIX: Readonly<Record<TokenService, string>> = { dataverse: "DATAVERSE_SYNC_", bap: "POWER_PLATFORM_", powerPlatformApi: "POWER_PLATFORM_", arm: "AZURE_ARM_" };

/** The client's options with every default applied. */
export type Settings = Required<Omit<ClientOptions, "environmentUrl" | "getToken" | "log" | "service">>;

export function resolveSettings(options: ClientOptions): Settings {
  const budget = options.requestBudgetMs ?? 120_000;
  return {
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
    operationTimeoutMs: options.operationTimeoutMs ?? 60 * 60_000,
    // "Service protection API limits": 20 minutes of combined execution time per 5-minute sliding
    // window, per user. The client counts its requests' elapsed time, at least what the service
    // counts, so keeping within the whole limit stays under it.
    executionBudgetMs: options.executionBudgetMs ?? 20 * 60_000,
    executionWindowMs: options.executionWindowMs ?? 5 * 60_000,
  };
}

export interface Transport {
  /** `<origin>/api/data/v9.2/`. */
  readonly apiRoot: string;
  readonly settings: Settings;
  readonly stats: Stats;
  readonly pacing: Pacing;
  /** Settles once a write has left and no request handed over is still leaving (see DataverseClient `writing`). */
  readonly writing: Promise<void>;
  request(method: string, path: string, opts?: RequestOptions): Promise<Resp>;
  /** A DataverseError with a redacted message. */
  error(message: string, status: number, code?: string): DataverseError;
  /** Throw the error for an unexpected answer: status, the service's code and message. */
  fail(method: string, path: string, r: Resp): never;
  /** Refuse `url` unless it is on this client's origin (`what` names where it came from). */
  checkOrigin(url: string, what: string): void;
  /** Log through the client's log, redacted. */
  log(level: "info" | "warn" | "debug", message: string): void;
  redact(text: string): string;
  /** Wait `ms` before a retry; throws when that would pass the operation's deadline. */
  pause(ms: number, what: string): Promise<void>;
  backoff(retry: number): number;
}

/** The service's `{error: {code, message}}`. */
export function errorOf(data: unknown): { code?: string; message?: string } {
  const e = (data as { error?: { code?: string; message?: string } } | undefined)?.error;
  return { code: e?.code, message: e?.message };
}

/** Path for messages: no origin, no query string (filters can be long). */
export function describe(path: string): string {
  const p = /^https?:/i.test(path) ? new URL(path).pathname : path;
  return p.split("?")[0];
}

/** What one request needs from its client. */
interface Context {
  readonly origin: string;
  readonly apiRoot: string;
  readonly service: TokenService;
  readonly settings: Settings;
  readonly stats: Stats;
  readonly pacing: Pacing;
  readonly deadline: Deadline;
  readonly tokens: TokenSource;
  readonly http: HttpTarget;
  /** Why the origin may not receive a token (a host of no known cloud), checked before every request. */
  readonly endpointProblem?: string;
  /** Tokens sent so far: removed from every message. */
  readonly sent: Set<string>;
  readonly userLog?: LogFn;
  /** Called as a request is handed over; the function it returns, once it has left (settles `Transport.writing`). */
  readonly leaving: (write: boolean) => () => void;
}

/**
 * `writing`, and the `leaving` that settles it: once a write has been handed over and no request
 * handed over is still leaving. Hashing the applied rows meanwhile (sync.ts) held back the rest of
 * a burst of writes (a 100-row change is 51 requests; at 10,000 rows 20 ms of hashing in pieces).
 */
function writesLeft(): { writing: Promise<void>; leaving: (write: boolean) => () => void } {
  let settle!: () => void;
  const writing = new Promise<void>((resolve) => (settle = resolve));
  let inTransit = 0;
  let wrote = false;
  // exchange calls what this returns once per request (its onSent).
  const leaving = (write: boolean) => {
    inTransit++;
    wrote ||= write;
    return () => {
      if (--inTransit === 0 && wrote) settle();
    };
  };
  return { writing, leaving };
}

export function createTransport(options: ClientOptions): Transport {
  const { writing, leaving } = writesLeft();
  const c = createContext(options, leaving);
  const t: Transport = {
    apiRoot: c.apiRoot,
    settings: c.settings,
    stats: c.stats,
    pacing: c.pacing,
    writing,
    request: (method, path, opts = {}) => request(c, t, method, path, opts),
    error: (message, status, code) => new DataverseError(t.redact(message), status, code),
    fail(method, path, r) {
      const e = errorOf(r.data);
      const said = e.message ?? (r.text || (JSON.stringify(r.data) ?? "")).slice(0, 300);
      throw t.error(`${method} ${describe(path)}: HTTP ${r.status}${e.code ? ` ${e.code}` : ""}: ${said}`, r.status, e.code);
    },
    checkOrigin(url, what) {
      const problem = originProblem(url, c.apiRoot, what);
      if (problem) throw t.error(problem, 0, "origin");
    },
    log: (level, message) => c.userLog?.(level, t.redact(message)),
    redact: (text) => redactSecrets(text, [...c.sent]),
    async pause(ms, what) {
      const problem = waitProblem(ms, { capMs: Number.POSITIVE_INFINITY, capSetting: "", asked: `${what}: a retry needs`, deadline: c.deadline });
      if (problem) throw t.error(problem, 0, "deadline");
      await sleep(ms);
    },
    backoff: (retry) => Math.round(backoffMs(retry, c.settings.retryBaseMs, c.settings.retryMaxMs)),
  };
  return t;
}

function createContext(options: ClientOptions, leaving: (write: boolean) => () => void): Context {
  const url = new URL(options.environmentUrl);
  const settings = resolveSettings(options);
  const service = options.service ?? serviceOfUrl(url.origin) ?? "dataverse";
  const apiRoot = `${url.origin}/api/data/v9.2/`;
  const endpoint = tokenEndpointProblem(url.origin, service);
  const log = options.log;
  return {
    origin: url.origin,
    apiRoot,
    service,
    settings,
    stats: { requests: 0, throttled: 0, retries: 0, writeRequests: 0, bulkRejected: 0 },
    pacing: createPacing({ ...settings, executionBudgetMs: service === "dataverse" ? settings.executionBudgetMs : Number.POSITIVE_INFINITY, backoff: (n) => Math.round(backoffMs(n, settings.retryBaseMs, settings.retryMaxMs)), log: (level, m) => log?.(level, m) }),
    deadline: createDeadline(settings.operationTimeoutMs, `${ENV_PREFIX[service]}OPERATION_TIMEOUT_MS`),
    tokens: options.getToken ? tokenSourceOf(options.getToken) : defaultTokenSource(url.origin),
    http: createHttpTarget(apiRoot, { maxSockets: HARD_MAX_CONCURRENCY }),
    endpointProblem: endpoint && `${url.origin} ${endpoint}: no token is sent there`,
    sent: new Set<string>(),
    userLog: log,
    leaving,
  };
}

/**
 * Send one request. 429 is always retried after the pause (up to max429Retries). 5xx and network
 * errors are retried with backoff when `retry` (default true; every request this client sends is
 * idempotent or made so by client-chosen ids). 401/403 throw an AuthError and are never retried.
 */
async function request(c: Context, t: Transport, method: string, path: string, opts: RequestOptions): Promise<Resp> {
  const what = `${method} ${describe(path)}`;
  if (c.endpointProblem) throw t.error(`${what}: ${c.endpointProblem}`, 0, "origin");
  t.checkOrigin(path, `the URL of ${what}`);
  const retry = opts.retry ?? true;
  let failures = 0;
  let throttles = 0;
  for (;;) {
    const started = Date.now();
    const { answer, token, ticket } = await sendOnce(c, t, method, path, opts, what);
    if (!answer.ok) {
      c.pacing.release(ticket);
      if (answer.operationExpired) throw t.error(deadlineMessage(c.deadline, what), 0, "deadline");
      if (!(retry && failures < c.settings.maxRetries)) throw t.error(`${what}: ${answer.message}`, 0, answer.timedOut ? "timeout" : "network");
      failures++;
      await retryAfter(c, t, what, `${answer.message} after ${Date.now() - started} ms`, failures);
      continue;
    }
    const resp = toResp(answer);
    if (resp.status === 429) {
      throttled(c, t, resp, what, ++throttles, ticket);
      continue;
    }
    c.pacing.release(ticket);
    c.pacing.applyDopHint(resp.headers["x-ms-dop-hint"]);
    c.pacing.answered();
    if (resp.status === 401 || resp.status === 403) throw refusal(c, t, resp, token, what);
    if (resp.status >= 500 && retry && failures < c.settings.maxRetries) {
      failures++;
      await retryAfter(c, t, what, `HTTP ${resp.status}`, failures);
      continue;
    }
    // Keep the raw text only when it was not parsed (multipart $batch answers, non-JSON errors):
    // ten 5,000-row pages in flight would otherwise be held twice.
    return { ...resp, text: resp.data === undefined ? resp.text : "" };
  }
}

/**
 * One attempt: wait out any pause, take a slot, get the token, check the pause again (a 429 may
 * have come meanwhile; nothing asynchronous between this check and the send), send. Returns
 * holding the slot: the caller frees it, after setting a pause for a 429.
 */
async function sendOnce(c: Context, t: Transport, method: string, path: string, opts: RequestOptions, what: string) {
  await waitOutPause(c, t, what);
  const ticket = await c.pacing.acquire(opts.rows ?? 0, (ms) => waitProblem(ms, { ...waitLimits(c), capMs: Number.POSITIVE_INFINITY }));
  if (typeof ticket === "string") throw t.error(`${what}: paced to the service's execution-time limit; ${ticket}`, 429);
  let token: string;
  try {
    token = await c.tokens.getToken();
    await waitOutPause(c, t, what);
  } catch (e) {
    c.pacing.release(ticket); // a token source that failed is not a network error: nothing to retry
    throw e;
  }
  c.sent.add(token);
  const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0", ...opts.headers };
  let data: string | Buffer | import("stream").Readable | undefined = opts.rawBody;
  if (opts.bodyOf) {
    const bytes = opts.bodyOf();
    headers["Content-Length"] = String(bytes.length);
    data = bytes.length > STREAMED_BODY_BYTES ? sentOnce(bytes) : bytes;
  }
  if (opts.body !== undefined) {
    data = JSON.stringify(opts.body);
    headers["Content-Type"] = "application/json; charset=utf-8";
  }
  c.stats.requests++;
  opts.onSent?.();
  const answer = await exchange(c.http, { method, url: path, body: data, headers, onSent: c.leaving(method !== "GET") }, { timeoutMs: c.settings.timeoutMs, deadline: c.deadline });
  return { answer, token, ticket };
}

/**
 * Bodies above this size go as a stream (sentOnce); smaller ones as bytes, which a fresh process
 * sends ~0.3 ms sooner each (a 100-row change is 51 requests of 2 rows), and whose memory until
 * the answer comes does not count.
 */
const STREAMED_BODY_BYTES = 64 * 1024;

/**
 * The bytes as a stream that holds them only until they are sent: a Buffer body would stay
 * referenced by the request until the answer comes, a stream only until it is read (52 bulk
 * bodies of 500 KB in flight at once).
 */
function sentOnce(bytes: Buffer): import("stream").Readable {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Readable } = require("stream") as typeof import("stream");
  let left: Buffer | undefined = bytes;
  return new Readable({
    read() {
      const chunk = left;
      left = undefined;
      this.push(chunk ?? null);
    },
  });
}

async function waitOutPause(c: Context, t: Transport, what: string): Promise<void> {
  const problem = await c.pacing.waitOutPause((ms) => waitProblem(ms, waitLimits(c)));
  if (problem) throw t.error(`${what}: throttled; ${problem}`, 429);
}

function waitLimits(c: Context) {
  const name = SERVICE_LABELS[c.service];
  return { capMs: c.settings.maxRetryAfterMs, capSetting: `${ENV_PREFIX[c.service]}MAX_RETRY_AFTER_MS`, asked: `${name[0].toUpperCase()}${name.slice(1)} asks`, deadline: c.deadline };
}

/** Headers and body as the client's `Resp`: JSON parsed when the answer says it is JSON. */
function toResp(a: HttpAnswer): Resp {
  let data: unknown = undefined;
  if (a.body && /json/i.test(a.headers["content-type"] ?? "")) {
    try {
      data = JSON.parse(a.body);
    } catch {
      data = undefined;
    }
  }
  return { status: a.status, headers: a.headers, data, text: a.body };
}

async function retryAfter(c: Context, t: Transport, what: string, why: string, failures: number): Promise<void> {
  c.stats.retries++;
  const ms = t.backoff(failures);
  t.log("warn", `${what}: ${why}; retry ${failures}/${c.settings.maxRetries} in ${ms} ms`);
  await t.pause(ms, what);
}

/** A 429: pause every request (before this one frees its slot), or fail when the wait is not allowed. */
function throttled(c: Context, t: Transport, r: Resp, what: string, throttles: number, ticket: Ticket): void {
  c.stats.throttled++;
  const code = errorOf(r.data).code;
  const ms = c.pacing.throttled(parseRetryAfter(r.headers["retry-after"]));
  c.pacing.release(ticket);
  // Sending before Retry-After ends would only extend it: a wait the client may not make ends the run.
  const problem = waitProblem(ms, waitLimits(c));
  if (problem) throw t.error(`${what}: throttled (${code ?? "429"}); ${problem}`, 429, code);
  if (throttles > c.settings.max429Retries) throw t.error(`${what}: still throttled (429) after ${c.settings.max429Retries} retries`, 429, code);
  t.log("info", `throttled by ${SERVICE_LABELS[c.service]} (${code ?? "429"}); waiting ${(ms / 1000).toFixed(1)} s as Retry-After says`);
}

function refusal(c: Context, t: Transport, r: Resp, token: string, what: string): Error {
  const e = errorOf(r.data);
  const text = r.text.trim();
  return authError({
    environmentUrl: c.origin,
    service: c.service,
    scope: tokenScopeFor(c.origin, c.service),
    status: r.status,
    code: e.code,
    serviceMessage: t.redact(e.message ?? (text ? text.slice(0, 300) : "")) || undefined,
    challenge: r.headers["www-authenticate"],
    tokenSource: c.tokens.describe(),
    token,
    what,
  });
}
