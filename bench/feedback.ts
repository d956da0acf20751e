/**
 * `npm run bench:feedback`: how long the two feedback loops take on this machine, printed as
 * figures (no assertion: the machine's load decides too much). Targets from issue 12:
 * `npm run plan -- --all` at most 5 s, `npm test` at most 60 s, on a 2-core machine.
 * BENCH_SKIP_TESTS=1 times the plan only.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..");

/**
 * CPU seconds (user + sys) of this process's finished children, from /proc (Linux; undefined
 * elsewhere). On a shared machine this compares runs better than the wall time.
 */
function childrenCpuSeconds(): number | undefined {
  try {
    // fields after the ")" that ends the command name: cutime and cstime are the 14th and 15th
    const fields = fs.readFileSync("/proc/self/stat", "utf8").split(")").pop()?.trim().split(" ") ?? [];
    const ticks = Number(fields[13]) + Number(fields[14]);
    return Number.isFinite(ticks) ? ticks / CLOCK_TICKS_PER_SECOND : undefined;
  } catch {
    return undefined;
  }
}
/** USER_HZ, 100 on Linux for every architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

function time(label: string, command: string, args: string[]): void {
  const started = process.hrtime.bigint();
  const cpuBefore = childrenCpuSeconds();
  const result = spawnSync(command, args, { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuAfter = childrenCpuSeconds();
  const cpu = cpuBefore === undefined || cpuAfter === undefined ? "" : `  ${(cpuAfter - cpuBefore).toFixed(1).padStart(6)} s CPU`;
  console.log(`${label.padEnd(28)} ${seconds.toFixed(1).padStart(6)} s wall${cpu}  exit ${result.status}`);
  if (result.status !== 0) console.log(result.stderr.split("\n").slice(-5).join("\n"));
}

console.log(`${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`);
time("npm run plan -- --all", "npm", ["run", "--silent", "plan", "--", "--all"]);
if (!process.env.BENCH_SKIP_TESTS) time("npm test", "npm", ["test", "--silent"]);
console.log(`load average after: ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`);
