/**
 * The emulators the doctor runs against answer as their services document (the sources are named
 * in each emulator's header), including what the doctor does not send: a query outside the KQL the
 * emulator knows is a syntax error, not an empty answer.
 */
import * as http from "http";
import * as https from "https";
import { startArmKeyVaultEmulator } from "../../emulators/arm-keyvault";
import { DataverseEmulator } from "../../emulators/dataverse";
import { startFabricEmulator } from "../../emulators/fabric-gateways";
import { DOCTOR_TABLES } from "../../emulators/iom-doctor";
import { KqlSyntaxError, runKql } from "../../emulators/kql";
import { parseTimespan, startLogAnalyticsEmulator } from "../../emulators/log-analytics";
import { testCertificate } from "../../emulators/tls";

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  json: unknown;
}

function call(url: string, o: { method?: string; token?: string; body?: unknown } = {}): Promise<Answer> {
  const u = new URL(url);
  const mod = u.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(u, { method: o.method ?? "GET", ca: testCertificate().cert, headers: { ...(o.token ? { Authorization: `Bearer ${o.token}` } : {}), "Content-Type": "application/json" } }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: text ? (JSON.parse(text) as unknown) : undefined }));
    });
    req.on("error", reject);
    req.end(o.body === undefined ? undefined : JSON.stringify(o.body));
  });
}

const now = new Date("2026-05-01T12:00:00Z");

describe("KQL interpreter", () => {
  const rows = [
    { TimeGenerated: new Date("2026-05-01T11:00:00Z"), AccountName: "a", OperationName: "PutBlob", StatusText: "Success", Uri: "https://a.blob.core.windows.net:443/drop/x.json" },
    { TimeGenerated: new Date("2026-05-01T10:00:00Z"), AccountName: "a", OperationName: "PutBlockList", StatusText: "Success", Uri: "https://a.blob.core.windows.net:443/drop/y.json?comp=blocklist" },
    { TimeGenerated: new Date("2026-04-29T10:00:00Z"), AccountName: "a", OperationName: "PutBlob", StatusText: "ServerBusy", Uri: "https://a.blob.core.windows.net:443/errors/z.json" },
    { TimeGenerated: new Date("2026-05-01T09:00:00Z"), AccountName: "b", OperationName: "PutBlob", StatusText: "Success", Uri: "https://b.blob.core.windows.net:443/drop/w.json" },
  ];

  test("where, extend with parse_url/split, and summarize by a column, as KQL evaluates them", () => {
    const r = runKql(
      [
        "StorageBlobLogs",
        '| where AccountName == "a" and TimeGenerated > ago(3d)',
        '| extend Container = tostring(split(tostring(parse_url(Uri).Path), "/")[1])',
        '| summarize Files = countif(StatusText == "Success"), Last = maxif(TimeGenerated, StatusText == "Success"), n = count() by Container',
      ].join("\n"),
      { StorageBlobLogs: rows },
      now,
    );
    expect(r.columns).toEqual([{ name: "Container", type: "string" }, { name: "Files", type: "long" }, { name: "Last", type: "datetime" }, { name: "n", type: "long" }]);
    expect(r.rows).toEqual([["drop", 2, new Date("2026-05-01T11:00:00Z"), 2], ["errors", 0, null, 1]]);
  });

  test("ago() counts from the service's clock; in () and != filter; summarize without by gives one row even over nothing", () => {
    expect(runKql("T | where TimeGenerated > ago(2h) | summarize n = count()", { T: rows }, now).rows).toEqual([[1]]);
    expect(runKql("T | where TimeGenerated >= ago(2h) | summarize n = count()", { T: rows }, now).rows).toEqual([[2]]);
    expect(runKql('T | where OperationName in ("PutBlockList") | summarize n = count()', { T: rows }, now).rows).toEqual([[1]]);
    expect(runKql('T | where AccountName != "a" | project AccountName', { T: rows }, now).rows).toEqual([["b"]]);
    expect(runKql('T | where AccountName == "nobody" | summarize n = count()', { T: rows }, now).rows).toEqual([[0]]);
  });

  test.each([
    ["an operator it does not know", "T | top 5 by TimeGenerated"],
    ["a function it does not know", "T | where strlen(Uri) > 3"],
    ["case-insensitive equality (=~), which it does not model", 'T | where AccountName =~ "A"'],
    ["an unnamed max()", "T | summarize max(TimeGenerated)"],
    ["a table that does not exist", "Nope | summarize n = count()"],
  ])("refuses %s with a syntax error", (_name, query) => {
    expect(() => runKql(query, { T: rows }, now)).toThrow(KqlSyntaxError);
  });
});

describe("Log Analytics query API", () => {
  test("timespans: ISO durations and intervals", () => {
    expect(parseTimespan("PT24H", now)).toEqual({ from: new Date("2026-04-30T12:00:00Z"), to: now });
    expect(parseTimespan("P1DT2H", now).from).toEqual(new Date("2026-04-30T10:00:00Z"));
    expect(parseTimespan("2026-04-01T00:00:00Z/PT1H", now)).toEqual({ from: new Date("2026-04-01T00:00:00Z"), to: new Date("2026-04-01T01:00:00Z") });
  });

  test("POST <resource id>/query answers tables of columns and rows within the timespan; a bad query is a BadArgumentError", async () => {
    const la = await startLogAnalyticsEmulator({ token: "t", now: () => now });
    const ws = "/subscriptions/s/resourceGroups/r/providers/Microsoft.OperationalInsights/workspaces/w";
    la.workspaces.set(ws.toLowerCase(), { T: [{ TimeGenerated: "2026-05-01T11:00:00Z", A: "x" }, { TimeGenerated: "2026-04-01T11:00:00Z", A: "y" }] });
    try {
      const ok = await call(`${la.url}/v1${ws}/query`, { method: "POST", token: "t", body: { query: "T | project A", timespan: "PT24H" } });
      expect(ok).toMatchObject({ status: 200, json: { tables: [{ name: "PrimaryResult", columns: [{ name: "A", type: "string" }], rows: [["x"]] }] } });
      const bad = await call(`${la.url}/v1${ws}/query`, { method: "POST", token: "t", body: { query: "T | render timechart" } });
      expect(bad).toMatchObject({ status: 400, json: { error: { code: "BadArgumentError", innererror: { code: "SyntaxError" } } } });
      expect((await call(`${la.url}/v1${ws}/query`, { method: "POST", body: { query: "T" } })).status).toBe(401);
    } finally {
      await la.close();
    }
  });
});

describe("Fabric gateways API", () => {
  test("lists gateways page by page (continuationUri), members, and a status check as a long-running operation", async () => {
    const member = { id: "m1", displayName: "node1", version: "3000.1.1", enabled: true, status: "Offline" as const, errorDetails: [{ errorCode: "GatewayNotReachable", message: "offline" }], slowPolls: 2 };
    const f = await startFabricEmulator({ token: "t", pageSize: 1, gateways: [{ id: "g1", type: "OnPremises", displayName: "one", members: [] }, { id: "g2", type: "OnPremises", displayName: "two", members: [member] }] });
    try {
      const p1 = await call(`${f.url}/v1/gateways`, { token: "t" });
      expect(p1.json).toMatchObject({ value: [{ id: "g1", type: "OnPremises", displayName: "one" }], continuationToken: "1", continuationUri: `${f.url}/v1/gateways?continuationToken=1` });
      const p2 = await call((p1.json as { continuationUri: string }).continuationUri, { token: "t" });
      expect(p2.json).toEqual({ value: [expect.objectContaining({ id: "g2", numberOfMemberGateways: 1 })] });
      expect((await call(`${f.url}/v1/gateways/g2/members`, { token: "t" })).json).toEqual({ value: [{ id: "m1", displayName: "node1", publicKey: expect.any(Object), version: "3000.1.1", enabled: true }] });
      const started = await call(`${f.url}/v1/gateways/g2/members/m1/checkStatus`, { method: "POST", token: "t" });
      expect(started).toMatchObject({ status: 202, headers: { location: expect.stringMatching(/\/v1\/operations\//), "x-ms-operation-id": expect.any(String), "retry-after": "0" } });
      const running = await call(started.headers.location!, { token: "t" });
      expect(running.json).toMatchObject({ status: "Running" });
      const done = await call(started.headers.location!, { token: "t" });
      expect(done).toMatchObject({ json: { status: "Succeeded" }, headers: { location: `${started.headers.location}/result` } });
      expect((await call(done.headers.location!, { token: "t" })).json).toEqual({ status: "Offline", gatewayVersion: "3000.1.1", gatewayUpgradeState: "UpToDate", errorDetails: [{ errorCode: "GatewayNotReachable", message: "offline" }] });
      expect((await call(`${f.url}/v1/gateways/nope/members`, { token: "t" })).json).toMatchObject({ errorCode: "EntityNotFound" });
      f.throttle(1, 7);
      expect(await call(`${f.url}/v1/gateways`, { token: "t" })).toMatchObject({ status: 429, headers: { "retry-after": "7" } });
      expect((await call(`${f.url}/v1/gateways`)).status).toBe(401);
    } finally {
      await f.close();
    }
  });
});

describe("ARM Key Vault secrets", () => {
  test("lists secrets' attributes (exp in seconds) page by page, never a value; api-version is required", async () => {
    const exp = new Date("2026-06-01T00:00:00Z");
    const arm = await startArmKeyVaultEmulator({ token: "t", pageSize: 1, vaults: [{ subscriptionId: "s", resourceGroup: "rg", name: "kv", location: "westeurope", secrets: [{ name: "a", expires: exp, value: "SECRET-A" }, { name: "b", value: "SECRET-B" }] }] });
    const base = `${arm.url}/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/secrets`;
    try {
      const first = await call(`${base}?api-version=2026-02-01`, { token: "t" });
      expect(first.json).toMatchObject({ value: [{ name: "a", type: "Microsoft.KeyVault/vaults/secrets", properties: { attributes: { enabled: true, exp: exp.getTime() / 1000 } } }], nextLink: expect.stringContaining("$skiptoken=1") });
      const second = await call((first.json as { nextLink: string }).nextLink, { token: "t" });
      expect(second.json).toEqual({ value: [expect.objectContaining({ name: "b" })] });
      expect(JSON.stringify([first.json, second.json])).not.toMatch(/SECRET-|"value":\s*"/);
      expect((await call(base, { token: "t" })).json).toMatchObject({ error: { code: "MissingApiVersionParameter" } });
      expect((await call(base.replace("/kv/", "/other/") + "?api-version=x", { token: "t" })).json).toMatchObject({ error: { code: "ResourceNotFound" } });
    } finally {
      await arm.close();
    }
  });
});

describe("Dataverse additions: WhoAmI and typed columns", () => {
  test("WhoAmI answers the organization; numbers come back as numbers; filters compare numbers and times by value", async () => {
    const emu = new DataverseEmulator({ token: "t", organizationId: "0b8e7a52-93d4-4f0e-8c71-2a6de4f9b3c7", tables: DOCTOR_TABLES });
    const url = await emu.start();
    try {
      const wf = emu.insert("workflow", { name: "Flow", category: "5", type: "1", statecode: "1", statuscode: "2" });
      emu.insert("workflow", { name: "Rule", category: "2", type: "1", statecode: "1", statuscode: "2" });
      for (const [t, s] of [["2026-05-01T10:00:00Z", "Success"], ["2026-04-29T10:00:00Z", "Failed"]]) emu.insert("flowrun", { name: s, status: s, starttime: t, workflow: wf });
      const api = `${url}/api/data/v9.2`;
      expect((await call(`${api}/WhoAmI`, { token: "t" })).json).toMatchObject({ OrganizationId: "0b8e7a52-93d4-4f0e-8c71-2a6de4f9b3c7", UserId: expect.any(String), BusinessUnitId: expect.any(String) });
      const flows = await call(`${api}/workflows?$select=name,statecode&$filter=${encodeURIComponent("category eq 5")}`, { token: "t" });
      expect((flows.json as { value: unknown[] }).value).toEqual([expect.objectContaining({ name: "Flow", statecode: 1 })]);
      const runs = await call(`${api}/flowruns?$select=status&$filter=${encodeURIComponent(`_workflow_value eq ${wf} and starttime ge 2026-04-30T00:00:00.000Z`)}`, { token: "t" });
      expect((runs.json as { value: { status: string }[] }).value.map((r) => r.status)).toEqual(["Success"]);
      const badLiteral = await call(`${api}/workflows?$filter=${encodeURIComponent("category eq 'five'")}`, { token: "t" });
      expect(badLiteral.status).toBe(400);
    } finally {
      await emu.stop();
    }
  });
});
