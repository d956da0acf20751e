/**
 * Hostile servers for any HTTP client of the providers (issue 17's table; the tests that every
 * client must pass are tests/support/hostile-servers-table.ts).
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
 */
import * as http from "http";
import type { AddressInfo, Socket } from "net";

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
