// Requests and wall time of the BigCommerce API check per `pulumi preview` and per `pulumi up`,
// against the emulator with a latency per request.
//   npm run bench:bigcommerce [-- --runs 10 --latency-ms 100]
//
// It drives the provider as the engine does in one dynamic-provider process: a preview calls
// `check`; an `up` calls `check` and then `create` (first deployment) or `update` (a changed
// setting). Each run starts as a new process would, with no kept report. Goal (issue 8): an `up`
// costs at most one request per required scope plus one (the Orders read-only GET next to its write
// probe), in about one round trip; the row
// "without reuse" shows what it cost before (a probe in check and another in create/update).

import { randomBytes } from "crypto";
import { parseArgs } from "util";
import { createBigCommerceApiCheckDynamicProvider, type BigCommerceApiCheckInputs, type BigCommerceApiCheckOutputs } from "../dynamic-providers/bigcommerce";
import { DEFAULT_REQUIRED_SCOPES } from "../dynamic-providers/bigcommerce/logic";
import { forgetReports } from "../dynamic-providers/bigcommerce/reuse";
import { IOM_SCOPES, startBigCommerceEmulator } from "../emulators/bigcommerce";

const TOKEN = "benchtoken0123456789abcdefghijk";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

type Provider = ReturnType<typeof createBigCommerceApiCheckDynamicProvider>;

async function bench(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: "string", default: "10" }, "latency-ms": { type: "string", default: "100" } } });
  const runs = Number(values.runs);
  const latencyMs = Number(values["latency-ms"]);
  const emu = await startBigCommerceEmulator({
    tokens: [{ token: TOKEN, storeHash: "abc123", scopes: IOM_SCOPES }],
    latencyMs,
    // Enough quota for the whole benchmark: this measures the check, not the rate limiter.
    rateLimit: { quota: 100_000, windowMs: 30_000 },
  });
  const news: BigCommerceApiCheckInputs = { storeHash: "abc123", accessToken: TOKEN, apiBaseUrl: emu.url, fingerprintKey: randomBytes(32).toString("base64") };
  const withReuse = createBigCommerceApiCheckDynamicProvider();
  const withoutReuse = createBigCommerceApiCheckDynamicProvider({ reuseTtlMs: 0 });

  const preview = async (p: Provider): Promise<void> => {
    const checked = await p.check({} as BigCommerceApiCheckInputs, news);
    if (checked.failures?.length) throw new Error(JSON.stringify(checked.failures));
  };
  const upCreate = async (p: Provider): Promise<void> => {
    const checked = await p.check({} as BigCommerceApiCheckInputs, news);
    await p.create(checked.inputs as BigCommerceApiCheckInputs);
  };
  const upUpdate = async (p: Provider): Promise<void> => {
    const checked = await p.check({} as BigCommerceApiCheckInputs, { ...news, expectedStoreName: "Contoso Outdoor" });
    await p.update("abc123", {} as BigCommerceApiCheckOutputs, checked.inputs as BigCommerceApiCheckInputs);
  };
  const scenarios: [string, () => Promise<void>][] = [
    ["preview (check)", () => preview(withReuse)],
    ["up, first (check + create)", () => upCreate(withReuse)],
    ["up, changed (check + update)", () => upUpdate(withReuse)],
    ["up without reuse (before)", () => upCreate(withoutReuse)],
  ];

  const scopes = DEFAULT_REQUIRED_SCOPES.length;
  console.log(
    `BigCommerce API check against the emulator: ${latencyMs} ms latency per request, ${runs} runs each, ` +
      `default scopes (${scopes}: ${DEFAULT_REQUIRED_SCOPES.join(", ")}); goal per up: <= ${scopes + 1} requests, ~1 round trip\n`,
  );
  console.log("scenario                        requests  round trips  wall ms (min / median / max)  store data changed");
  try {
    for (const [label, run] of scenarios) {
      const times: number[] = [];
      const requests: number[] = [];
      const changesBefore = emu.dataChanges();
      for (let i = 0; i < runs; i += 1) {
        forgetReports(); // each run is a new provider process
        emu.resetLog();
        const started = process.hrtime.bigint();
        await run();
        times.push(Number(process.hrtime.bigint() - started) / 1e6);
        requests.push(emu.requests.length);
      }
      const m = median(times);
      console.log(
        `${label.padEnd(32)}${String(median(requests)).padEnd(10)}${`~${(m / latencyMs).toFixed(1)}`.padEnd(13)}` +
          `${`${Math.min(...times).toFixed(0)} / ${m.toFixed(0)} / ${Math.max(...times).toFixed(0)}`.padEnd(30)}` +
          `${emu.dataChanges() - changesBefore}`,
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
