/**
 * The top of a V8 CPU profile (`node --cpu-prof`, or BENCH_CPU_PROF in bench/mappings.ts): self
 * time per function, heaviest first, and the total sampled. `--inclusive`: time per function with
 * what it calls (each sample counted once per function on its stack), to see which step costs.
 *
 *   npx ts-node --swc bench/profile-top.ts [--inclusive] <file.cpuprofile> [lines]
 */
import * as fs from "fs";
import * as path from "path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const inclusive = args[0] === "--inclusive";
const [file, lines = "15"] = inclusive ? args.slice(1) : args;
const p = JSON.parse(fs.readFileSync(file, "utf8")) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parentOf = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
const self = new Map<string, number>();
let total = 0;
const nameOf = (n: ProfileNode): string => {
  const f = n.callFrame;
  // The serialized provider is compiled from a string: no url, its line in the provider's text.
  const where = `${f.url ? path.basename(f.url) : "provider"}:${f.lineNumber + 1}`;
  return `${f.functionName || "(anonymous)"} ${where}`.trim();
};
p.samples.forEach((id, i) => {
  const us = p.timeDeltas[i] ?? 0;
  total += us;
  const counted = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = inclusive ? parentOf.get(at) : undefined) {
    const name = nameOf(byId.get(at)!);
    if (counted.has(name)) continue; // recursion: once per sample
    counted.add(name);
    self.set(name, (self.get(name) ?? 0) + us);
  }
});
console.log(`${path.basename(file)}: ${(total / 1000).toFixed(0)} ms sampled`);
for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(lines))) {
  console.log(`  ${(us / 1000).toFixed(1).padStart(8)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${name}`);
}
