/**
 * HTTPS for the emulators of Azure-side APIs (Fabric, Log Analytics, Resource Manager): the Azure
 * SDK's bearer-token policy refuses to send a token over plain http, as it should, so those
 * emulators serve https on 127.0.0.1 with a certificate made here, for this process only.
 *
 * The certificate is self-signed for IP 127.0.0.1, made with the openssl command line (Node cannot
 * make one), valid two days, written to a temporary folder: clients trust it through the doctor's
 * IOM_DOCTOR_CA_FILE (its `caFile`). Nothing here is a secret anyone else could use.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import { listenLocally } from "./local-server";
import type { IncomingMessage, ServerResponse } from "http";

export interface TestCertificate {
  /** PEM of the certificate, also the CA a client trusts. */
  cert: string;
  key: string;
  /** A file holding `cert`, for IOM_DOCTOR_CA_FILE. */
  caFile: string;
}

let made: TestCertificate | undefined;

export function testCertificate(): TestCertificate {
  if (made) return made;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iom-emulator-tls-"));
  const key = path.join(dir, "key.pem");
  const cert = path.join(dir, "cert.pem");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
  ], { stdio: "ignore" });
  made = { cert: fs.readFileSync(cert, "utf8"), key: fs.readFileSync(key, "utf8"), caFile: cert };
  return made;
}

export interface JsonServer {
  url: string;
  close(): Promise<void>;
}

/** A JSON-speaking https server on 127.0.0.1 and a random port; `handle` gets the request body as text. */
export async function startHttpsServer(handle: (req: IncomingMessage, body: string, res: ServerResponse) => void | Promise<void>): Promise<JsonServer> {
  const { cert, key } = testCertificate();
  const server = https.createServer({ cert, key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void Promise.resolve(handle(req, Buffer.concat(chunks).toString("utf8"), res)).catch((e: unknown) => {
        if (!res.headersSent) res.writeHead(500, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ error: { code: "EmulatorBug", message: (e as Error).message } }));
      });
    });
  });
  const { url, stop } = await listenLocally(server);
  return { url, close: stop };
}

export function sendJson(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, body === undefined ? headers : { ...headers, "Content-Type": "application/json; charset=utf-8" });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}
