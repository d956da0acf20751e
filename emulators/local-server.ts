/**
 * What every emulator's server shares: listening on 127.0.0.1 at a port the system picks, and a
 * stop that does not wait for kept-alive connections (a client's agent keeps them open).
 */
import * as http from "http";
import * as https from "https";
import type { AddressInfo, Socket } from "net";

export interface LocalServer {
  /** `http://127.0.0.1:<port>`, or https for an https server. */
  url: string;
  stop(): Promise<void>;
}

export async function listenLocally(server: http.Server | https.Server): Promise<LocalServer> {
  const sockets = new Set<Socket>();
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const scheme = server instanceof https.Server ? "https" : "http";
  return {
    url: `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * An emulator of a JSON API on a local server: the request log tests count, the faults they queue,
 * and the JSON answer that logs itself. Subclasses answer in `handle`.
 */
export abstract class JsonApiEmulator<Fault> {
  readonly log: { method: string; path: string; status: number; body?: unknown }[] = [];
  url = "";
  protected faults: Fault[] = [];
  private listening?: LocalServer;

  fault(f: Fault): void {
    this.faults.push(f);
  }

  count(method: string, pathPart: string): number {
    return this.log.filter((l) => l.method === method && l.path.includes(pathPart)).length;
  }

  async start(): Promise<string> {
    this.listening = await listenLocally(http.createServer((req, res) => void this.handle(req, res)));
    this.url = this.listening.url;
    return this.url;
  }

  async stop(): Promise<void> {
    await this.listening?.stop();
  }

  /** The error body Microsoft's JSON APIs answer with. */
  protected error(code: string, message: string) {
    return { error: { code, message } };
  }

  protected abstract handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void>;

  protected send(res: http.ServerResponse, req: { method: string; path: string }, status: number, body?: unknown, headers: Record<string, string> = {}): void {
    this.log.push({ method: req.method, path: req.path, status, body });
    res.writeHead(status, body === undefined ? headers : { ...headers, "Content-Type": "application/json; charset=utf-8" });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  }
}
