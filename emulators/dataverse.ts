/**
 * In-memory emulator of the parts of the Dataverse Web API the mapping sync uses, on 127.0.0.1 and
 * a random port. It follows the documented behaviour (Microsoft's Dataverse Web API documentation:
 * compose-http-requests-handle-errors, query/page-results, execute-batch-operations-using-web-api,
 * bulk-operations, api-limits; summed up in docs/dataverse.md):
 *
 * - metadata: `EntityDefinitions` (collection and by `LogicalName='x'`, `$select`, `$expand` of
 *   `Attributes` and `ManyToOneRelationships`) for the tables in dataverse-schema.ts, labels as
 *   `LocalizedLabels` (every language) and `UserLocalizedLabel` (the caller's language, option
 *   `language`); Customer lookups with one relationship (and navigation property) per target table,
 *   and a bind through the navigation property of another table rejected;
 * - data: GET with `$select`, `$filter` (eq/ne, and/or, parentheses, null), `$expand` of lookups,
 *   `Prefer: odata.maxpagesize` and an opaque `@odata.nextLink`; POST (client-supplied primary key
 *   allowed; duplicate → 412), PATCH (`If-Match: *`), DELETE; lookups written only through
 *   `<nav>@odata.bind` and read as `_<attr>_value`; every row read carries `@odata.etag`, which
 *   changes with every update of the row (PATCH, UpdateMultiple, `update()`), as the ETag of
 *   "Perform conditional operations using the Web API" does;
 * - `CreateMultiple` / `UpdateMultiple` (atomic). A table without them answers 400 with
 *   0x80040800 (SdkEntityDoesNotSupportMessage): the actions are bound to
 *   `Collection(crmbaseentity)`, so the URL always resolves. Which tables support them is
 *   answered by `sdkmessagefilters` with the query "Use bulk operation messages" documents;
 *   `bulkFilterOverrides` makes that answer wrong on purpose;
 * - `$batch` (multipart/mixed, change sets atomic, no GET in change sets, ≤ 1000 operations,
 *   `Prefer: odata.continue-on-error`);
 * - service protection ("Service protection API limits"): more than `maxConcurrent` requests in
 *   flight → 429 0x80072326 at once; more than `quota` requests (a `$batch` counts once)
 *   in a sliding `windowMs` → 429 0x80072322; more than `executionTimeMs` of combined execution
 *   time (the modelled latency) in the window → 429 0x80072321; each with `Retry-After` (seconds;
 *   fractional when the window is sub-second, so tests stay fast). The limits are evaluated on
 *   the requests after the one that crossed them. A request that arrives while a Retry-After it
 *   was given is running gets 429 again and the wait grows ("the duration will be extended");
 *   `x-ms-dop-hint` on every response ("Send parallel requests");
 * - auth: no or unknown bearer token → 401 with an empty body and a `WWW-Authenticate: Bearer
 *   authorization_uri=..., resource_id=<env>/` challenge; a token listed in
 *   `unprovisionedTokens` (valid in the tenant, no application user) → 403 0x80072560 "The user is
 *   not a member of the organization.";
 * - `requestLog`: every API request with its arrival and response times and status, so a test can
 *   check that nothing arrived during a Retry-After pause;
 * - latency: `latencyPerRequestMs + rows * latencyPerRowMs` from a request's arrival to its response
 *   (requests are worked on side by side, as the service's web servers do): this single thread
 *   takes in requests made together before working on them, works on one request a turn of the
 *   event loop and sends each answer when it is due, so its own work on others does not add to a
 *   request's time unless the thread is behind;
 * - reads in primary-key order: pages follow the key (SQL Server's uniqueidentifier order), a
 *   key range or a list of ids is looked up by it, not scanned for ("Page results");
 * - faults: `fault({ kind, times, match })` with kinds `5xx`, `drop` (socket closed before the
 *   request is processed), `dropAfterCommit` (processed, then the socket is closed), `batchPart`
 *   (a $batch operation fails with 500), `429`, `revoke` (the token is revoked as the request
 *   arrives: it and every later request get the 401 of an unusable token).
 *
 * It rejects malformed requests (bad JSON, unknown properties, lookups written without
 * @odata.bind, wrong @odata.type, missing bearer token, unknown segments) with the service's
 * error shape `{"error":{"code","message"}}`.
 */
import * as http from "http";
import { createHash, randomUUID } from "crypto";
import { AddressInfo, Socket } from "net";
import { AttrDef, EMULATOR_TABLES, Labels, NUMERIC_TYPES, TableDef, isLookup, refsOf } from "./dataverse-schema";

export type Row = Record<string, string | null>;

export interface EmulatorOptions {
  token?: string;
  latencyPerRequestMs?: number;
  /** Per row written. */
  latencyPerRowMs?: number;
  /** Per row returned by a query (reads are cheaper than writes). Default: latencyPerRowMs / 10. */
  latencyPerReadRowMs?: number;
  maxConcurrent?: number;
  quota?: number;
  windowMs?: number;
  /** x-ms-dop-hint sent on every response; default `maxConcurrent`; 0 = none. */
  dopHint?: number;
  maxPageSize?: number;
  /** Combined execution time allowed per window (the service: 20 minutes per 5 minutes). */
  executionTimeMs?: number;
  /** Tokens that are valid in the tenant but have no application user in this environment. */
  unprovisionedTokens?: string[];
  /** What the `WhoAmI` function answers: the organization's id and the caller's user id. */
  organizationId?: string;
  userId?: string;
  tables?: TableDef[];
  /**
   * LCID of the caller's language, which `UserLocalizedLabel` is in; an application user gets the
   * org's base language (Dataverse Label metadata, Microsoft's Web API reference: Label, LocalizedLabel).
   */
  language?: number;
}

export type FaultKind = "5xx" | "drop" | "dropAfterCommit" | "batchPart" | "429" | "revoke";

export interface RequestInfo {
  method: string;
  path: string;
  /** For $batch parts: the inner operation's method and path. */
  inner?: boolean;
}

interface Fault {
  kind: FaultKind;
  times: number;
  match?: (r: RequestInfo) => boolean;
}

export interface LoggedRequest {
  method: string;
  path: string;
  /** ms since epoch. */
  arrivedAt: number;
  respondedAt?: number;
  status?: number;
  /** For a 429: the Retry-After it was given, in ms. */
  retryAfterMs?: number;
  code?: string;
  /** Rows written by the request. */
  rows?: number;
}

export interface EmulatorStats {
  requests: number;
  throttled: number;
  byMethod: Record<string, number>;
  bulkCalls: number;
  batchCalls: number;
  rowsWritten: number;
  /** Rows returned by queries (the read cost of the latency model). */
  rowsRead: number;
  maxInFlight: number;
  /** Bulk-message calls refused because the table does not support the message. */
  bulkRejected: number;
  sdkMessageFilterQueries: number;
}

class HttpError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const API = "/api/data/v9.2/";
const BIND_RE = /^\/?([A-Za-z_][A-Za-z0-9_]*)\(([0-9a-fA-F-]{36})\)$/;
const GUID_RE = /^[0-9a-f-]{36}$/i;

interface Table {
  def: TableDef;
  /** `__seq`: insertion order; `__version`: set by each update, the ETag when present. */
  rows: TableRows;
  /** Precomputed lookups for request validation. */
  byName: Map<string, AttrDef>;
  /** Navigation property → its lookup and the table it references (a Customer lookup has one per table). */
  byNav: Map<string, { attr: AttrDef; table: string }>;
}

interface InnerResult {
  status: number;
  headers: Record<string, string>;
  body?: unknown;
  /** Rows written (latencyPerRowMs each). */
  rows: number;
  /** Rows read (latencyPerReadRowMs each). */
  readRows?: number;
}

/** The Web API's maximum URL length (Microsoft: "Compose HTTP requests and handle errors"). */
const MAX_URL_CHARS = 32_768;

export class DataverseEmulator {
  readonly opts: Required<Omit<EmulatorOptions, "tables">>;
  readonly tables = new Map<string, Table>();
  private bySet = new Map<string, Table>();
  private server?: http.Server;
  private sockets = new Set<Socket>();
  private inFlight = 0;
  /** Admitted requests waiting for holdAnswers' release; undefined when answers flow. */
  private held?: (() => void)[];
  /** Requests waiting for this thread's work on them, first come first served (turn()). */
  private waiting: (() => void)[] = [];
  /** A connection came in since the last turn (turn()); turns given to connections in a row. */
  private acceptedThisTurn = false;
  private intakeTurns = 0;
  /** Arrival times of the requests counted in the quota's window. */
  private window = new SlidingStamps();
  private faults: Fault[] = [];
  private seq = 0;
  private undo?: (() => void)[];
  /** Execution time spent per request in the window, for the execution-time limit. */
  private execWindow = new ExecWindow();
  /** Retry-After in force for this user after a quota or execution-time 429, with its code. */
  private throttledUntil = 0;
  private throttleCode = "";
  url = "";
  stats: EmulatorStats = EmulatorDefaults.stats();
  readonly requestLog: LoggedRequest[] = [];
  /** `<table logical name>:<message>` → what sdkmessagefilters answers, whatever the table supports. */
  readonly bulkFilterOverrides = new Map<string, boolean>();

  constructor(options: EmulatorOptions = {}) {
    this.opts = {
      token: options.token ?? "emulator-token",
      latencyPerRequestMs: options.latencyPerRequestMs ?? 0,
      latencyPerRowMs: options.latencyPerRowMs ?? 0,
      latencyPerReadRowMs: options.latencyPerReadRowMs ?? (options.latencyPerRowMs ?? 0) / 10,
      maxConcurrent: options.maxConcurrent ?? 52,
      quota: options.quota ?? 6000,
      windowMs: options.windowMs ?? 300_000,
      dopHint: options.dopHint ?? options.maxConcurrent ?? 52,
      maxPageSize: options.maxPageSize ?? 5000,
      language: options.language ?? 1033,
      executionTimeMs: options.executionTimeMs ?? 1_200_000,
      unprovisionedTokens: options.unprovisionedTokens ?? [],
      organizationId: options.organizationId ?? "00000000-0000-0000-0000-0000000000a1",
      userId: options.userId ?? "00000000-0000-0000-0000-0000000000b1",
    };
    for (const shared of options.tables ?? EMULATOR_TABLES) {
      // A copy: a test may change a table's definition without changing it for every emulator.
      const def: TableDef = { ...shared, attributes: shared.attributes.map((a) => ({ ...a })) };
      const t: Table = {
        def,
        // Lookups (Dataverse indexes them) and the string / id columns alternate keys are made of;
        // not the primary key, which the rows are kept by.
        rows: new TableRows(
          def.attributes.filter((a) => a.logicalName !== def.primaryId && (isLookup(a) || ["String", "Memo", "Uniqueidentifier"].includes(a.type))).map((a) => ({ col: a.logicalName, isString: a.type === "String" || a.type === "Memo" })),
        ),
        byName: new Map(def.attributes.map((a) => [a.logicalName, a])),
        byNav: new Map(def.attributes.flatMap((a) => refsOf(a).map((r) => [r.nav, { attr: a, table: r.table }] as const))),
      };
      this.tables.set(def.logicalName, t);
      this.bySet.set(def.entitySetName, t);
    }
  }

  async start(): Promise<string> {
    // URLs up to the Web API's 32 KB (Microsoft: "Compose HTTP requests and handle errors", Maximum
    // URL length): Node's default 16 KB of request line and headers would refuse them (431).
    this.server = http.createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    this.server.on("connection", (s: Socket) => {
      this.acceptedThisTurn = true;
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Inject a fault for the next `times` matching requests. */
  fault(kind: FaultKind, times: number, match?: (r: RequestInfo) => boolean): void {
    this.faults.push({ kind, times, match });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Zero the counters and the service-protection window. */
  resetStats(): void {
    this.stats = EmulatorDefaults.stats();
    this.window = new SlidingStamps();
    this.execWindow = new ExecWindow();
    this.throttledUntil = 0;
    this.requestLog.length = 0;
  }

  setOptions(o: Partial<EmulatorOptions>): void {
    Object.assign(this.opts, o);
  }

  /**
   * A test control, not service behaviour: from now on every request that passes the service
   * protection checks waits (and stays in flight) until the returned function is called. With
   * `heldAnswers` a test knows how many are in flight, instead of timing them with latency.
   */
  holdAnswers(): () => void {
    this.held = this.held ?? [];
    return () => {
      const waiting = this.held ?? [];
      this.held = undefined;
      for (const answer of waiting) answer();
    };
  }

  /** How many admitted requests holdAnswers is holding. */
  get heldAnswers(): number {
    return this.held?.length ?? 0;
  }

  /**
   * Control endpoints for an emulator running in another process (the benchmark): `stats`, `log`,
   * `reset-stats`, `options` (JSON body), `settle` (rows written so far into key order, see
   * `settle()`), `count/<table>` (products are seeded by the `products`
   * option when the server starts). Not part of
   * the Web API; authenticated like it.
   */
  private admin(op: string, body: string): unknown {
    const arg = body ? (JSON.parse(body) as Record<string, unknown>) : {};
    if (op === "stats") return this.stats;
    if (op === "log") return this.requestLog;
    if (op === "reset-stats") return this.resetStats(), {};
    if (op === "options") return this.setOptions(arg as Partial<EmulatorOptions>), this.opts;
    if (op === "settle") return this.settle(), {};
    if (op.startsWith("count/")) return { count: this.table(op.slice(6)).rows.size };
    throw new HttpError(404, "0x80060888", `unknown emulator control '${op}'`);
  }

  /** Put the rows added so far into each table's key order now (after seeding, before reads). */
  settle(): void {
    for (const t of this.tables.values()) t.rows.settle();
  }

  // ---- data helpers for tests -------------------------------------------------------------------

  insert(tableName: string, row: Row): string {
    const t = this.table(tableName);
    const id = row[t.def.primaryId] ?? randomUUID();
    this.tables.get(tableName)!.rows.set(id, { ...row, [t.def.primaryId]: id, __seq: String(++this.seq) });
    return id;
  }

  /** Changes columns of a row as an edit in the app does: a new version (ETag). */
  update(tableName: string, id: string, patch: Row): void {
    const row = this.table(tableName).rows.get(id.toLowerCase());
    if (!row) throw new Error(`no row ${id} in ${tableName}`);
    Object.assign(row, patch, { __version: String(++this.seq) });
    this.table(tableName).rows.changed(id.toLowerCase());
  }

  rows(tableName: string): Row[] {
    return [...this.table(tableName).rows.values()].map((r) => {
      const { __seq: _s, __version: _v, __gone: _g, ...rest } = r;
      return rest;
    });
  }

  table(name: string): Table {
    const t = this.tables.get(name);
    if (!t) throw new Error(`no table ${name}`);
    return t;
  }

  // ---- HTTP -------------------------------------------------------------------------------------

  private takeFault(kinds: FaultKind[], info: RequestInfo): FaultKind | undefined {
    for (const f of this.faults) {
      if (f.times > 0 && kinds.includes(f.kind) && (!f.match || f.match(info))) {
        f.times--;
        return f.kind;
      }
    }
    return undefined;
  }

  private count(n: number, now: number): void {
    for (let i = 0; i < n; i++) this.window.push(now);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const arrivedAt = Date.now();
    this.inFlight++;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.inFlight);
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        this.inFlight--;
      }
    };
    res.on("close", release);
    res.on("finish", release);
    this.stats.requests++;
    const method = req.method ?? "GET";
    this.stats.byMethod[method] = (this.stats.byMethod[method] ?? 0) + 1;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", "http://x");
    const info: RequestInfo = { method, path: decodeURIComponent(url.pathname) };
    const headers: Record<string, string> = { "OData-Version": "4.0" };
    if (this.opts.dopHint > 0) headers["x-ms-dop-hint"] = String(this.opts.dopHint);
    const entry: LoggedRequest = { method, path: info.path, arrivedAt };
    const isAdmin = url.pathname.startsWith("/_emulator/");
    if (!isAdmin && this.requestLog.length < 200_000) this.requestLog.push(entry);
    res.on("finish", () => {
      entry.respondedAt = Date.now();
      entry.status = res.statusCode;
    });
    try {
      // Longer URLs are refused (the document names the limit, not the answer: 414 URI Too Long here).
      if ((req.url ?? "").length > MAX_URL_CHARS) throw new HttpError(414, "0x80060888", `The URL is longer than ${MAX_URL_CHARS} characters.`);
      if (!isAdmin && this.takeFault(["revoke"], info)) this.opts.token = `revoked-${randomUUID()}`;
      const auth = String(req.headers.authorization ?? "");
      if (auth !== `Bearer ${this.opts.token}`) {
        if (this.opts.unprovisionedTokens.some((t) => auth === `Bearer ${t}`)) {
          // A token for the right audience whose identity has no (application) user here.
          throw new HttpError(403, "0x80072560", "The user is not a member of the organization.");
        }
        // The service answers an unusable token with an empty 401 and a Bearer challenge.
        res.writeHead(401, { ...headers, "WWW-Authenticate": `Bearer authorization_uri=https://login.microsoftonline.com/00000000-0000-0000-0000-0000000000e1/oauth2/authorize, resource_id=${this.url}/` });
        res.end();
        return;
      }
      if (isAdmin) {
        this.inFlight--;
        released = true;
        this.stats.requests--;
        this.stats.byMethod[method]--;
        this.send(res, 200, headers, this.admin(url.pathname.slice("/_emulator/".length), body));
        return;
      }
      if (this.inFlight > this.opts.maxConcurrent) {
        this.stats.throttled++;
        // Fails at once, and does not hold back later requests once fewer are in flight.
        throw new HttpError(429, "0x80072326", `Number of concurrent requests exceeded the limit of ${this.opts.maxConcurrent}.`, { "Retry-After": "0.05" });
      }
      const now = Date.now();
      this.window.keepAfter(now - this.opts.windowMs);
      this.execWindow.keepAfter(now - this.opts.windowMs);
      const seconds = (ms: number) => (this.opts.windowMs >= 1000 ? String(Math.max(1, Math.ceil(ms / 1000))) : (Math.max(1, ms) / 1000).toFixed(3));
      if (now < this.throttledUntil) {
        // Sending during a Retry-After: the wait is extended.
        this.stats.throttled++;
        this.throttledUntil += Math.min(this.opts.windowMs / 10, this.throttledUntil - now);
        throw new HttpError(429, this.throttleCode, "Requests were sent during a Retry-After period; the period was extended.", { "Retry-After": seconds(this.throttledUntil - now) });
      }
      const throttle = (code: string, message: string, waitMs: number): never => {
        this.stats.throttled++;
        this.throttledUntil = now + waitMs;
        this.throttleCode = code;
        throw new HttpError(429, code, message, { "Retry-After": seconds(waitMs) });
      };
      const forced = this.takeFault(["429", "5xx", "drop"], info);
      if (forced === "429") throttle("0x80072322", "Number of requests exceeded the limit of 6000 over time window of 300 seconds.", this.opts.windowMs / 10);
      if (this.window.length >= this.opts.quota) {
        throttle("0x80072322", `Number of requests exceeded the limit of ${this.opts.quota} over the time window.`, this.window.first + this.opts.windowMs - now);
      }
      const spent = this.execWindow.spent();
      if (spent >= this.opts.executionTimeMs) {
        // Free enough of the window to go below the limit again.
        let over = spent - this.opts.executionTimeMs;
        const e = this.execWindow.entries;
        let i = 0;
        while (over >= 0 && i < e.length) over -= e[i++].ms;
        const until = e[Math.max(0, i - 1)].t + this.opts.windowMs;
        throttle("0x80072321", `Combined execution time of incoming requests exceeded limit of ${this.opts.executionTimeMs} milliseconds over time window of ${this.opts.windowMs / 1000} seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.`, until - now);
      }
      if (forced === "5xx") throw new HttpError(503, "0x80040216", "Service temporarily unavailable (injected).");
      if (forced === "drop") {
        req.socket.destroy();
        return;
      }
      if (!url.pathname.startsWith(API)) throw new HttpError(404, "0x80060888", `Resource not found for the segment '${url.pathname}'.`);
      // Modelled from the request's arrival (or its release by holdAnswers): the service works on
      // requests side by side (web servers in a farm; "Service protection API limits" counts per
      // web server), so the time this single thread spent on other requests meanwhile is not
      // added to this one's.
      let workFrom = arrivedAt;
      if (this.held) {
        await new Promise<void>((resolve) => this.held?.push(resolve));
        workFrom = Date.now();
      }
      await this.turn();
      const result = this.dispatch(method, url, req.headers, body, now);
      const dropAfter = this.takeFault(["dropAfterCommit"], info);
      entry.rows = result.rows;
      this.stats.rowsRead += result.readRows ?? 0;
      // The answer encoded before the wait: the emulator's work is part of the modelled time.
      const answer = encodeBody(result.body);
      const ms = await this.delay(result.rows, result.readRows ?? 0, Date.now() - workFrom);
      this.execWindow.push({ t: now, ms });
      if (dropAfter) {
        req.socket.destroy();
        return;
      }
      this.sendEncoded(res, result.status, { ...headers, ...result.headers }, answer);
    } catch (e) {
      const err = e instanceof HttpError ? e : new HttpError(500, "0x80040216", `Internal error: ${(e as Error).message}`);
      if (err.status === 429) entry.retryAfterMs = parseFloat(err.headers["Retry-After"] ?? "0") * 1000;
      entry.code = err.code;
      if (err.status !== 429 && err.status !== 401 && err.status !== 403) await this.delay(0, 0);
      this.send(res, err.status, { ...headers, ...err.headers }, { error: { code: err.code, message: err.message } });
    }
  }

  /**
   * Resolves when this thread may work on the request: after the requests that came with it were
   * taken in (their arrival noted), and one request a turn of the event loop. Otherwise a large
   * write parsed here would delay the next request's arrival, and forty 5,000-row pages asked for
   * together would be written one after the other before any answer due meanwhile went out: the
   * service works on requests side by side, and sends each answer when it is ready.
   */
  private turn(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      if (this.waiting.length === 1) setImmediate(this.nextTurn);
    });
  }

  /**
   * Start the first waiting request's work; the next one's on the next turn (an immediate set now
   * runs then). Node takes in one new connection a turn while its thread is busy: while they keep
   * coming, the turn goes to them first (up to 256 turns in a row), or sixteen connections made
   * together would be taken in one per page written and their requests' time would start that late.
   */
  private readonly nextTurn = (): void => {
    if (this.acceptedThisTurn && this.intakeTurns < 256) {
      this.acceptedThisTurn = false;
      this.intakeTurns++;
      setImmediate(this.nextTurn);
      return;
    }
    this.acceptedThisTurn = false;
    this.intakeTurns = 0;
    this.waiting.shift()?.();
    if (this.waiting.length > 0) setImmediate(this.nextTurn);
  };

  /**
   * Wait the modelled execution time, of which the time since the request arrived (`spentMs`: the
   * emulator's own work on it, and on others meanwhile) is a part: the model is the service's
   * time, and a big request's parsing here is not extra service time. Returns the modelled time.
   */
  private async delay(rows: number, readRows: number, spentMs = 0): Promise<number> {
    const ms = this.opts.latencyPerRequestMs + rows * this.opts.latencyPerRowMs + readRows * this.opts.latencyPerReadRowMs;
    if (ms - spentMs > 0) await new Promise((r) => setTimeout(r, ms - spentMs));
    return ms;
  }

  private send(res: http.ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
    this.sendEncoded(res, status, headers, encodeBody(body));
  }

  private sendEncoded(res: http.ServerResponse, status: number, headers: Record<string, string>, answer: { json: boolean; text?: string }): void {
    if (res.destroyed) return;
    // Encoded once (a 5,000-row page is over a megabyte): Node would measure a string's UTF-8 length
    // for Content-Length and then encode it again to send it.
    const bytes = answer.text === undefined ? undefined : Buffer.from(answer.text, "utf8");
    const length = bytes ? { "Content-Length": String(bytes.length) } : {};
    res.writeHead(status, answer.json ? { ...headers, ...length, "Content-Type": "application/json; odata.metadata=minimal" } : { ...headers, ...length });
    res.end(bytes);
  }

  private dispatch(method: string, url: URL, headers: http.IncomingHttpHeaders, body: string, now: number): InnerResult {
    const rel = decodeURIComponent(url.pathname.slice(API.length));
    if (rel === "$batch") {
      if (method !== "POST") throw new HttpError(405, "0x80060888", "$batch requires POST.");
      this.stats.batchCalls++;
      return this.batch(String(headers["content-type"] ?? ""), String(headers["prefer"] ?? ""), body, url, now);
    }
    this.count(1, now);
    return this.operation(method, url, headers, body);
  }

  // ---- single operation -------------------------------------------------------------------------

  private operation(method: string, url: URL, headers: Record<string, string | string[] | undefined>, body: string): InnerResult {
    const rel = decodeURIComponent(url.pathname.slice(API.length));
    if (rel.startsWith("EntityDefinitions")) {
      if (method !== "GET") throw new HttpError(405, "0x80060888", "Metadata is read-only here.");
      return this.metadata(rel, url.searchParams);
    }
    if (rel === "sdkmessagefilters") {
      if (method !== "GET") throw new HttpError(405, "0x80060888", "sdkmessagefilters is read-only here.");
      return this.messageFilters(url.searchParams);
    }
    if (rel === "WhoAmI") {
      // An unbound function ("WhoAmI Function" reference): the caller's user, business unit and organization.
      if (method !== "GET") throw new HttpError(405, "0x80060888", "WhoAmI is a function: use GET.");
      const body = { "@odata.context": `${this.url}${API}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse`, BusinessUnitId: "00000000-0000-0000-0000-0000000000c1", UserId: this.opts.userId, OrganizationId: this.opts.organizationId };
      return { status: 200, headers: {}, body, rows: 0, readRows: 1 };
    }
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:\(([0-9a-fA-F-]{36})\))?(?:\/Microsoft\.Dynamics\.CRM\.([A-Za-z]+))?$/.exec(rel);
    if (!m) throw new HttpError(404, "0x80060888", `Resource not found for the segment '${rel}'.`);
    const [, set, id, action] = m;
    const t = this.bySet.get(set);
    if (!t) throw new HttpError(404, "0x80060888", `Resource not found for the segment '${set}'.`);
    const prefer = String(headers["prefer"] ?? "");
    if (action) {
      if (id || method !== "POST") throw new HttpError(405, "0x80060888", `${action} requires POST on the collection.`);
      if (action !== "CreateMultiple" && action !== "UpdateMultiple") {
        throw new HttpError(404, "0x8006088a", `Resource not found for the segment 'Microsoft.Dynamics.CRM.${action}'.`);
      }
      if (!t.def.bulk) {
        // The bound action resolves for every table (Collection(crmbaseentity)); the table is refused.
        // HTTP status not documented; the code and message are (error code list, reported messages).
        this.stats.bulkRejected++;
        throw new HttpError(400, "0x80040800", `The '${action}' method does not support entities of type '${t.def.logicalName}'. MessageProcessorCache returned MessageProcessor.Empty.`);
      }
      return this.bulk(t, action, this.json(headers, body));
    }
    if (method === "GET") {
      if (id) {
        const row = t.rows.get(id.toLowerCase());
        if (!row) throw new HttpError(404, "0x80040217", `${t.def.logicalName} With Id = ${id} Does Not Exist`);
        return { status: 200, headers: {}, body: this.project(t, row, url.searchParams), rows: 0, readRows: 1 };
      }
      return this.query(t, url, prefer);
    }
    if (method === "POST" && !id) {
      const row = this.toRow(t, this.json(headers, body), true);
      const rid = this.create(t, row);
      return { status: 204, headers: { "OData-EntityId": `${this.url}${API}${set}(${rid})` }, rows: 1 };
    }
    if (method === "PATCH" && id) {
      const data = this.toRow(t, this.json(headers, body), false);
      const existing = t.rows.get(id.toLowerCase());
      if (headers["if-match"] === "*" && !existing) throw new HttpError(404, "0x80040217", `${t.def.logicalName} With Id = ${id} Does Not Exist`);
      if (headers["if-none-match"] === "*" && existing) throw new HttpError(412, "0x80040237", "A record with matching key values already exists.");
      if (existing) {
        const before = { ...existing };
        this.undo?.push(() => t.rows.set(id.toLowerCase(), before));
        Object.assign(existing, data, { __version: String(++this.seq) });
        t.rows.changed(id.toLowerCase());
      }
      else this.create(t, { ...data, [t.def.primaryId]: id.toLowerCase() });
      this.stats.rowsWritten++;
      return { status: 204, headers: { "OData-EntityId": `${this.url}${API}${set}(${id})` }, rows: 1 };
    }
    if (method === "DELETE" && id) {
      const gone = t.rows.get(id.toLowerCase());
      if (gone) this.undo?.push(() => t.rows.set(id.toLowerCase(), gone));
      if (!t.rows.delete(id.toLowerCase())) throw new HttpError(404, "0x80040217", `${t.def.logicalName} With Id = ${id} Does Not Exist`);
      this.stats.rowsWritten++;
      return { status: 204, headers: {}, rows: 1 };
    }
    throw new HttpError(405, "0x80060888", `Method ${method} is not allowed on '${rel}'.`);
  }

  private json(headers: Record<string, string | string[] | undefined>, body: string): Record<string, unknown> {
    const ct = String(headers["content-type"] ?? "");
    if (!/^application\/json/i.test(ct)) throw new HttpError(415, "0x80060888", `Unsupported content type '${ct}'.`);
    let v: unknown;
    try {
      v = JSON.parse(body);
    } catch {
      throw new HttpError(400, "0x80048d19", "Error identified in Payload provided by the user for Entity: invalid JSON.");
    }
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new HttpError(400, "0x80048d19", "Payload must be a JSON object.");
    return v as Record<string, unknown>;
  }

  private create(t: Table, row: Row): string {
    const id = (row[t.def.primaryId] ?? randomUUID()).toLowerCase();
    if (t.rows.has(id)) throw new HttpError(412, "0x80040237", "A record with matching key values already exists.");
    const stored: Row & { __seq?: string } = row;
    stored[t.def.primaryId] = id;
    stored.__seq = String(++this.seq);
    t.rows.set(id, stored);
    this.undo?.push(() => t.rows.delete(id));
    this.stats.rowsWritten++;
    return id;
  }

  /** Body → stored row: plain columns by logical name, lookups only via `<nav>@odata.bind`. */
  private toRow(t: Table, data: Record<string, unknown>, _creating: boolean): Row {
    const row: Row = {};
    for (const k in data) {
      const v = data[k];
      if (k === "@odata.type") continue;
      if (k.endsWith("@odata.bind")) {
        const nav = k.slice(0, -11);
        const ref0 = t.byNav.get(nav);
        if (!ref0) {
          throw new HttpError(400, "0x80060888", `An undeclared property '${nav}' which only has property annotations in the payload but no property value was found in the payload.`);
        }
        const attr = ref0.attr;
        if (v === null) {
          row[attr.logicalName] = null;
          continue;
        }
        // Each navigation property belongs to one referenced table; a Customer lookup is bound through
        // the navigation property of the referenced table, e.g. parentcustomerid_account (Web API,
        // "associate table rows on create"), so a contact through the account one is refused.
        const target = this.table(ref0.table);
        let ref = typeof v === "string" ? v : "";
        const api = ref.indexOf("/api/data/v9.2");
        if (api >= 0) ref = ref.slice(api + 14);
        const m = BIND_RE.exec(ref);
        if (!m || m[1] !== target.def.entitySetName) throw new HttpError(400, "0x80060888", `Invalid @odata.bind value for '${nav}': ${JSON.stringify(v)}.`);
        const refId = m[2].toLowerCase();
        const referenced = target.rows.get(refId);
        if (!referenced) throw new HttpError(404, "0x80040217", `${target.def.logicalName} With Id = ${m[2]} Does Not Exist`);
        // The referenced row's own id string (the same text): a read that compares the lookup or
        // expands it then finds that string by identity, not by its characters (a fresh string read
        // at random places in a 200,000-row table cost a 5,000-row page read a fifth of its time).
        const same = referenced[target.def.primaryId];
        row[attr.logicalName] = same === refId ? same : refId;
        continue;
      }
      const attr = t.byName.get(k);
      if (!attr) throw new HttpError(400, "0x80060888", `The property '${k}' does not exist on type 'Microsoft.Dynamics.CRM.${t.def.logicalName}'.`);
      if (isLookup(attr)) {
        throw new HttpError(400, "0x80060888", `The property '${k}' is a lookup; set it with '${refsOf(attr).map((r) => r.nav).join("' or '")}@odata.bind'.`);
      }
      if (v !== null && typeof v !== "string") throw new HttpError(400, "0x80048d19", `Cannot convert the literal '${String(v)}' to the expected type 'Edm.String' for '${k}'.`);
      if (attr.type === "String" && typeof v === "string" && v.length > (attr.maxLength ?? 4000)) {
        // The service's answer to a value longer than MaxLength (0x80044331, HTTP 400; its message as
        // users report it, e.g. microsoft/powerapps-tools#403).
        throw new HttpError(400, "0x80044331", `A validation error occurred.  The length of the '${k}' attribute of the '${t.def.logicalName}' entity exceeded the maximum allowed length of '${attr.maxLength ?? 4000}'.`);
      }
      if (attr.type === "Uniqueidentifier" && (typeof v !== "string" || !GUID_RE.test(v))) {
        throw new HttpError(400, "0x80048d19", `Invalid Guid for '${k}'.`);
      }
      // Dataverse stores an empty string as null (reference: "an empty string is stored as null").
      row[k] = v === null || v === "" ? null : attr.type === "Uniqueidentifier" ? v.toLowerCase() : v;
    }
    return row;
  }

  private bulk(t: Table, action: string, body: Record<string, unknown>): InnerResult {
    const targets = body.Targets;
    if (!Array.isArray(targets) || targets.length === 0) throw new HttpError(400, "0x80048d19", "Targets must be a non-empty array.");
    this.stats.bulkCalls++;
    const type = `Microsoft.Dynamics.CRM.${t.def.logicalName}`;
    const rows = targets.map((x, i) => {
      if (!x || typeof x !== "object" || (x as Record<string, unknown>)["@odata.type"] !== type) {
        throw new HttpError(400, "0x80048d19", `Targets[${i}] must have "@odata.type": "${type}".`);
      }
      return this.toRow(t, x as Record<string, unknown>, action === "CreateMultiple");
    });
    // Atomic: validate everything first.
    const ids = new Set<string>();
    for (const r of rows) {
      const id = r[t.def.primaryId];
      if (action === "UpdateMultiple") {
        if (!id) throw new HttpError(400, "0x80048d19", "UpdateMultiple targets need the primary key.");
        if (!t.rows.has(id)) throw new HttpError(404, "0x80040217", `${t.def.logicalName} With Id = ${id} Does Not Exist`);
      } else if (id && (t.rows.has(id) || ids.has(id))) {
        throw new HttpError(412, "0x80040237", "A record with matching key values already exists.");
      }
      if (id) ids.add(id);
    }
    if (action === "UpdateMultiple") {
      for (const r of rows) {
        Object.assign(t.rows.get(r[t.def.primaryId]!)!, r, { __version: String(++this.seq) });
        t.rows.changed(r[t.def.primaryId]!);
      }
      this.stats.rowsWritten += rows.length;
      return { status: 204, headers: {}, rows: rows.length };
    }
    const out: string[] = [];
    for (const r of rows) out.push(this.create(t, r));
    return {
      status: 200,
      headers: {},
      body: { "@odata.context": `${this.url}${API}$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse`, Ids: out },
      rows: rows.length,
    };
  }

  /**
   * `sdkmessagefilters` as "Use bulk operation messages" queries it: filtered by the message name
   * through the `sdkmessageid` lookup and by `primaryobjecttypecode` (the table's logical name),
   * values inline or as `@alias` parameters. One row when the table supports the message.
   */
  private messageFilters(params: URLSearchParams): InnerResult {
    this.stats.sdkMessageFilterQueries++;
    const filter = params.get("$filter") ?? "";
    const value = (v: string) => {
      const raw = v.startsWith("@") ? params.get(v) : v;
      if (!raw || !/^'.*'$/.test(raw)) throw new HttpError(400, "0x80060888", `Invalid value '${v}' in $filter.`);
      return stringLiteral(raw);
    };
    const msg = /sdkmessageid\/name eq ('[^']*'|@\w+)/.exec(filter);
    const otc = /primaryobjecttypecode eq ('[^']*'|@\w+)/.exec(filter);
    if (!msg || !otc) throw new HttpError(400, "0x80060888", `Unsupported $filter on sdkmessagefilters here: '${filter}'.`);
    const message = value(msg[1]);
    const table = value(otc[1]);
    const t = this.tables.get(table);
    const bulkMessage = message === "CreateMultiple" || message === "UpdateMultiple";
    const supported = this.bulkFilterOverrides.get(`${table}:${message}`) ?? (t !== undefined && (!bulkMessage || t.def.bulk));
    const h = createHash("sha1").update(`${table}:${message}`).digest("hex");
    const value0 = supported ? [{ "@odata.etag": 'W/"1"', sdkmessagefilterid: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}` }] : [];
    return { status: 200, headers: {}, body: { "@odata.context": `${this.url}${API}$metadata#sdkmessagefilters(sdkmessagefilterid)`, value: value0 }, rows: 0, readRows: 1 };
  }

  // ---- queries ----------------------------------------------------------------------------------

  private query(t: Table, url: URL, prefer: string): InnerResult {
    const params = url.searchParams;
    for (const k of params.keys()) {
      if (!["$select", "$filter", "$expand", "$skiptoken", "$top", "$orderby"].includes(k)) {
        throw new HttpError(400, "0x80060888", `The query parameter '${k}' is not supported.`);
      }
      if (k === "$skip") throw new HttpError(400, "0x80060888", "The query parameter $skip is not supported.");
    }
    const project = this.projector(t, params).text; // validates $select / $expand even when nothing matches
    const filter = params.get("$filter");
    const compiled: Pred = filter ? compileFilter(filter, t.def) : () => true;
    // Read along the key index: the key-range terms hold for every row it yields.
    const pred = compiled.residual ?? compiled;
    // Equality on another column: the rows come from that column's index. Small tables (fixtures
    // that tests edit in place) are scanned.
    const large = t.rows.size >= 1000;
    // Of several (an `and` of a provider and a list of keys), the narrowest, as SQL Server's
    // optimizer picks the most selective index: the same rows either way, the residual filter
    // tests them all.
    const lookups = compiled.lookups ?? (compiled.lookup ? [compiled.lookup] : []);
    let narrowest: { lookup: Lookup; n: number } | undefined;
    if (!compiled.scope && large) {
      for (const l of lookups) {
        const n = t.rows.countWhere(l.col, l.isString, l.values);
        if (!narrowest || n < narrowest.n) narrowest = { lookup: l, n };
      }
    }
    const scope = compiled.scope ?? (narrowest ? { ids: t.rows.idsWhere(narrowest.lookup.col, narrowest.lookup.isString, narrowest.lookup.values) } : undefined);
    const m = /odata\.maxpagesize=(\d+)/.exec(prefer);
    const pageSize = Math.min(this.opts.maxPageSize, m ? Number(m[1]) : this.opts.maxPageSize);
    const top = params.get("$top") ? Number(params.get("$top")) : undefined;
    // The service pages in primary-key order and its paging cookie names the last key returned
    // ("Page results": the cookie holds the last record's id); the skiptoken here is that key.
    const after = params.get("$skiptoken") ?? "";
    const out: string[] = [];
    let last = "";
    let more = false;
    const most = top ?? Infinity;
    const visit = (k: string, row: StoredRow) => {
      if (!pred(row)) return true;
      if (out.length >= most) return false;
      if (out.length >= pageSize) {
        more = true;
        return false;
      }
      out.push(project(row));
      last = k;
      return true;
    };
    t.rows.scan(scope, after, visit);
    let text = `{"@odata.context":${JSON.stringify(`${this.url}${API}$metadata#${t.def.entitySetName}`)},"value":[${out.join(",")}]`;
    if (more) {
      const rest = url.search.replace(/^\?/, "").split("&").filter((p) => p && !p.startsWith("$skiptoken=") && !p.startsWith("%24skiptoken="));
      text += `,"@odata.nextLink":${JSON.stringify(`${this.url}${url.pathname}?${[...rest, `$skiptoken=${last}`].join("&")}`)}`;
    }
    // The page's JSON written row by row (5,000 rows a page): no object per row to encode again.
    return { status: 200, headers: m ? { "Preference-Applied": `odata.maxpagesize=${pageSize}` } : {}, body: { [JSON_TEXT]: `${text}}` }, rows: 0, readRows: out.length };
  }

  private project(t: Table, row: Row, params: URLSearchParams): Record<string, unknown> {
    return this.projector(t, params).object(row);
  }

  /** Compile $select / $expand once per request (validating them), then project rows cheaply. */
  private projector(t: Table, params: URLSearchParams): { object: (row: StoredRow) => Record<string, unknown>; text: (row: StoredRow) => string } {
    const select = params.get("$select");
    const cols = select ? select.split(",").map((s) => s.trim()) : t.def.attributes.map((a) => (isLookup(a) ? `_${a.logicalName}_value` : a.logicalName));
    const picks = cols.map((c) => {
      const lm = /^_(.+)_value$/.exec(c);
      const attr = t.def.attributes.find((a) => (lm ? isLookup(a) && a.logicalName === lm[1] : !isLookup(a) && a.logicalName === c));
      if (!attr) throw new HttpError(400, "0x80060888", `Could not find a property named '${c}' on type 'Microsoft.Dynamics.CRM.${t.def.logicalName}'.`);
      return [c, attr.logicalName, NUMERIC_TYPES.includes(attr.type)] as const;
    });
    const expand = params.get("$expand");
    const expands = (expand ? splitTop(expand) : []).map((part) => {
      const em = /^([A-Za-z0-9_]+)(?:\(\$select=([A-Za-z0-9_,]+)\))?$/.exec(part.trim());
      const nav = em ? t.byNav.get(em[1]) : undefined;
      if (!em || !nav) throw new HttpError(400, "0x80060888", `Could not find a navigation property named '${part}' on '${t.def.logicalName}'.`);
      const attr = nav.attr;
      const target = this.table(nav.table);
      const subCols = (em[2] ?? target.def.primaryName).split(",");
      for (const c of subCols) {
        if (!target.def.attributes.some((a) => a.logicalName === c && !isLookup(a))) {
          throw new HttpError(400, "0x80060888", `Could not find a property named '${c}' on type 'Microsoft.Dynamics.CRM.${target.def.logicalName}'.`);
        }
      }
      return { nav: em[1], attr: attr.logicalName, target, subCols, lastRef: undefined as string | undefined, lastRow: undefined as StoredRow | undefined };
    });
    const object = (row: StoredRow) => {
      const out: Record<string, unknown> = { "@odata.etag": `W/"${row.__version ?? row.__seq}"` };
      for (const [c, col, numeric] of picks) out[c] = row[col] === null || row[col] === undefined ? null : numeric ? Number(row[col]) : row[col];
      out[t.def.primaryId] = row[t.def.primaryId];
      for (const e of expands) {
        const ref = row[e.attr];
        const trow = ref ? e.target.rows.get(ref) : undefined;
        if (!trow) {
          out[e.nav] = null;
          continue;
        }
        const sub: Record<string, unknown> = {};
        for (const c of e.subCols) sub[c] = trow[c] ?? null;
        sub[e.target.def.primaryId] = trow[e.target.def.primaryId];
        out[e.nav] = sub;
      }
      return out;
    };
    // The same object as JSON text, written directly.
    const primaryId = t.def.primaryId;
    const own = picks.filter(([c]) => c !== primaryId).map(([c, col, numeric]) => [`,${JSON.stringify(c)}:`, col, numeric] as const);
    const text = (row: StoredRow) => {
      let s = `{"@odata.etag":"W/\\"${row.__version ?? row.__seq}\\""`;
      for (const [name, col, numeric] of own) {
        const v = row[col];
        s += name + (v === null || v === undefined ? "null" : numeric ? String(Number(v)) : jsonString(v));
      }
      s += `,"${primaryId}":${jsonString(row[primaryId]!)}`;
      for (const e of expands) {
        const ref = row[e.attr];
        // The row before's target again (a page's rows share their group): not looked up again.
        const trow = !ref ? undefined : ref === e.lastRef ? e.lastRow : ((e.lastRef = ref), (e.lastRow = e.target.rows.get(ref)));
        if (!trow) {
          s += `,"${e.nav}":null`;
          continue;
        }
        let sub = "";
        for (const c of e.subCols) sub += `"${c}":${trow[c] === null || trow[c] === undefined ? "null" : jsonString(trow[c]!)},`;
        s += `,"${e.nav}":{${sub}"${e.target.def.primaryId}":${jsonString(trow[e.target.def.primaryId]!)}}`;
      }
      return `${s}}`;
    };
    return { object, text };
  }

  // ---- metadata ---------------------------------------------------------------------------------

  private metadata(rel: string, params: URLSearchParams): InnerResult {
    // Label shape from the Web API's EntityMetadata: every installed language in LocalizedLabels,
    // UserLocalizedLabel in the caller's language (falling back to the first label).
    const label = (l: Labels) => {
      const all = typeof l === "string" ? { 1033: l } : l;
      const labels = Object.entries(all).map(([code, text]) => ({ Label: text, LanguageCode: Number(code), IsManaged: true }));
      return { LocalizedLabels: labels, UserLocalizedLabel: labels.find((x) => x.LanguageCode === this.opts.language) ?? labels[0] ?? null };
    };
    const entity = (d: TableDef) => {
      const e: Record<string, unknown> = {
        MetadataId: d.logicalName,
        LogicalName: d.logicalName,
        SchemaName: d.schemaName ?? d.logicalName,
        EntitySetName: d.entitySetName,
        PrimaryIdAttribute: d.primaryId,
        PrimaryNameAttribute: d.primaryName,
        DisplayName: label(d.displayName),
      };
      const select = params.get("$select");
      const keep = select ? new Set(select.split(",")) : undefined;
      for (const k of Object.keys(e)) if (keep && !keep.has(k) && k !== "MetadataId") delete e[k];
      const expand = params.get("$expand");
      if (expand) {
        for (const part of splitTop(expand)) {
          const name = part.replace(/\(.*$/, "").trim();
          if (name === "Attributes") {
            e.Attributes = d.attributes.map((a) => ({
              LogicalName: a.logicalName,
              SchemaName: a.schemaName ?? a.logicalName,
              AttributeType: a.type,
              DisplayName: label(a.displayName),
              ...(isLookup(a) ? { Targets: refsOf(a).map((r) => r.table) } : {}),
            }));
          } else if (name === "ManyToOneRelationships") {
            // A Customer lookup has one relationship per referenced table, all with the same
            // ReferencingAttribute and each with its own navigation property.
            e.ManyToOneRelationships = d.attributes.flatMap((a) =>
              refsOf(a).map((r) => ({ SchemaName: `${r.table}_${d.logicalName}_${a.logicalName}`, ReferencingAttribute: a.logicalName, ReferencedEntity: r.table, ReferencedAttribute: `${r.table}id`, ReferencingEntityNavigationPropertyName: r.nav })),
            );
          } else {
            throw new HttpError(400, "0x80060888", `Could not find a navigation property named '${name}' on EntityMetadata.`);
          }
        }
      }
      return e;
    };
    // Properties of a derived attribute type need the collection cast to it ("Query table
    // definitions using the Web API": .../Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata).
    const cast = /^EntityDefinitions\(LogicalName='([a-z0-9_]+)'\)\/Attributes\/Microsoft\.Dynamics\.CRM\.([A-Za-z]+)AttributeMetadata$/.exec(rel);
    if (cast) {
      const t = this.tables.get(cast[1]);
      if (!t) throw new HttpError(404, "0x80060888", `Could not find entity with LogicalName '${cast[1]}'.`);
      if (cast[2] !== "String") throw new HttpError(400, "0x80060888", `The cast to ${cast[2]}AttributeMetadata is not modelled by this emulator.`);
      const keep = params.get("$select")?.split(",");
      const value = t.def.attributes.filter((a) => a.type === "String").map((a) => {
        const full: Record<string, unknown> = { MetadataId: `${t.def.logicalName}.${a.logicalName}`, LogicalName: a.logicalName, AttributeType: a.type, MaxLength: a.maxLength ?? 4000 };
        return keep ? Object.fromEntries(Object.entries(full).filter(([k]) => k === "MetadataId" || keep.includes(k))) : full;
      });
      return { status: 200, headers: {}, body: { value }, rows: 0, readRows: 1 };
    }
    const one = /^EntityDefinitions\(LogicalName='([a-z0-9_]+)'\)$/.exec(rel);
    if (one) {
      const t = this.tables.get(one[1]);
      if (!t) throw new HttpError(404, "0x80060888", `Could not find entity with LogicalName '${one[1]}'.`);
      return { status: 200, headers: {}, body: entity(t.def), rows: 0, readRows: 1 };
    }
    if (rel === "EntityDefinitions") {
      if (params.get("$expand")) throw new HttpError(400, "0x80060888", "Expanding Attributes on the EntityDefinitions collection is not supported here; query one entity.");
      return { status: 200, headers: {}, body: { value: [...this.tables.values()].map((t) => entity(t.def)) }, rows: 0, readRows: 1 };
    }
    throw new HttpError(404, "0x80060888", `Resource not found for the segment '${rel}'.`);
  }

  // ---- $batch -----------------------------------------------------------------------------------

  private batch(contentType: string, prefer: string, body: string, url: URL, now: number): InnerResult {
    const bm = /^multipart\/mixed;\s*boundary=("?)([^";]+)\1/i.exec(contentType);
    if (!bm) throw new HttpError(400, "0x80060888", "The $batch request must have Content-Type multipart/mixed with a boundary.");
    const parts = splitMultipart(body, bm[2]);
    if (!parts) throw new HttpError(400, "0x80060888", "The $batch body is not valid multipart content (missing closing boundary).");
    const continueOnError = /odata\.continue-on-error/.test(prefer);
    type Op = { contentId?: string; method: string; url: URL; headers: Record<string, string>; body: string };
    type Unit = { changeset: boolean; ops: Op[] };
    const units: Unit[] = [];
    let total = 0;
    const parseOp = (p: MimePart): Op => {
      if (!/^application\/http/i.test(p.headers["content-type"] ?? "") || !/^binary$/i.test(p.headers["content-transfer-encoding"] ?? "")) {
        throw new HttpError(400, "0x80060888", "Each batch part needs Content-Type: application/http and Content-Transfer-Encoding: binary.");
      }
      const req = parseHttpMessage(p.body);
      const rm = /^(GET|POST|PATCH|PUT|DELETE) (\S+) HTTP\/1\.1$/.exec(req.start);
      if (!rm) throw new HttpError(400, "0x80060888", `Malformed request line in batch part: '${req.start}'.`);
      const u = new URL(rm[2].startsWith("http") ? rm[2] : `${this.url}${rm[2].startsWith("/") ? "" : API}${rm[2]}`);
      total++;
      return { contentId: p.headers["content-id"], method: rm[1], url: u, headers: req.headers, body: req.body };
    };
    for (const p of parts) {
      const ct = p.headers["content-type"] ?? "";
      const cs = /^multipart\/mixed;\s*boundary=("?)([^";]+)\1/i.exec(ct);
      if (cs) {
        const inner = splitMultipart(p.body, cs[2]);
        if (!inner) throw new HttpError(400, "0x80060888", "Malformed change set.");
        const ops = inner.map((ip) => {
          if (/^multipart\//i.test(ip.headers["content-type"] ?? "")) throw new HttpError(400, "0x80060888", "Change sets cannot be nested.");
          const op = parseOp(ip);
          if (op.method === "GET") throw new HttpError(400, "0x80060888", "A change set cannot contain GET requests.");
          return op;
        });
        units.push({ changeset: true, ops });
      } else {
        units.push({ changeset: false, ops: [parseOp(p)] });
      }
    }
    if (total > 1000) throw new HttpError(400, "0x8006088a", `The number of requests in a batch (${total}) exceeds the limit of 1000.`);
    // A $batch is one request for the service-protection count ("A batch can contain up to 1000
    // operations and will avoid the number of requests limit", Service protection API limits);
    // its operations cost execution time instead.
    this.count(1, now);
    const boundary = `batchresponse_${randomUUID()}`;
    const out: string[] = [];
    let rows = 0;
    const render = (r: InnerResult, contentId?: string) => {
      const lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"];
      if (contentId) lines.push(`Content-ID: ${contentId}`);
      lines.push("", `HTTP/1.1 ${r.status} ${STATUS_TEXT[r.status] ?? "Status"}`);
      for (const [k, v] of Object.entries(r.headers)) lines.push(`${k}: ${v}`);
      if (r.body !== undefined) {
        lines.push("Content-Type: application/json; odata.metadata=minimal; odata.streaming=true", "", jsonText(r.body));
      } else {
        lines.push("", "");
      }
      return lines.join("\r\n");
    };
    const run = (op: Op): InnerResult => {
      const info: RequestInfo = { method: op.method, path: decodeURIComponent(op.url.pathname), inner: true };
      try {
        if (this.takeFault(["batchPart"], info)) throw new HttpError(500, "0x80040216", "Injected failure of a batch operation.");
        return this.operation(op.method, op.url, op.headers, op.body);
      } catch (e) {
        const err = e instanceof HttpError ? e : new HttpError(500, "0x80040216", (e as Error).message);
        return { status: err.status, headers: {}, body: { error: { code: err.code, message: err.message } }, rows: 0 };
      }
    };
    for (const unit of units) {
      if (!unit.changeset) {
        const r = run(unit.ops[0]);
        rows += r.rows;
        out.push(`--${boundary}\r\n${render(r)}`);
        if (r.status >= 400 && !continueOnError) break;
        continue;
      }
      // Atomic: keep an undo log, roll back on the first failure.
      this.undo = [];
      const results: { r: InnerResult; id?: string }[] = [];
      let failed: InnerResult | undefined;
      for (const op of unit.ops) {
        const r = run(op);
        if (r.status >= 400) {
          failed = r;
          break;
        }
        results.push({ r, id: op.contentId });
      }
      const undo = this.undo;
      this.undo = undefined;
      if (failed) {
        for (const u of undo.reverse()) u();
        out.push(`--${boundary}\r\n${render(failed)}`);
        if (!continueOnError) break;
        continue;
      }
      rows += results.reduce((n, x) => n + x.r.rows, 0);
      const cb = `changesetresponse_${randomUUID()}`;
      const inner = results.map((x) => `--${cb}\r\n${render(x.r, x.id)}`).join("\r\n");
      out.push(`--${boundary}\r\nContent-Type: multipart/mixed; boundary=${cb}\r\n\r\n${inner}\r\n--${cb}--`);
    }
    void url;
    return {
      status: 200,
      headers: { "Content-Type": `multipart/mixed; boundary=${boundary}` },
      body: `${out.join("\r\n")}\r\n--${boundary}--\r\n`,
      rows,
    };
  }
}

/** A body whose JSON text is already written (a page of rows). */
const JSON_TEXT = Symbol("json text");

/** A body's JSON text. */
function jsonText(body: unknown): string {
  const written = (body as { [JSON_TEXT]?: string })[JSON_TEXT];
  return written ?? JSON.stringify(body);
}

/** A response body as sent: text as it is, anything else as JSON. */
function encodeBody(body: unknown): { json: boolean; text?: string } {
  if (typeof body === "string" || body === undefined) return { json: false, text: body };
  return { json: true, text: jsonText(body) };
}

// Characters JSON.stringify escapes: quote, backslash, controls, surrogates.
// eslint-disable-next-line no-control-regex -- the control characters are what JSON escapes
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
function jsonString(v: string): string {
  return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
}

/** An OData string literal's value: its quotes off, each doubled quote one (OData URL Conventions: a quote inside is doubled). */
function stringLiteral(lit: string): string {
  return lit.slice(1, -1).replace(/''/g, "'");
}

/**
 * The arrival times in the quota's sliding window, oldest first: what `filter((t) => t > cutoff)`
 * on every request kept, without a new array per request. Times come in order, so the expired
 * ones are at the front; a time out of order (a request held by holdAnswers and released after a
 * later one was counted) makes it filter as before, which keeps the same times in the same order.
 */
class SlidingStamps {
  private times: number[] = [];
  private head = 0;
  private inOrder = true;

  get length(): number {
    return this.times.length - this.head;
  }

  /** The earliest counted of those still in the window. */
  get first(): number {
    return this.times[this.head];
  }

  push(t: number): void {
    if (this.times.length > this.head && t < this.times[this.times.length - 1]) this.inOrder = false;
    this.times.push(t);
  }

  keepAfter(cutoff: number): void {
    if (!this.inOrder) {
      this.times = this.times.slice(this.head).filter((t) => t > cutoff);
      this.head = 0;
      this.inOrder = this.times.every((t, i) => i === 0 || this.times[i - 1] <= t);
      return;
    }
    while (this.head < this.times.length && this.times[this.head] <= cutoff) this.head++;
    // Drop the expired front now and then, not on every request.
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }
}

/**
 * Execution time per request in the window, in the order the requests finished (so not in order
 * of their arrival `t`). Expired entries are dropped in place, and only when the oldest arrival
 * has left the window; the sum is added up in the same order as before (the same floating point
 * result as a reduce).
 */
class ExecWindow {
  readonly entries: { t: number; ms: number }[] = [];
  private oldest = Infinity;

  push(e: { t: number; ms: number }): void {
    this.entries.push(e);
    if (e.t < this.oldest) this.oldest = e.t;
  }

  keepAfter(cutoff: number): void {
    if (this.oldest > cutoff) return;
    const e = this.entries;
    let n = 0;
    let oldest = Infinity;
    for (let i = 0; i < e.length; i++) {
      if (e[i].t > cutoff) {
        e[n++] = e[i];
        if (e[i].t < oldest) oldest = e[i].t;
      }
    }
    e.length = n;
    this.oldest = oldest;
  }

  spent(): number {
    let n = 0;
    for (const e of this.entries) n += e.ms;
    return n;
  }
}

const EmulatorDefaults = {
  stats: (): EmulatorStats => ({ requests: 0, throttled: 0, byMethod: {}, bulkCalls: 0, batchCalls: 0, rowsWritten: 0, rowsRead: 0, maxInFlight: 0, bulkRejected: 0, sdkMessageFilterQueries: 0 }),
};

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  201: "Created",
  204: "No Content",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  412: "Precondition Failed",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

interface MimePart {
  headers: Record<string, string>;
  body: string;
}

/** Split a multipart body; returns undefined when the closing delimiter is missing. */
function splitMultipart(body: string, boundary: string): MimePart[] | undefined {
  const text = body.replace(/\r\n/g, "\n");
  const delim = `--${boundary}`;
  if (!text.includes(`${delim}--`)) return undefined;
  const segments = splitOnDelimiterLines(text, delim);
  const parts: MimePart[] = [];
  for (const seg of segments.slice(1, -1)) {
    const s = seg.replace(/^\n/, "");
    const sep = s.indexOf("\n\n");
    const head = sep < 0 ? s : s.slice(0, sep);
    const rest = sep < 0 ? "" : s.slice(sep + 2);
    const headers: Record<string, string> = {};
    for (const l of head.split("\n")) {
      const i = l.indexOf(":");
      if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    parts.push({ headers, body: rest.replace(/\n$/, "") });
  }
  return parts;
}

/**
 * `text.split(/^<delim>(?:--)?[ \t]*$/m)`: on the lines that are the delimiter (or the closing one)
 * and blanks. Without a regular expression, which would be a new one for every body (its boundary
 * is random), compiled anew and interpreted at first: most of a \$batch's parsing.
 */
function splitOnDelimiterLines(text: string, delim: string): string[] {
  const isLineEnd = (c: number) => c === 10 || c === 13 || c === 0x2028 || c === 0x2029;
  const segments: string[] = [];
  let start = 0;
  for (let q = text.indexOf(delim); q >= 0; q = text.indexOf(delim, q + 1)) {
    // `^`: at the start of the text or of a line.
    if (q > 0 && !isLineEnd(text.charCodeAt(q - 1))) continue;
    const after = q + delim.length;
    // `(?:--)?[ \t]*$`: the closing `--` if the rest of the line is blank after it, else the rest is blank.
    const blankTo = (from: number) => {
      let e = from;
      while (e < text.length && (text.charCodeAt(e) === 32 || text.charCodeAt(e) === 9)) e++;
      return e === text.length || isLineEnd(text.charCodeAt(e)) ? e : -1;
    };
    let end = text.startsWith("--", after) ? blankTo(after + 2) : -1;
    if (end < 0) end = blankTo(after);
    if (end < 0) continue;
    segments.push(text.slice(start, q));
    start = end;
    q = end - 1;
  }
  segments.push(text.slice(start));
  return segments;
}

function parseHttpMessage(text: string): { start: string; headers: Record<string, string>; body: string } {
  const lines = text.split("\n");
  const start = (lines.shift() ?? "").trim();
  const headers: Record<string, string> = {};
  while (lines.length > 0 && lines[0].trim() !== "") {
    const l = lines.shift()!;
    const i = l.indexOf(":");
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  lines.shift();
  return { start, headers, body: lines.join("\n").trim() };
}

/** Split on commas that are not inside parentheses. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

// ---- rows in key order ----------------------------------------------------------------------------

/** `__gone` set: the row was deleted or replaced by another object under its id (TableRows). */
type StoredRow = Row & { __seq?: string; __version?: string; __gone?: string };

/** An id in key order, with the row it had when last looked up (TableRows.scan). */
interface KeyEntry {
  k: string;
  id: string;
  row?: StoredRow;
}

/** What a filter says about the primary key of every row it matches (a superset to look at). */
interface KeyScope {
  /** Lower bound in SQL Server order, and whether it is included. */
  lo?: { k: string; incl: boolean };
  hi?: { k: string; incl: boolean };
  /** The row is one of these ids (lower-cased). */
  ids?: string[];
}

/**
 * A table's rows by id, plus their ids in SQL Server's uniqueidentifier order: the service reads
 * by its clustered primary-key index, so a key range or a page after a paging cookie starts where
 * the key is instead of scanning the table ("Page results": the cookie holds the last key read).
 * New ids are sorted in on the next ordered read; deleted ones are dropped then.
 */
class TableRows extends Map<string, StoredRow> {
  private sorted?: KeyEntry[];
  /** Ids added since the last ordered read, with their keys (worked out as they come). */
  private added?: KeyEntry[];
  /** Ids deleted since the last merge (still in `sorted`). */
  private gone = 0;

  /**
   * Column indexes (value → ids), kept up to date by every write as the service's indexes are, so
   * that no read pays for building one: a write files the row under its new values; the entry
   * under an old value stays until a lookup finds it no longer matches (`stale` counts them, and
   * the index is rebuilt once they outnumber the rows).
   */
  private columns: Map<string, { isString: boolean; byValue: Map<string, string[]>; stale: number }>;

  constructor(indexed: { col: string; isString: boolean }[]) {
    super();
    this.columns = new Map(indexed.map(({ col, isString }) => [col, { isString, byValue: new Map(), stale: 0 }]));
  }

  override set(id: string, row: StoredRow): this {
    const old = super.get(id);
    if (old !== undefined && old !== row) old.__gone = "1";
    if (row.__gone !== undefined) row.__gone = undefined; // a deleted row put back (an undo)
    if (!old) (this.added ??= []).push({ k: sqlServerGuidOrder(id), id, row });
    else this.unfiled();
    super.set(id, row);
    this.file(id, row);
    return this;
  }

  override clear(): void {
    // Every row goes (a test empties a table): none in key order or in an index, none trusted again.
    for (const row of super.values()) row.__gone = "1";
    this.sorted = undefined;
    this.added = undefined;
    this.gone = 0;
    for (const index of this.columns.values()) {
      index.byValue.clear();
      index.stale = 0;
    }
    super.clear();
  }

  override delete(id: string): boolean {
    this.unfiled();
    const old = super.get(id);
    if (!old) return false;
    old.__gone = "1";
    this.gone++;
    return super.delete(id);
  }

  /** A row's columns were changed in place. */
  changed(id: string): void {
    this.unfiled();
    const row = this.get(id);
    if (row) this.file(id, row);
  }

  /** File a row under its current values in every index. */
  private file(id: string, row: StoredRow): void {
    for (const [col, index] of this.columns) {
      const v = row[col];
      if (v === null || v === undefined) continue;
      const k = index.isString ? v.toLowerCase() : v;
      const ids = index.byValue.get(k);
      if (!ids) index.byValue.set(k, [id]);
      else if (ids[ids.length - 1] !== id) ids.push(id);
    }
  }

  /** A row left (or may have left) the values it is filed under; past as many as there are rows, the indexes are rebuilt (by a write, not a read). */
  private unfiled(): void {
    for (const [col, index] of this.columns) if (++index.stale > Math.max(1000, this.size)) this.index(col, index.isString, true);
  }

  private index(col: string, isString: boolean, rebuild = false): Map<string, string[]> {
    let index = this.columns.get(col);
    if (!index || index.isString !== isString || rebuild) {
      const byValue = new Map<string, string[]>();
      for (const [id, row] of this) {
        const v = row[col];
        if (v === null || v === undefined) continue;
        const k = isString ? v.toLowerCase() : v;
        const ids = byValue.get(k);
        if (ids) ids.push(id);
        else byValue.set(k, [id]);
      }
      index = { isString, byValue, stale: 0 };
      this.columns.set(col, index);
    }
    return index.byValue;
  }

  /** How many index entries `idsWhere` would look at: an upper bound of its answer, to pick the narrowest index. */
  countWhere(col: string, isString: boolean, values: string[]): number {
    const byValue = this.index(col, isString);
    let n = 0;
    for (const v of values) n += byValue.get(v)?.length ?? 0;
    return n;
  }

  /**
   * Ids of the rows whose `col` equals one of `values` (lower-cased for strings), from an index on
   * the column: the service's lookups by an indexed column (alternate keys, "Define alternate keys
   * to reference rows") cost no table scan.
   */
  idsWhere(col: string, isString: boolean, values: string[]): string[] {
    const byValue = this.index(col, isString);
    const out: string[] = [];
    for (const v of values) {
      for (const id of byValue.get(v) ?? []) {
        // An entry a write left behind (the row now has another value, or is gone) is skipped.
        const x = this.get(id)?.[col];
        if (x !== null && x !== undefined && (isString ? x.toLowerCase() : x) === v) out.push(id);
      }
    }
    return out;
  }

  /** Sort the ids added since the last ordered read into the key order now. */
  settle(): void {
    this.ordered();
  }

  private ordered(): KeyEntry[] {
    const sorted = this.sorted ?? [];
    if (!this.added?.length) return (this.sorted = sorted);
    const fresh = this.added.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
    this.added = [];
    if (fresh.length * 32 < sorted.length && this.gone * 8 < sorted.length) {
      // A few new ids (the rows of a small change) go in where their keys are, instead of merging
      // the whole table; deleted ids stay until the next merge (a read skips them).
      for (const e of fresh) {
        let [lo, hi] = [0, sorted.length];
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (sorted[mid].k < e.k) lo = mid + 1;
          else hi = mid;
        }
        // An id deleted and added again is there already.
        if (sorted[lo]?.k !== e.k) sorted.splice(lo, 0, e);
      }
      return sorted;
    }
    this.gone = 0;
    const merged: KeyEntry[] = [];
    let [i, j] = [0, 0];
    while (i < sorted.length || j < fresh.length) {
      const e = j >= fresh.length || (i < sorted.length && sorted[i].k <= fresh[j].k) ? sorted[i++] : fresh[j++];
      // A deleted id goes; one deleted and added again is there twice, side by side.
      if (this.has(e.id) && merged[merged.length - 1]?.id !== e.id) merged.push(e);
    }
    return (this.sorted = merged);
  }

  /**
   * Visit the rows (with their keys) in key order, within `scope`, after the key `after` (a paging
   * cookie), until `visit` returns false.
   */
  scan(scope: KeyScope | undefined, after: string, visit: (k: string, row: StoredRow) => boolean): void {
    if (scope?.ids) {
      // Each id once, in the order first named, with its row (one lookup each).
      const seen = new Set<string>();
      const hits: { k: string; row: StoredRow }[] = [];
      for (const id of scope.ids) {
        if (seen.has(id)) continue;
        seen.add(id);
        const row = this.get(id);
        if (row !== undefined) hits.push({ k: sqlServerGuidOrder(id), row });
      }
      hits.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
      for (const e of hits) if (e.k > after && !visit(e.k, e.row)) return;
      return;
    }
    const order = this.ordered();
    // First index whose key is above `k` (or at it, when `incl`).
    const from = (k: string, incl: boolean) => {
      let [lo, hi] = [0, order.length];
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (order[mid].k < k || (!incl && order[mid].k === k)) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    let i = Math.max(after ? from(after, false) : 0, scope?.lo ? from(scope.lo.k, scope.lo.incl) : 0);
    const hi = scope?.hi;
    // Where the range ends, found once: no key compared per row.
    const to = hi ? from(hi.k, !hi.incl) : order.length;
    for (; i < to; i++) {
      const e = order[i];
      // The row held by the entry, unless it was deleted or replaced since: a read of 5,000 rows
      // in key order then looks up none of them by id (a tenth of a 200,000-row refresh's time).
      let row = e.row;
      if (row === undefined || row.__gone !== undefined) row = e.row = this.get(e.id);
      if (row && !visit(e.k, row)) return;
    }
  }
}

// ---- $filter ------------------------------------------------------------------------------------

/** A row predicate; `equalities`: the `column eq value` conditions every matching row meets. */
type Pred = ((r: Row) => boolean) & {
  equalities?: Equality[];
  scope?: KeyScope;
  /** Every matching row has `col` equal to one of `values` (lower-cased for strings). */
  lookup?: Lookup;
  /** An `and`'s: every matching row meets each of these lookups (its terms'). */
  lookups?: Lookup[];
  /** An `and`'s terms; a term that is a key range on the primary key (`primaryRange`). */
  terms?: Pred[];
  primaryRange?: boolean;
  /** On the whole filter: what is left to test on rows read along its key range (scope). */
  residual?: Pred;
};
interface Lookup {
  col: string;
  isString: boolean;
  values: string[];
}
interface Equality {
  col: string;
  /** Lower-cased for strings, as eq compares them. */
  value: string;
  isString: boolean;
}

/**
 * The emulator's stand-in for the service's index on a column (alternate keys are indexed:
 * "Define alternate keys to reference rows"): an `or` of terms that each require `col eq value` on
 * one column looks the row's value up instead of trying every term, so a filter of hundreds of
 * keys costs what the model's per-request latency says, not hundreds of comparisons per row.
 * Same answers as trying every term; undefined when the terms share no such column.
 */
function indexedOr(terms: Pred[]): Pred | undefined {
  let best: { col: string; isString: boolean; byValue: Map<string, Pred[]> } | undefined;
  for (const { col, isString } of terms[0].equalities ?? []) {
    const byValue = new Map<string, Pred[]>();
    const indexable = terms.every((t) => {
      const e = t.equalities?.find((q) => q.col === col);
      if (e) byValue.set(e.value, [...(byValue.get(e.value) ?? []), t]);
      return e !== undefined;
    });
    // The column that tells the terms apart best (a key's value rather than its field name).
    if (indexable && byValue.size > (best?.byValue.size ?? 1)) best = { col, isString, byValue };
  }
  if (!best) return undefined;
  const { col, isString, byValue } = best;
  const or: Pred = (r) => {
    const v = r[col];
    if (v === null || v === undefined) return false;
    return (byValue.get(isString ? v.toLowerCase() : v) ?? []).some((t) => t(r));
  };
  return Object.assign(or, { lookup: { col, isString, values: [...byValue.keys()] } });
}

const LOOKUP_VALUE_RE = /^_(.+)_value$/;
interface EqColumn {
  /** As the filter names it. */
  name: string;
  col: string;
  ids: boolean;
  isString: boolean;
}
const GUID_LITERAL_RE = /^[0-9a-f-]{36}$/i;

function compileFilter(src: string, def: TableDef): Pred {
  // Unquoted literals include numbers and DateTimeOffset values (2024-05-01T10:00:00.000Z).
  const tokens = src.match(/'(?:[^']|'')*'|\(|\)|[A-Za-z0-9_.:+-]+/g) ?? [];
  let i = 0;
  const fail = (m: string): never => {
    throw new HttpError(400, "0x80060888", `Invalid $filter '${src}': ${m}`);
  };
  const peek = () => tokens[i];
  // A column as the filter names it (`_<lookup>_value` for a lookup), looked up once per filter
  // instead of searching the attributes for every term: the first attribute that fits, as a search would.
  const attrs = new Map<string, AttrDef>();
  for (const a of def.attributes) {
    const key = isLookup(a) ? `_${a.logicalName}_value` : a.logicalName;
    // A plain column named like `_x_value` is never found: that name means the lookup `x`.
    if (!isLookup(a) && LOOKUP_VALUE_RE.test(key)) continue;
    if (!attrs.has(key)) attrs.set(key, a);
  }
  /** A column `<column> eq <literal>` can look up in an index: an id column or a text column. */
  const eqColumn = (name: string | undefined): EqColumn | undefined => {
    const attr = name === undefined ? undefined : attrs.get(name);
    if (!attr) return undefined;
    const ids = isLookup(attr) || attr.type === "Uniqueidentifier";
    const isString = attr.type === "String" || attr.type === "Memo";
    return ids || isString ? { name: name!, col: attr.logicalName, ids, isString } : undefined;
  };
  /** A literal's value as primary() reads it for such a column: a Guid lower-cased; a string unquoted and lower-cased. */
  const eqValue = (c: EqColumn, lit: string | undefined): string | undefined => {
    if (lit === undefined) return undefined;
    if (c.ids && GUID_LITERAL_RE.test(lit)) return lit.toLowerCase();
    if (c.isString && lit.startsWith("'")) return stringLiteral(lit).toLowerCase();
    return undefined;
  };
  /**
   * The common long filters, `<column> eq <value> or <column> eq <value> or ...` on one id column
   * (Guid literals: the rows of a list of ids) or one text column (string literals: names or keys
   * to resolve), hundreds of terms, read without a predicate per term: the same rows, key scope
   * and index lookup as the general path builds from the terms (see the test "an or-list of ids
   * ..."). Any other shape, or an error anywhere in the list, leaves it to the general path.
   */
  const eqList = (): Pred | undefined => {
    const name = tokens[i];
    const column = eqColumn(name);
    if (!column) return undefined;
    const values: string[] = [];
    let j = i;
    for (;;) {
      if (tokens[j] !== name || tokens[j + 1] !== "eq") return undefined;
      const value = eqValue(column, tokens[j + 2]);
      if (value === undefined) return undefined;
      values.push(value);
      j += 3;
      if (tokens[j] !== "or") break;
      j++;
    }
    if (values.length < 2 || (tokens[j] !== undefined && tokens[j] !== ")")) return undefined;
    i = j;
    const { col, isString } = column;
    const set = new Set(values);
    const or: Pred = isString
      ? (r) => {
          const v = r[col];
          return v !== null && v !== undefined && set.has(v.toLowerCase());
        }
      : (r) => {
          const v = r[col];
          return v !== null && v !== undefined && set.has(v);
        };
    // indexedOr's lookup, which it gives only when the terms have more than one value.
    if (set.size > 1) or.lookup = { col, isString, values: [...set] };
    if (col === def.primaryId) or.scope = { ids: values };
    return or;
  };
  /**
   * The other long filter the client sends, rows by their keys: `(<a> eq <x> and <b> eq <y>) or
   * (<a> eq <z> and <b> eq <w>) or ...` (the same columns, in the same order, in every term), read
   * without predicates per term, with the index lookup (indexedOr's choice of column) and key
   * scope (andScope's) the general path gives. Any other shape is left to the general path.
   */
  const tupleList = (): Pred | undefined => {
    const cols: EqColumn[] = [];
    const rows: string[][] = [];
    let j = i;
    for (;;) {
      if (tokens[j] !== "(") return undefined;
      j++;
      const vals: string[] = [];
      for (;;) {
        const name = tokens[j];
        const m = vals.length;
        if (rows.length === 0) {
          const column = eqColumn(name);
          if (!column || cols.some((c) => c.col === column.col)) return undefined;
          cols.push(column);
        } else if (m >= cols.length || cols[m].name !== name) return undefined;
        if (tokens[j + 1] !== "eq") return undefined;
        const value = eqValue(cols[m], tokens[j + 2]);
        if (value === undefined) return undefined;
        vals.push(value);
        j += 3;
        if (tokens[j] === "and") {
          j++;
          continue;
        }
        if (tokens[j] !== ")" || vals.length !== cols.length) return undefined;
        j++;
        break;
      }
      if (cols.length < 2) return undefined;
      rows.push(vals);
      if (tokens[j] !== "or") break;
      j++;
    }
    if (rows.length < 2 || (tokens[j] !== undefined && tokens[j] !== ")")) return undefined;
    i = j;
    const n = cols.length;
    const matches = (r: Row, vals: string[]) => {
      for (let m = 0; m < n; m++) {
        const v = r[cols[m].col];
        if (v === null || v === undefined || (cols[m].isString ? v.toLowerCase() : v) !== vals[m]) return false;
      }
      return true;
    };
    // indexedOr: the column with the most values, if more than one (the first of equals).
    let best: { m: number; byValue: Map<string, string[][]> } | undefined;
    for (let m = 0; m < n; m++) {
      const byValue = new Map<string, string[][]>();
      for (const vals of rows) {
        const list = byValue.get(vals[m]);
        if (list) list.push(vals);
        else byValue.set(vals[m], [vals]);
      }
      if (byValue.size > (best?.byValue.size ?? 1)) best = { m, byValue };
    }
    let or: Pred;
    if (best) {
      const { col, isString } = cols[best.m];
      const byValue = best.byValue;
      or = (r) => {
        const v = r[col];
        if (v === null || v === undefined) return false;
        const list = byValue.get(isString ? v.toLowerCase() : v);
        return list !== undefined && list.some((vals) => matches(r, vals));
      };
      or.lookup = { col, isString, values: [...byValue.keys()] };
    } else or = (r) => rows.some((vals) => matches(r, vals));
    const key = cols.findIndex((c) => c.col === def.primaryId);
    if (key >= 0) or.scope = { ids: rows.map((vals) => vals[key]) };
    return or;
  };
  const orExpr = (): Pred => {
    const list = eqList() ?? tupleList();
    if (list) return list;
    const terms = [andExpr()];
    while (peek() === "or") {
      i++;
      terms.push(andExpr());
    }
    if (terms.length === 1) return terms[0];
    const or: Pred = indexedOr(terms) ?? ((r) => terms.some((t) => t(r)));
    // Every term names its ids: the rows are among them (a lookup by the primary key's index).
    if (terms.every((t) => t.scope?.ids)) or.scope = { ids: terms.flatMap((t) => t.scope!.ids!) };
    return or;
  };
  const andExpr = (): Pred => {
    const terms = [primary()];
    while (peek() === "and") {
      i++;
      terms.push(primary());
    }
    if (terms.length === 1) return terms[0];
    const and: Pred = (r) => {
      for (const t of terms) if (!t(r)) return false;
      return true;
    };
    return Object.assign(and, { equalities: terms.flatMap((t) => t.equalities ?? []), scope: andScope(terms), terms, lookups: terms.flatMap((t) => t.lookups ?? (t.lookup ? [t.lookup] : [])) });
  };
  const primary = (): Pred => {
    if (peek() === "(") {
      i++;
      const e = orExpr();
      if (tokens[i++] !== ")") fail("missing )");
      return e;
    }
    const name = tokens[i++] ?? fail("unexpected end");
    const op = tokens[i++];
    const lit = tokens[i++] ?? fail("missing value");
    if (!["eq", "ne", "gt", "ge", "lt", "le"].includes(op)) fail(`unsupported operator '${op}'`);
    const attr = attrs.get(name);
    if (!attr) fail(`could not find a property named '${name}' on type 'Microsoft.Dynamics.CRM.${def.logicalName}'`);
    let value: string | null;
    if (lit === "null") value = null;
    else if (lit.startsWith("'")) {
      if (isLookup(attr!) || attr!.type === "Uniqueidentifier") fail(`a Guid is expected for '${name}', not a string literal`);
      // OData types the comparison: "A binary operator with incompatible types was detected".
      if (NUMERIC_TYPES.includes(attr!.type) || attr!.type === "DateTime") fail(`incompatible types: '${name}' is ${attr!.type}, the literal is a string`);
      value = stringLiteral(lit).toLowerCase();
    } else if (GUID_LITERAL_RE.test(lit) && (isLookup(attr!) || attr!.type === "Uniqueidentifier")) value = lit.toLowerCase();
    else if (NUMERIC_TYPES.includes(attr!.type) && /^-?\d+$/.test(lit)) value = lit;
    else if (attr!.type === "DateTime" && !Number.isNaN(Date.parse(lit)) && /^\d{4}-\d{2}-\d{2}T/.test(lit)) value = lit;
    else value = fail(`bad literal '${lit}' for '${name}' (${attr!.type})`);
    const col = attr!.logicalName;
    const isString = attr!.type === "String" || attr!.type === "Memo";
    if (op !== "eq" && op !== "ne" && (NUMERIC_TYPES.includes(attr!.type) || attr!.type === "DateTime")) {
      // Numbers and times compare by value ("Filter rows": gt, ge, lt, le).
      const key = (v: string) => (attr!.type === "DateTime" ? Date.parse(v) : Number(v));
      const bound = key(value!);
      return (r) => {
        const v = r[col];
        if (v === null || v === undefined) return false;
        const k = key(v);
        return op === "gt" ? k > bound : op === "ge" ? k >= bound : op === "lt" ? k < bound : k <= bound;
      };
    }
    if (op !== "eq" && op !== "ne") {
      // Ranges on ids, compared as SQL Server compares uniqueidentifier (what Dataverse stores).
      if (attr!.type !== "Uniqueidentifier" && attr!.type !== "Lookup") fail(`operator '${op}' is only modelled for Guid columns here`);
      if (value === null) fail(`'${op}' needs a value`);
      const bound = sqlServerGuidOrder(value!);
      const range: Pred = (r) => {
        const v = r[col];
        if (!v) return false;
        const k = sqlServerGuidOrder(v);
        return op === "gt" ? k > bound : op === "ge" ? k >= bound : op === "lt" ? k < bound : k <= bound;
      };
      if (col === def.primaryId) {
        range.scope = op === "gt" || op === "ge" ? { lo: { k: bound, incl: op === "ge" } } : { hi: { k: bound, incl: op === "le" } };
        range.primaryRange = true;
      }
      return range;
    }
    // How values compare, chosen once: the predicate runs on every row a read looks at.
    const same: (v: string, value: string) => boolean = NUMERIC_TYPES.includes(attr!.type)
      ? (v, x) => Number(v) === Number(x)
      : attr!.type === "DateTime"
        ? (v, x) => Date.parse(v) === Date.parse(x)
        : isString
          ? (v, x) => v.toLowerCase() === x
          : (v, x) => v === x;
    const eq = (r: Row) => {
      const v = r[col] ?? null;
      if (value === null || v === null) return v === value;
      return same(v, value);
    };
    if (op !== "eq") return (r) => !eq(r);
    // A string or id compared for equality: what indexedOr looks rows up by.
    const indexable = value !== null && (isString || attr!.type === "Uniqueidentifier" || isLookup(attr!));
    if (!indexable) return eq;
    return Object.assign(eq, { equalities: [{ col, value: value!, isString }], scope: col === def.primaryId ? { ids: [value!] } : undefined, lookup: { col, isString, values: [value!] } });
  };
  const p = orExpr();
  if (i !== tokens.length) fail(`unexpected '${tokens[i]}'`);
  // The filter's top-level `and` terms: read along its key range, the range terms hold already.
  const top: Pred[] = [];
  const flatten = (x: Pred): void => void (x.terms ? x.terms.forEach(flatten) : top.push(x));
  flatten(p);
  if (p.scope && !p.scope.ids) {
    const rest = top.filter((x) => !x.primaryRange);
    const [a, b] = rest;
    p.residual = rest.length === 0 ? () => true : rest.length === 1 ? a : rest.length === 2 ? (r) => a(r) && b(r) : (r) => rest.every((x) => x(r));
  }
  return p;
}

/** What an `and` says about the primary key: one term's ids, else the tightest of the terms' bounds. */
function andScope(terms: Pred[]): KeyScope | undefined {
  const scopes = terms.map((t) => t.scope).filter((x): x is KeyScope => x !== undefined);
  const withIds = scopes.find((x) => x.ids);
  if (withIds || scopes.length <= 1) return withIds ?? scopes[0];
  const tighter = (a: KeyScope["lo"], b: KeyScope["lo"], lower: boolean) =>
    !a ? b : !b ? a : a.k === b.k ? { k: a.k, incl: a.incl && b.incl } : (a.k > b.k) === lower ? a : b;
  return scopes.reduce((a, b) => ({ lo: tighter(a.lo, b.lo, true), hi: tighter(a.hi, b.hi, false) }));
}

/**
 * SQL Server orders uniqueidentifier by bytes 10-15, then 8-9, 6-7, 4-5, 0-3 of the .NET byte
 * layout (SqlGuid's comparison order). Written out here, independently of the client's copy.
 */
function sqlServerGuidOrder(id: string): string {
  // An id in the usual 8-4-4-4-12 form: its key from its characters (a fifth of a microsecond, less
  // than a look-up in a cache of every id seen), as one flat string: keys joined from slices were
  // flattened again by the first comparison of a sort. Anything else as guidOrder splits it.
  const s = id.toLowerCase();
  if (!CANONICAL_GUID_RE.test(s)) return guidOrder(id);
  const c = (i: number) => s.charCodeAt(i);
  return String.fromCharCode(
    c(24), c(25), c(26), c(27), c(28), c(29), c(30), c(31), c(32), c(33), c(34), c(35), // group 5
    c(19), c(20), c(21), c(22), // group 4
    c(16), c(17), c(14), c(15), // group 3, bytes reversed
    c(11), c(12), c(9), c(10), // group 2, bytes reversed
    c(6), c(7), c(4), c(5), c(2), c(3), c(0), c(1), // group 1, bytes reversed
  );
}
// No line terminators: guidOrder's /../ would not pair them.
const CANONICAL_GUID_RE = /^[^-\n\r\u2028\u2029]{8}-[^-\n\r\u2028\u2029]{4}-[^-\n\r\u2028\u2029]{4}-[^-\n\r\u2028\u2029]{4}-[^-\n\r\u2028\u2029]{12}$/;

function guidOrder(id: string): string {
  const g = id.toLowerCase().split("-");
  const rev = (x: string) => (x.match(/../g) ?? []).reverse().join("");
  // In the .NET layout groups 1-3 are little-endian: bytes 6-7 are group 3's bytes reversed, etc.
  return g[4] + g[3] + rev(g[2]) + rev(g[1]) + rev(g[0]);
}
