/**
 * The Dataverse client's writes: `CreateMultiple` / `UpdateMultiple` where the table supports
 * them, `$batch` with change sets otherwise, and deletes through `$batch`.
 *
 * - Bulk support is found the way Microsoft documents it ("Use bulk operation messages"): one
 *   `sdkmessagefilters` query per table and message per client. The actions are bound to
 *   `Collection(crmbaseentity)`, so the URL always resolves; a table without them answers
 *   0x80040800 (SdkEntityDoesNotSupportMessage), which also switches that table to `$batch` should
 *   the query have said otherwise.
 * - Chunks: at most 1000 operations per request; the size adapts so a request stays well inside
 *   the two-minute budget (EWMA of ms per row; halved on a timeout), and the rows go out in equal
 *   chunks, as few as those limits allow and a multiple of the parallel requests, so every slot
 *   is busy to the end and the last requests finish together (chunkPlan).
 * - Every message built from a response goes through the transport's redaction.
 *
 * Serialized with the providers: state (what each table supports, the chunk-size estimates) lives
 * in the closures of one client.
 */
import { BatchOp, OpResult, buildBatch, parseBatchResponse } from "./batch";
import type { DataverseClient, RecordSource, Resp, TableRef, WriteResult } from "./client";
import { isDataverseError } from "./errors";
import { HARD_MAX_BATCH, type Transport, errorOf } from "./transport";

export type Writes = Pick<DataverseClient, "supportsMessage" | "trustBulk" | "bulkConfirmed" | "createMany" | "updateMany" | "deleteMany" | "batch">;

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

/**
 * `{"Targets":[...]}` of a CreateMultiple/UpdateMultiple request, as bytes: the same bytes as one
 * `JSON.stringify` of the whole body, written row by row into a buffer of the exact size. A body
 * is some 500 KB: as one string it went to V8's large-object space, where it stayed until a full
 * garbage collection after its bytes were copied out (tens of MB of dead text at the peak of a
 * 50,000-row create); a row's text is small and dies young. JSON and Buffer are taken once: in the
 * serialized provider a global named in a loop is looked up through a with-scope per use.
 */
function bulkBody(logicalName: string, idx: number[], get: (i: number) => Record<string, unknown>): Buffer {
  const type = `Microsoft.Dynamics.CRM.${logicalName}`;
  const stringify = JSON.stringify;
  const bytes = Buffer.byteLength;
  const [head, tail] = ['{"Targets":[', "]}"];
  const texts: string[] = new Array(idx.length);
  let size = head.length + tail.length + Math.max(0, idx.length - 1);
  for (let j = 0; j < idx.length; j++) {
    const text = stringify({ "@odata.type": type, ...get(idx[j]) });
    texts[j] = text;
    size += bytes(text, "utf8");
  }
  const body = Buffer.allocUnsafe(size);
  let at = body.write(head, 0, "utf8");
  for (let j = 0; j < texts.length; j++) {
    if (j > 0) at += body.write(",", at, "utf8");
    at += body.write(texts[j], at, "utf8");
  }
  body.write(tail, at, "utf8");
  return body;
}

export function createWrites(t: Transport, getJson: <T>(path: string) => Promise<T>): Writes {
  const support = createBulkSupport(t, getJson);
  const chunker = createChunker(t);
  const batch = (ops: BatchOp[], changeSetSize = t.settings.changeSetSize, onSent?: () => void) => sendBatch(t, ops, changeSetSize, onSent);
  const deps: WriteDeps = { t, support, chunker, batch };
  return {
    supportsMessage: support.supportsMessage,
    trustBulk: support.trust,
    bulkConfirmed: support.confirmedFor,
    createMany: (table, records, progress = "", planRows) => writeMany(deps, table, "create", records, progress, planRows),
    updateMany: (table, records, progress = "", planRows) => writeMany(deps, table, "update", records, progress, planRows),
    async deleteMany(table, ids, progress = "", written, planRows) {
      const result: WriteResult = { failures: [], uncertain: [] };
      await chunker.chunked(`${table.entitySet}:delete`, ids.length, async (idx, sent) => {
        const res = await batch(idx.map((i) => ({ method: "DELETE", path: `${table.entitySet}(${ids[i]})` })), undefined, sent);
        res.forEach((r, j) => {
          if (r.status !== 204 && r.status !== 404) result.failures.push(failureOf(t, idx[j], r));
          else written?.(idx[j]); // 404: already gone
        });
      }, progress, 0, minChunkFor(planRows, t.pacing.limit, t.settings.maxBatchSize));
      return result;
    },
    batch,
  };
}

interface WriteDeps {
  t: Transport;
  support: ReturnType<typeof createBulkSupport>;
  chunker: ReturnType<typeof createChunker>;
  batch: (ops: BatchOp[], changeSetSize?: number, onSent?: () => void) => Promise<OpResult[]>;
}

function failureOf(t: Transport, index: number, r: OpResult) {
  const e = errorOf(r.body);
  return { index, status: r.status, code: e.code, message: t.redact(e.message ?? `HTTP ${r.status}`) };
}

/** Which tables support which bulk messages, asked once per client and corrected by the service's answers. */
function createBulkSupport(t: Transport, getJson: <T>(path: string) => Promise<T>) {
  /** `<table>:<message>` → whether the table supports it (one sdkmessagefilters query each). */
  const known = new Map<string, Promise<boolean | undefined>>();
  /** `<table>:<message>` pairs a bulk call has succeeded for in this client. */
  const confirmed = new Set<string>();
  return {
    /**
     * Whether `table` supports `message` (CreateMultiple, UpdateMultiple), with the query Microsoft
     * documents ("Use bulk operation messages", Availability with standard tables). `undefined`
     * when the query itself failed (e.g. no read privilege on sdkmessagefilter): the first bulk
     * call then tells.
     */
    supportsMessage(table: Pick<TableRef, "logicalName">, message: string): Promise<boolean | undefined> {
      const key = `${table.logicalName}:${message}`;
      let p = known.get(key);
      if (!p) {
        const q =
          `sdkmessagefilters?$select=sdkmessagefilterid&$filter=${encodeURIComponent("sdkmessageid/name eq @message and primaryobjecttypecode eq @table")}` +
          `&@message=${encodeURIComponent(`'${message}'`)}&@table=${encodeURIComponent(`'${table.logicalName}'`)}`;
        p = getJson<{ value?: unknown[] }>(q).then(
          (r) => Array.isArray(r?.value) && r.value.length > 0,
          (e: Error) => {
            t.log("warn", `could not ask Dataverse whether ${table.logicalName} supports ${message} (${e.message.split("\n")[0]}); trying it once`);
            return undefined;
          },
        );
        known.set(key, p);
      }
      return p;
    },
    mark(table: TableRef, message: string, supported: boolean): void {
      const key = `${table.logicalName}:${message}`;
      known.set(key, Promise.resolve(supported));
      if (!supported) confirmed.delete(key);
    },
    confirm: (table: TableRef, message: string) => void confirmed.add(`${table.logicalName}:${message}`),
    isConfirmed: (table: TableRef, message: string) => confirmed.has(`${table.logicalName}:${message}`),
    /**
     * Messages an earlier run confirmed for `table` (the state keeps them, sync.ts `bulkMessages`):
     * used at once, without the sdkmessagefilters query or a probe first. Should the table refuse
     * one now, each request of that first round is refused once and re-sent through $batch.
     */
    trust(table: Pick<TableRef, "logicalName">, messages: string[]): void {
      for (const m of messages) {
        known.set(`${table.logicalName}:${m}`, Promise.resolve(true));
        confirmed.add(`${table.logicalName}:${m}`);
      }
    },
    /** The messages confirmed (or trusted) for `table` and not refused since. */
    confirmedFor: (table: Pick<TableRef, "logicalName">): string[] => [...confirmed].filter((k) => k.startsWith(`${table.logicalName}:`)).map((k) => k.slice(table.logicalName.length + 1)),
  };
}

/**
 * Runs rows through `send` in chunks, as many at a time as the service allows, with the chunk size
 * learnt per table and operation (ms per row, EWMA).
 */
function createChunker(t: Transport) {
  const msPerRow = new Map<string, number>();
  const chunkSize = (key: string): number => {
    const ms = msPerRow.get(key);
    return ms ? Math.max(1, Math.min(t.settings.maxBatchSize, Math.floor(t.settings.requestBudgetMs / 4 / ms))) : t.settings.maxBatchSize;
  };
  const observe = (key: string, rows: number, elapsed: number): void => {
    const per = Math.max(0.001, elapsed / Math.max(1, rows));
    const prev = msPerRow.get(key);
    msPerRow.set(key, prev === undefined ? per : prev * 0.7 + per * 0.3);
  };

  /**
   * Run rows `from..total-1` through `send`, in equal chunks: the fewest requests the per-request
   * limits allow (1000 operations, the two-minute budget), rounded up to a multiple of the parallel
   * requests (x-ms-dop-hint) so that every slot sends the same number of equal chunks and all of
   * them finish together (no tail of ever smaller requests; chunks of at least MIN_CHUNK rows).
   * Re-planned from the rows left when the budget learnt from the answers shrinks below the chunk.
   * A chunk that times out is split in half and re-queued (and the estimate raised), so one slow
   * batch does not sink the run. After a failure no new chunk starts, and the error is thrown once
   * the chunks in flight have settled, so what the caller reads back afterwards is what was written.
   */
  async function chunked(key: string, total: number, send: (idx: number[], sent: () => void) => Promise<void>, progress: string, from = 0, minChunk = MIN_CHUNK): Promise<void> {
    const queue: number[][] = [];
    const parallel = Math.max(1, t.pacing.limit);
    let [pos, done, lastLog] = [from, from, 0];
    let size = chunkPlan(total - from, chunkSize(key), parallel, minChunk);
    let failure: { e: unknown } | undefined;
    const take = (): number[] | undefined => {
      if (failure) return undefined;
      const q = queue.shift();
      if (q || pos >= total) return q;
      const budget = chunkSize(key);
      if (budget < size) size = chunkPlan(total - pos, budget, parallel, minChunk);
      const n = Math.min(size, total - pos);
      pos += n;
      return Array.from({ length: n }, (_, i) => pos - n + i);
    };
    const worker = async () => {
      for (let idx = take(); idx; idx = take()) {
        // Timed from when the chunk's first request left: a wait for a slot or for room in the
        // execution-time budget is not the service's time per row.
        let t0 = 0;
        try {
          await send(idx, () => (t0 ||= Date.now()));
          observe(key, idx.length, Date.now() - (t0 || Date.now()));
          done += idx.length;
          if (progress && (done === total || Date.now() - lastLog > 2000)) {
            lastLog = Date.now();
            t.log("info", `${progress}: ${done}/${total} rows`);
          }
        } catch (e) {
          if (isDataverseError(e) && e.code === "timeout" && idx.length > 1) {
            msPerRow.set(key, Math.max(msPerRow.get(key) ?? 0, (Date.now() - (t0 || Date.now())) / idx.length) * 2);
            const half = Math.ceil(idx.length / 2);
            queue.push(idx.slice(0, half), idx.slice(half));
            t.log("warn", `${progress}: a request of ${idx.length} rows timed out; splitting`);
            continue;
          }
          failure ??= { e };
        }
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    if (failure) throw failure.e;
  }

  return { chunked };
}

/**
 * Rows per request for `rows` rows: the fewest requests of at most `budget` rows, rounded up to a
 * multiple of `parallel` (each slot the same work), unless chunks would fall below `minChunk` rows.
 */
export function chunkPlan(rows: number, budget: number, parallel: number, minChunk = MIN_CHUNK): number {
  if (rows <= 0) return 1;
  const fewest = Math.ceil(rows / budget);
  const balanced = Math.ceil(fewest / parallel) * parallel;
  const requests = Math.max(fewest, Math.min(balanced, Math.ceil(rows / minChunk)));
  return Math.ceil(rows / requests);
}

/**
 * The smallest chunk for one write call of a plan of `planRows` rows (its creates, updates and
 * deletes together, sent at the same time): the plan's share of one slot, so that every write call
 * spreads its rows over its share of the slots and the whole plan goes out in one round of
 * requests, each as small as the slots allow. A row's time dominates a request's (Microsoft's bulk
 * sample writes 100 rows a second: 100 rows in 2 requests of 50 take 0.5 s, in 50 of 2, 20 ms), and
 * a second round costs a request's latency again: 2,000 rows over 12 slots went out as 34 requests
 * of 50 to 83 rows in three rounds, now 12 of 167 in one. A plan whose share is more than
 * `maxChunk` rows (a request's limit) needs several rounds anyway: MIN_CHUNK, and chunkPlan
 * balances the rounds.
 */
export function minChunkFor(planRows: number | undefined, parallel: number, maxChunk = HARD_MAX_BATCH): number {
  return planRows !== undefined && fitsOneRound(planRows, parallel, maxChunk) ? Math.max(1, Math.ceil(planRows / Math.max(1, parallel))) : MIN_CHUNK;
}

/** Whether a plan of `planRows` rows goes out in one round of requests (its share of a slot fits one). */
function fitsOneRound(planRows: number, parallel: number, maxChunk: number): boolean {
  return Math.ceil(planRows / Math.max(1, parallel)) <= maxChunk;
}

/**
 * Create or update rows (each with its primary id set by the caller, so a retried create cannot
 * duplicate; an update never creates: If-Match: * in $batch). `source` may build row i on demand,
 * so 50,000 request bodies never exist at once. Bulk until the table is known not to support the
 * message; a table the sdkmessagefilters query could not vouch for, or any table when the plan
 * needs more than one round of requests, gets one small probe first, so a refusal costs one call,
 * not one per parallel request (unless an earlier run confirmed the message: createBulkSupport
 * `trust`).
 */
async function writeMany(w: WriteDeps, table: TableRef, mode: "create" | "update", source: RecordSource, progress: string, planRows?: number): Promise<WriteResult> {
  const result: WriteResult = { failures: [], uncertain: [] };
  const action = mode === "create" ? "CreateMultiple" : "UpdateMultiple";
  const count = Array.isArray(source) ? source.length : source.count;
  const get = Array.isArray(source) ? (i: number) => source[i] : source.get;
  if (count === 0) return result;
  const vouched = await w.support.supportsMessage(table, action);
  const state = { bulk: vouched !== false };
  const written = Array.isArray(source) ? undefined : source.written;
  /** Settles when the probe was answered: the other chunks are built meanwhile, and sent after. */
  let probed: Promise<unknown> = Promise.resolve();
  const sendChunk = async (idx: number[], sent: () => void = () => undefined) => {
    const before = { failures: result.failures.length, uncertain: result.uncertain.length };
    if (!(state.bulk && (await sendBulk(w, table, mode, action, idx, get, result, state, probed, sent)) === "done")) await sendAsBatch(w, table, mode, idx, get, result, sent);
    if (!written) return;
    // Every row of the chunk the service confirmed: neither failed nor of unknown outcome.
    const unconfirmed = new Set([...result.failures.slice(before.failures).map((f) => f.index), ...result.uncertain.slice(before.uncertain)]);
    for (const i of idx) if (!unconfirmed.has(i)) written(i);
  };
  // The probe carries no more than a request of this plan would: a small plan's probe is a row or two.
  const minChunk = minChunkFor(planRows, w.t.pacing.limit, w.t.settings.maxBatchSize);
  const probeRows = Math.min(BULK_PROBE_ROWS, minChunk);
  // A plan that goes out in one round, on a table the query vouched for, goes out at once: a probe
  // would be one more round trip than the plan's own (a 1% change's writes wait for it), and
  // should the query be wrong, that one round is refused (0x80040800, before any row is written)
  // and re-sent through $batch, at no more cost than the probe saves.
  const oneRound = vouched === true && planRows !== undefined && fitsOneRound(planRows, w.t.pacing.limit, w.t.settings.maxBatchSize);
  if (!(state.bulk && !w.support.isConfirmed(table, action) && count > probeRows && !oneRound)) {
    await w.chunker.chunked(`${table.entitySet}:${mode}`, count, sendChunk, progress, 0, minChunk);
    return result;
  }
  // The probe's round trip overlaps building the first chunks' bodies; they leave once it is
  // answered (through $batch if the table refused it), so a refusal still costs one call. The
  // bodies are built once the probe has left (a turn after it was handed to the transport), not
  // before: building them first would hold the probe back by as long.
  let probeLeft: () => void = () => undefined;
  const left = new Promise<void>((resolve) => (probeLeft = resolve));
  const probe = sendChunk(Array.from({ length: probeRows }, (_, i) => i), () => probeLeft());
  probed = probe;
  const rest = Promise.race([left, probe.then(() => undefined, () => undefined)])
    .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
    .then(() => w.chunker.chunked(`${table.entitySet}:${mode}`, count, sendChunk, progress, probeRows, minChunk));
  const [p, r] = await Promise.allSettled([probe, rest]);
  if (p.status === "rejected") throw p.reason;
  if (r.status === "rejected") throw r.reason;
  return result;
}

/** One CreateMultiple/UpdateMultiple call: "done", or "batch" when the rows must go through `$batch`. */
async function sendBulk(
  w: WriteDeps,
  table: TableRef,
  mode: "create" | "update",
  action: string,
  idx: number[],
  get: (i: number) => Record<string, unknown>,
  result: WriteResult,
  state: { bulk: boolean },
  probed: Promise<unknown>,
  sent: () => void,
): Promise<"done" | "batch"> {
  const { t } = w;
  const path = `${table.entitySet}/Microsoft.Dynamics.CRM.${action}`;
  // Encoded before the request (while the probe is answered): only the bytes stay alive until they
  // are sent, not up to 1,000 row objects and their JSON text per request (52 requests at once);
  // once sent, not even those (the transport's bodyOf): a retry encodes the rows again.
  let encoded: Buffer | undefined = bulkBody(table.logicalName, idx, get);
  const bodyOf = () => {
    const body = encoded ?? bulkBody(table.logicalName, idx, get);
    encoded = undefined;
    return body;
  };
  const probeFailed = await probed.then(() => undefined, (e: unknown) => ({ e }));
  if (probeFailed) throw probeFailed.e; // the run stops: nothing more is sent
  if (!state.bulk) return "batch"; // the probe was refused meanwhile
  t.stats.writeRequests++;
  let r: Resp;
  try {
    r = await t.request("POST", path, { bodyOf, headers: { "Content-Type": "application/json; charset=utf-8" }, rows: idx.length, onSent: sent });
  } catch (e) {
    if (mode === "create" && isDataverseError(e) && e.status === 0 && e.code === "network") {
      result.uncertain.push(...idx);
      return "done";
    }
    throw e;
  }
  if (r.status === 200 || r.status === 204) {
    w.support.confirm(table, action);
    return "done";
  }
  const err = errorOf(r.data);
  if (isNotSupported(err)) {
    // Dataverse answers an unsupported table with 0x80040800 (SdkEntityDoesNotSupportMessage),
    // not with a 404: the action is bound to Collection(crmbaseentity) and always resolves.
    state.bulk = false;
    w.support.mark(table, action, false);
    t.stats.bulkRejected++;
    t.log("info", `${table.logicalName} does not support ${action} (${err.code ?? r.status}: ${err.message ?? ""}); using $batch`);
    return "batch";
  }
  if (mode === "create" && r.status === 412) {
    // Bulk messages are atomic: a duplicate of one of our client-chosen ids means an earlier
    // (retried) attempt committed, or someone created it meanwhile. Re-check next pass.
    result.uncertain.push(...idx);
    return "done";
  }
  if (r.status >= 400 && r.status < 500 && idx.length > 1) {
    // A data error in one row fails the whole (atomic) request: isolate it through $batch.
    t.log("warn", `${action} of ${idx.length} rows failed (HTTP ${r.status}: ${err.message ?? ""}); retrying them one by one to isolate the failing rows`);
    return "batch";
  }
  if (r.status >= 400 && r.status < 500 && ![401, 403, 429].includes(r.status) && idx.length === 1) {
    // A request of one row (a small plan spread over every slot): the error is that row's.
    result.failures.push(failureOf(t, idx[0], { status: r.status, headers: {}, body: r.data }));
    return "done";
  }
  return t.fail("POST", path, r);
}

/** The rows as `$batch` operations; failures and uncertain creates recorded by row. */
async function sendAsBatch(w: WriteDeps, table: TableRef, mode: "create" | "update", idx: number[], get: (i: number) => Record<string, unknown>, result: WriteResult, sent: () => void): Promise<void> {
  const ops: BatchOp[] = idx.map((i) => {
    const rec = get(i);
    if (mode === "create") return { method: "POST", path: table.entitySet, body: rec };
    const { [table.primaryId]: id, ...rest } = rec;
    return { method: "PATCH", path: `${table.entitySet}(${String(id)})`, body: rest, headers: { "If-Match": "*" } };
  });
  const res = await w.batch(ops, undefined, sent);
  res.forEach((r, j) => {
    if (r.status >= 200 && r.status < 300) return;
    if (mode === "create" && r.status === 412) result.uncertain.push(idx[j]);
    else result.failures.push(failureOf(w.t, idx[j], r));
  });
}

/**
 * Send ops as one or more `$batch` requests (≤ 1000 ops each) with change sets and
 * continue-on-error. Change sets that were rolled back are re-run one op per change set to
 * isolate the failing op; ops that failed transiently (5xx, 429 inside the batch, not executed)
 * are retried a bounded number of times.
 */
async function sendBatch(t: Transport, ops: BatchOp[], changeSetSize: number, onSent?: () => void): Promise<OpResult[]> {
  const results: OpResult[] = new Array(ops.length);
  let pending = ops.map((_, i) => i);
  let size = changeSetSize;
  for (let round = 0; pending.length > 0; round++) {
    const next: number[] = [];
    for (let start = 0; start < pending.length; start += HARD_MAX_BATCH) {
      const idx = pending.slice(start, start + HARD_MAX_BATCH);
      const { contentType, body, units } = buildBatch(t.apiRoot, idx.map((i) => ops[i]), size);
      t.stats.writeRequests++;
      const r = await t.request("POST", "$batch", { rawBody: Buffer.from(body, "utf8"), headers: { "Content-Type": contentType, Prefer: "odata.continue-on-error" }, rows: idx.length, onSent });
      if (r.status !== 200) t.fail("POST", "$batch", r);
      const parsed = parseBatchResponse(r.headers["content-type"] ?? "", r.text, units, idx.length);
      parsed.forEach((p, j) => {
        const transient = p.status === 0 || p.status === 429 || p.status >= 500;
        if ((p.rolledBack || transient) && round < t.settings.maxRetries) next.push(idx[j]);
        else results[idx[j]] = p;
      });
    }
    if (next.length > 0) {
      t.stats.retries++;
      await t.pause(t.backoff(round + 1), "POST $batch");
    }
    pending = next;
    size = 1; // isolate on re-runs
  }
  return results;
}
