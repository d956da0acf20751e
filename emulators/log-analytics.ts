/**
 * Emulator of the Azure Monitor Log Analytics query API, over https on 127.0.0.1 (tls.ts), holding
 * rows of the workspace tables a test puts in (StorageBlobLogs: TimeGenerated, AccountName,
 * OperationName, StatusText, Uri, as the Azure Monitor table reference lists them) and evaluating
 * queries with kql.ts. Sources: "Azure Monitor Logs API" (request format: `POST .../query` with
 * `{"query", "timespan"}`; response format: `tables` of `name`, `columns` {name, type} and `rows`;
 * errors: `{"error": {"code", "message", "innererror"}}`) and "Query by resource" (the path
 * `/v1/<resource id>/query`).
 */
import type { IncomingMessage, ServerResponse } from "http";
import { KqlSyntaxError, runKql, type Row, type Value } from "./kql";
import { sendJson, startHttpsServer, type JsonServer } from "./tls";

export interface LogAnalyticsEmulator {
  url: string;
  /** Workspace ARM id (lower-cased) -> table name -> rows. */
  workspaces: Map<string, Record<string, Row[]>>;
  log: { path: string; status: number; query?: string; timespan?: string }[];
  /** The service's clock for `ago()` and the timespan. */
  now: () => Date;
  close(): Promise<void>;
}

/** ISO 8601 `PT24H` / `P1D`, or `<start>/<end>`, `<start>/<duration>`: the interval the timespan covers. */
export function parseTimespan(text: string, now: Date): { from: Date; to: Date } {
  const duration = (d: string): number | undefined => {
    const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(d);
    if (!m || d === "P" || d === "PT") return undefined;
    return ((Number(m[1] ?? 0) * 24 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 60_000 + Number(m[4] ?? 0) * 1000;
  };
  const [a, b] = text.split("/");
  if (b === undefined) {
    const ms = duration(a);
    if (ms === undefined) throw new Error(`timespan '${text}' is not an ISO 8601 duration or interval`);
    return { from: new Date(now.getTime() - ms), to: now };
  }
  const from = new Date(a);
  const to = duration(b) !== undefined ? new Date(from.getTime() + duration(b)!) : new Date(b);
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) throw new Error(`timespan '${text}' is not an ISO 8601 interval`);
  return { from, to };
}

export async function startLogAnalyticsEmulator(options: { token: string; now?: () => Date }): Promise<LogAnalyticsEmulator> {
  const workspaces = new Map<string, Record<string, Row[]>>();
  const log: LogAnalyticsEmulator["log"] = [];
  const now = options.now ?? (() => new Date());
  const error = (code: string, message: string, inner?: { code: string; message: string }) => ({ error: { code, message, ...(inner ? { innererror: inner } : {}) } });

  const handle = (req: IncomingMessage, body: string, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", server.url);
    const entry: LogAnalyticsEmulator["log"][number] = { path: url.pathname, status: 0 };
    log.push(entry);
    const reply = (status: number, b: unknown) => {
      entry.status = status;
      sendJson(res, status, b);
    };
    if (req.headers.authorization !== `Bearer ${options.token}`) return reply(401, error("AuthorizationRequiredError", "Valid authentication was not provided"));
    // The client may double the slash between the v1 root and a resource id; the path is read without it.
    const m = /^\/v1\/+(subscriptions\/.+)\/query$/i.exec(url.pathname);
    if (req.method !== "POST" || !m) return reply(404, error("PathNotFoundError", `The requested path does not exist: ${url.pathname}`));
    const tables = workspaces.get(`/${m[1]}`.toLowerCase());
    // ASSUMED code: an unknown or unreadable resource is refused; the reference does not list which code.
    if (!tables) return reply(403, error("InsufficientAccessError", "The provided credentials have insufficient access to perform the requested operation"));
    let parsed: { query?: unknown; timespan?: unknown };
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      return reply(400, error("BadArgumentError", "The request had some invalid properties"));
    }
    if (typeof parsed.query !== "string") return reply(400, error("BadArgumentError", "The request had some invalid properties", { code: "QueryValidationError", message: "query is required" }));
    entry.query = parsed.query;
    entry.timespan = typeof parsed.timespan === "string" ? parsed.timespan : undefined;
    const at = now();
    let window: { from: Date; to: Date } | undefined;
    try {
      window = entry.timespan ? parseTimespan(entry.timespan, at) : undefined;
    } catch (e) {
      return reply(400, error("BadArgumentError", (e as Error).message));
    }
    // "The timespan ... is applied in addition to any time filters in the query" (request format).
    const inWindow: Record<string, Row[]> = {};
    for (const [name, rows] of Object.entries(tables)) {
      inWindow[name] = rows.filter((r) => {
        const t = r.TimeGenerated instanceof Date ? r.TimeGenerated : new Date(String(r.TimeGenerated));
        return !window || (t >= window.from && t <= window.to);
      });
    }
    try {
      const result = runKql(parsed.query, inWindow, at);
      const cell = (v: Value) => (v instanceof Date ? v.toISOString() : v);
      return reply(200, { tables: [{ name: "PrimaryResult", columns: result.columns, rows: result.rows.map((r) => r.map(cell)) }] });
    } catch (e) {
      if (!(e instanceof KqlSyntaxError)) throw e;
      return reply(400, error("BadArgumentError", "The request had some invalid properties", { code: "SyntaxError", message: `A recognition error occurred in the query. ${e.message}` }));
    }
  };
  const server: JsonServer = await startHttpsServer(handle);
  return { url: server.url, workspaces, log, now, close: () => server.close() };
}
