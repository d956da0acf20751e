/**
 * Diagnoses a BigCommerce store hash + access token + scopes from the command line.
 *
 *   BIGCOMMERCE_ACCESS_TOKEN=... npm run check:bigcommerce -- --store-hash <hash> [--scopes a,b] [--api-base-url <url>] [--json]
 *
 * The token is read from the environment only (never a flag), so it stays out of shell history.
 * Exit codes: 0 all good, 1 check failed, 2 usage error.
 */

import { parseFlags, runAsCommand, UsageError, wholeNumberFlag, type CliIo, type ParsedFlags } from "../cli-args";
import { formatFailure, validateInputs, DEFAULT_REQUIRED_SCOPES, SCOPE_ALIASES, type CheckReport } from "./logic";
import { runApiCheck } from "./provider";
import { redact } from "./client";

export const TOKEN_ENV = "BIGCOMMERCE_ACCESS_TOKEN";

export type { CliIo };

const USAGE = `Usage: ${TOKEN_ENV}=<token> npm run check:bigcommerce -- --store-hash <hash> [options]

Proves that a BigCommerce store hash, access token and OAuth scopes work: one request per required
scope, all at once; any of them that succeeds proves the token and store hash. A read-only scope is
proven by a GET; a modify scope (orders) by its read-only GET and PUT /v2/orders/0 with an empty
body, which cannot change anything. Never changes store data.

Options:
  --store-hash <hash>    store hash from the API path https://api.bigcommerce.com/stores/<hash>/v3 (required)
  --scopes <a,b,...>     scopes to prove (default: ${DEFAULT_REQUIRED_SCOPES.join(",")});
                         short forms: ${Object.keys(SCOPE_ALIASES).join(", ")}
  --api-base-url <url>   API host: https://api.bigcommerce.com (the default and only one), or an emulator on this machine (http)
  --expected-store-name <name>  fail unless the store has this name
  --timeout-ms <ms>      per-request timeout (default 10000)
  --json                 print the report as JSON
  -h, --help             this text

The token comes from the ${TOKEN_ENV} environment variable only.
Exit codes: 0 all good, 1 check failed, 2 usage error.`;

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + " ".repeat(width - text.length);
}

/** The per-scope table, store information and rate-limit headroom, as text. */
export function renderReport(report: CheckReport): string {
  const rows = [["SCOPE", "REQUEST", "STATUS", "VERDICT"]];
  for (const l of report.lines) {
    const tries = l.attempts > 1 ? ` (${l.attempts} attempts)` : "";
    rows.push([l.supporting ? `${l.scope} (with the write)` : l.scope, l.request, l.status, `${l.verdict}${tries}`]);
  }
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)) + 2);
  const c = report.credentials;
  const lines: string[] = [
    `BigCommerce API check: store hash ${report.storeHash} at ${report.apiBaseUrl}${report.tokenFingerprint === undefined ? "" : `, token ${report.tokenFingerprint}`}`,
    "",
    ...rows.map((r) => `${pad(r[0], widths[0])}${pad(r[1], widths[1])}${pad(r[2], widths[2])}${r[3]}`),
    "",
    c.provenBy ? `Token and store hash: ok (proven by ${c.provenBy})` : `Token and store hash: ${c.verdict} (no request succeeded)`,
  ];
  const s = report.store;
  lines.push(
    s
      ? `Store: ${s.name} (id ${s.storeId ?? "?"}, hash ${s.id}), domain ${s.domain || "?"}, plan ${s.planName || "?"}${s.planIsTrial ? " (trial)" : ""}, status ${s.status || "?"}`
      : "Store: not read (needs store_v2_information_read_only and a working token)",
  );
  const rl = report.stats.rateLimit;
  lines.push(
    rl.quota !== undefined && rl.lastLeft !== undefined
      ? `Rate limit: ${rl.lastLeft} of ${rl.quota} requests left in a ${rl.windowMs ?? "?"} ms window (lowest seen ${rl.minLeft ?? rl.lastLeft}); ` +
          `${rl.throttled429} x 429, ${rl.waitedMs} ms waited for the limit`
      : `Rate limit: no quota headers seen; ${rl.throttled429} x 429`,
  );
  lines.push(`Requests: ${report.stats.requests} (at most ${report.stats.maxConcurrent} at once) in ${report.durationMs} ms`);
  lines.push("");
  lines.push(report.ok ? "Result: OK" : formatFailure(report));
  return lines.join("\n");
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[], env: Readonly<Record<string, string | undefined>>, io: CliIo): Promise<number> {
  const usage = (message: string): number => {
    io.err(`error: ${message}\n\n${USAGE}`);
    return 2;
  };
  if (argv.some((a) => /^--(access-)?token(=|$)/.test(a))) {
    return usage(`the token is never a flag (it would land in shell history): set ${TOKEN_ENV} instead`);
  }
  let args: ParsedFlags;
  let timeoutMs: number | undefined;
  try {
    args = parseFlags(argv, {
      "store-hash": { type: "string" },
      scopes: { type: "string" },
      "api-base-url": { type: "string" },
      "expected-store-name": { type: "string" },
      "timeout-ms": { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    }, false);
    timeoutMs = wholeNumberFlag("--timeout-ms", args.string("timeout-ms"), 1);
  } catch (e) {
    if (e instanceof UsageError) return usage(e.message);
    throw e;
  }
  if (args.flag("help")) {
    io.out(USAGE);
    return 0;
  }
  const token = env[TOKEN_ENV];
  const str = args.string;
  const scopesText = str("scopes");
  const v = validateInputs({
    storeHash: str("store-hash"),
    accessToken: token,
    requiredScopes: scopesText === undefined ? undefined : scopesText.split(",").map((s) => s.trim()).filter((s) => s !== ""),
    apiBaseUrl: str("api-base-url"),
    expectedStoreName: str("expected-store-name"),
  });
  if (!v.settings) {
    const flag: Record<string, string> = {
      storeHash: "--store-hash",
      accessToken: TOKEN_ENV,
      requiredScopes: "--scopes",
      apiBaseUrl: "--api-base-url",
      expectedStoreName: "--expected-store-name",
    };
    const reasons = v.failures.map((f) => `${flag[f.property] ?? f.property} ${f.reason}`);
    return usage(reasons.join("\n       "));
  }
  const report = await runApiCheck(v.settings, timeoutMs === undefined ? {} : { timeoutMs });
  const text = args.flag("json") ? JSON.stringify(report, null, 2) : renderReport(report);
  io.out(redact(text, v.settings.accessToken));
  return report.ok ? 0 : 1;
}

if (require.main === module) runAsCommand(main, (text) => redact(text, process.env[TOKEN_ENV] ?? ""));
