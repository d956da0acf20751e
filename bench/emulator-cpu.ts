/**
 * The Dataverse emulator's own CPU per request, on the requests of a 1% change of a 200,000-row
 * product mapping table (bench/mappings.ts): reads of touched rows by id and by key, target names,
 * CreateMultiple / UpdateMultiple of ~167 rows, \$batch of ~167 DELETEs, and the two-row writes
 * of a 10,000-row write-bound change, and the 5,000-row pages of a no-op refresh's key-range reads. In one process, through the emulator's dispatch() (its
 * synchronous work on a request: parsing, looking up, writing, rendering), without HTTP, whose
 * cost is the same for every emulator; ms per request, cold (the first round) and warm (the median
 * of the others). The emulator shares the benchmark's cores, so this is time the benchmark charges
 * to the client.
 *
 *   npm run bench:emulator                 # node --expose-gc -r ts-node/register/transpile-only bench/emulator-cpu.ts
 *   EMU_OLD=/path/to/other/checkout ...   # that checkout's emulator too ("other"), seeded alike, in
 *                                         # alternate order each round (the first of round 0 also
 *                                         # pays for warming up what both share)
 *   EMU_ROUNDS=16 EMU_ROWS=50000 ...      # more rounds, another table size
 *   EMU_ONLY=this ...                     # only one of them (this, other), e.g. under --cpu-prof
 */
import * as path from "path";
import { createHash } from "crypto";
import type { DataverseEmulator as Emulator } from "../emulators/dataverse";
import { buildBatch } from "../dynamic-providers/dataverse/batch";
import { odataString as q, orFilters } from "../dynamic-providers/dataverse/schema";
import { rangeFilters, uniformBoundaries, withFilter } from "../dynamic-providers/dataverse/partition";

type Ctor = { DataverseEmulator: typeof Emulator };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = (root: string) => (require(path.join(path.resolve(root), "emulators/dataverse")) as Ctor).DataverseEmulator;
const impls0 = [
  ...(process.env.EMU_OLD ? [{ name: "other", C: load(process.env.EMU_OLD) }] : []),
  { name: "this", C: load(path.join(__dirname, "..")) },
];
const impls = impls0.filter((x) => !process.env.EMU_ONLY || x.name === process.env.EMU_ONLY);
const N = Number(process.env.EMU_ROWS ?? 200_000);
const gid = (s: string) => {
  const h = createHash("sha1").update(s).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
};
type Dispatch = (method: string, url: URL, headers: Record<string, string>, body: string, now: number) => { status: number; body?: unknown };

void (async () => {
  const [prov, grp] = [gid("prov"), gid("grp")];
  const pid = (i: number) => gid(`p${i}`);
  const mid = (i: number) => gid(`m${i}`);
  const emus: { name: string; emu: Emulator; url: string; d: Dispatch }[] = [];
  for (const { name, C } of impls) {
    const emu = new C({ token: "t", maxPageSize: 5000 });
    const url = await emu.start();
    emu.insert("msdyn_iomprovider", { msdyn_iomproviderid: prov, zq1_providerlabel: "BigCommerce" });
    emu.insert("zq1_mapgroup", { zq1_mapgroupid: grp, zq1_grpname: "Default Mapping Group" });
    // A lookup holds the referenced row's own id string, as a row written through the Web API does (toRow).
    const pids = Array.from({ length: N }, (_, i) => pid(i));
    for (let i = 0; i < N; i++) emu.insert("product", { productid: pids[i], name: `Product ${i}`, productnumber: `P-${String(i).padStart(6, "0")}` });
    for (let i = 0; i < N; i++) emu.insert("zq1_prodmap", { zq1_prodmapid: mid(i), zq1_extfld: "sku", zq1_extval: `S${i}`, zq1_grp: grp, zq1_prov: prov, zq1_prod: pids[i] });
    emu.settle();
    const d = (emu as unknown as { dispatch: Dispatch }).dispatch.bind(emu);
    emus.push({ name, emu, url, d });
  }
  // The bench's 1% change: a quarter removed, a quarter added, half pointed at another product.
  const k = N / 100;
  const [changed, removed]: number[][] = [[], []];
  for (let j = 0; j < k; j++) {
    const i = j * 100;
    if (j % 4 === 0) removed.push(i);
    else if (j % 4 !== 1) changed.push(i);
  }
  const added = k / 4;
  const remote = `$select=zq1_prodmapid,zq1_extfld,zq1_extval&$expand=zq1_Grp($select=zq1_grpname),zq1_Prod($select=productnumber)`;
  const base = `_zq1_prov_value eq ${prov} and _zq1_prod_value ne null`;
  // As the client sends them (paging.ts, writes.ts, batch.ts).
  const G = { Prefer: "odata.maxpagesize=5000" };
  const J = { "content-type": "application/json; charset=utf-8" };
  const type = "Microsoft.Dynamics.CRM.zq1_prodmap";
  const chunks = <T>(xs: T[], n: number) => Array.from({ length: Math.ceil(xs.length / n) }, (_, c) => xs.slice(c * n, (c + 1) * n));
  const kinds = (round: number) => {
    const fresh = Array.from({ length: added }, (_, a) => gid(`new${round}-${a}`));
    const idTerms = [...changed.map(mid), ...removed.map(mid), ...fresh].map((x) => `zq1_prodmapid eq ${x}`);
    const keyTerms = fresh.map((_, a) => `(zq1_extfld eq 'sku' and zq1_extval eq ${q(`NEW${round}-${a}`)})`);
    const read = (f: string) => ({ m: "GET", p: `zq1_prodmaps?${remote}&$filter=${encodeURIComponent(`(${base}) and (${f})`).replace(/'/g, "%27")}`, h: G, b: "" });
    const reads = orFilters(idTerms).map(read);
    const keyReads = orFilters(keyTerms).map(read);
    const numbers = [...new Set([...fresh.map((_, a) => (a * 7) % N), ...changed.map((i) => (i + round + 1) % N)])].map((i) => `P-${String(i).padStart(6, "0")}`);
    const names = orFilters(numbers.map((x) => `productnumber eq ${q(x)}`)).map((f) => ({ m: "GET", p: `products?$select=productid,productnumber&$filter=${encodeURIComponent(f).replace(/'/g, "%27")}`, h: G, b: "" }));
    const per = 167;
    const creates = chunks(fresh, per).map((c, ci) => ({ m: "POST", p: "zq1_prodmaps/Microsoft.Dynamics.CRM.CreateMultiple", h: J, b: JSON.stringify({ Targets: c.map((x, a) => ({ "@odata.type": type, zq1_prodmapid: x, zq1_extfld: "sku", zq1_extval: `NEW${round}-${ci * per + a}`, "zq1_Grp@odata.bind": `/zq1_mapgroups(${grp})`, "zq1_Prov@odata.bind": `/msdyn_iomproviders(${prov})`, "zq1_Prod@odata.bind": `/products(${pid((a * 7) % N)})` })) }) }));
    const updates = chunks(changed, per).map((c) => ({ m: "POST", p: "zq1_prodmaps/Microsoft.Dynamics.CRM.UpdateMultiple", h: J, b: JSON.stringify({ Targets: c.map((i) => ({ "@odata.type": type, zq1_prodmapid: mid(i), "zq1_Prod@odata.bind": `/products(${pid((i + round + 1) % N)})` })) }) }));
    const deletes = chunks(fresh, per).map((c) => {
      const b = buildBatch("", c.map((x) => ({ method: "DELETE" as const, path: `zq1_prodmaps(${x})` })), 100);
      return { m: "POST", p: "$batch", h: { "content-type": b.contentType, prefer: "odata.continue-on-error" }, b: b.body };
    });
    const small = Array.from({ length: 34 }, (_, a) => gid(`small${round}-${a}`));
    const smallWrites = [
      ...chunks(small, 2).map((c) => ({ m: "POST", p: "zq1_prodmaps/Microsoft.Dynamics.CRM.CreateMultiple", h: J, b: JSON.stringify({ Targets: c.map((x) => ({ "@odata.type": type, zq1_prodmapid: x, zq1_extfld: "sku", zq1_extval: x, "zq1_Prov@odata.bind": `/msdyn_iomproviders(${prov})`, "zq1_Prod@odata.bind": `/products(${pid(1)})` })) }) })),
      ...chunks(changed.slice(0, 34), 2).map((c) => ({ m: "POST", p: "zq1_prodmaps/Microsoft.Dynamics.CRM.UpdateMultiple", h: J, b: JSON.stringify({ Targets: c.map((i) => ({ "@odata.type": type, zq1_prodmapid: mid(i), "zq1_Prod@odata.bind": `/products(${pid(i + 3)})` })) }) })),
      ...chunks(small, 2).map((c) => {
        const b = buildBatch("", c.map((x) => ({ method: "DELETE" as const, path: `zq1_prodmaps(${x})` })), 100);
        return { m: "POST", p: "$batch", h: { "content-type": b.contentType, prefer: "odata.continue-on-error" }, b: b.body };
      }),
    ];
    // A no-op refresh's reads: the first 5,000-row page of key ranges as paging.ts splits the read.
    const ranges = rangeFilters("zq1_prodmapid", uniformBoundaries(Math.ceil(N / 5000)));
    const pages = [0, 1].map((a) => ({ m: "GET", p: withFilter(`zq1_prodmaps?${remote}&$filter=${encodeURIComponent(base)}`, ranges[(round * 2 + a) % ranges.length]), h: G, b: "" }));
    return { "page reads": pages, "id reads": reads, "key reads": keyReads, "name reads": names, "bulk writes": [...creates, ...updates], "batch deletes": deletes, "small writes": smallWrites };
  };
  // The seeding's garbage collected now (with --expose-gc), not in the first, cold, round.
  global.gc?.();
  const rounds = Number(process.env.EMU_ROUNDS ?? 10);
  const times: Record<string, Record<string, number[]>> = Object.fromEntries(emus.map((e) => [e.name, {}]));
  for (let round = 0; round < rounds; round++) {
    const ks = kinds(round);
    const order = round % 2 ? [...emus].reverse() : emus;
    for (const e of order) {
      for (const [kind, reqs] of Object.entries(ks)) {
        let ms = 0;
        // The round's new ids sorted into the key order first: once per refresh, not per page.
        if (kind === "page reads") e.emu.settle();
        for (const r of reqs) {
          // Parsed by handle() before dispatch(), so not timed here.
          const url = new URL(`${e.url}/api/data/v9.2/${r.p}`);
          const t = performance.now();
          const res = e.d(r.m, url, r.h, r.b, Date.now());
          ms += performance.now() - t;
          if (res.status >= 300 || (typeof res.body === "string" && /HTTP\/1\.1 [45]/.test(res.body))) throw new Error(`${e.name} ${kind}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
        }
        (times[e.name][kind] ??= []).push(ms / reqs.length);
      }
    }
  }
  for (const kind of Object.keys(times[emus[0].name])) {
    const line = emus.map(({ name }) => {
      const xs = times[name][kind];
      const warm = xs.slice(1).sort((a, b) => a - b);
      return `${name}: cold ${xs[0].toFixed(2)}, warm ${warm[Math.floor(warm.length / 2)].toFixed(2)} (min ${warm[0].toFixed(2)})`;
    });
    console.log(`${kind.padEnd(14)} ms/request  ${line.join("   ")}`);
  }
  for (const e of emus) await e.emu.stop();
})();
