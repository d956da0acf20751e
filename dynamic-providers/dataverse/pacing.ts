/**
 * The Dataverse client's pacing: how many requests may be in flight (the service's
 * `x-ms-dop-hint`, capped at 52, its concurrent-request limit), the execution time they may take
 * in the service's sliding window, and the service-protection pause after a 429 (`Retry-After`, or
 * a growing backoff when the 429 names no wait).
 *
 * Execution time ("Service protection API limits": 20 minutes of combined execution time per
 * 5-minute sliding window): the client counts what its requests took, from when each was sent,
 * plus what the requests in flight will take (ms per row written, learnt from the answers). A
 * request's elapsed time is at least what the service counts; a write's is counted at most at the
 * fastest rate per row seen (+10%), so time it spent queued (behind the client's or the server's
 * other work) is not taken for execution. A request that would take the window
 * past the budget waits until enough of the oldest ones leave the window, instead of being sent,
 * throttled with a Retry-After that grows with every request that arrives during it, and resent.
 *
 * A 429 pauses *all* requests of the client: the pause is set before the throttled request frees
 * its slot, and `waitOutPause` runs again right before a request is sent, so no request leaves
 * during a pause. A pause the client may not wait out (longer than its cap, or past the operation's
 * deadline) is not slept through: every request waiting for it fails at once with the reason.
 *
 * State lives in the closure of `createPacing`, one per client. Serialized with the providers.
 */
import { formatDuration, sleep } from "../http";

type Log = (level: "info" | "warn" | "debug", message: string) => void;

export interface PacingOptions {
  /** Upper bound, whatever x-ms-dop-hint says. */
  maxConcurrency: number;
  /** Until the service sends x-ms-dop-hint. */
  initialConcurrency: number;
  /** The wait after a 429 without Retry-After never exceeds this. */
  maxRetryAfterMs: number;
  /** Backoff for the n-th 429 in a row that names no wait. */
  backoff: (n: number) => number;
  /** Execution time the client's requests may take per window (Infinity: not paced). */
  executionBudgetMs: number;
  executionWindowMs: number;
  log: Log;
}

/** What `acquire` takes for one request: the rows it writes (0 for a read), for its cost estimate. */
export interface Ticket {
  rows: number;
  sentAt: number;
}

export interface Pacing {
  /** Requests allowed in flight right now. */
  readonly limit: number;
  /**
   * Wait for a free slot and room in the execution-time budget for a request writing `rows` rows;
   * `refuse(ms)` may refuse a budget wait of `ms` (a reason, e.g. the deadline), which is returned.
   */
  acquire(rows?: number, refuse?: (ms: number) => string | undefined): Promise<Ticket | string>;
  /** Free the slot `acquire` gave, counting the time its request took. */
  release(done: Ticket): void;
  /** Follow the service's x-ms-dop-hint (within maxConcurrency). */
  applyDopHint(hint: string | undefined): void;
  /**
   * Resolve when no pause is in force (one may be extended while waiting), or with the reason the
   * client may not wait it out: `refuse(ms)` says so for a pause of `ms`.
   */
  waitOutPause(refuse: (ms: number) => string | undefined): Promise<string | undefined>;
  /** After a 429: pause every request for `retryAfterMs` (else a growing backoff); the pause's length. */
  throttled(retryAfterMs: number | undefined): number;
  /** An answer other than 429: the next 429 starts the backoff afresh. */
  answered(): void;
}

export function createPacing(o: PacingOptions): Pacing {
  let inFlight = 0;
  const waiters: (() => void)[] = [];
  let limit = Math.min(o.maxConcurrency, o.initialConcurrency);
  let pausedUntil = 0;
  let consecutive429 = 0;
  const budget = createExecutionBudget(o);

  return {
    get limit() {
      return limit;
    },
    async acquire(rows = 0, refuse) {
      for (;;) {
        while (inFlight >= limit) await new Promise<void>((r) => waiters.push(r));
        const wait = budget.waitFor(rows);
        if (wait <= 0) break;
        const problem = refuse?.(wait);
        if (problem) return problem;
        budget.waiting(wait);
        await sleep(wait);
      }
      inFlight++;
      return budget.start(rows);
    },
    release(done) {
      inFlight--;
      budget.finish(done);
      waiters.shift()?.();
    },
    applyDopHint(hint) {
      const n = Number(hint);
      if (!Number.isInteger(n) || n <= 0) return;
      const next = Math.max(1, Math.min(o.maxConcurrency, n));
      if (next === limit) return;
      o.log("debug", `x-ms-dop-hint ${n}: parallelism ${limit} -> ${next}`);
      limit = next;
      for (const w of waiters.splice(0)) w(); // the limit may have gone up
    },
    async waitOutPause(refuse) {
      for (let wait = pausedUntil - Date.now(); wait > 0; wait = pausedUntil - Date.now()) {
        const problem = refuse(wait);
        if (problem) return problem;
        await sleep(wait);
      }
      return undefined;
    },
    throttled(retryAfterMs) {
      consecutive429++;
      // The service's wait grows if a client keeps sending; back off more on repeated 429s.
      const ms = retryAfterMs ?? Math.min(o.maxRetryAfterMs, o.backoff(consecutive429));
      pausedUntil = Math.max(pausedUntil, Date.now() + ms);
      return ms;
    },
    answered() {
      consecutive429 = 0;
    },
  };
}

/** Rows a write needs for its time per row to count as the service's (a bulk chunk's smallest size). */
const RATE_ROWS = 50;

/** Requests sent within the window, and what they took (or will take, estimated). */
function createExecutionBudget(o: PacingOptions) {
  // Entries leave the window a little after the service's do (it counts from arrival, not from
  // sending), so the budget never frees early.
  const margin = Math.min(2000, o.executionWindowMs / 100);
  const spent: { t: number; ms: number }[] = [];
  let spentMs = 0;
  let writeMsPerRow = 0;
  /** The fastest ms per row seen on a write of RATE_ROWS rows or more (the least queueing in it). */
  let bestMsPerRow = 0;
  const countedRate = () => (bestMsPerRow > 0 ? Math.min(writeMsPerRow, bestMsPerRow * 1.1) : writeMsPerRow);
  let readMs = 0;
  const inFlight = { rows: 0, reads: 0 };
  let lastLog = 0;
  const prune = (now: number) => {
    while (spent.length > 0 && spent[0].t + o.executionWindowMs + margin <= now) spentMs -= spent.shift()!.ms;
  };
  const estimate = (rows: number) => (rows > 0 ? rows * countedRate() : readMs);
  return {
    /** How long a request writing `rows` rows must wait for room in the budget (0: none). */
    waitFor(rows: number): number {
      if (!Number.isFinite(o.executionBudgetMs)) return 0;
      const now = Date.now();
      prune(now);
      const pending = inFlight.rows * countedRate() + inFlight.reads * readMs;
      let over = spentMs + pending + estimate(rows) - o.executionBudgetMs;
      // Nothing counted yet: send, whatever it costs (a single request is never refused).
      if (over <= 0 || spentMs + pending === 0) return 0;
      for (const e of spent) {
        over -= e.ms;
        if (over <= 0) return e.t + o.executionWindowMs + margin - now;
      }
      // The requests in flight alone fill the budget: look again shortly.
      return 50;
    },
    waiting(ms: number): void {
      if (ms < 1000 || Date.now() - lastLog < 30_000) return;
      lastLog = Date.now();
      o.log("info", `pacing to the service's execution-time limit (${formatDuration(o.executionBudgetMs)} per ${formatDuration(o.executionWindowMs)} window, "Service protection API limits"): waiting ${formatDuration(ms)}`);
    },
    start(rows: number): Ticket {
      if (rows > 0) inFlight.rows += rows;
      else inFlight.reads++;
      return { rows, sentAt: Date.now() };
    },
    finish(t: Ticket): void {
      let ms = Date.now() - t.sentAt;
      if (t.rows > 0) {
        inFlight.rows -= t.rows;
        // A small write's time is mostly the request's own (latency, and the client's event loop
        // while it built the next bodies): spread over fewer than RATE_ROWS rows it would read as a
        // slow row, and the first round of large chunks would wait for a window it does not need.
        const per = ms / Math.max(t.rows, RATE_ROWS);
        if (t.rows >= RATE_ROWS && per > 0) bestMsPerRow = bestMsPerRow === 0 ? per : Math.min(bestMsPerRow, per);
        writeMsPerRow = writeMsPerRow === 0 ? per : writeMsPerRow * 0.7 + per * 0.3;
        if (bestMsPerRow > 0) ms = Math.min(ms, t.rows * bestMsPerRow * 1.1);
      } else {
        inFlight.reads--;
        readMs = readMs === 0 ? ms : readMs * 0.7 + ms * 0.3;
      }
      spent.push({ t: t.sentAt, ms });
      spentMs += ms;
    },
  };
}
