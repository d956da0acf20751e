/**
 * The shared transport (dynamic-providers/http.ts `createHttpTarget`, `exchange`) against local
 * servers: what goes on the wire, compressed answers, redirects, the environment's proxy. Its
 * deadlines against trickling and silent servers are in the clients' hostile-server tables
 * (tests/support/hostile-servers-table.ts).
 */
import * as http from "http";
import * as net from "net";
import type { AddressInfo } from "net";
import { Readable } from "stream";
import * as zlib from "zlib";
import { createDataverseClient } from "../../dynamic-providers/dataverse/client";
import { createHttpTarget, exchange, nodeHasAgentProxy, requestUrl, type HttpAnswer, type HttpFailure } from "../../dynamic-providers/http";

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A server on 127.0.0.1 that records each request and answers with `answer`. */
async function server(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_q, r) => r.end("ok")) {
  const seen: Seen[] = [];
  const s = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      answer(req, res);
    });
  });
  // A CONNECT (an https request through this server as its proxy) is recorded and refused.
  s.on("connect", (req: http.IncomingMessage, socket: import("net").Socket) => {
    seen.push({ method: "CONNECT", url: req.url ?? "", headers: req.headers, body: "" });
    socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise<void>((r) => s.close(() => r())) };
}

const LIMITS = { timeoutMs: 5000 };
const servers: { close(): Promise<void> }[] = [];
async function started(answer?: Parameters<typeof server>[0]) {
  const s = await server(answer);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const answered = (r: HttpAnswer | HttpFailure): HttpAnswer => {
  if (!r.ok) throw new Error(`expected an answer, got ${r.message}`);
  return r;
};

describe("what goes on the wire", () => {
  it("sends the method, the URL below the base (encoded as the WHATWG parser does), the headers and the body with its byte length", async () => {
    const s = await started();
    const target = createHttpTarget(`${s.url}/api/data/v9.2/`, { headers: { "X-Client": "one" }, env: {} });
    const r = answered(await exchange(target, { method: "POST", url: "accounts?$filter=name eq 'Zoë'", body: '{"name":"Zoë"}', headers: { "Content-Type": "application/json" } }, LIMITS));
    expect(r).toMatchObject({ status: 200, body: "ok" });
    expect(s.seen).toHaveLength(1);
    const [req] = s.seen;
    expect(req.method).toBe("POST");
    expect(req.url).toBe("/api/data/v9.2/accounts?$filter=name%20eq%20%27Zo%C3%AB%27");
    expect(req.body).toBe('{"name":"Zoë"}');
    expect(req.headers["content-length"]).toBe("15");
    expect(req.headers).toMatchObject({ "x-client": "one", "content-type": "application/json", "accept-encoding": "gzip, deflate, br" });
    expect(req.headers["user-agent"]).toMatch(/^iom-bigcommerce-landing /);
  });

  it("sends a stream body with the Content-Length its caller set, not chunked", async () => {
    const s = await started();
    const target = createHttpTarget(s.url, { env: {} });
    const bytes = Buffer.from("--batch\r\nGET accounts HTTP/1.1\r\n\r\n--batch--");
    answered(await exchange(target, { method: "POST", url: "$batch", body: Readable.from([bytes]), headers: { "Content-Length": String(bytes.length) } }, LIMITS));
    expect(s.seen[0]).toMatchObject({ url: "/$batch", body: bytes.toString() });
    expect(s.seen[0].headers["content-length"]).toBe(String(bytes.length));
    expect(s.seen[0].headers["transfer-encoding"]).toBeUndefined();
  });

  it("joins a relative URL below the base whatever its slashes, and keeps an absolute one as it is", () => {
    expect(requestUrl("https://org.crm.dynamics.com/api/data/v9.2/", "accounts").href).toBe("https://org.crm.dynamics.com/api/data/v9.2/accounts");
    expect(requestUrl("https://api.bigcommerce.com/stores/abc", "/v3/catalog/products?limit=1").href).toBe("https://api.bigcommerce.com/stores/abc/v3/catalog/products?limit=1");
    expect(requestUrl("https://org.crm.dynamics.com/api/data/v9.2/", "https://org.crm.dynamics.com/api/data/v9.2/accounts?$skiptoken=x").href).toBe("https://org.crm.dynamics.com/api/data/v9.2/accounts?$skiptoken=x");
    expect(requestUrl("https://api.bap.microsoft.com/", "").href).toBe("https://api.bap.microsoft.com/");
  });

  it("hands back a redirect as an answer: it is not followed, so the token goes to no other host", async () => {
    const elsewhere = await started();
    const s = await started((_q, r) => {
      r.writeHead(302, { Location: `${elsewhere.url}/stolen` });
      r.end();
    });
    const r = answered(await exchange(createHttpTarget(s.url, { headers: { "X-Auth-Token": "secret-token-value" }, env: {} }), { method: "GET", url: "v3/store" }, LIMITS));
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe(`${elsewhere.url}/stolen`);
    expect(elsewhere.seen).toEqual([]);
  });

  it("gives the answer's headers lower-cased, one string each", async () => {
    const s = await started((_q, r) => {
      r.setHeader("Retry-After", "3");
      r.setHeader("Set-Cookie", ["a=1", "b=2"]);
      r.end();
    });
    const r = answered(await exchange(createHttpTarget(s.url, { env: {} }), { method: "GET", url: "x" }, LIMITS));
    expect(r.headers["retry-after"]).toBe("3");
    expect(r.headers["set-cookie"]).toBe("a=1, b=2");
  });
});

describe("compressed answers", () => {
  const text = JSON.stringify({ value: Array.from({ length: 500 }, (_, i) => ({ name: `Zoë ${i}` })) });
  it.each([
    ["gzip", zlib.gzipSync],
    ["deflate", zlib.deflateSync],
    ["br", zlib.brotliCompressSync],
  ] as const)("reads a %s body as the text it encodes", async (coding, compress) => {
    const s = await started((_q, r) => {
      r.writeHead(200, { "Content-Type": "application/json", "Content-Encoding": coding });
      r.end(compress(Buffer.from(text)));
    });
    const r = answered(await exchange(createHttpTarget(s.url, { env: {} }), { method: "GET", url: "accounts" }, LIMITS));
    expect(r.body).toBe(text);
  });

  it("reads a deflate body sent raw, without the zlib wrapper (as some servers do), as the text it encodes", async () => {
    const s = await started((_q, r) => {
      r.writeHead(200, { "Content-Type": "application/json", "Content-Encoding": "deflate" });
      r.end(zlib.deflateRawSync(Buffer.from(text)));
    });
    expect(answered(await exchange(createHttpTarget(s.url, { env: {} }), { method: "GET", url: "accounts" }, LIMITS)).body).toBe(text);
  });

  it("reports a body that does not decompress, or an encoding it did not offer, as a failure, not a throw", async () => {
    const s = await started((q, r) => {
      r.writeHead(200, { "Content-Encoding": q.url === "/bad" ? "gzip" : "zstd" });
      r.end(Buffer.from("not gzip at all"));
    });
    const target = createHttpTarget(s.url, { env: {} });
    expect(await exchange(target, { method: "GET", url: "bad" }, LIMITS)).toMatchObject({ ok: false, code: "Z_DATA_ERROR", timedOut: false });
    expect(await exchange(target, { method: "GET", url: "other" }, LIMITS)).toMatchObject({ ok: false, code: "ERR_CONTENT_ENCODING", message: expect.stringContaining("zstd") });
  });

  it("reads a JSON answer that starts with a UTF-8 byte-order mark as its JSON, compressed or not", async () => {
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"value":[{"name":"Zoë"}]}')]);
    const s = await started((q, r) => {
      r.writeHead(200, { "Content-Type": "application/json; charset=utf-8", ...(q.url === "/gz" ? { "Content-Encoding": "gzip" } : {}) });
      r.end(q.url === "/gz" ? zlib.gzipSync(bom) : bom);
    });
    const target = createHttpTarget(s.url, { env: {} });
    for (const url of ["plain", "gz"]) expect(JSON.parse(answered(await exchange(target, { method: "GET", url }, LIMITS)).body)).toEqual({ value: [{ name: "Zoë" }] });
  });

  it("reads UTF-8 text whose characters arrive split across chunks, and ASCII text, as the text sent", async () => {
    const text = JSON.stringify({ value: [{ name: "Zoë Ørsted 日本" }, { name: "x".repeat(100_000) }] });
    const bytes = Buffer.from(text);
    const cut = bytes.indexOf(Buffer.from("日")) + 1; // inside the character's three bytes
    const s = await started((q, r) => {
      r.writeHead(200, { "Content-Type": "application/json; charset=utf-8" });
      if (q.url === "/ascii") return void r.end(JSON.stringify({ value: "plain ascii ~ \u00e9" }));
      r.write(bytes.subarray(0, cut));
      setTimeout(() => r.end(bytes.subarray(cut)), 20);
    });
    const target = createHttpTarget(s.url, { env: {} });
    expect(answered(await exchange(target, { method: "GET", url: "split" }, LIMITS)).body).toBe(text);
    expect(JSON.parse(answered(await exchange(target, { method: "GET", url: "ascii" }, LIMITS)).body)).toEqual({ value: "plain ascii ~ é" });
  });

  it("reads an empty body with a Content-Encoding (a 204, a HEAD) as empty", async () => {
    const s = await started((_q, r) => {
      r.writeHead(204, { "Content-Encoding": "gzip" });
      r.end();
    });
    expect(answered(await exchange(createHttpTarget(s.url, { env: {} }), { method: "PATCH", url: "x", body: "{}" }, LIMITS))).toMatchObject({ status: 204, body: "" });
  });
});

describe("the request's deadline", () => {
  /** What `p` gave within `ms`, or "still waiting". */
  const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<"still waiting">((r) => setTimeout(() => r("still waiting"), ms).unref())]);

  it.each([
    ["never answers the CONNECT", () => undefined],
    ["opens the tunnel, then the TLS handshake through it stalls", (socket: net.Socket) => socket.once("data", () => socket.write("HTTP/1.1 200 Connection established\r\n\r\n"))],
  ])("ends a request whose HTTPS_PROXY %s, and closes its socket to the proxy", async (_what, proxying) => {
    const closed: Promise<void>[] = [];
    const proxy = net.createServer((socket) => {
      proxying(socket);
      closed.push(new Promise((r) => socket.resume().on("close", () => r())));
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    servers.push({ close: () => new Promise<void>((r) => proxy.close(() => r())) });
    const target = createHttpTarget("https://org.crm.dynamics.com/", { env: { HTTPS_PROXY: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` } });
    const r = await within(exchange(target, { method: "GET", url: "accounts" }, { timeoutMs: 300 }), 3000);
    expect(r).toMatchObject({ ok: false, code: "ETIMEDOUT", timedOut: true });
    expect(closed).toHaveLength(1);
    expect(await within(closed[0], 3000)).toBeUndefined();
  });

  it("ends at the deadline while a large compressed answer is still being decompressed, and stops decompressing it", async () => {
    const gz = zlib.gzipSync(Buffer.alloc(64e6, "a"));
    const s = await started((_q, r) => {
      r.writeHead(200, { "Content-Encoding": "gzip" });
      r.end(gz);
    });
    const t0 = Date.now();
    const r = await exchange(createHttpTarget(s.url, { env: {} }), { method: "GET", url: "big" }, { timeoutMs: 150 });
    expect(r).toMatchObject({ ok: false, code: "ETIMEDOUT", timedOut: true });
    expect(Date.now() - t0).toBeLessThan(400);
    // Left to run, the rest of the 64 MB takes some 500 ms of a thread (CPU time, whatever else runs).
    const cpu = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 700));
    const used = process.cpuUsage(cpu);
    expect((used.user + used.system) / 1000).toBeLessThan(150);
  });
});

describe("the environment's proxy", () => {
  it("sends an http request through HTTP_PROXY, and straight to a NO_PROXY host", async () => {
    const service = await started();
    const proxy = await started((q, r) => r.end(`proxied ${q.url}`));
    const via = createHttpTarget(service.url, { env: { HTTP_PROXY: proxy.url } });
    expect(answered(await exchange(via, { method: "GET", url: "v3/store" }, LIMITS)).body).toBe(`proxied ${service.url}/v3/store`);
    expect(service.seen).toEqual([]);
    const direct = createHttpTarget(service.url, { env: { HTTP_PROXY: proxy.url, NO_PROXY: "127.0.0.1" } });
    expect(answered(await exchange(direct, { method: "GET", url: "v3/store" }, LIMITS)).body).toBe("ok");
    expect(proxy.seen).toHaveLength(1);
  });

  it("sends through a proxy named without a scheme (host:port, as curl and axios take it), in either case of variable", async () => {
    const service = await started();
    const proxy = await started((q, r) => r.end(`proxied ${q.url}`));
    const bare = proxy.url.replace("http://", "");
    for (const env of [{ HTTP_PROXY: bare }, { http_proxy: `user:pw@${bare}` }, { HTTP_PROXY: proxy.url.replace("http", "HTTP") }]) {
      expect(answered(await exchange(createHttpTarget(service.url, { env }), { method: "GET", url: "v3/store" }, LIMITS)).body).toBe(`proxied ${service.url}/v3/store`);
    }
    expect(service.seen).toEqual([]);
  });

  it("refuses a proxy of a scheme Node does not send through, rather than going around it, without showing its URL", () => {
    expect(() => createHttpTarget("https://org.crm.dynamics.com/", { env: { https_proxy: "socks5://user:S3cret@127.0.0.1:1080" } })).toThrow(/^https_proxy names a socks5:\/\/ proxy/);
    expect(() => createHttpTarget("https://org.crm.dynamics.com/", { env: { HTTPS_PROXY: "socks5://user:S3cret@127.0.0.1:1080" } })).not.toThrow(/S3cret/);
  });

  it("tunnels an https request through HTTPS_PROXY with CONNECT, which carries no token", async () => {
    const proxy = await started();
    const target = createHttpTarget("https://org.crm.dynamics.com/api/data/v9.2/", { headers: { "X-Auth-Token": "secret-token-value" }, env: { HTTPS_PROXY: proxy.url } });
    const r = await exchange(target, { method: "GET", url: "accounts", headers: { Authorization: "Bearer secret-token-value" } }, LIMITS);
    // The proxy refuses the tunnel (403): a failure, with the proxy's answer and no token in it.
    expect(r).toMatchObject({ ok: false });
    expect(JSON.stringify(r)).not.toContain("secret-token-value");
    expect(proxy.seen).toHaveLength(1);
    expect(proxy.seen[0]).toMatchObject({ method: "CONNECT", url: "org.crm.dynamics.com:443" });
    expect(JSON.stringify(proxy.seen[0].headers)).not.toContain("secret-token-value");
  });

  it("knows which Node versions send through a proxy (Agent proxyEnv: 22.21, 24.5)", () => {
    expect(["20.19.0", "22.20.0", "23.11.0", "24.4.1"].filter(nodeHasAgentProxy)).toEqual([]);
    expect(["22.21.0", "22.23.5", "24.5.0", "25.0.0"].every(nodeHasAgentProxy)).toBe(true);
    expect(nodeHasAgentProxy(process.versions.node)).toBe(true); // the Node .nvmrc pins
  });
});

describe("when the writes have left", () => {
  it("calls onSent once the last byte is handed to the connection, not when the request starts", async () => {
    let read!: () => void;
    const s = http.createServer((req, res) => {
      req.pause(); // the body waits in the socket's buffers until this server reads it
      read = () => req.resume().on("end", () => res.end("{}"));
    });
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    servers.push({ close: () => new Promise<void>((r) => s.close(() => r())) });
    const events: string[] = [];
    const body = Buffer.alloc(32 * 1024 * 1024, 0x20); // more than the socket buffers hold
    const answer = exchange(createHttpTarget(`http://127.0.0.1:${(s.address() as AddressInfo).port}`, { env: {} }), { method: "POST", url: "big", body: Readable.from([body]), headers: { "Content-Length": String(body.length) }, onSent: () => events.push("sent") }, LIMITS);
    try {
      await new Promise((r) => setTimeout(r, 200));
      expect(events).toEqual([]);
    } finally {
      read();
    }
    answered(await answer);
    expect(events).toEqual(["sent"]);
  });

  it("a Dataverse client's `writing` settles once a write has left and no request handed over is still leaving", async () => {
    let read!: () => void;
    const s = http.createServer((req, res) => {
      if (req.url?.endsWith("/big")) {
        req.pause();
        read = () => req.resume().on("end", () => res.end("{}"));
      } else req.resume().on("end", () => res.end("{}"));
    });
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    servers.push({ close: () => new Promise<void>((r) => s.close(() => r())) });
    const client = createDataverseClient({ environmentUrl: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, getToken: async () => "token" });
    let writing = false;
    void client.writing.then(() => (writing = true));
    await client.request("GET", "accounts");
    const big = client.request("POST", "big", { bodyOf: () => Buffer.alloc(32 * 1024 * 1024, 0x20) });
    try {
      await client.request("POST", "small", { body: {} }); // a write that left, and was answered
      await new Promise((r) => setTimeout(r, 100));
      expect(writing).toBe(false); // the big one is still leaving
    } finally {
      read();
    }
    await big;
    await new Promise((r) => setImmediate(r));
    expect(writing).toBe(true);
  });
});
