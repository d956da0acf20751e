/**
 * Hostile servers for any HTTP client of the providers, and the tests of issue 17's table (rows 1,
 * 2, 3, 4, 9, 10) that every client must pass: `describeHostileServers(name, target)` registers
 * them for one client in one call.
 *
 * A hostile server is a proxy on 127.0.0.1 in front of the client's own emulator: requests that
 * `match` get the hostile treatment, the rest are forwarded, so the client gets as far into its
 * work as the hostility allows. The treatments:
 * - `trickle`: the answer's headers, then one byte every `intervalMs`, never ending (row 1; an
 *   idle-socket timeout never fires);
 * - `throttle`: 429 with `Retry-After` (and BigCommerce's `X-Retry-After`,
 *   `X-Rate-Limit-Time-Reset-Ms`) of `seconds` (rows 2, 3);
 * - `retryAfter`: the emulator's answer with its `Retry-After` replaced (row 10: BAP polling);
 * - `crossOrigin`: the emulator's answer with `@odata.nextLink`, `Location` and
 *   `Operation-Location` moved to another origin, a `thief` that records what reaches it (row 4);
 * - `echoToken`: an error whose body quotes the request's `Authorization` and `X-Auth-Token` (row 9).
 *
 * Each test bounds the run itself (the configured operation deadline + 20%), so a client that
 * hangs fails the test instead of the Jest timeout, and checks that the token is in nothing the
 * run produced: error, outcome, logs.
 */
import * as http from "http";
import type { AddressInfo, Socket } from "net";
import { captureConsolePerTest } from "./console";

export type Hostility =
  | { kind: "trickle"; intervalMs: number }
  | { kind: "throttle"; seconds: string }
  | { kind: "retryAfter"; seconds: string }
  | { kind: "crossOrigin"; to: string }
  | { kind: "echoToken"; status: number };

export interface RecordedRequest {
  method: string;
  path: string;
  authorization?: string;
}

export interface TestServer {
  url: string;
  /** Every request that reached this server. */
  requests: RecordedRequest[];
  stop(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 whose sockets `stop` destroys (a trickle never ends on its own). */
async function listen(handle: (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse) => void): Promise<TestServer> {
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      requests.push({ method: req.method ?? "GET", path: req.url ?? "/", authorization: req.headers.authorization });
      handle(req, Buffer.concat(chunks), res);
    });
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A server on another origin that answers every request with 200 `{"value":[]}` and records it: nothing should reach it. */
export function startThief(): Promise<TestServer> {
  return listen((_req, _body, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end('{"value":[]}');
  });
}

interface Upstream {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * The emulator's answer to `req`, as if the proxy (`self`) had given it: follow-up URLs on the
 * emulator's origin (Location, Operation-Location, @odata.nextLink) moved to the proxy's, as a
 * service's own links point at itself.
 */
function forward(target: string, self: string, req: http.IncomingMessage, body: Buffer): Promise<Upstream> {
  return new Promise((resolve, reject) => {
    const up = http.request(new URL(req.url ?? "/", target), { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(followUpsMoved({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }, target, self)));
    });
    up.on("error", reject);
    up.end(body);
  });
}

/** `up` with its follow-up URLs on `from`'s origin moved to `to`'s. */
function followUpsMoved(up: Upstream, from: string, to: string): Upstream {
  const headers = { ...up.headers };
  const origin = new URL(from).origin;
  for (const k of ["location", "operation-location"]) {
    const v = headers[k];
    if (typeof v === "string" && new URL(v, from).origin === origin) headers[k] = moved(v, from, to);
  }
  let body = up.body;
  const text = body.toString("utf8");
  if (/json/i.test(String(headers["content-type"] ?? "")) && text.includes("@odata.nextLink")) {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const link = String(parsed["@odata.nextLink"]);
    if (new URL(link, from).origin === origin) parsed["@odata.nextLink"] = moved(link, from, to);
    body = Buffer.from(JSON.stringify(parsed), "utf8");
  }
  return { ...up, headers, body };
}

/** `url` with its origin replaced by `to`'s (a follow-up link moved to another host). */
function moved(url: string, base: string, to: string): string {
  const u = new URL(url, base);
  return `${new URL(to).origin}${u.pathname}${u.search}`;
}

function headersOf(up: Upstream, drop: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(up.headers)) if (typeof v === "string" && !["content-length", "transfer-encoding", "connection", ...drop].includes(k)) out[k] = v;
  return out;
}

async function answerHostile(h: Hostility, target: string, self: string, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): Promise<void> {
  if (h.kind === "throttle") {
    const s = h.seconds;
    // Dataverse: 429 with Retry-After in seconds ("Service protection API limits"); BigCommerce:
    // X-Retry-After / X-Rate-Limit-Time-Reset-Ms ("Rate limits"). A client reads the one of its service.
    res.writeHead(429, { "Content-Type": "application/json", "Retry-After": s, "X-Retry-After": s, "X-Rate-Limit-Time-Reset-Ms": String(Number(s) * 1000) });
    res.end(JSON.stringify({ error: { code: "0x80072322", message: "Number of requests exceeded the limit of 6000 over time window of 300 seconds." }, status: 429, title: "Too many requests" }));
    return;
  }
  if (h.kind === "echoToken") {
    const seen = `Authorization: ${req.headers.authorization ?? ""}; X-Auth-Token: ${String(req.headers["x-auth-token"] ?? "")}`;
    res.writeHead(h.status, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ error: { code: "0x80040216", message: `Request rejected. ${seen}` }, status: h.status, title: `Request rejected. ${seen}` }));
    return;
  }
  const up = await forward(target, self, req, body);
  if (h.kind === "trickle") {
    res.writeHead(up.status, headersOf(up));
    let i = 0;
    const timer = setInterval(() => {
      if (res.destroyed) return clearInterval(timer);
      res.write(i < up.body.length ? up.body.subarray(i, i + 1) : " ");
      i++;
    }, h.intervalMs);
    res.on("close", () => clearInterval(timer));
    return;
  }
  if (h.kind === "retryAfter") {
    res.writeHead(up.status, { ...headersOf(up, ["retry-after"]), "Retry-After": h.seconds });
    res.end(up.body);
    return;
  }
  // crossOrigin: the follow-up URLs a client is told to request next, on another origin.
  const hijacked = followUpsMoved(up, self, h.to);
  res.writeHead(hijacked.status, headersOf(hijacked));
  res.end(hijacked.body);
}

/**
 * A proxy in front of `target` (an emulator): requests for which `match` holds get `hostility`,
 * the others are forwarded unchanged.
 */
export async function startHostileProxy(target: string, hostility: Hostility, match: (method: string, path: string) => boolean = () => true): Promise<TestServer> {
  const holder: { url: string } = { url: "" };
  const server = await listen((req, body, res) => {
    const hostile = match(req.method ?? "GET", new URL(req.url ?? "/", "http://x").pathname);
    const answer = hostile
      ? answerHostile(hostility, target, holder.url, req, body, res)
      : forward(target, holder.url, req, body).then((up) => {
          res.writeHead(up.status, headersOf(up));
          res.end(up.body);
        });
    answer.catch(() => res.destroy());
  });
  holder.url = server.url;
  return server;
}

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

/** Run the operation, bounded by the operation deadline + 20% (plus a little for a loaded machine's scheduling). */
async function bounded(target: HostileTarget, url: string): Promise<{ value?: unknown; error?: unknown; ms: number; timedOut: boolean }> {
  const limit = target.limits.operationTimeoutMs * 1.2;
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<"guard">((r) => (timer = setTimeout(() => r("guard"), limit + 250)));
  const run = target.run(url).then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  const first = await Promise.race([run, guard]);
  clearTimeout(timer);
  return first === "guard" ? { timedOut: true, ms: Date.now() - started } : { ...first, ms: Date.now() - started, timedOut: false };
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
    // The clients require axios when they first run: loaded here, so no timed run pays for it.
    beforeAll(() => import("axios"));
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
