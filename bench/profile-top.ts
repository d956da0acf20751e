/**
 * The top of a V8 CPU profile (`node --cpu-prof`, or BENCH_CPU_PROF in bench/mappings.ts): self
 * time per function, heaviest first, and the total sampled.
 *
 *   npx ts-node --swc bench/profile-top.ts <file.cpuprofile> [lines]
 */
import * as fs from "fs";
import * as path from "path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, lines = "15"] = process.argv.slice(2);
const p = JSON.parse(fs.readFileSync(file, "utf8")) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map<string, number>();
let total = 0;
p.samples.forEach((id, i) => {
  const n = byId.get(id)!;
  const f = n.callFrame;
  // The serialized provider is compiled from a string: no url, its line in the provider's text.
  const where = `${f.url ? path.basename(f.url) : "provider"}:${f.lineNumber + 1}`;
  const name = `${f.functionName || "(anonymous)"} ${where}`.trim();
  const us = p.timeDeltas[i] ?? 0;
  total += us;
  self.set(name, (self.get(name) ?? 0) + us);
});
console.log(`${path.basename(file)}: ${(total / 1000).toFixed(0)} ms sampled`);
for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(lines))) {
  console.log(`  ${(us / 1000).toFixed(1).padStart(8)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${name}`);
}
