/**
 * The doctor's report: the line every check returns, the JSON document `--json` prints
 * (doctor/report.schema.json describes it; docs/operations.md explains each line), the table a
 * person reads, and the exit code. Pure: no I/O, no clock (the caller passes times in).
 *
 * The JSON shape is a contract for machines (the scheduled workflow, an operator's own scripts):
 * add fields freely, never rename or remove one without changing `schema`.
 */

/** `ok` ✓ works; `fail` ✗ broken or not provable; `warn` ! works but needs attention; `skip` - not used by this stack. */
export type CheckStatus = "ok" | "fail" | "warn" | "skip";

export const SYMBOLS: Readonly<Record<CheckStatus, string>> = { ok: "✓", fail: "✗", warn: "!", skip: "-" };

/** One line of the report. */
export interface CheckLine {
  /** Stable machine id, e.g. `bigcommerce.api`, `flows.run-history`, `gateway.member`. */
  id: string;
  /** The link it checks, as the table shows it: "BigCommerce", "Dataverse", "IOM provider", "Provider flow", "Gateway", "File Drop", "Key Vault", "Policy link". */
  group: string;
  /** What exactly: a store hash, a provider name, a flow name, a gateway member, a secret name. */
  subject: string;
  /** The BigCommerce store (its name in bigcommerceStores, `default` for the single-store keys) the line belongs to; absent on the links every store shares. */
  store?: string;
  status: CheckStatus;
  /** One sentence: what was found. */
  summary: string;
  /** What to do, for `fail` and `warn` (may be absent for `ok` and `skip`). */
  fix?: string;
  /** Facts behind the summary for machines (counts, times, versions); never a secret. */
  details?: Record<string, unknown>;
}

export interface DoctorReport {
  /** Version of this document's shape. */
  schema: "iom-doctor/v1";
  stack: string;
  checkedAt: string;
  durationMs: number;
  /** `healthy`: no line failed (warnings allowed). */
  status: "healthy" | "unhealthy";
  exitCode: 0 | 1;
  counts: Record<CheckStatus, number>;
  /** The look-back and thresholds the checks used. */
  settings: { lookbackHours: number; secretExpiryDays: number };
  /** Each BigCommerce store of the stack, healthy when none of its lines failed (empty without stores). */
  stores: StoreSummary[];
  checks: CheckLine[];
}

export interface StoreSummary {
  name: string;
  storeHash: string;
  providerName: string;
  status: "healthy" | "unhealthy";
  /** The ids of its failing lines. */
  failing: string[];
}

/** The document `--json` prints for a usage or configuration error (exit code 2). */
export interface DoctorError {
  schema: "iom-doctor/v1";
  stack: string | null;
  status: "error";
  exitCode: 2;
  error: string;
}

export function buildReport(args: {
  stack: string;
  checkedAt: Date;
  durationMs: number;
  settings: DoctorReport["settings"];
  stores?: readonly { name: string; storeHash: string; providerName: string }[];
  checks: CheckLine[];
}): DoctorReport {
  const counts: Record<CheckStatus, number> = { ok: 0, fail: 0, warn: 0, skip: 0 };
  for (const c of args.checks) counts[c.status] += 1;
  const healthy = counts.fail === 0;
  const stores = (args.stores ?? []).map((s): StoreSummary => {
    const failing = [...new Set(args.checks.filter((c) => c.store === s.name && c.status === "fail").map((c) => c.id))];
    return { name: s.name, storeHash: s.storeHash, providerName: s.providerName, status: failing.length ? "unhealthy" : "healthy", failing };
  });
  return {
    schema: "iom-doctor/v1",
    stack: args.stack,
    checkedAt: args.checkedAt.toISOString(),
    durationMs: args.durationMs,
    status: healthy ? "healthy" : "unhealthy",
    exitCode: healthy ? 0 : 1,
    counts,
    settings: args.settings,
    stores,
    checks: args.checks,
  };
}

export function errorDocument(stack: string | undefined, message: string): DoctorError {
  return { schema: "iom-doctor/v1", stack: stack ?? null, status: "error", exitCode: 2, error: message };
}

/** Cuts `text` into lines of at most `width` characters at spaces (a word longer than that stays whole). */
export function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  for (const paragraph of text.split("\n")) {
    let line = "";
    for (const word of paragraph.split(/\s+/).filter(Boolean)) {
      if (line && line.length + 1 + word.length > width) {
        out.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    out.push(line);
  }
  return out;
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length));

/**
 * The table a person reads: one row per line (symbol, check, result), the fix under each failing or
 * warning row, and a verdict. With several stores a store's lines carry its name (`BigCommerce
 * [winter]: ...`), a line sums up each store, and the verdict names the failing ones. `width` is
 * the terminal width the result column wraps to.
 */
export function formatTable(report: DoctorReport, width = 120): string {
  const several = report.stores.length > 1;
  const group = (c: CheckLine) => (several && c.store ? `${c.group} [${c.store}]` : c.group);
  const label = (c: CheckLine) => (c.subject ? `${group(c)}: ${c.subject}` : group(c));
  const labelWidth = Math.min(40, Math.max(5, ...report.checks.map((c) => label(c).length)));
  const indent = 3 + labelWidth + 2;
  const textWidth = Math.max(40, width - indent);
  const lines: string[] = [
    `IOM doctor: stack ${report.stack}, ${report.checkedAt.replace(/\.\d+Z$/, "Z")}, runs and files of the last ${report.settings.lookbackHours} h`,
    "",
    `   ${pad("CHECK", labelWidth)}  RESULT`,
  ];
  for (const c of report.checks) {
    const name = label(c);
    const [first, ...rest] = wrap(c.summary, textWidth);
    // A name longer than the column gets a row of its own; the result starts under the column.
    if (name.length > labelWidth) lines.push(`${SYMBOLS[c.status]}  ${name}`, `${" ".repeat(indent)}${first}`);
    else lines.push(`${SYMBOLS[c.status]}  ${pad(name, labelWidth)}  ${first}`);
    for (const r of rest) lines.push(`${" ".repeat(indent)}${r}`);
    if (c.fix && c.status !== "ok") {
      const [f, ...fr] = wrap(`fix: ${c.fix}`, textWidth - 5);
      lines.push(`${" ".repeat(indent)}${f}`, ...fr.map((x) => `${" ".repeat(indent + 5)}${x}`));
    }
  }
  const n = report.counts;
  lines.push("");
  if (several) {
    lines.push(`Stores: ${report.stores.map((s) => `${s.name} (${s.storeHash}) ${s.status === "healthy" ? "healthy" : `FAILING: ${s.failing.join(", ")}`}`).join("; ")}`);
  }
  const failing = report.stores.filter((s) => s.status === "unhealthy").map((s) => `'${s.name}'`);
  lines.push(
    `${report.status === "healthy" ? "Healthy" : "UNHEALTHY"}: ${n.ok} ok, ${n.fail} failing, ${n.warn} warning${n.warn === 1 ? "" : "s"}, ${n.skip} not used by this stack (exit ${report.exitCode})` +
      `${failing.length ? `; failing store${failing.length === 1 ? "" : "s"}: ${failing.join(", ")}` : ""}.`,
  );
  return lines.join("\n");
}

/** Replaces every occurrence of each secret in `text` (defence in depth for messages built from answers). */
export function redactAll(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join("[redacted]");
  return out;
}
