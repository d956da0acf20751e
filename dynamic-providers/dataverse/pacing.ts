/**
 * The Dataverse client's pacing: how many requests may be in flight (the service's
 * `x-ms-dop-hint`, capped at 52, its concurrent-request limit), and the service-protection pause
 * after a 429 (`Retry-After`, or a growing backoff when the 429 names no wait).
 *
 * A 429 pauses *all* requests of the client: the pause is set before the throttled request frees
 * its slot, and `waitOutPause` runs again right before a request is sent, so no request leaves
 * during a pause. A pause the client may not wait out (longer than its cap, or past the operation's
 * deadline) is not slept through: every request waiting for it fails at once with the reason.
 *
 * State lives in the closure of `createPacing`, one per client. Serialized with the providers.
 */
import { sleep } from "../http";

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
  log: Log;
}

export interface Pacing {
  /** Requests allowed in flight right now. */
  readonly limit: number;
  /** Wait for a free slot. */
  acquire(): Promise<void>;
  release(): void;
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

  return {
    get limit() {
      return limit;
    },
    async acquire() {
      while (inFlight >= limit) await new Promise<void>((r) => waiters.push(r));
      inFlight++;
    },
    release() {
      inFlight--;
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
