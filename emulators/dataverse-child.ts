/**
 * Run the *serialized* provider text in a plain Node child process, the way the dynamic-provider
 * host does (`require-from-string(text).handler()`), against the emulator.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.join(__dirname, "..");

/**
 * Writes `text` (a provider's `__provider` text) to a fresh file for runSteps. The tests get the
 * text from the program server (tests/support/program.ts `serializedProvider`), the mappings
 * benchmark from plan/provider-serialization.ts `serializeDefaultProvider`.
 */
export function writeProviderFile(text: string): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "dv-prov-")), "provider.js");
  fs.writeFileSync(file, text);
  return file;
}

export interface Step {
  op: "check" | "diff" | "create" | "read" | "update" | "delete";
  /** Arguments; the strings "$id", "$outs" and "$inputs" are replaced by the last create's id / last outputs / last check's (or read's) inputs. */
  args: unknown[];
}

/** Plain JavaScript run by `node -e`: no ts-node, no jest. */
const RUNNER = `
const fs = require("fs");
const requireFromString = require("require-from-string");
const { Struct } = require("google-protobuf/google/protobuf/struct_pb");
// What the host does with results: Struct.fromJavaScript (throws on undefined, functions, ...).
const storable = (...vs) => {
  try {
    for (const v of vs) if (v) Struct.fromJavaScript(v);
    return null;
  } catch (e) {
    return e.message;
  }
};
// What the host hands a provider: each argument decoded from the engine's protobuf Struct
// (@pulumi/pulumi cmd/dynamic-provider: req.getNews().toJavaScript()), whose objects list their
// keys in code-unit order. A copy in that order, not a Struct round trip: its garbage (seconds of
// GC at 200,000 rows) would be charged to the call measured next.
const viaHost = (v) => {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(viaHost);
  const out = {};
  for (const k of Object.keys(v).sort()) out[k] = viaHost(v[k]);
  return out;
};
require("@pulumi/pulumi"); // the dynamic-provider host has the SDK loaded before any provider call
const [providerFile, programFile] = process.argv.slice(1);
const provider = requireFromString(fs.readFileSync(providerFile, "utf8")).handler();
const steps = JSON.parse(fs.readFileSync(programFile, "utf8"));
// STEPS_CPU_PROF=<prefix>: a V8 CPU profile of each provider call (<prefix>-<n>-<op>.cpuprofile), not the process's start;
// STEPS_CPU_PROF_US=<µs>: its sampling interval.
const profPrefix = process.env.STEPS_CPU_PROF;
const session = profPrefix ? new (require("inspector").Session)() : undefined;
const post = (method, params) => new Promise((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r))));
// STEPS_MEMORY_TRACE=<ms>: process.memoryUsage() every <ms> during each call, to stderr (@@MEMORY):
// the sample at the call's highest RSS with V8's heap spaces then (MB), to see what a peak is made of
// (e.g. garbage in old and large-object space before a full collection, bodies in arrayBuffers).
const traceMs = Number(process.env.STEPS_MEMORY_TRACE) || 0;
const memoryTrace = (op) => {
  if (!traceMs) return () => undefined;
  const v8 = require("v8");
  const MB = (m) => Object.entries(m).map(([k, v]) => k + " " + Math.round(v / 1e5) / 10).join(", ");
  let peak = { rss: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    if (m.rss <= peak.rss) return;
    peak = m;
    for (const sp of v8.getHeapSpaceStatistics()) if (sp.space_size > 0) peak[sp.space_name] = sp.space_size;
  };
  const timer = setInterval(sample, traceMs);
  return () => {
    clearInterval(timer);
    sample();
    process.stderr.write("@@MEMORY " + op + " at its highest sampled RSS: " + MB(peak) + "\\n");
  };
};
(async () => {
  if (session) {
    session.connect();
    await post("Profiler.enable");
    if (process.env.STEPS_CPU_PROF_US) await post("Profiler.setSamplingInterval", { interval: Number(process.env.STEPS_CPU_PROF_US) });
  }
  let id, outs, inputs;
  for (const [n, s] of steps.entries()) {
    if (session) await post("Profiler.start");
    const args = s.args.map((a) => viaHost(a === "$id" ? id : a === "$outs" ? outs : a === "$inputs" ? inputs : a));
    const startedAt = Date.now();
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    const traced = memoryTrace(s.op);
    try {
      const r = await provider[s.op](...args);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const cpu = process.cpuUsage(cpu0);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      if (s.op === "create") { id = r.id; outs = r.outs; }
      if (s.op === "update") outs = r.outs;
      if (s.op === "read") { outs = r.props; inputs = r.inputs; }
      if (s.op === "check") inputs = r.inputs;
      process.stdout.write("@@RESULT " + JSON.stringify({ op: s.op, ok: true, result: r === undefined ? null : r, startedAt, ms, cpuMs, maxRssKB: process.resourceUsage().maxRSS, structError: storable(r && r.outs, r && r.props, r && r.inputs) }) + "\\n");
    } catch (e) {
      process.stdout.write("@@RESULT " + JSON.stringify({ op: s.op, ok: false, error: e.message, id: e.id, properties: e.properties, structError: storable(e.properties) }) + "\\n");
    }
    traced();
    if (session) fs.writeFileSync(\`\${profPrefix}-\${n + 1}-\${s.op}.cpuprofile\`, JSON.stringify((await post("Profiler.stop")).profile));
  }
})();
`;

export interface StepResult {
  op: string;
  ok: boolean;
  result?: Record<string, unknown> | null;
  error?: string;
  id?: string;
  properties?: Record<string, unknown>;
  /** Error of protobuf Struct.fromJavaScript on what the host would store (null = storable). */
  structError?: string | null;
  /** Wall-clock time (Date.now()) the provider call started: to place the emulator's request log (its arrivedAt) in the call. */
  startedAt?: number;
  /** Duration of the provider call in the child (ms). */
  ms?: number;
  /** CPU time (user + system) of the child during the call (ms): on a shared machine, steadier than `ms`. */
  cpuMs?: number;
  /** Peak resident set of the child so far (KB). */
  maxRssKB?: number;
}

/** `env.STEPS_CPU_PROF`: a file for a CPU profile of the provider calls; `env.STEPS_MEMORY_TRACE`: memory at each call's peak (RUNNER). */
export function runSteps(providerFile: string, steps: Step[], env: Record<string, string>): { child: ChildProcess; done: Promise<{ results: StepResult[]; stdout: string; stderr: string; code: number | null }> } {
  const programFile = path.join(path.dirname(providerFile), `program-${process.hrtime.bigint()}.json`);
  fs.writeFileSync(programFile, JSON.stringify(steps));
  const child = spawn(process.execPath, ["-e", RUNNER, providerFile, programFile], { cwd: ROOT, env: { PATH: process.env.PATH ?? "", ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ results: StepResult[]; stdout: string; stderr: string; code: number | null }>((resolve) => {
    child.on("close", (code) => {
      const results = stdout
        .split("\n")
        .filter((l) => l.startsWith("@@RESULT "))
        .map((l) => JSON.parse(l.slice("@@RESULT ".length)) as StepResult);
      resolve({ results, stdout, stderr, code });
    });
  });
  return { child, done };
}
