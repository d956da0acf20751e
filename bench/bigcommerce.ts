// Requests per check and wall time of the BigCommerce API check against the emulator with a
// 100 ms latency per request.   npm run bench:bigcommerce [-- --runs 10 --latency-ms 100]
//
// Goal (issue 3): one request per required scope plus at most one, all concurrent, so a check
// takes about one round trip, not one per scope.

import { parseArgs } from "util";
import { runApiCheck } from "../dynamic-providers/bigcommerce/provider";
import { validateInputs } from "../dynamic-providers/bigcommerce/logic";
import { ALL_READ_SCOPES, startBigCommerceEmulator } from "../tests/emulators/bigcommerce";

const TOKEN = "benchtoken0123456789abcdefghijk";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function bench(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: "string", default: "10" }, "latency-ms": { type: "string", default: "100" } } });
  const runs = Number(values.runs);
  const latencyMs = Number(values["latency-ms"]);
  const emu = await startBigCommerceEmulator({
    tokens: [{ token: TOKEN, storeHash: "abc123", scopes: ALL_READ_SCOPES }],
    latencyMs,
    // Enough quota for the whole benchmark: this measures the check, not the rate limiter.
    rateLimit: { quota: 10_000, windowMs: 30_000 },
  });
  const scenarios: [string, string[] | undefined][] = [
    ["default (4 scopes)", undefined],
    ["5 scopes (+ channel_settings)", [...ALL_READ_SCOPES]],
    ["1 scope (orders)", ["orders"]],
  ];
  console.log(`BigCommerce API check against the emulator, ${latencyMs} ms latency per request, ${runs} runs each\n`);
  console.log("scenario                        scopes  requests/check  max concurrent  wall ms (min / median / max)  sequential would be");
  try {
    for (const [label, scopes] of scenarios) {
      const v = validateInputs({ storeHash: "abc123", accessToken: TOKEN, apiBaseUrl: emu.url, requiredScopes: scopes });
      if (!v.settings) throw new Error(JSON.stringify(v.failures));
      const times: number[] = [];
      const requests: number[] = [];
      const concurrency: number[] = [];
      for (let i = 0; i < runs; i += 1) {
        const started = process.hrtime.bigint();
        const report = await runApiCheck(v.settings);
        times.push(Number(process.hrtime.bigint() - started) / 1e6);
        if (!report.ok) throw new Error(`check failed: ${report.problems.map((p) => p.message).join("; ")}`);
        requests.push(report.stats.requests);
        concurrency.push(report.stats.maxConcurrent);
      }
      const n = v.settings.requiredScopes.length;
      console.log(
        `${label.padEnd(32)}${String(n).padEnd(8)}${String(median(requests)).padEnd(16)}${String(Math.max(...concurrency)).padEnd(16)}` +
          `${Math.min(...times).toFixed(0)} / ${median(times).toFixed(0)} / ${Math.max(...times).toFixed(0)}`.padEnd(30) +
          `~${(n + 1) * latencyMs} ms`,
      );
    }
  } finally {
    await emu.close();
  }
}

bench().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
