/**
 * `npm run bench:feedback`: how long the two feedback loops take on this machine, printed as
 * figures (no assertion: the machine's load decides too much). Targets from issue 12:
 * `npm run plan -- --all` at most 5 s, `npm test` at most 60 s, on a 2-core machine.
 * BENCH_SKIP_TESTS=1 times the plan only.
 */
import { spawnSync } from "child_process";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..");

function time(label: string, command: string, args: string[]): void {
  const started = process.hrtime.bigint();
  const result = spawnSync(command, args, { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(`${label.padEnd(28)} ${seconds.toFixed(1).padStart(6)} s wall  exit ${result.status}`);
  if (result.status !== 0) console.log(result.stderr.split("\n").slice(-5).join("\n"));
}

console.log(`${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`);
time("npm run plan -- --all", "npm", ["run", "--silent", "plan", "--", "--all"]);
if (!process.env.BENCH_SKIP_TESTS) time("npm test", "npm", ["test", "--silent"]);
console.log(`load average after: ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`);
