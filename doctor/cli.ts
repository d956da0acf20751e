/**
 * `npm run doctor -- <stack> [--json] [--outputs <file>] [--hours <n>] [--secret-days <n>] [--timeout <s>]`
 *
 * Checks every link from BigCommerce to the File Drop for a deployed stack, with the operator's
 * credentials, and prints one line per link with ✓ ✗ ! and the fix (docs/operations.md, "The
 * doctor"). Read-only: it changes nothing anywhere.
 *
 * Exit codes: 0 healthy (warnings allowed), 1 something fails, 2 usage or configuration error.
 */
import * as path from "path";
import { parseFlags, runAsCommand, UsageError, wholeNumberFlag, type CliIo } from "../dynamic-providers/cli-args";
import type { CheckContext } from "./context";
import { errorDocument, formatTable } from "./report";
import { runDoctor } from "./run";
import { CA_FILE_ENV, ENDPOINT_ENV, STATIC_TOKEN_ENV, servicesFromEnv } from "./services";
import { BIGCOMMERCE_TOKEN_ENV, DoctorUsageError, resolveTarget, systemPulumi, type PulumiRunner } from "./target";

const ROOT = path.resolve(__dirname, "..");

export const USAGE = `Usage: npm run doctor -- <stack> [options]

Checks a deployed stack's links with your credentials: each BigCommerce store's API, Dataverse and IOM,
each IOM provider's parameters and activation, the providers' cloud flows and their runs, the
gateway cluster's members, the File Drop's freshness and Error File Drop, Key Vault secret expiry,
and (VNet stacks) the Power Platform policy link. Changes nothing.

Options:
  --outputs <file>     the stack's outputs ('pulumi stack output --json > <file>'); default: ask the Pulumi CLI
  --json               print the report as JSON (doctor/report.schema.json)
  --hours <n>          look back this many hours for flow runs and files (default: doctorLookbackHours, 24)
  --secret-days <n>    fail on secrets expiring within n days (default: doctorSecretExpiryDays, 7)
  --timeout <seconds>  deadline of each check group (default 120)
  -h, --help           this text

Credentials: each BigCommerce store's ${BIGCOMMERCE_TOKEN_ENV}_<STORE> (${BIGCOMMERCE_TOKEN_ENV} for the
default or only store; else 'pulumi config get'), DATAVERSE_ACCESS_TOKEN and
POWER_PLATFORM_ACCESS_TOKEN (else DefaultAzureCredential), DefaultAzureCredential for Azure and
Fabric (or ${STATIC_TOKEN_ENV}). Endpoints: ${Object.values(ENDPOINT_ENV).join(", ")}, ${CA_FILE_ENV}.
Exit codes: 0 healthy, 1 something fails, 2 usage or configuration error.`;

export type DoctorIo = CliIo;

export interface DoctorDeps {
  pulumi?: PulumiRunner;
  now?: () => Date;
}

export async function main(argv: string[], env: Readonly<Record<string, string | undefined>>, io: DoctorIo, deps: DoctorDeps = {}): Promise<number> {
  let json = false;
  let stack: string | undefined;
  try {
    const args = parseFlags(argv, {
      outputs: { type: "string" },
      json: { type: "boolean" },
      hours: { type: "string" },
      "secret-days": { type: "string" },
      timeout: { type: "string" },
      help: { type: "boolean", short: "h" },
    }, true);
    json = args.flag("json");
    if (args.flag("help")) {
      io.out(USAGE);
      return 0;
    }
    const { positionals } = args;
    if (positionals.length !== 1) throw new DoctorUsageError(positionals.length ? `one stack at a time, got ${positionals.join(" ")}` : "name the stack (e.g. npm run doctor -- dev)");
    stack = positionals[0];
    const hours = wholeNumberFlag("--hours", args.string("hours"), 1, 168);
    const secretDays = wholeNumberFlag("--secret-days", args.string("secret-days"), 1, 365);
    const timeoutS = wholeNumberFlag("--timeout", args.string("timeout"), 1, 3600) ?? 120;
    const target = resolveTarget({ stack, outputsFile: args.string("outputs"), env, pulumi: deps.pulumi ?? systemPulumi(ROOT) });
    const services = servicesFromEnv(env, { groupTimeoutMs: timeoutS * 1000, requestTimeoutMs: Math.min(30_000, timeoutS * 1000) });
    const ctx: CheckContext = {
      target,
      services,
      now: (deps.now ?? (() => new Date()))(),
      lookbackHours: hours ?? target.config.doctor.lookbackHours,
      secretExpiryDays: secretDays ?? target.config.doctor.secretExpiryDays,
      progress: (m) => io.err(`doctor: ${m}`),
      secretsToRedact: [env.DATAVERSE_ACCESS_TOKEN, env.POWER_PLATFORM_ACCESS_TOKEN, env[STATIC_TOKEN_ENV]].filter((s): s is string => !!s),
    };
    io.err(`doctor: checking stack ${stack} (outputs from ${target.outputsSource})`);
    const report = await runDoctor(ctx);
    io.out(json ? JSON.stringify(report, null, 2) : formatTable(report, Number(env.COLUMNS) || 120));
    return report.exitCode;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`error: ${e.message}${/name the stack|one stack at a time|Unknown option|Unexpected argument/i.test(e.message) ? `\n\n${USAGE}` : ""}`);
    if (json) io.out(JSON.stringify(errorDocument(stack, e.message), null, 2));
    return 2;
  }
}

if (require.main === module) runAsCommand(main);
