/**
 * The service contract the mapping sync relies on, at the service's limits: bulk-message support
 * found the documented way, no request during a Retry-After pause, auth errors an operator can act
 * on, and throughput at x-ms-dop-hint with pipelined writes and parallel reads.
 */
import * as crypto from "crypto";
import axios from "axios";
import type { IncomingMessage, RequestOptions } from "http";
// The module object itself (an `import * as` namespace is a copy): the spy is what the client calls.
import nodeHttp from "http";
import { Harness, Outs, TOKEN, productRows, remoteState, startHarness } from "../../emulators/dataverse-harness";
import { DataverseEmulator, LoggedRequest } from "../../emulators/dataverse";
import { createDataverseClient } from "../../dynamic-providers/dataverse/client";
import { chunkPlan } from "../../dynamic-providers/dataverse/writes";
import { Ticket, createPacing } from "../../dynamic-providers/dataverse/pacing";
import { isAuthError } from "../../dynamic-providers/dataverse/auth";
import { boundariesFromIds, rangeFilters, sqlGuidKey, withFilter } from "../../dynamic-providers/dataverse/partition";
import { captureConsolePerTest } from "../support/console";
import { waitFor } from "../support/barrier";

// Some cases run 4,000-12,000 rows through the in-process emulator on a small machine.
jest.setTimeout(60_000);

let h: Harness | undefined;
const logs = captureConsolePerTest();

afterEach(async () => {
  await h?.stop();
  h = undefined;
  process.env.DATAVERSE_ACCESS_TOKEN = TOKEN;
});

interface ClientEvent {
  at: number;
  what: string;
  /** An answer's status and, for a 429, its Retry-After in ms; absent for a request sent. */
  status?: number;
  retryAfterMs?: number;
}

/**
 * What the client hands to Node's `http` and gets back, with the time, as the client sees it: a
 * request when it leaves, an answer when its body has been read. jest.restoreAllMocks ends it.
 */
function recordClientTraffic(): ClientEvent[] {
  const events: ClientEvent[] = [];
  const send = nodeHttp.request;
  jest.spyOn(nodeHttp, "request").mockImplementation(((url: URL, options: RequestOptions, onAnswer: (res: IncomingMessage) => void) => {
    const what = `${String(options.method)} ${url.pathname}`;
    events.push({ at: Date.now(), what });
    return send(url, options, (res) => {
      onAnswer(res);
      res.on("end", () => events.push({ at: Date.now(), what, status: res.statusCode, retryAfterMs: res.statusCode === 429 ? Number(res.headers["retry-after"]) * 1000 : undefined }));
    });
  }) as typeof nodeHttp.request);
  return events;
}

const bulkCalls = (log: LoggedRequest[], action = "CreateMultiple") => log.filter((r) => r.path.endsWith(`Microsoft.Dynamics.CRM.${action}`));

describe("bulk-message support, found the documented way (issue 9 item 6)", () => {
  it("the emulator answers the documented sdkmessagefilters query, and refuses CreateMultiple on a table without it with 0x80040800", async () => {
    const emu = new DataverseEmulator({ token: TOKEN });
    const api = `${await emu.start()}/api/data/v9.2/`;
    try {
      const get = (table: string, message: string) =>
        axios.get<{ value: { sdkmessagefilterid: string }[] }>(
          `${api}sdkmessagefilters?$select=sdkmessagefilterid&$filter=sdkmessageid/name eq @message and primaryobjecttypecode eq @table&@message='${message}'&@table='${table}'`,
          { headers: { Authorization: `Bearer ${TOKEN}` } },
        );
      expect((await get("zq1_prodmap", "CreateMultiple")).data.value).toHaveLength(1);
      expect((await get("zq1_uommap", "CreateMultiple")).data.value).toEqual([]);
      const r = await axios.post(`${api}zq1_uommaps/Microsoft.Dynamics.CRM.CreateMultiple`, { Targets: [{ "@odata.type": "Microsoft.Dynamics.CRM.zq1_uommap" }] }, { headers: { Authorization: `Bearer ${TOKEN}` }, validateStatus: () => true });
      expect(r.status).not.toBe(404); // the bound action always resolves
      expect(r.data.error.code).toBe("0x80040800");
    } finally {
      await emu.stop();
    }
  });

  it("a table without bulk messages is written through $batch after one sdkmessagefilters query, with no bulk call", async () => {
    h = await startHarness({}, {}, 5);
    const rows: Record<string, string> = { "unit=each": "ea", "unit=box": "box", "unit=pc": "ea", "unit=piece": "ea" };
    await h.provider.create(h.inputs(rows, { kind: "units", targetKeyColumn: "name" }));
    expect(h.mappingRows("units")).toHaveLength(4);
    expect(h.emu.stats.sdkMessageFilterQueries).toBe(1);
    expect(bulkCalls(h.emu.requestLog)).toHaveLength(0);
    expect(h.emu.stats.bulkRejected).toBe(0);
    expect(h.emu.stats.batchCalls).toBeGreaterThan(0);
  });

  it("when the query says yes but the table refuses, one bulk call fails and the rest goes through $batch", async () => {
    // 1,000 rows over 12 slots at most 50 a request: more than one round, so a probe goes first.
    h = await startHarness({ dopHint: 12 }, { maxBatchSize: 50 }, 1000);
    h.emu.table("zq1_prodmap").def.bulk = false;
    h.emu.bulkFilterOverrides.set("zq1_prodmap:CreateMultiple", true);
    const { outs } = await h.provider.create(h.inputs(productRows(1000)));
    expect(remoteState(h)).toEqual(productRows(1000));
    expect((outs as Outs).ownedCount).toBe(1000);
    expect(h.emu.stats.bulkRejected).toBe(1);
    expect(logs.join("\n")).toMatch(/zq1_prodmap does not support CreateMultiple \(0x80040800/);
  });

  it("a change smaller than one round of requests on a table the query vouches for is written at once, without a probe first", async () => {
    h = await startHarness({ dopHint: 12 }, {}, 600);
    const { id, outs } = await h.provider.create(h.inputs(productRows(600)));
    const rows = productRows(600);
    for (let i = 1; i <= 20; i++) rows[`sku=S${i * 25}`] = "P-000001"; // UpdateMultiple
    for (let i = 1; i <= 10; i++) rows[`sku=NEW${i}`] = "P-000002"; // CreateMultiple
    h.emu.resetStats();
    // A barrier, not latency: answers are held a round at a time; once a bulk write arrives, every
    // answer stays held until all the plan's bulk writes have arrived (30 rows over 12 slots, 3 a
    // request: 4 creates and 7 updates). With a probe first, the others would wait for its answer.
    const bulk = () => h!.emu.requestLog.filter((r) => /Microsoft\.Dynamics\.CRM\.(Create|Update)Multiple$/.test(r.path));
    let release = h.emu.holdAnswers();
    const updating = h.provider.update!(id, outs as Outs, h.inputs(rows));
    try {
      for (;;) {
        await waitFor(() => h!.emu.heldAnswers > 0, "the client's next round of requests", 10_000);
        if (bulk().length > 0) break;
        release();
        release = h.emu.holdAnswers();
      }
      await waitFor(() => bulk().length >= 11, "every bulk write of the plan before any bulk answer", 10_000);
      expect(bulk().every((r) => r.respondedAt === undefined)).toBe(true);
    } finally {
      release();
    }
    await updating;
    expect(remoteState(h)).toEqual(rows);
    // Those were all of them: each row sent once, none after an answer.
    expect(bulk()).toHaveLength(11);
    expect(bulk().reduce((n, r) => n + (r.rows ?? 0), 0)).toBe(30);
  });

  it("a change whose share of a slot fits a request goes out in one round, without a probe: one write per slot", async () => {
    h = await startHarness({ dopHint: 12 }, {}, 1200);
    const { id, outs } = await h.provider.create(h.inputs(productRows(1200)));
    const rows = productRows(1200);
    for (let i = 1; i <= 600; i++) rows[`sku=S${i}`] = "P-000001"; // 600 updates
    for (let i = 901; i <= 1200; i++) delete rows[`sku=S${i}`]; // 300 deletes
    for (let i = 1; i <= 300; i++) rows[`sku=NEW${i}`] = "P-000002"; // 300 creates
    h.emu.resetStats();
    const u = (await h.provider.update!(id, outs as Outs, h.inputs(rows))).outs as Outs;
    expect(remoteState(h)).toEqual(rows);
    // 1,200 rows over 12 slots: 100 a slot. No probe (the plan goes out in one round, and the
    // query vouched for UpdateMultiple; the create confirmed CreateMultiple): 3 creates, 6 updates
    // and 3 deletes of at most 100 rows (S1 kept its target: 1,199 rows), 12 writes, one per slot
    // (in 50-row requests, after a probe for each message, it was 26 in three rounds).
    const writes = () => h!.emu.requestLog.filter((r) => r.method === "POST" && (r.rows ?? 0) > 0);
    expect(writes()).toHaveLength(12);
    expect(Math.max(...writes().map((r) => r.rows ?? 0))).toBeLessThanOrEqual(100);
    // The next change: both messages confirmed and kept in the state, so no query and no probe.
    expect(u.bulkMessages).toEqual(["CreateMultiple", "UpdateMultiple"]);
    const again = { ...rows };
    for (let i = 1; i <= 600; i++) again[`sku=S${i}`] = "P-000003";
    h.emu.resetStats();
    await h.provider.update!(id, u, h.inputs(again));
    expect(remoteState(h)).toEqual(again);
    expect(h.emu.requestLog.filter((r) => /sdkmessagefilters/.test(r.path))).toHaveLength(0);
    expect(writes().map((r) => r.rows)).toEqual(Array(12).fill(50));
  });

  it("a bulk message the state says works but the table now refuses: each request of that round is refused once, re-sent through $batch, and no longer trusted", async () => {
    h = await startHarness({ dopHint: 12 }, {}, 1200);
    const { id, outs } = await h.provider.create(h.inputs(productRows(1200)));
    expect((outs as Outs).bulkMessages).toEqual(["CreateMultiple"]);
    h.emu.table("zq1_prodmap").def.bulk = false;
    const rows = productRows(1200);
    for (let i = 1; i <= 700; i++) rows[`sku=NEW${i}`] = "P-000002";
    h.emu.resetStats();
    const u = (await h.provider.update!(id, outs as Outs, h.inputs(rows))).outs as Outs;
    expect(remoteState(h)).toEqual(rows);
    // No probe: the first round (12 requests of at most 59 rows) is refused, then re-sent as $batch.
    expect(h.emu.stats.bulkRejected).toBeGreaterThanOrEqual(1);
    expect(h.emu.stats.bulkRejected).toBeLessThanOrEqual(12);
    expect(u.bulkMessages).toBeUndefined();
  });

  it("when the query says yes but the table refuses a change smaller than one round, each of its requests is refused once and goes through $batch", async () => {
    h = await startHarness({ dopHint: 12 }, {}, 200);
    h.emu.table("zq1_prodmap").def.bulk = false;
    h.emu.bulkFilterOverrides.set("zq1_prodmap:CreateMultiple", true);
    const { outs } = await h.provider.create(h.inputs(productRows(200)));
    expect(remoteState(h)).toEqual(productRows(200));
    expect((outs as Outs).ownedCount).toBe(200);
    // 200 rows over 12 slots: 12 requests, each refused at most once, then written through $batch.
    expect(h.emu.stats.bulkRejected).toBeGreaterThanOrEqual(1);
    expect(h.emu.stats.bulkRejected).toBeLessThanOrEqual(12);
    expect(h.emu.stats.batchCalls).toBeGreaterThan(0);
  });

  it("a table with bulk messages is written with CreateMultiple", async () => {
    h = await startHarness({}, {}, 300);
    await h.provider.create(h.inputs(productRows(300)));
    expect(bulkCalls(h.emu.requestLog).length).toBeGreaterThan(0);
    expect(h.emu.stats.batchCalls).toBe(0);
    expect(h.emu.stats.sdkMessageFilterQueries).toBe(1);
  });
});

describe("no request leaves during a Retry-After pause (issue 9 item 8)", () => {
  it("nothing is sent between the client reading a 429 and the end of its Retry-After", async () => {
    // 0.9 s window → Retry-After 0.09 s per injected 429; 20 ms per request; small chunks so that
    // requests queue for the 8 slots and others are in flight when a 429 comes back.
    h = await startHarness({ windowMs: 900, latencyPerRequestMs: 20 }, { maxBatchSize: 25, maxConcurrency: 8 }, 1000);
    let posts = 0;
    h.emu.fault("429", 4, (r) => r.method === "POST" && ++posts % 8 === 4);
    const traffic = recordClientTraffic();
    await h.provider.create(h.inputs(productRows(1000)));
    expect(remoteState(h)).toEqual(productRows(1000));
    // Judged where the pause is kept, on the client's own clock: a request the client sent before
    // it read a 429 may reach the service after the 429 left it (in flight, or, here, waiting for
    // the event loop the emulator shares), and is no fault of the client's. The service sees the
    // same: network transit is not "sending during a Retry-After".
    const pauses = traffic.filter((e) => e.status === 429);
    // The 4 injected, and any the emulator gave requests that reached it after one of them.
    expect(pauses.length).toBeGreaterThanOrEqual(4);
    expect(pauses.every((p) => p.retryAfterMs! > 0)).toBe(true);
    const sent = traffic.filter((e) => e.status === undefined);
    expect(sent.length).toBeGreaterThan(40);
    const inside = sent.flatMap((s) => pauses.filter((p) => s.at > p.at && s.at < p.at + p.retryAfterMs!).map((p) => `${s.what}, ${s.at - p.at} ms into a ${p.retryAfterMs} ms pause`));
    expect(inside).toEqual([]);
  });
});

describe("no request leaves during a Retry-After pause: requests waiting for a slot (issue 9 item 8)", () => {
  it("a request that gets its slot during a pause waits for the pause to end before it is sent", async () => {
    // Two slots; six requests. The first is throttled at once (Retry-After 1 s); the second holds
    // its slot for 150 ms, then hands it to a waiting request, in the middle of the pause.
    h = await startHarness({ windowMs: 3000, latencyPerRequestMs: 150, dopHint: 0 }, {}, 1);
    const client = createDataverseClient({ environmentUrl: h.emu.url, getToken: async () => TOKEN, maxConcurrency: 2, initialConcurrency: 2, maxRetryAfterMs: 10_000 });
    h.emu.fault("429", 1);
    await Promise.all(Array.from({ length: 6 }, () => client.getJson("accounts?$select=name")));
    const log = h.emu.requestLog;
    const pause = log.find((r) => r.status === 429)!;
    const pauseEnd = pause.respondedAt! + pause.retryAfterMs!;
    // Counted, not timed: the client's pause starts when it reads the 429, after the emulator sent
    // it, so a request sent after the pause arrives after pauseEnd however loaded the machine is.
    // Before pauseEnd only the request sent together with the throttled one may arrive (it held the
    // other slot from the start)...
    const before = log.filter((r) => r !== pause && r.arrivedAt < pauseEnd);
    expect(before.map((r) => `${r.method} ${r.path} ${r.status}, ${r.arrivedAt - pause.respondedAt!} ms into a ${pause.retryAfterMs} ms pause`)).toHaveLength(1);
    // ... and it handed its slot over during the pause: what this test is about.
    expect(before[0].respondedAt!).toBeLessThan(pauseEnd);
    expect(log.filter((r) => r.status === 200)).toHaveLength(6);
  });
});

describe("auth errors an operator can act on (issue 9 item 9)", () => {
  const jwt = (claims: Record<string, unknown>) => `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;

  async function refusal(token: string, emuOpts = {}): Promise<Error & { status?: number }> {
    h = await startHarness(emuOpts, {}, 5);
    process.env.DATAVERSE_ACCESS_TOKEN = token;
    try {
      await h.provider.create(h.inputs(productRows(3)));
    } catch (e) {
      return e as Error;
    }
    throw new Error("expected a refusal");
  }

  it("a 401 with an empty body names the environment, the token's source, the expected audience and the fix", async () => {
    const e = await refusal("not-a-jwt");
    const url = h!.emu.url;
    expect(e.message).toContain(`Dataverse environment ${url} refused GET EntityDefinitions with HTTP 401`);
    expect(e.message).toContain("Token from the DATAVERSE_ACCESS_TOKEN environment variable");
    expect(e.message).toContain(`Expected audience: ${url}/`);
    expect(e.message).toMatch(/application user .* with a security role/);
    expect(e.message).not.toContain("not-a-jwt");
    expect(h!.emu.requestLog).toHaveLength(1); // not retried
  });

  it("a 401 for a token issued for another resource says so, with the app and tenant it was for", async () => {
    const token = jwt({ aud: "https://someone-else.crm4.dynamics.com", appid: "11111111-2222-3333-4444-555555555555", tid: "aaaaaaaa-0000-0000-0000-000000000001", idtyp: "app", exp: Math.floor(Date.now() / 1000) + 3600 });
    const e = await refusal(token);
    expect(e.message).toContain("application id 11111111-2222-3333-4444-555555555555, tenant aaaaaaaa-0000-0000-0000-000000000001, audience https://someone-else.crm4.dynamics.com");
    expect(e.message).toMatch(/Fix: the token is for another resource; get one for http:\/\/127\.0\.0\.1:\d+\/\.default/);
  });

  it("a 403 'not a member of the organization' tells to add an application user with a security role for that app", async () => {
    const token = jwt({ aud: "x", appid: "99999999-2222-3333-4444-555555555555", tid: "t", idtyp: "app" });
    const e = await refusal(token, { unprovisionedTokens: [token] });
    expect(e.message).toContain("HTTP 403 (0x80072560: The user is not a member of the organization.)");
    expect(e.message).toContain("the app registration 99999999-2222-3333-4444-555555555555 needs an application user");
    expect(e.message).toContain("security role");
  });

  it("the client's auth API is usable on its own (for other Dataverse resources)", async () => {
    h = await startHarness({}, {}, 1);
    const client = createDataverseClient({ environmentUrl: h.emu.url, getToken: { getToken: async () => "stale", describe: () => "a test credential" } });
    const e = await client.getJson("WhoAmI").catch((x: unknown) => x);
    expect(isAuthError(e)).toBe(true);
    expect((e as Error).message).toContain("Token from a test credential");
  });
});

describe("speed at the service's limits (issue 9 item 10)", () => {
  it("follows x-ms-dop-hint above the old 12 workers and spreads the rows over every slot", async () => {
    // A barrier, not latency: answers are held a round at a time until the writes arrive; those are
    // then all held at once, so they were sent side by side, each before any of them was answered,
    // however loaded the machine.
    h = await startHarness({ dopHint: 40 }, {}, 4000);
    const writes = () => bulkCalls(h!.emu.requestLog);
    const heldWrites = () => writes().filter((r) => r.respondedAt === undefined).length;
    let release = h.emu.holdAnswers();
    let inFlightTogether = 0;
    const creating = h.provider.create(h.inputs(productRows(4000)));
    try {
      for (;;) {
        await waitFor(() => h!.emu.heldAnswers > 0, "the client's next round of requests", 10_000);
        if (heldWrites() > 0) break;
        release();
        release = h.emu.holdAnswers();
      }
      // The hint's 40 slots, each sharing out 100 rows (asserted below), make 40 writes: wait for
      // all of them (under load 37 had arrived 50 ms after the 30th, and 3 came later).
      await waitFor(() => heldWrites() >= 40, "the 40 writes (x-ms-dop-hint 40)", 10_000);
      await new Promise((r) => setTimeout(r, 50)); // any write beyond the hint would arrive now
      inFlightTogether = heldWrites();
      expect(inFlightTogether).toBeLessThanOrEqual(40);
    } finally {
      release();
    }
    await creating;
    expect(remoteState(h)).toEqual(productRows(4000));
    const answered = writes().filter((r) => r.status === 200);
    // The plan fits one round on a table the query vouches for: no probe, each slot its share,
    // and every request was in flight together (pipelined, not one round after another).
    expect(answered.map((r) => r.rows)).toEqual(Array(40).fill(100));
    expect(answered.length).toBe(inFlightTogether);
  });

  it("sizes write chunks for the fewest requests that keep every slot busy to the end", () => {
    // 50,000 rows, 1,000 per request at most, 12 slots: 50 requests would leave 10 slots idle for
    // the fifth round; 60 equal requests of 834 rows give each slot 5 and end together.
    expect(chunkPlan(50_000, 1000, 12)).toBe(834);
    expect(Math.ceil(50_000 / chunkPlan(50_000, 1000, 12))).toBe(60);
    // 52 slots (the service's limit): 52 requests of 962 rows, one round.
    expect(Math.ceil(50_000 / chunkPlan(50_000, 1000, 52))).toBe(52);
    // 200,000 rows over 52 slots: 4 rounds of 52.
    expect(Math.ceil(200_000 / chunkPlan(200_000, 1000, 52))).toBe(208);
    // Few rows: spread over the slots, but no request under 50 rows (latency dominates).
    expect(chunkPlan(500, 1000, 12)).toBe(50);
    expect(chunkPlan(30, 1000, 12)).toBe(30);
    // A budget learnt below 50 rows (slow rows) wins over the minimum.
    expect(chunkPlan(1000, 20, 12)).toBeLessThanOrEqual(20);
  });

  it("a full sync sends the fewest write requests its limits allow, in equal chunks", async () => {
    // 6,000 rows, 500 per request (maxBatchSize), 4 slots: a 10-row probe, then 5,990 rows in
    // ceil(12 / 4) * 4 = 12 requests of 500 (the last 490): no tail of small requests.
    h = await startHarness({ dopHint: 4, latencyPerRequestMs: 5 }, { maxBatchSize: 500 }, 6000);
    await h.provider.create(h.inputs(productRows(6000)));
    expect(remoteState(h)).toEqual(productRows(6000));
    const writes = bulkCalls(h.emu.requestLog).filter((r) => r.status === 200).map((r) => r.rows ?? 0);
    expect(writes).toHaveLength(13);
    expect(writes[0]).toBe(10);
    expect(new Set(writes.slice(1)).size).toBeLessThanOrEqual(2);
    expect(Math.min(...writes.slice(1))).toBeGreaterThanOrEqual(490);
  });

  it("the chunks after the 10-row probe leave only once it is answered (built while it is in flight)", async () => {
    h = await startHarness({ dopHint: 4 }, { maxBatchSize: 500 }, 3000);
    await h.provider.create(h.inputs(productRows(3000)));
    expect(remoteState(h)).toEqual(productRows(3000));
    const [probe, ...rest] = bulkCalls(h.emu.requestLog);
    expect(probe.rows).toBe(10);
    expect(rest.length).toBeGreaterThan(0);
    for (const w of rest) expect(w.arrivedAt).toBeGreaterThanOrEqual(probe.respondedAt!);
  });

  it("sends the 10-row probe before it builds the other chunks' bodies (they are built during its round trip, not before it)", async () => {
    h = await startHarness({ dopHint: 4 }, { maxBatchSize: 500 }, 3000);
    const client = createDataverseClient({ environmentUrl: h.emu.url, getToken: async () => TOKEN });
    const product = h.seeded.products.get("P-000001")!;
    const record = (i: number) => ({ zq1_prodmapid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`, zq1_extfld: "sku", zq1_extval: `T${i}`, "zq1_Prod@odata.bind": `/products(${product})` });
    /** Requests the client had sent when the first row after the probe's was built. */
    let sentBeforeRest: number | undefined;
    const res = await client.createMany({ logicalName: "zq1_prodmap", entitySet: "zq1_prodmaps", primaryId: "zq1_prodmapid" }, {
      count: 1000,
      get: (i) => {
        if (i >= 10) sentBeforeRest ??= client.stats.requests;
        return record(i);
      },
    });
    expect(res.failures).toEqual([]);
    expect(h.mappingRows()).toHaveLength(1000);
    // The sdkmessagefilters query, then the probe: both had left.
    expect(sentBeforeRest).toBe(2);
    expect(bulkCalls(h.emu.requestLog)[0].rows).toBe(10);
  });

  it("never more than 52 in flight, whatever the hint says", async () => {
    h = await startHarness({ dopHint: 80, maxConcurrent: 52, latencyPerRequestMs: 30 }, {}, 6000);
    await h.provider.create(h.inputs(productRows(6000)));
    expect(h.emu.stats.maxInFlight).toBeLessThanOrEqual(52);
    expect(h.emu.requestLog.filter((r) => r.code === "0x80072326")).toEqual([]);
  });

  it("reads a large table in parallel key ranges, one full page each, and finds every row", async () => {
    // Pages of 1,000 rows (the client's pageSize; the service allows up to 5,000): the same ranges
    // as 12,000 rows in pages of 5,000, at a fifth of the rows. A barrier, not latency: every answer
    // is held until the three range reads have arrived, so they were sent side by side.
    h = await startHarness({}, { pageSize: 1000 }, 2_400);
    const { id, outs } = await h.provider.create(h.inputs(productRows(2_400)));
    h.emu.resetStats();
    const lists = () => h!.emu.requestLog.filter((r) => r.method === "GET" && r.path.endsWith("zq1_prodmaps"));
    const release = h.emu.holdAnswers();
    const reading = h.provider.read!(id, outs);
    try {
      await waitFor(() => lists().length >= 3, "three range reads in flight together", 10_000);
    } finally {
      release();
    }
    const read = await reading;
    expect((read.props as Outs).drift).toEqual({ missing: 0, changed: 0, sample: [] });
    expect(lists()).toHaveLength(3); // 2,400 rows: 1,000 + 1,000 + 400
  });

  it("the emulator enforces the execution-time limit with 429 0x80072321 and Retry-After", async () => {
    const emu = new DataverseEmulator({ token: TOKEN, latencyPerRequestMs: 30, executionTimeMs: 50, windowMs: 2000 });
    const api = `${await emu.start()}/api/data/v9.2/`;
    try {
      const get = () => axios.get(`${api}accounts`, { headers: { Authorization: `Bearer ${TOKEN}` }, validateStatus: () => true });
      expect((await get()).status).toBe(200);
      const first = await get();
      expect(first.headers["x-ms-dop-hint"]).toBe("52");
      const r = await get();
      expect(r.status).toBe(429);
      expect(r.data.error.code).toBe("0x80072321");
      expect(Number(r.headers["retry-after"])).toBeGreaterThan(0);
    } finally {
      await emu.stop();
    }
  });
});

describe("execution-time pacing (issue 21): 20 minutes of execution per 5-minute window, without being throttled", () => {
  const pacing = () => createPacing({ maxConcurrency: 52, initialConcurrency: 52, maxRetryAfterMs: 1000, backoff: () => 1, executionBudgetMs: 1000, executionWindowMs: 60_000, log: () => undefined });
  /** A request of `rows` rows that took `ms` (its ticket dated back; no waiting in the test). */
  const took = async (p: ReturnType<typeof pacing>, rows: number, ms: number) => {
    const t = (await p.acquire(rows)) as Ticket;
    t.sentAt -= ms;
    p.release(t);
  };

  it("a write that would take the window past the budget waits until the oldest request leaves it", async () => {
    const p = pacing();
    await took(p, 100, 900); // 9 ms per row learnt; 900 of the 1,000 ms spent
    let asked = 0;
    const refused = await p.acquire(100, (ms) => ((asked = ms), "refused in the test"));
    expect(refused).toBe("refused in the test");
    // The 900 ms request was sent 900 ms ago: it leaves the 60 s window (plus a margin) in ~59 s.
    expect(asked).toBeGreaterThan(58_000);
    expect(asked).toBeLessThanOrEqual(60_600);
    // A write that fits (10 rows: ~90 ms) goes at once.
    expect(typeof (await p.acquire(10, () => "must not wait"))).toBe("object");
  });

  it("counts the requests in flight at the rate learnt, before they are answered", async () => {
    const p = pacing();
    await took(p, 50, 450); // 9 ms per row
    const inFlight = (await p.acquire(50)) as Ticket; // ~450 ms on its way: 900 of 1,000
    expect(typeof inFlight).toBe("object");
    let asked = 0;
    expect(await p.acquire(30, (ms) => ((asked = ms), "refused"))).toBe("refused"); // +270 ms: over
    expect(asked).toBeGreaterThan(0);
    p.release(inFlight); // answered at once: it took ~0 ms, not 720
    expect(typeof (await p.acquire(30, () => "must not wait"))).toBe("object");
  });

  it("a small write's time is not taken for its rows' (a 10-row probe is mostly latency): the first round of large chunks is not held back", async () => {
    const p = pacing();
    await took(p, 10, 100); // latency and the client's own work, counted as over 50 rows: 2 ms per row
    // 100 spent + 300 rows at 2 ms: 700 of 1,000 (at 10 ms per row it would be 3,100: refused).
    expect(typeof (await p.acquire(300, () => "must not wait"))).toBe("object");
  });

  it("a write held up in a queue counts at the fastest rate per row seen (+10%), not its whole elapsed time", async () => {
    const p = pacing();
    await took(p, 100, 200); // 2 ms per row: the fastest seen
    await took(p, 100, 700); // queued 500 ms: counted as 220 ms, not 700
    // 200 + 220 = 420 spent; 250 rows at ~2.2 ms = 550 more: 970, within the 1,000 ms budget.
    expect(typeof (await p.acquire(250, () => "must not wait"))).toBe("object");
  });

  it("is off for a budget of Infinity, and the first request always goes", async () => {
    const p = createPacing({ maxConcurrency: 4, initialConcurrency: 4, maxRetryAfterMs: 1000, backoff: () => 1, executionBudgetMs: Number.POSITIVE_INFINITY, executionWindowMs: 60_000, log: () => undefined });
    await took(p, 1000, 10_000_000);
    expect(typeof (await p.acquire(1000, () => "must not wait"))).toBe("object");
    const q = pacing();
    expect(typeof (await q.acquire(1_000_000, () => "must not wait"))).toBe("object");
  });
});

describe("key ranges", () => {
  it("orders ids as SQL Server does and cuts ranges of at most one page of the known ids", () => {
    // SQL Server compares the last group first.
    expect(sqlGuidKey("ffffffff-ffff-ffff-ffff-000000000001") < sqlGuidKey("00000000-0000-0000-0000-000000000002")).toBe(true);
    expect(sqlGuidKey("00000000-0000-0000-0102-000000000000") < sqlGuidKey("00000000-0000-0000-0201-000000000000")).toBe(true);
    const ids = Array.from({ length: 12 }, (_, i) => `00000000-0000-0000-0000-${String(i).padStart(12, "0")}`);
    const b = boundariesFromIds(ids, 5);
    expect(b).toEqual([ids[5], ids[10]]);
    expect(rangeFilters("x", b)).toEqual([`x lt ${ids[5]}`, `x ge ${ids[5]} and x lt ${ids[10]}`, `x ge ${ids[10]}`]);
    expect(decodeURIComponent(withFilter("t?$select=a&$filter=a%20eq%201", "x lt 1"))).toBe("t?$select=a&$filter=(a eq 1) and (x lt 1)");
  });

  it("cuts the same ranges as sorting every id, whatever the ids (random, upper case, crowded into one bucket, not GUIDs)", () => {
    const sortEvery = (ids: string[], perRange: number) => {
      const keys = ids.map((id) => id.toLowerCase()).map((l) => l.slice(24) + l.slice(19, 23) + l).sort();
      const out: string[] = [];
      for (let i = perRange; i < keys.length; i += perRange) out.push(keys[i].slice(16));
      return out;
    };
    const guid = () => crypto.randomUUID();
    const random = Array.from({ length: 20_000 }, guid);
    // Ids sharing the bucket's two bytes, and ties on the first eight bytes of SQL Server's order.
    const crowded = Array.from({ length: 3_000 }, (_, i) => `${guid().slice(0, 19)}${i % 3 === 0 ? "abcd" : guid().slice(19, 23)}-beef${guid().slice(28)}`);
    for (const [ids, perRange] of [[random, 5000], [random, 777], [random.map((id) => id.toUpperCase()), 5000], [crowded, 100], [[...random.slice(0, 500), ...crowded], 250], [["b", "a", "c", "e", "d"], 2]] as const) {
      const b = boundariesFromIds([...ids], perRange);
      expect(b).toEqual(sortEvery([...ids], perRange));
      expect(b).toHaveLength(Math.ceil(ids.length / perRange) - 1);
    }
  });
});
