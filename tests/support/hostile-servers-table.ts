/**
 * Issue 17's table (rows 1, 2, 3, 4, 9, 10) that every HTTP client of the providers must pass,
 * against the hostile servers of emulators/hostile-servers.ts: `describeHostileServers(name,
 * target)` registers them for one client in one call.
 *
 * Each test bounds the run itself (the configured operation deadline + 20%, not counting the time
 * a loaded machine left the process unscheduled), so a client that hangs fails the test instead
 * of the Jest timeout, and checks that the token is in nothing the
 * run produced: error, outcome, logs.
 */
import { startHostileProxy, startThief, type Hostility, type TestServer } from "../../emulators/hostile-servers";
import { captureConsolePerTest } from "./console";

/** What a client's hostile tests need: its emulator, one operation of it, and the limits it runs with. */
export interface HostileTarget {
  /** The token the client sends: it must appear in nothing the run produces. */
  token: string;
  /** Start the client's emulator (the service as documented). */
  startService(): Promise<{ url: string; stop(): Promise<unknown> }>;
  /**
   * One operation of the client against `url` (the hostile proxy), with the limits below; resolves
   * with what it returns (an outcome to inspect) or rejects with its error.
   */
  run(url: string): Promise<unknown>;
  limits: {
    /** Per-request deadline: more than the trickle's interval, so only a real deadline ends it. */
    requestTimeoutMs: number;
    /** The whole operation's deadline: every test ends within it + 20%. */
    operationTimeoutMs: number;
    /** The longest Retry-After the client may wait. */
    maxRetryAfterMs: number;
  };
  /** Which requests get the hostility (default: all). */
  match?: (method: string, path: string) => boolean;
  /** Row 4 applies to clients that follow links (nextLink, Location, Operation-Location). */
  followsLinks?: boolean;
  /** Polls an operation (rows 2 and 10): which requests start one and which poll it (the service must keep it running). */
  polls?: { isPoll: (method: string, path: string) => boolean; isStart: (method: string, path: string) => boolean };
}

/** What a run ended with, as text to search: the error (message and properties) or the outcome. */
function textOf(result: { value?: unknown; error?: unknown }): string {
  const e = result.error as { message?: unknown } | undefined;
  const parts = [result.error !== undefined ? String(e?.message ?? e) : "", JSON.stringify(result.error ?? result.value ?? null)];
  return parts.join("\n");
}

/**
 * How long this process could not run during a call: a 20 ms interval timer adds up how late it
 * fires. On a loaded machine the process (client and test alike) is descheduled for seconds; a
 * deadline cannot fire while it is, so the time the client is judged by leaves that out.
 */
function stallMeter(): { stop(): number } {
  const tick = 20;
  let last = performance.now();
  let stalledMs = 0;
  const add = () => {
    const now = performance.now();
    stalledMs += Math.max(0, now - last - tick);
    last = now;
  };
  const interval = setInterval(add, tick);
  return {
    stop() {
      clearInterval(interval);
      add();
      return stalledMs;
    },
  };
}

/**
 * Run the operation. `ms` is the time the process could run (wall time less stalls), to compare
 * with the deadline + 20%; `timedOut` means the client was still going at four times that, i.e. it
 * hangs.
 */
async function bounded(target: HostileTarget, url: string): Promise<{ value?: unknown; error?: unknown; ms: number; timedOut: boolean }> {
  const limit = target.limits.operationTimeoutMs * 1.2;
  const started = performance.now();
  const stalls = stallMeter();
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<"guard">((r) => (timer = setTimeout(() => r("guard"), 4 * limit)));
  const run = target.run(url).then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  const first = await Promise.race([run, guard]);
  clearTimeout(timer);
  const ms = Math.max(0, performance.now() - started - stalls.stop());
  return first === "guard" ? { timedOut: true, ms } : { ...first, ms, timedOut: false };
}

/** Timers above Node's limit (2^31-1 ms) the code under test asked for, and the overflow warnings Node gave. */
function watchTimers(): { overflows: number[]; warnings: string[]; stop(): void } {
  const overflows: number[] = [];
  const warnings: string[] = [];
  const real = global.setTimeout;
  const spy = jest.spyOn(global, "setTimeout").mockImplementation(((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    if ((ms ?? 0) > 2 ** 31 - 1) overflows.push(ms ?? 0);
    return real(fn, ms, ...args);
  }) as typeof setTimeout);
  const onWarning = (w: Error) => void (w.name === "TimeoutOverflowWarning" && warnings.push(w.message));
  process.on("warning", onWarning);
  return {
    overflows,
    warnings,
    stop: () => {
      spy.mockRestore();
      process.off("warning", onWarning);
    },
  };
}

/**
 * Register the table's tests for one client: rows 1, 2, 3 and 9 for every client, row 4 for one
 * that follows links, row 10 for one that polls. The numbers are the table's: a byte every 0.5 s,
 * Retry-After 30 s against a 2 s cap, Retry-After 1,000,000,000 s.
 */
export function describeHostileServers(name: string, target: HostileTarget): void {
  describe(`${name} against hostile servers (issue 17)`, () => {
    const logs = captureConsolePerTest();
    let service: { url: string; stop(): Promise<unknown> };
    let servers: TestServer[] = [];
    beforeEach(async () => {
      service = await target.startService();
      servers = [];
    });
    afterEach(async () => {
      for (const s of servers) await s.stop();
      await service.stop();
    });
    const proxy = async (h: Hostility, match = target.match) => {
      const p = await startHostileProxy(service.url, h, match);
      servers.push(p);
      return p;
    };
    const noToken = (result: { value?: unknown; error?: unknown }) => {
      expect(textOf(result)).not.toContain(target.token);
      expect(logs.join("\n")).not.toContain(target.token);
    };
    const within = (r: { ms: number; timedOut: boolean }) => {
      expect(r.timedOut).toBe(false);
      expect(r.ms).toBeLessThanOrEqual(target.limits.operationTimeoutMs * 1.2);
    };

    it("row 1: a server that trickles one byte every 0.5 s is cut off by the deadline", async () => {
      const p = await proxy({ kind: "trickle", intervalMs: 500 });
      const r = await bounded(target, p.url);
      within(r);
      expect(textOf(r)).toMatch(/deadline|no (complete )?answer within|timed? ?out/i);
      noToken(r);
    });

    it("row 2: Retry-After 30 s above the 2 s cap fails at once, naming the wait", async () => {
      const p = await proxy({ kind: "throttle", seconds: "30" });
      const r = await bounded(target, p.url);
      within(r);
      expect(r.ms).toBeLessThan(Math.min(target.limits.maxRetryAfterMs, target.limits.operationTimeoutMs));
      expect(textOf(r)).toMatch(/wait 30 s, more than the 2 s/);
      noToken(r);
    });

    if (target.polls) {
      const polls = target.polls;
      it("row 2 (operation polling): a poll Retry-After of 30 s above the 2 s cap fails at once, naming the wait", async () => {
        const p = await proxy({ kind: "retryAfter", seconds: "30" }, (m, path) => polls.isStart(m, path) || polls.isPoll(m, path));
        const r = await bounded(target, p.url);
        within(r);
        expect(r.ms).toBeLessThan(target.limits.maxRetryAfterMs);
        expect(textOf(r)).toMatch(/wait 30 s, more than the 2 s/);
        noToken(r);
      });
    }

    it("row 3: Retry-After 1,000,000,000 s fails at once, with no timer beyond Node's limit", async () => {
      const timers = watchTimers();
      try {
        const p = await proxy({ kind: "throttle", seconds: "1000000000" });
        const r = await bounded(target, p.url);
        within(r);
        expect(textOf(r)).toMatch(/wait (11574 days|1000000000 s), more than the 2 s/);
        expect(p.requests.length).toBeLessThanOrEqual(2);
        noToken(r);
      } finally {
        timers.stop();
      }
      expect(timers.overflows).toEqual([]);
      expect(timers.warnings).toEqual([]);
    });

    if (target.followsLinks) {
      it("row 4: a follow-up link (@odata.nextLink, Location, Operation-Location) on another origin is refused before any request", async () => {
        const thief = await startThief();
        servers.push(thief);
        const p = await proxy({ kind: "crossOrigin", to: thief.url });
        const r = await bounded(target, p.url);
        within(r);
        expect(thief.requests).toEqual([]);
        expect(textOf(r)).toMatch(new RegExp(`refused to follow .* to ${thief.url}`));
        noToken(r);
      });
    }

    it.each([400, 401])("row 9: an error body (HTTP %i) that echoes the bearer token never shows it", async (status) => {
      const p = await proxy({ kind: "echoToken", status });
      const r = await bounded(target, p.url);
      within(r);
      expect(p.requests.length).toBeGreaterThan(0); // the server did see (and echo) the token
      noToken(r);
    });

    if (target.polls) {
      const polls = target.polls;
      it("row 10: operation polling with a huge Retry-After stops at once instead of polling in a loop", async () => {
        const timers = watchTimers();
        let p: TestServer;
        try {
          p = await proxy({ kind: "retryAfter", seconds: "1000000000" }, (m, path) => polls.isStart(m, path) || polls.isPoll(m, path));
          const r = await bounded(target, p.url);
          within(r);
          expect(textOf(r)).toMatch(/wait 11574 days, more than the 2 s/);
          noToken(r);
        } finally {
          timers.stop();
        }
        expect(p.requests.filter((q) => polls.isPoll(q.method, new URL(q.path, "http://x").pathname)).length).toBeLessThanOrEqual(1);
        expect(timers.overflows).toEqual([]);
        expect(timers.warnings).toEqual([]);
      });
    }
  });
}
