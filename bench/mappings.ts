/**
 * Benchmark: IOM product mappings at catalogue scale against the Dataverse emulator.
 *
 *   npm run bench:mappings                 # 50,000 rows
 *   BENCH_ROWS=5000 npm run bench:mappings # quicker
 *   BENCH_NAIVE=1 ...                      # also run the naive client (slow: one request per row)
 *
 * Phases, for the bulk sync (this project) and optionally for a naive one-request-per-row client
 * (one resource per row, like Terraform's powerplatform_data_record with its default parallelism
 * of 10, refreshing each row on every plan):
 *   1. full sync from empty, 2. a 1% change (¼ removed, ¼ added, ½ retargeted), 3. a no-op.
 *
 * The modelled floor of a phase, for this latency model: the rows it moves × their per-row cost ÷
 * the concurrency the service allows (52), plus its dependent round trips × the request latency.
 * Dependent round trips, counted from what must happen in order (reads that can run together
 * count once): full sync 6 (table list → mapping table's columns → referenced tables → provider
 * id → existing rows ∥ target names ∥ groups ∥ bulk support → writes); 1% change 3 (existing rows
 * → names ∥ bulk support → writes); no-op and forced resync 1 (existing rows).
 * Printed per phase: HTTP requests (and writes), wall time, peak RSS. The bulk sync runs as Pulumi
 * runs it: the serialized provider in a fresh Node process per phase (peak RSS = that process's
 * maxRSS, wall time = the provider calls, not the process start); the naive client runs in this
 * process (its RSS includes ts-node).
 *
 * The emulator runs in a separate process (so its CPU and memory are not counted here), with a
 * latency model of BENCH_LATENCY_MS per request (default 20) + BENCH_ROW_MS per row written
 * (default 10) + BENCH_READ_ROW_MS per row read (default 0.05), the service's limits (52 concurrent
 * requests, sent as x-ms-dop-hint; 6,000 requests and 20 minutes of execution time per 5 minutes).
 * The naive client's emulator has the request quota disabled (with the real 6,000 per 5 minutes it
 * would be throttled for most of its run).
 */
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import * as http from "http";
import axios, { AxiosInstance } from "axios";
import type { SyncOutputs } from "../dynamic-providers/dataverse/sync";
import { serializeDefaultProvider } from "../plan/provider-serialization";
import { runSteps, writeProviderFile, Step, StepResult } from "../tests/emulators/dataverse-child";
import { productMappingInputs } from "../tests/emulators/dataverse-harness";
import { diffRowMaps } from "../dynamic-providers/dataverse/plan";
import type { RowMap } from "../dynamic-providers/dataverse/rows";

const ROWS = Number(process.env.BENCH_ROWS ?? 50_000);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 20);
// 10 ms per row written: Microsoft's CreateUpdateMultiple sample reports "Created 100 records in
// 1 seconds" with one CreateMultiple request (PowerApps-Samples, BulkOperations README).
const ROW_MS = Number(process.env.BENCH_ROW_MS ?? 10);
const READ_ROW_MS = Number(process.env.BENCH_READ_ROW_MS ?? 0.05);
/** The service's concurrent-request limit ("Service protection API limits"). */
const CONCURRENCY = 52;
const DEPENDENT_ROUND_TRIPS: Record<string, number> = { "full sync": 6, "1% change": 3, "no-op": 1, "forced resync": 1 };
const NAIVE_PARALLELISM = Number(process.env.BENCH_NAIVE_PARALLELISM ?? 10);
const TOKEN = "bench-token";
const ROOT = path.join(__dirname, "..");

interface Emu {
  url: string;
  proc: ChildProcess;
  admin: <T>(op: string, body?: unknown) => Promise<T>;
}

async function startEmulator(limits: { quota?: number } = {}): Promise<Emu> {
  const opts = { token: TOKEN, products: ROWS, latencyPerRequestMs: LATENCY_MS, latencyPerRowMs: ROW_MS, latencyPerReadRowMs: READ_ROW_MS, maxConcurrent: CONCURRENCY, ...limits };
  const proc = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(ROOT, "tests/emulators/dataverse-server.ts"), JSON.stringify(opts)], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const first = await new Promise<string>((resolve, reject) => {
    let buf = "";
    proc.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    proc.on("exit", (c) => reject(new Error(`emulator exited ${c}`)));
  });
  const { url } = JSON.parse(first) as { url: string };
  const admin = async <T>(op: string, body?: unknown): Promise<T> =>
    (await axios.post(`${url}/_emulator/${op}`, body ?? {}, { headers: { Authorization: `Bearer ${TOKEN}` } })).data as T;
  return { url, proc, admin };
}

interface Stats {
  requests: number;
  byMethod: Record<string, number>;
  rowsWritten: number;
  rowsRead: number;
  throttled: number;
  maxInFlight: number;
}

interface Result {
  phase: string;
  client: string;
  requests: number;
  writes: number;
  ms: number;
  rssMB: number;
  floorMs: number;
}

const results: Result[] = [];

async function measure(emu: Emu, client: string, phase: string, fn: () => Promise<void>, rssMB?: () => number, wallMs?: () => number): Promise<void> {
  (global as { gc?: () => void }).gc?.();
  await emu.admin("reset-stats");
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  const t0 = Date.now();
  await fn();
  const ms = wallMs ? wallMs() : Date.now() - t0;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const s = await emu.admin<Stats>("stats");
  const writes = (s.byMethod.POST ?? 0) + (s.byMethod.PATCH ?? 0) + (s.byMethod.DELETE ?? 0);
  const floorMs = ((s.rowsWritten * ROW_MS + s.rowsRead * READ_ROW_MS) / CONCURRENCY) + (DEPENDENT_ROUND_TRIPS[phase] ?? 1) * LATENCY_MS;
  const r = { phase, client, requests: s.requests, writes, ms, rssMB: rssMB ? rssMB() : Math.round(peak / 1e6), floorMs };
  results.push(r);
  console.log(
    `${client.padEnd(6)} ${phase.padEnd(14)} requests ${String(r.requests).padStart(7)} (writes ${String(writes).padStart(6)})  ${(ms / 1000).toFixed(2).padStart(8)} s  ` +
      `floor ${(floorMs / 1000).toFixed(2)} s (${s.rowsWritten} rows written, ${s.rowsRead} read, ${DEPENDENT_ROUND_TRIPS[phase] ?? 1} round trips)  ratio ${(ms / floorMs).toFixed(2)}  ` +
      `peak RSS ${r.rssMB} MB  max in flight ${s.maxInFlight}${s.throttled ? `  throttled ${s.throttled}` : ""}`,
  );
}

const pn = (i: number) => `P-${String(i).padStart(6, "0")}`;

function fullRows(): RowMap {
  const m: RowMap = {};
  for (let i = 1; i <= ROWS; i++) m[`sku=S${i}`] = pn(i);
  return m;
}

/** 1% of rows: a quarter removed, a quarter added, half pointed at another product. */
function changedRows(base: RowMap): RowMap {
  const m: RowMap = { ...base };
  const n = Math.max(4, Math.round(ROWS / 100));
  for (let j = 0; j < n; j++) {
    const i = 1 + j * Math.floor(ROWS / n);
    if (j % 4 === 0) delete m[`sku=S${i}`];
    else if (j % 4 === 1) m[`sku=NEW${i}`] = pn(i);
    else m[`sku=S${i}`] = pn(((i + 7) % ROWS) + 1);
  }
  return m;
}

// ---- the bulk sync ----------------------------------------------------------------------------
//
// Run the way Pulumi runs it: the provider is serialized (runtime.serializeFunction, as
// pulumi.dynamic.Resource does) and each phase's provider calls run from that text in a fresh
// plain Node process, like the dynamic-provider host. Peak RSS is that process's maxRSS.

let providerFile = "";

async function phase(emu: Emu, name: string, steps: Step[]): Promise<StepResult[]> {
  let out: StepResult[] = [];
  let rssKB = 0;
  let ms = 0;
  await measure(emu, "bulk", name, async () => {
    const { done } = runSteps(providerFile, steps, { DATAVERSE_ACCESS_TOKEN: TOKEN });
    const { results, stderr } = await done;
    const failed = results.find((r) => !r.ok);
    if (failed || results.length !== steps.length) throw new Error(`${name}: ${failed?.error ?? stderr}`);
    out = results;
    rssKB = Math.max(...results.map((r) => r.maxRssKB ?? 0));
    ms = results.reduce((t, r) => t + (r.ms ?? 0), 0);
  }, () => Math.round((rssKB * 1024) / 1e6), () => Math.round(ms));
  return out;
}

async function benchBulk(emu: Emu): Promise<void> {
  providerFile = writeProviderFile((await serializeDefaultProvider("iomMappingSetProvider")).text);
  const inputs = (rows: RowMap) => productMappingInputs(emu.url, rows, { ownerSeed: "bench" });
  const full = fullRows();
  const [created] = await phase(emu, "full sync", [{ op: "create", args: [inputs(full)] }]);
  const id = (created.result as { id: string }).id;
  let outs = (created.result as { outs: SyncOutputs }).outs;
  const changed = changedRows(full);
  // `pulumi up`: diff (no requests), then update with the delta.
  const [diff, updated] = await phase(emu, "1% change", [
    { op: "diff", args: [id, outs, inputs(changed)] },
    { op: "update", args: [id, outs, inputs(changed)] },
  ]);
  if (!(diff.result as { changes: boolean }).changes) throw new Error("expected changes");
  outs = (updated.result as { outs: SyncOutputs }).outs;
  // `pulumi up --refresh` with nothing to do: read (drift check of every row), then diff.
  const [read, noop] = await phase(emu, "no-op", [
    { op: "read", args: [id, outs] },
    { op: "diff", args: [id, outs, inputs(changed)] },
  ]);
  const drift = (read.result as { props: SyncOutputs }).props.drift!;
  if (drift.missing + drift.changed > 0 || (noop.result as { changes: boolean }).changes) throw new Error("no-op expected");
  // An update with unchanged rows (another input changed): full reconcile, no writes.
  await phase(emu, "forced resync", [{ op: "update", args: [id, outs, inputs(changed)] }]);
  const count = await emu.admin<{ count: number }>("count/zq1_prodmap");
  if (count.count !== Object.keys(changed).length) throw new Error(`bulk: ${count.count} rows, expected ${Object.keys(changed).length}`);
  console.log(`bulk   state: outputs ${(JSON.stringify(outs).length / 1e6).toFixed(2)} MB (applied rows gzip+base64 ${(outs.applied.length / 1e6).toFixed(2)} MB), inputs row map ${(JSON.stringify(changed).length / 1e6).toFixed(2)} MB`);
}

// ---- the naive client --------------------------------------------------------------------------

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < items.length) await fn(items[i++]);
    }),
  );
}

async function benchNaive(emu: Emu): Promise<void> {
  const api: AxiosInstance = axios.create({
    baseURL: `${emu.url}/api/data/v9.2/`,
    headers: { Authorization: `Bearer ${TOKEN}`, Accept: "application/json", "OData-Version": "4.0", "OData-MaxVersion": "4.0" },
    httpAgent: new http.Agent({ keepAlive: true, maxSockets: NAIVE_PARALLELISM }),
  });
  // Give the naive client its ids for free (schema known, names resolved): only per-row calls are timed.
  const products = new Map<string, string>();
  for (let next: string | undefined = "products?$select=productid,productnumber"; next; ) {
    type Page = { value: { productid: string; productnumber: string }[]; "@odata.nextLink"?: string };
    const r: { data: Page } = await api.get<Page>(next, { headers: { Prefer: "odata.maxpagesize=5000" } });
    for (const p of r.data.value) products.set(p.productnumber, p.productid);
    next = r.data["@odata.nextLink"];
  }
  const [prov, grp] = await Promise.all([
    api.get<{ value: { msdyn_iomproviderid: string }[] }>("msdyn_iomproviders?$select=msdyn_iomproviderid&$filter=zq1_providerlabel eq 'BigCommerce'"),
    api.get<{ value: { zq1_mapgroupid: string }[] }>("zq1_mapgroups?$select=zq1_mapgroupid&$filter=zq1_grpname eq 'Default Mapping Group'"),
  ]);
  const providerId = prov.data.value[0].msdyn_iomproviderid;
  const groupId = grp.data.value[0].zq1_mapgroupid;
  const ids = new Map<string, string>();
  const body = (key: string, target: string) => ({
    zq1_extfld: "sku",
    zq1_extval: key.slice(4),
    "zq1_Grp@odata.bind": `/zq1_mapgroups(${groupId})`,
    "zq1_Prov@odata.bind": `/msdyn_iomproviders(${providerId})`,
    "zq1_Prod@odata.bind": `/products(${products.get(target)})`,
  });
  const create = async (key: string, target: string) => {
    const r = await api.post("zq1_prodmaps", body(key, target));
    ids.set(key, /\(([0-9a-f-]{36})\)/.exec(String(r.headers["odata-entityid"]))![1]);
  };
  const refresh = async (key: string) => {
    await api.get(`zq1_prodmaps(${ids.get(key)})?$select=zq1_extfld,zq1_extval,_zq1_prod_value`);
  };
  const full = fullRows();
  await measure(emu, "naive", "full sync", () => pool(Object.keys(full), NAIVE_PARALLELISM, (k) => create(k, full[k])));
  const changed = changedRows(full);
  await measure(emu, "naive", "1% change", async () => {
    await pool([...ids.keys()], NAIVE_PARALLELISM, refresh);
    const d = diffRowMaps(full, "G", changed, "G");
    await pool(d.added, NAIVE_PARALLELISM, (k) => create(k, changed[k]));
    await pool(d.changed, NAIVE_PARALLELISM, async (k) => void (await api.patch(`zq1_prodmaps(${ids.get(k)})`, { "zq1_Prod@odata.bind": `/products(${products.get(changed[k])})` }, { headers: { "If-Match": "*" } })));
    await pool(d.removed, NAIVE_PARALLELISM, async (k) => {
      await api.delete(`zq1_prodmaps(${ids.get(k)})`);
      ids.delete(k);
    });
  });
  await measure(emu, "naive", "no-op", () => pool([...ids.keys()], NAIVE_PARALLELISM, refresh));
}

void (async () => {
  const naive = process.env.BENCH_NAIVE === "1";
  console.log(
    `IOM product mappings: ${ROWS} rows; latency model ${LATENCY_MS} ms/request + ${ROW_MS} ms/row written + ${READ_ROW_MS} ms/row read, ${CONCURRENCY} concurrent; ` +
      `${naive ? `naive parallelism ${NAIVE_PARALLELISM}; ` : ""}node ${process.version}`,
  );
  const a = await startEmulator();
  const b = naive ? await startEmulator({ quota: 1e12 }) : undefined;
  try {
    await benchBulk(a);
    if (b) await benchNaive(b);
  } finally {
    a.proc.kill("SIGTERM");
    b?.proc.kill("SIGTERM");
  }
  const get = (client: string, phase: string) => results.find((r) => r.client === client && r.phase === phase)!;
  if (naive) {
    console.log("\nspeed-up (naive wall time / bulk wall time):");
    for (const phase of ["full sync", "1% change", "no-op"]) {
      const x = get("naive", phase).ms / Math.max(1, get("bulk", phase).ms);
      console.log(`  ${phase.padEnd(10)} ${x.toFixed(1)}x`);
    }
  }
  const full = get("bulk", "full sync");
  const noop = get("bulk", "no-op");
  const peak = Math.max(...results.filter((r) => r.client === "bulk").map((r) => r.rssMB));
  const checks: [string, boolean][] = [
    [`full sync ${(full.ms / 1000).toFixed(2)} s within 1.5x of its floor ${(full.floorMs / 1000).toFixed(2)} s (ratio ${(full.ms / full.floorMs).toFixed(2)})`, full.ms <= 1.5 * full.floorMs],
    [`no-op requests ${noop.requests} <= 10`, noop.requests <= 10],
    [`peak RSS ${peak} MB < 250 MB`, peak < 250],
  ];
  if (naive) checks.push([`full sync ${(get("naive", "full sync").ms / full.ms).toFixed(1)}x >= 20x faster than naive`, get("naive", "full sync").ms / full.ms >= 20]);
  console.log("\ngoals:");
  for (const [text, ok] of checks) console.log(`  ${ok ? "PASS" : "FAIL"} ${text}`);
  process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1;
})().catch((e: Error) => {
  console.error(e.stack ?? e.message);
  process.exit(1);
});
