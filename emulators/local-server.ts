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
