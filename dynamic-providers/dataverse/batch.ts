/**
 * OData `$batch` bodies for the Dataverse Web API (multipart/mixed, change sets), and parsing of
 * the multipart responses. Pure.
 *
 * Layout sent: one top-level part per change set; each change set holds up to `changeSetSize`
 * operations (`Content-Type: application/http`, `Content-Transfer-Encoding: binary`, a
 * `Content-ID`), CRLF line endings. With `Prefer: odata.continue-on-error` the service answers 200
 * with one part per change set: a nested multipart of per-operation responses when the change set
 * committed, or a single error response when it was rolled back.
 */
import { randomUUID } from "crypto";

export interface BatchOp {
  method: "POST" | "PATCH" | "DELETE" | "GET";
  /** Path relative to the API root, e.g. `accounts(0000...)`. */
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface OpResult {
  status: number; // 0 = not executed
  headers: Record<string, string>;
  body?: unknown;
  /** True when this op was fine but its change set was rolled back by another op's failure. */
  rolledBack?: boolean;
}

export function buildBatch(apiRoot: string, ops: BatchOp[], changeSetSize: number): { contentType: string; body: string; units: number[][] } {
  const batch = `batch_${randomUUID()}`;
  const lines: string[] = [];
  const units: number[][] = [];
  for (let start = 0; start < ops.length; start += changeSetSize) {
    const idx = ops.slice(start, start + changeSetSize).map((_, i) => start + i);
    units.push(idx);
    const cs = `changeset_${randomUUID()}`;
    lines.push(`--${batch}`, `Content-Type: multipart/mixed; boundary=${cs}`, "");
    for (const i of idx) {
      const op = ops[i];
      if (op.method === "GET") throw new Error("GET cannot be part of a change set");
      lines.push(`--${cs}`, "Content-Type: application/http", "Content-Transfer-Encoding: binary", `Content-ID: ${i + 1}`, "");
      lines.push(`${op.method} ${apiRoot}${op.path} HTTP/1.1`);
      for (const [k, v] of Object.entries(op.headers ?? {})) lines.push(`${k}: ${v}`);
      if (op.body !== undefined) {
        lines.push("Content-Type: application/json; type=entry", "", JSON.stringify(op.body));
      } else {
        lines.push("");
      }
    }
    lines.push(`--${cs}--`);
  }
  lines.push(`--${batch}--`, "");
  return { contentType: `multipart/mixed; boundary=${batch}`, body: lines.join("\r\n"), units };
}

interface Part {
  headers: Record<string, string>;
  body: string;
}

function boundaryOf(contentType: string): string | undefined {
  const m = /boundary=("?)([^";]+)\1/i.exec(contentType);
  return m?.[2];
}

function splitParts(text: string, boundary: string): Part[] {
  const norm = text.replace(/\r\n/g, "\n");
  const delim = `--${boundary}`;
  const out: Part[] = [];
  const pieces = norm.split(delim);
  for (const piece of pieces.slice(1)) {
    if (piece.startsWith("--")) break;
    const s = piece.replace(/^[ \t]*\n/, "");
    const sep = s.indexOf("\n\n");
    const head = sep < 0 ? s : s.slice(0, sep);
    const body = sep < 0 ? "" : s.slice(sep + 2).replace(/\n$/, "");
    const headers: Record<string, string> = {};
    for (const l of head.split("\n")) {
      const i = l.indexOf(":");
      if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    out.push({ headers, body });
  }
  return out;
}

function parseHttpResponse(text: string): OpResult {
  const lines = text.split("\n");
  const start = lines.shift() ?? "";
  const m = /^HTTP\/1\.1 (\d{3})/.exec(start.trim());
  const headers: Record<string, string> = {};
  while (lines.length > 0 && lines[0].trim() !== "") {
    const l = lines.shift()!;
    const i = l.indexOf(":");
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  lines.shift();
  const raw = lines.join("\n").trim();
  let body: unknown;
  if (raw) {
    try {
      body = JSON.parse(raw);
    } catch {
      body = raw;
    }
  }
  return { status: m ? Number(m[1]) : 0, headers, body };
}

/** Map a $batch response back onto the ops (in order), using the units buildBatch returned. */
export function parseBatchResponse(contentType: string, text: string, units: number[][], opCount: number): OpResult[] {
  const results: OpResult[] = Array.from({ length: opCount }, () => ({ status: 0, headers: {} }));
  const boundary = boundaryOf(contentType);
  if (!boundary) throw new Error(`$batch response without a multipart boundary (Content-Type: ${contentType})`);
  const parts = splitParts(text, boundary);
  parts.forEach((part, u) => {
    const unit = units[u];
    if (!unit) return;
    const inner = boundaryOf(part.headers["content-type"] ?? "");
    if (inner && /^multipart\//i.test(part.headers["content-type"] ?? "")) {
      const ips = splitParts(part.body, inner);
      ips.forEach((ip, j) => {
        const cid = Number(ip.headers["content-id"]);
        const opIndex = Number.isFinite(cid) && cid > 0 ? cid - 1 : unit[j];
        if (opIndex !== undefined && opIndex < opCount) results[opIndex] = parseHttpResponse(ip.body);
      });
    } else {
      // A rolled-back change set: one error response for all its operations.
      const r = parseHttpResponse(part.body);
      for (const i of unit) results[i] = { ...r, rolledBack: unit.length > 1 };
    }
  });
  return results;
}
