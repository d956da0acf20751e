import { startHarness, productRows } from "./tests/emulators/dataverse-harness";
void (async () => {
  const h = await startHarness({ latencyPerRequestMs: 40 }, {}, 12000);
  const t0 = Date.now();
  let id = "", outs: unknown;
  try { const r = await h.provider.create(h.inputs(productRows(12000))); id = r.id; outs = r.outs; } catch (e) { console.log("ERR", (e as Error).message); }
  console.log("create", Date.now() - t0, h.emu.requestLog.length);
  for (const r of h.emu.requestLog.slice(0, 30)) console.log(r.method, r.path.slice(15), r.status, r.code ?? "", r.rows ?? "", r.arrivedAt - t0, r.respondedAt! - t0);
  h.emu.resetStats();
  const t1 = Date.now();
  const read = await h.provider.read!(id, outs as never);
  console.log("read", Date.now() - t1, JSON.stringify((read.props as {drift: unknown}).drift));
  for (const r of h.emu.requestLog) console.log(r.method, r.path.slice(15), r.status, r.code ?? "", r.arrivedAt - t1, r.respondedAt! - t1);
  await h.stop();
})();
