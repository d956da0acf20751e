/**
 * Benchmark: IOM product mappings at catalogue scale against the Dataverse emulator, and how the
 * cost grows with the number of rows (issue 21).
 *
 *   npm run bench:mappings                                  # 10,000, 50,000 and 200,000 rows, both models
 *   BENCH_SIZES=10000,50000 BENCH_MODELS=request-bound ...  # a subset
 *   BENCH_CPU_PROF=/tmp/prof ...; npx ts-node bench/profile-top.ts [--inclusive] /tmp/prof/<phase>-<n>-<call>.cpuprofile
 *   BENCH_CPU_PROF_US=100 ...                               # with a sample every 100 µs (V8's default: ~1 ms)
 *   BENCH_EMULATOR_PROF=/tmp/eprof ...                      # the emulator's profile (is it the bottleneck?)
 *   BENCH_LOG=1 ...                                         # each phase's calls and requests on one time line (ms from its first call)
 *   BENCH_PHASES=noop BENCH_SIZES=200000 ...                # time only these phases (full, change, noop; default all)
 *   BENCH_MEMORY_TRACE=20 ...                               # per provider call: memory and V8's heap spaces at its highest sampled RSS
 *
 * A phase BENCH_PHASES leaves out still runs, to leave the table and the state the next phase
 * starts from, but untimed and unreported, with the emulator's latency and execution-time limit
 * off meanwhile (the write-bound 200,000-row full sync is 5½ minutes of waiting on the service's
 * window otherwise); goals that need it are not judged. The default run times every phase.
 *
 * Two latency models, both with the service's 5,000-row pages and its limits (52 concurrent
 * requests; 6,000 requests and 20 minutes of execution time per 5 minutes):
 *   - write-bound: 20 ms per request + 10 ms per row written (Microsoft's CreateUpdateMultiple
 *     sample: "Created 100 records in 1 seconds") + 0.05 ms per row read, x-ms-dop-hint 52;
 *   - request-bound: 30 ms per request + 1 ms per row written, x-ms-dop-hint 12 (an environment
 *     that recommends fewer parallel requests than the limit).
 *
 * Per size: the program's side (parse and validate the CSV, build the resource's row map and pack it) in a
 * child process with ts-node, as `pulumi preview` runs the program; then per model, the provider
 * as Pulumi runs it (serialized, rebuilt in a fresh Node process per phase): full sync from empty,
 * a 1% change (diff, then update: a quarter removed, a quarter added, half pointed at another
 * product) and a no-op `pulumi up --refresh` (read, then diff). Printed: wall time of the provider
 * calls, HTTP requests (and writes), the modelled floor and the ratio to it, peak RSS of the
 * process, and the state's size; then the slope between sizes, and the goals as PASS/FAIL.
 *
 * The floor of a phase: the rows it moves × their per-row cost ÷ the parallelism the service
 * recommends (x-ms-dop-hint), or, when its execution time passes the service's 20 minutes per
 * 5-minute sliding window, a window per 20 minutes beyond the first and the rest at that
 * parallelism; plus its dependent round trips × the
 * request latency (full sync 6:
 * table list → mapping table's columns → referenced tables → provider id → existing rows ∥ target
 * names ∥ groups ∥ bulk support → writes; 1% change 2: rows touched ∥ their names ∥ bulk support
 * → writes; no-op 1: the rows). The emulator runs in its own process, so its CPU and memory are not
 * counted here, but it shares the machine's cores.
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import axios from "axios";
import type { SyncOutputs } from "../dynamic-providers/dataverse/sync";
import { serializeDefaultProvider } from "../plan/provider-serialization";
import { runSteps, writeProviderFile, Step, StepResult } from "../emulators/dataverse-child";
import { productMappingInputs } from "../emulators/dataverse-harness";
import type { LoggedRequest } from "../emulators/dataverse";
import type { RowMap } from "../dynamic-providers/dataverse/rows";

interface Model {
  name: string;
  latencyMs: number;
  rowMs: number;
  readRowMs: number;
  dop: number;
}

const MODELS: Model[] = [
  { name: "write-bound", latencyMs: 20, rowMs: 10, readRowMs: 0.05, dop: 52 },
  { name: "request-bound", latencyMs: 30, rowMs: 1, readRowMs: 0, dop: 12 },
].filter((m) => !process.env.BENCH_MODELS || process.env.BENCH_MODELS.split(",").includes(m.name));
const SIZES = (process.env.BENCH_SIZES ?? "10000,50000,200000").split(",").map(Number);
const PAGE = 5000;
const DEPENDENT_ROUND_TRIPS: Record<string, number> = { "full sync": 6, "1% change": 2, "no-op": 1 };
const TOKEN = "bench-token";
const EXEC_LIMIT_MS = 20 * 60_000;
const EXEC_WINDOW_MS = 5 * 60_000;
const ROOT = path.join(__dirname, "..");
const PHASE_KEYS: Record<string, string> = { "full sync": "full", "1% change": "change", "no-op": "noop" };
const TIMED_PHASES = (process.env.BENCH_PHASES ?? "full,change,noop").split(",");

interface Emu {
  url: string;
  proc: ChildProcess;
  admin: <T>(op: string, body?: unknown) => Promise<T>;
}

async function startEmulator(model: Model, products: number): Promise<Emu> {
  const opts = { token: TOKEN, products, latencyPerRequestMs: model.latencyMs, latencyPerRowMs: model.rowMs, latencyPerReadRowMs: model.readRowMs, maxConcurrent: 52, dopHint: model.dop, maxPageSize: PAGE };
  // BENCH_EMULATOR_PROF=<dir>: a V8 CPU profile of the emulator's process, written when it stops.
  const prof = process.env.BENCH_EMULATOR_PROF ? ["--cpu-prof", `--cpu-prof-dir=${path.resolve(process.env.BENCH_EMULATOR_PROF)}`] : [];
  const proc = spawn(process.execPath, [...prof, "--max-old-space-size=4096", "-r", "ts-node/register/transpile-only", path.join(ROOT, "emulators/dataverse-server.ts"), JSON.stringify(opts)], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
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
  const admin = async <T>(op: string, body?: unknown): Promise<T> => (await axios.post(`${url}/_emulator/${op}`, body ?? {}, { headers: { Authorization: `Bearer ${TOKEN}` } })).data as T;
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
  model: string;
  rows: number;
  phase: string;
  requests: number;
  writes: number;
  ms: number;
  rssMB: number;
  floorMs: number;
  stateMB?: number;
}

const results: Result[] = [];
const mb = (bytes: number) => bytes / 1e6;

const pn = (i: number) => `P-${String(i).padStart(6, "0")}`;

function fullRows(n: number): RowMap {
  const m: RowMap = {};
  for (let i = 1; i <= n; i++) m[`sku=S${i}`] = pn(i);
  return m;
}

/** 1% of rows: a quarter removed, a quarter added, half pointed at another product. */
function changedRows(base: RowMap, n: number): RowMap {
  const m: RowMap = { ...base };
  const k = Math.max(4, Math.round(n / 100));
  for (let j = 0; j < k; j++) {
    const i = 1 + j * Math.floor(n / k);
    if (j % 4 === 0) delete m[`sku=S${i}`];
    else if (j % 4 === 1) m[`sku=NEW${i}`] = pn(i);
    else m[`sku=S${i}`] = pn(((i + 7) % n) + 1);
  }
  return m;
}

// ---- the program's side: parse and validate the CSV ---------------------------------------------

/** Parse a `rows`-row products.csv as index.ts does (loadMappingDir, then the resource's row map, packed as IomMappingSet sends it); ms and peak RSS. */
function benchValidation(rows: number): { ms: number; packMs: number; rssMB: number; fileMB: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-map-"));
  const stackDir = path.join(dir, "mappings", "bench");
  fs.mkdirSync(stackDir, { recursive: true });
  const lines = ["externalFieldName,externalFieldValue,productNumber,mappingGroup"];
  for (let i = 1; i <= rows; i++) lines.push(`sku,S${i},${pn(i)},`);
  fs.writeFileSync(path.join(stackDir, "products.csv"), lines.join("\n") + "\n");
  const script = `
    const { loadMappingDir } = require(${JSON.stringify(path.join(ROOT, "dynamic-providers/dataverse/validation"))});
    const t0 = process.hrtime.bigint();
    const parsed = loadMappingDir(${JSON.stringify(stackDir)}, "Default Mapping Group", { maxFileBytes: 1024 * 1024 * 1024 });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (Object.keys(parsed.products.rows).length !== ${rows}) throw new Error("row count");
    // IomMappingSet then packs the rows it sends (provider.ts).
    const { encodeApplied } = require(${JSON.stringify(path.join(ROOT, "dynamic-providers/dataverse/sync"))});
    const t1 = process.hrtime.bigint();
    encodeApplied(parsed.products.rows);
    const packMs = Number(process.hrtime.bigint() - t1) / 1e6;
    process.stdout.write(JSON.stringify({ ms, packMs, maxRssKB: process.resourceUsage().maxRSS }));`;
  try {
    const out = execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], { cwd: ROOT, encoding: "utf8" });
    const r = JSON.parse(out) as { ms: number; packMs: number; maxRssKB: number };
    return { ms: r.ms, packMs: r.packMs, rssMB: Math.round((r.maxRssKB * 1024) / 1e6), fileMB: mb(fs.statSync(path.join(stackDir, "products.csv")).size) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---- the provider, as Pulumi runs it -------------------------------------------------------------

let providerFile = "";

/** A phase BENCH_PHASES leaves out: its steps, untimed, with the emulator's latency and execution limit off. */
async function untimedPhase(emu: Emu, model: Model, rows: number, name: string, steps: Step[]): Promise<StepResult[]> {
  const before = await emu.admin<{ latencyPerRequestMs: number; latencyPerRowMs: number; latencyPerReadRowMs: number; executionTimeMs: number }>("options", {});
  await emu.admin("options", { latencyPerRequestMs: 0, latencyPerRowMs: 0, latencyPerReadRowMs: 0, executionTimeMs: Number.MAX_SAFE_INTEGER });
  try {
    // The client's own pacing off too: elapsed times on a loaded machine are no execution time here.
    const { results: rs, stderr } = await runSteps(providerFile, steps, { DATAVERSE_ACCESS_TOKEN: TOKEN, DATAVERSE_SYNC_EXECUTION_BUDGET_MS: String(Number.MAX_SAFE_INTEGER) }).done;
    const failed = rs.find((r) => !r.ok);
    if (failed || rs.length !== steps.length) throw new Error(`${model.name} ${rows} ${name} (untimed): ${failed?.error ?? stderr}`);
    console.log(`  ${name.padEnd(10)} (not timed: BENCH_PHASES)`);
    return rs;
  } finally {
    const { latencyPerRequestMs, latencyPerRowMs, latencyPerReadRowMs, executionTimeMs } = before;
    await emu.admin("options", { latencyPerRequestMs, latencyPerRowMs, latencyPerReadRowMs, executionTimeMs });
  }
}

/**
 * BENCH_LOG: each call's start and end, and each request's arrival and answer at the emulator, in
 * ms from the phase's first call (both clocks are this machine's Date.now()): where a phase waits
 * on the service, and where on the client's own work between round trips.
 */
function printLog(steps: Step[], rs: StepResult[], log: LoggedRequest[]): void {
  const t0 = rs[0]?.startedAt ?? 0;
  const at = (t: number) => String(Math.round(t - t0)).padStart(6);
  const lines: [number, string][] = rs.map((r, i) => [r.startedAt ?? 0, `${at(r.startedAt ?? 0)} ${at((r.startedAt ?? 0) + (r.ms ?? 0))}  ${steps[i].op} call`]);
  for (const q of log) lines.push([q.arrivedAt, `${at(q.arrivedAt)} ${at(q.respondedAt ?? q.arrivedAt)}    ${q.method} ${q.path.replace(/^\/api\/data\/v[\d.]+\//, "")} ${q.rows ?? 0} rows ${q.status ?? ""}`]);
  for (const [, line] of lines.sort((a, b) => a[0] - b[0])) console.log(line);
}

async function phase(emu: Emu, model: Model, rows: number, name: string, steps: Step[]): Promise<StepResult[]> {
  if (!TIMED_PHASES.includes(PHASE_KEYS[name])) return untimedPhase(emu, model, rows, name, steps);
  // The rows written so far in key order, as the service's index keeps them at write time (the
  // emulator sorts them in on its next ordered read, which would charge a 200,000-row sort to it).
  await emu.admin("settle");
  await emu.admin("reset-stats");
  // BENCH_CPU_PROF=<dir>: a V8 CPU profile of each phase's provider calls (bench/profile-top.ts prints its top).
  const profDir = process.env.BENCH_CPU_PROF ? path.resolve(process.env.BENCH_CPU_PROF) : "";
  if (profDir) fs.mkdirSync(profDir, { recursive: true });
  const prof: Record<string, string> = profDir ? { STEPS_CPU_PROF: path.join(profDir, `${model.name}-${rows}-${name.replace(/\W+/g, "")}`), STEPS_CPU_PROF_US: process.env.BENCH_CPU_PROF_US ?? "" } : {};
  // The client's defaults: past 20 minutes of execution per 5-minute window (the write-bound
  // model's 200,000 rows are 33) it paces itself to the service's limit rather than be throttled,
  // so a first sync of that size completes without a longer Retry-After cap.
  // BENCH_MEMORY_TRACE=<ms>: what the child's peak is made of (emulators/dataverse-child.ts STEPS_MEMORY_TRACE).
  const trace: Record<string, string> = process.env.BENCH_MEMORY_TRACE ? { STEPS_MEMORY_TRACE: process.env.BENCH_MEMORY_TRACE } : {};
  const env = { DATAVERSE_ACCESS_TOKEN: TOKEN, ...prof, ...trace };
  const { done } = runSteps(providerFile, steps, env);
  const { results: rs, stderr } = await done;
  for (const line of stderr.split("\n")) if (line.startsWith("@@MEMORY ")) console.log(`  ${line.slice("@@MEMORY ".length)}`);
  const failed = rs.find((r) => !r.ok);
  if (failed || rs.length !== steps.length) throw new Error(`${model.name} ${rows} ${name}: ${failed?.error ?? stderr}`);
  const s = await emu.admin<Stats>("stats");
  if (process.env.BENCH_LOG) printLog(steps, rs, await emu.admin<LoggedRequest[]>("log"));
  const writes = (s.byMethod.POST ?? 0) + (s.byMethod.PATCH ?? 0) + (s.byMethod.DELETE ?? 0);
  // The service allows 20 minutes of combined execution time per 5-minute window ("Service
  // protection API limits"): past that much work, 20 minutes more takes 5 minutes of wall time
  // whatever the parallelism (the write-bound model's 200,000 rows are 33 minutes of execution).
  const execMs = s.rowsWritten * model.rowMs + s.rowsRead * model.readRowMs + s.requests * model.latencyMs;
  // The window slides: whatever runs in the last 5 minutes of a phase is at most 20 minutes of
  // execution, and the rest must run before them at most `dop` at a time; so past 20 minutes a
  // phase takes a full window per 20 minutes beyond the first, plus what is left over at the
  // parallelism (200,000 rows write-bound: 5 minutes + 13.3 minutes / 52 = 315 s).
  const fullWindows = Math.max(0, Math.ceil(execMs / EXEC_LIMIT_MS) - 1);
  const execFloorMs = fullWindows === 0 ? 0 : fullWindows * EXEC_WINDOW_MS + (execMs - fullWindows * EXEC_LIMIT_MS) / model.dop;
  const floorMs = Math.max((s.rowsWritten * model.rowMs + s.rowsRead * model.readRowMs) / model.dop, execFloorMs) + DEPENDENT_ROUND_TRIPS[name] * model.latencyMs;
  const ms = rs.reduce((t, r) => t + (r.ms ?? 0), 0);
  const rssMB = Math.round((Math.max(...rs.map((r) => r.maxRssKB ?? 0)) * 1024) / 1e6);
  const r: Result = { model: model.name, rows, phase: name, requests: s.requests, writes, ms, rssMB, floorMs };
  results.push(r);
  console.log(
    `  ${name.padEnd(10)} ${(ms / 1000).toFixed(2).padStart(7)} s  floor ${(floorMs / 1000).toFixed(2).padStart(6)} s  ratio ${(ms / floorMs).toFixed(2).padStart(5)}  ` +
      `requests ${String(s.requests).padStart(4)} (writes ${String(writes).padStart(3)})  peak RSS ${String(rssMB).padStart(4)} MB  ` +
      `rows written ${s.rowsWritten}, read ${s.rowsRead}; max in flight ${s.maxInFlight}${s.throttled ? `, throttled ${s.throttled}` : ""}; ` +
      steps.map((st, i) => `${st.op} ${((rs[i].ms ?? 0) / 1000).toFixed(2)} s (cpu ${((rs[i].cpuMs ?? 0) / 1000).toFixed(2)} s)`).join(", "),
  );
  return rs;
}

/** What Pulumi keeps for the resource: its inputs and its outputs (each also holds the provider's text, counted apart). */
function stateSize(inputs: object, outs: object): { inputsMB: number; outputsMB: number } {
  return { inputsMB: mb(Buffer.byteLength(JSON.stringify(inputs))), outputsMB: mb(Buffer.byteLength(JSON.stringify(outs))) };
}

async function benchProvider(model: Model, rows: number): Promise<void> {
  const emu = await startEmulator(model, rows);
  try {
    // As the engine runs the provider: check first (the program's packed rows against the stored
    // ones), then create, diff and update with the inputs check returned. The rows go packed, as
    // IomMappingSet sends them (productMappingInputs).
    const inputs = (m: RowMap) => productMappingInputs(emu.url, m, { ownerSeed: "bench" });
    const full = fullRows(rows);
    const [checkedFull, created] = await phase(emu, model, rows, "full sync", [
      { op: "check", args: [{}, inputs(full)] },
      { op: "create", args: ["$inputs"] },
    ]);
    const id = (created.result as { id: string }).id;
    let outs = (created.result as { outs: SyncOutputs }).outs;
    let stored = (checkedFull.result as { inputs: object }).inputs;
    const changed = changedRows(full, rows);
    const [checked, diff, updated] = await phase(emu, model, rows, "1% change", [
      { op: "check", args: [stored, inputs(changed)] },
      { op: "diff", args: [id, outs, "$inputs"] },
      { op: "update", args: [id, outs, "$inputs"] },
    ]);
    if (!(diff.result as { changes: boolean }).changes) throw new Error("expected changes");
    outs = (updated.result as { outs: SyncOutputs }).outs;
    stored = (checked.result as { inputs: object }).inputs;
    // `pulumi up --refresh`: read (its inputs become the stored ones), then check and diff.
    const [read, rechecked, noop] = await phase(emu, model, rows, "no-op", [
      { op: "read", args: [id, outs] },
      { op: "check", args: ["$inputs", inputs(changed)] },
      { op: "diff", args: [id, "$outs", "$inputs"] },
    ]);
    const drift = (read.result as { props: SyncOutputs }).props.drift!;
    if (drift.missing + drift.changed > 0 || (noop.result as { changes: boolean }).changes) throw new Error("no-op expected");
    const count = await emu.admin<{ count: number }>("count/zq1_prodmap");
    if (count.count !== Object.keys(changed).length) throw new Error(`${count.count} rows, expected ${Object.keys(changed).length}`);
    const sizeAfterChange = stateSize(stored, outs);
    outs = (read.result as { props: SyncOutputs }).props;
    stored = (rechecked.result as { inputs: object }).inputs;
    const size = stateSize(stored, outs);
    const most = Math.max(size.inputsMB + size.outputsMB, sizeAfterChange.inputsMB + sizeAfterChange.outputsMB);
    results.filter((r) => r.model === model.name && r.rows === rows).forEach((r) => (r.stateMB = most));
    console.log(
      `  state      after the 1% change: inputs ${sizeAfterChange.inputsMB.toFixed(2)} MB (rows packed + the change key by key) + outputs ${sizeAfterChange.outputsMB.toFixed(2)} MB; ` +
        `after refresh: inputs ${size.inputsMB.toFixed(2)} MB + outputs ${size.outputsMB.toFixed(2)} MB (applied rows gzip+base64 ${mb(outs.applied.length).toFixed(2)} MB); largest ${most.toFixed(2)} MB`,
    );
  } finally {
    emu.proc.kill("SIGTERM");
  }
}

void (async () => {
  const load = os.loadavg().map((x) => x.toFixed(2)).join(", ");
  console.log(`IOM product mappings: ${SIZES.join(", ")} rows; node ${process.version}; ${os.cpus().length} cores; load average ${load}`);
  for (const m of MODELS) console.log(`model ${m.name}: ${m.latencyMs} ms/request + ${m.rowMs} ms/row written + ${m.readRowMs} ms/row read, x-ms-dop-hint ${m.dop}, ${PAGE}-row pages`);
  const provider = (await serializeDefaultProvider("iomMappingSetDynamicProvider")).text;
  providerFile = writeProviderFile(provider);
  console.log(`serialized provider: ${mb(Buffer.byteLength(provider)).toFixed(2)} MB, kept twice in the state (inputs and outputs)`);
  const validation = new Map<number, { ms: number; rssMB: number }>();
  for (const rows of SIZES) {
    const v = benchValidation(rows);
    validation.set(rows, v);
    console.log(`\n${rows.toLocaleString("en-US")} rows: program side (${v.fileMB.toFixed(1)} MB CSV): parse + validate ${(v.ms / 1000).toFixed(2)} s, pack the rows ${(v.packMs / 1000).toFixed(2)} s, peak RSS ${v.rssMB} MB (with ts-node)`);
    for (const model of MODELS) {
      console.log(` ${model.name}`);
      await benchProvider(model, rows);
    }
  }

  const get = (model: string, rows: number, phase: string) => results.find((r) => r.model === model && r.rows === rows && r.phase === phase);
  const checks: [string, boolean][] = [];
  console.log("\nslopes (per 10,000 more rows) and growth against linear (1.00 = linear):");
  for (const model of MODELS) {
    for (let i = 1; i < SIZES.length; i++) {
      const [a, b] = [SIZES[i - 1], SIZES[i]];
      for (const ph of ["full sync", "1% change", "no-op"]) {
        const x = get(model.name, a, ph);
        const y = get(model.name, b, ph);
        if (!x || !y) continue; // not timed (BENCH_PHASES)
        const per = 10_000 / (b - a);
        console.log(
          `  ${model.name.padEnd(13)} ${ph.padEnd(10)} ${a / 1000}k -> ${b / 1000}k: +${((y.ms - x.ms) * per / 1000).toFixed(2)} s, +${((y.rssMB - x.rssMB) * per).toFixed(1)} MB, +${((y.requests - x.requests) * per).toFixed(1)} requests; ` +
            `time x${(y.ms / x.ms / (b / a)).toFixed(2)}, memory x${(y.rssMB / x.rssMB / (b / a)).toFixed(2)} of linear`,
        );
      }
    }
  }
  for (const model of MODELS) {
    for (const rows of SIZES) {
      const full = get(model.name, rows, "full sync");
      const change = get(model.name, rows, "1% change");
      const noop = get(model.name, rows, "no-op");
      const tag = `${model.name} ${rows / 1000}k`;
      if (full) checks.push([`${tag}: full sync ${(full.ms / 1000).toFixed(2)} s within 1.5x its floor ${(full.floorMs / 1000).toFixed(2)} s (${(full.ms / full.floorMs).toFixed(2)})`, full.ms <= 1.5 * full.floorMs]);
      if (change) checks.push([`${tag}: 1% change ${(change.ms / 1000).toFixed(2)} s within 3x its floor ${(change.floorMs / 1000).toFixed(2)} s (${(change.ms / change.floorMs).toFixed(2)})`, change.ms <= 3 * change.floorMs]);
      const maxNoop = Math.ceil(rows / PAGE) + 5;
      if (noop) checks.push([`${tag}: no-op refresh ${noop.requests} requests <= ${maxNoop} (rows / 5,000 + 5)`, noop.requests <= maxNoop]);
      const cap = rows <= 50_000 ? 250 : rows <= 200_000 ? 600 : Infinity;
      if (cap !== Infinity && full && change && noop) {
        const peak = Math.max(full.rssMB, change.rssMB, noop.rssMB);
        checks.push([`${tag}: provider peak RSS ${peak} MB < ${cap} MB`, peak < cap]);
      }
    }
    if (SIZES.includes(50_000) && SIZES.includes(200_000)) {
      for (const ph of ["full sync", "1% change", "no-op"]) {
        const x = get(model.name, 50_000, ph);
        const y = get(model.name, 200_000, ph);
        if (!x || !y) continue;
        // Linear: 4x the rows, at most 4x the time and memory (10% allowed for a machine shared with
        // other work). Where the service's own floor grows faster (the execution-time window makes
        // the write-bound full sync's floor grow x32 from 50k to 200k), no client can be linear in
        // time: its time may grow as fast as its floor, and no faster.
        const floorGrowth = y.floorMs / x.floorMs;
        const timeLimit = 1.1 * Math.max(4, floorGrowth);
        const limitText = floorGrowth > 4 ? `time <= ${timeLimit.toFixed(1)} (its floor's growth x${floorGrowth.toFixed(2)}, +10%), memory <= 4.4` : "<= 4.4 (linear, +10%)";
        checks.push([`${model.name} ${ph}: 50k -> 200k time x${(y.ms / x.ms).toFixed(2)}, memory x${(y.rssMB / x.rssMB).toFixed(2)} ${limitText}`, y.ms / x.ms <= timeLimit && y.rssMB / x.rssMB <= 4.4]);
      }
    }
  }
  if (SIZES.includes(200_000)) {
    const v = validation.get(200_000)!;
    checks.push([`program side at 200k: peak RSS ${v.rssMB} MB < 600 MB`, v.rssMB < 600]);
    const timed = results.filter((r) => r.rows === 200_000);
    if (timed.length > 0) {
      const state = Math.max(...timed.map((r) => r.stateMB ?? 0));
      console.log(`\nstate at 200k: ${state.toFixed(2)} MB (inputs + outputs, without the provider's text)`);
      checks.push([`state at 200k: ${state.toFixed(2)} MB < 5 MB (inputs + outputs)`, state < 5]);
    }
  }
  console.log(`\nload average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(", ")}`);
  console.log("goals:");
  for (const [text, ok] of checks) console.log(`  ${ok ? "PASS" : "FAIL"} ${text}`);
  process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1;
})().catch((e: Error) => {
  console.error(e.stack ?? e.message);
  process.exit(1);
});
