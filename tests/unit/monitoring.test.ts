/**
 * Monitoring as the real program declares it under mocks, per stack with its committed
 * Pulumi.<stack>.yaml: where logs go, what the agent collects, where alerts go and what they ask,
 * Defender and the workbook; and the receivers, secrets and warnings an operator relies on.
 */
import { GATEWAY_COUNTERS, LANDING_WORKBOOK } from "../../components/monitoring";
import { BLOB_WRITE_OPERATIONS, GATEWAY_SERVICE } from "../../components/monitoringAlerts";
import { expectedMonitoring, MT, monitoringGaps } from "../support/monitoring";
import { isSecretValue, plainOccurrences, reveal, runProgram, type MockedResource, type ProgramRun } from "../support/program";
import { listStacks } from "../support/stack";

const STACKS = listStacks();

type Obj = Record<string, unknown>;
const obj = (v: unknown) => (v ?? {}) as Obj;
const list = (v: unknown) => (v ?? []) as Obj[];

const runs = new Map<string, ProgramRun>();
// One mocked run of the whole program per stack: 10-15 s each on a loaded 2-core machine.
const RUN_TIMEOUT = 180_000;
beforeAll(async () => {
  for (const stack of STACKS) runs.set(stack, await runProgram(stack));
}, RUN_TIMEOUT);

const NO_RECEIVER = /Alerts reach nobody: the action group has no receiver/;

const WEBHOOK = "https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=SuperSecretSig123";
const FLOW_LOG_STORAGE = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/NetworkWatcherRG/providers/Microsoft.Storage/storageAccounts/stflowlogsweu";
/** dev with what an operator adds to its monitoring: alert receivers (the webhook as a secret) and VNet flow logs. */
const DEV_WITH_RECEIVERS_AND_FLOW_LOGS = {
  set: { monitoringAlertEmails: ["ops@contoso.com", "oncall@contoso.com"], monitoringFlowLogStorageAccountId: FLOW_LOG_STORAGE },
  secrets: { monitoringAlertWebhookUrl: WEBHOOK },
};

describe.each(STACKS)("stack %s", (stack) => {
  const run = () => runs.get(stack) as ProgramRun;
  const expected = expectedMonitoring(stack);
  const workspaceId = () => run().one(MT.workspace).id;
  const ruleNamed = (key: string): MockedResource => {
    const found = [...run().ofType(MT.logAlert), ...run().ofType(MT.metricAlert)].find((r) => String(r.inputs.ruleName).endsWith(`-${key}`));
    if (!found) throw new Error(`no alert rule ${key}`);
    return found;
  };

  test("declares every piece of monitoring the stack expects", () => {
    expect(monitoringGaps(run().resources, expected)).toEqual([]);
  });

  test("one workspace per stack, named by the naming function, Entra-only ingestion", () => {
    expect(run().one(MT.workspace).inputs).toMatchObject({
      workspaceName: `log-iom-retail-${stack}-weu`,
      retentionInDays: expected.retentionDays,
      sku: { name: "PerGB2018" },
      features: { disableLocalAuth: true, enableLogAccessUsingOnlyResourcePermissions: true },
    });
  });

  test("the blob service sends read, write and delete logs; the account its transactions; the vault its audit events", () => {
    const account = run().one("azure-native:storage:StorageAccount");
    const vault = run().one("azure-native:keyvault:Vault");
    const settings = run().ofType(MT.diagnosticSetting).map((d) => d.inputs);
    for (const s of settings) expect(s.workspaceId).toBe(workspaceId());
    expect(settings.find((s) => s.resourceUri === `${account.id}/blobServices/default`)).toMatchObject({
      logs: [{ category: "StorageRead", enabled: true }, { category: "StorageWrite", enabled: true }, { category: "StorageDelete", enabled: true }],
      metrics: [{ category: "Transaction", enabled: true }],
    });
    expect(settings.find((s) => s.resourceUri === account.id)).toMatchObject({ metrics: [{ category: "Transaction", enabled: true }] });
    expect(settings.find((s) => s.resourceUri === vault.id)).toMatchObject({
      logAnalyticsDestinationType: "Dedicated", // AZKVAuditLogs, the table the alert and workbook query
      logs: [{ category: "AuditEvent", enabled: true }],
    });
  });

  test("every gateway VM runs the Azure Monitor Agent and is associated with the gateway rule", () => {
    const vms = run().ofType("azure-native:compute:VirtualMachine");
    const dcr = run().one(MT.dcr);
    expect(vms).toHaveLength(expected.gatewayVms);
    for (const vm of vms) {
      const vmName = vm.inputs.vmName;
      expect(run().ofType(MT.extension).filter((e) => e.inputs.vmName === vmName && e.inputs.type === "AzureMonitorWindowsAgent").map((e) => e.inputs))
        .toEqual([expect.objectContaining({ publisher: "Microsoft.Azure.Monitor", vmExtensionName: "AzureMonitorWindowsAgent", enableAutomaticUpgrade: true })]);
      expect(run().ofType(MT.dcrAssociation).filter((a) => a.inputs.resourceUri === vm.id).map((a) => a.inputs.dataCollectionRuleId)).toEqual([dcr.id]);
    }
  });

  test("the rule collects Application and System events, the gateway's own log, and CPU, memory, disk and network counters", () => {
    const dcr = run().one(MT.dcr).inputs;
    expect(list(obj(dcr.dataSources).windowsEventLogs)).toEqual([
      {
        name: "windows-events",
        streams: ["Microsoft-Event"],
        xPathQueries: [
          "Application!*[System[(Level=1 or Level=2 or Level=3)]]",
          // Service Control Manager's 7036 "stopped" is informational (level 4): without it the service alert sees nothing.
          "System!*[System[(Level=1 or Level=2 or Level=3 or Level=4)]]",
        ],
      },
      { name: "gateway-events", streams: ["Microsoft-Event"], xPathQueries: ["On-premises data gateway service!*[System[(Level=1 or Level=2 or Level=3 or Level=4)]]"] },
    ]);
    const counters = list(obj(dcr.dataSources).performanceCounters)[0];
    expect(counters.counterSpecifiers).toEqual([...GATEWAY_COUNTERS]);
    expect(counters.counterSpecifiers).toEqual(expect.arrayContaining(["\\Processor(_Total)\\% Processor Time", "\\Memory\\% Committed Bytes In Use"]));
    expect(obj(dcr.destinations).logAnalytics).toEqual([{ name: "workspace", workspaceResourceId: workspaceId() }]);
    expect(dcr.dataFlows).toEqual([{ streams: ["Microsoft-Event", "Microsoft-Perf"], destinations: ["workspace"] }]);
  });

  test("every alert rule notifies the one action group; log alerts query the workspace", () => {
    const group = run().one(MT.actionGroup);
    for (const rule of run().ofType(MT.logAlert)) {
      expect(rule.inputs).toMatchObject({ kind: "LogAlert", enabled: true, scopes: [workspaceId()], actions: { actionGroups: [group.id] } });
    }
    for (const rule of run().ofType(MT.metricAlert)) {
      expect(rule.inputs.actions).toEqual([{ actionGroupId: group.id }]);
    }
  });

  test("the heartbeat rule names each node and alerts per node", () => {
    const rule = ruleNamed("gw-heartbeat").inputs;
    const condition = list(obj(rule.criteria).allOf)[0];
    for (const vm of run().ofType("azure-native:compute:VirtualMachine")) expect(condition.query).toContain(JSON.stringify(vm.id.toLowerCase()));
    expect(condition.query).toMatch(/join kind=leftanti seen on ResourceId/);
    expect(condition.dimensions).toEqual([{ name: "ResourceId", operator: "Include", values: ["*"] }]);
    expect(rule).toMatchObject({ windowSize: "PT10M", evaluationFrequency: "PT5M", severity: 1 });
  });

  test("the service rule looks for the gateway service's stop and crash events", () => {
    const query = String(list(obj(ruleNamed("gw-service").inputs.criteria).allOf)[0].query);
    expect(query).toContain(`contains "${GATEWAY_SERVICE.displayName}"`);
    expect(query).toMatch(/EventID in \(7031, 7034\) or \(EventID == 7036 and RenderedDescription contains "stopped"\)/);
  });

  test("the pressure rule uses the configured thresholds", () => {
    const query = String(list(obj(ruleNamed("gw-pressure").inputs.criteria).allOf)[0].query);
    expect(query).toMatch(/where CpuPercent > 85 or MemoryPercent > 90/);
  });

  test("the vault rule counts refused requests (403) from AZKVAuditLogs", () => {
    expect(String(list(obj(ruleNamed("kv-denied").inputs.criteria).allOf)[0].query)).toMatch(/^AZKVAuditLogs\n\| where HttpStatusCode == 403/);
  });

  test("metric alerts watch the drop account's blob service: failed writes and availability", () => {
    const account = run().one("azure-native:storage:StorageAccount");
    const failures = ruleNamed("drop-write-failures").inputs;
    expect(failures.scopes).toEqual([`${account.id}/blobServices/default`]);
    expect(list(obj(failures.criteria).allOf)[0]).toMatchObject({
      metricNamespace: "Microsoft.Storage/storageAccounts/blobServices",
      metricName: "Transactions",
      timeAggregation: "Total",
      operator: "GreaterThan",
      threshold: 0,
      dimensions: [
        { name: "ApiName", operator: "Include", values: ["PutBlob", "PutBlock", "PutBlockList"] },
        { name: "ResponseType", operator: "Exclude", values: ["Success"] },
      ],
    });
    expect(list(obj(ruleNamed("drop-availability").inputs.criteria).allOf)[0]).toMatchObject({ metricName: "Availability", operator: "LessThan", threshold: 99 });
  });

  test("the workbook is the reviewed file, filled with the stack's containers and pointed at the workspace", () => {
    const workbook = run().one(MT.workbook).inputs;
    expect(workbook.resourceName).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(workbook.sourceId).toBe(workspaceId().toLowerCase());
    const data = JSON.parse(String(workbook.serializedData)) as { items: Obj[]; fallbackResourceIds: string[] };
    expect(data.fallbackResourceIds).toEqual([workspaceId()]);
    const parameters = Object.fromEntries(list(obj(data.items.find((i) => i.type === 9)?.content).parameters).map((p) => [p.name, p.value]));
    const containers = run().ofType("azure-native:storage:BlobContainer").map((c) => c.inputs.containerName);
    expect([parameters.FileDropContainer, parameters.ErrorFileDropContainer]).toEqual(containers);
    const queries = data.items.filter((i) => i.type === 3).map((i) => String(obj(i.content).query));
    expect(queries.some((q) => q.startsWith("Heartbeat"))).toBe(true);
    expect(queries.some((q) => q.includes(BLOB_WRITE_OPERATIONS.map((o) => `"${o}"`).join(", ")) && q.includes("{FileDropContainer}"))).toBe(true);
    expect(queries.some((q) => q.startsWith("AZKVAuditLogs"))).toBe(true);
    expect(LANDING_WORKBOOK).toMatch(/components\/workbooks\/landing\.workbook\.json$/);
  });

  test("the committed stack has no receiver, so nextSteps warns", () => {
    expect(run().ofType(MT.actionGroup)[0].inputs).toMatchObject({ emailReceivers: [], webhookReceivers: [] });
    expect((run().outputs.nextSteps as string[]).some((s) => NO_RECEIVER.test(s))).toBe(true);
    expect(obj(run().outputs.monitoringSummary).alertReceivers).toBe(0);
  });
});

describe("per-stack differences", () => {
  test("prod scans uploads with Defender for Storage, capped; dev and test leave Defender to the subscription", () => {
    const prod = runs.get("prod") as ProgramRun;
    const account = prod.one("azure-native:storage:StorageAccount");
    expect(prod.one(MT.defender).inputs).toEqual({
      resourceId: account.id,
      settingName: "current",
      properties: {
        isEnabled: true,
        overrideSubscriptionLevelSettings: true,
        malwareScanning: { onUpload: { isEnabled: true, capGBPerMonth: 1000 } },
        sensitiveDataDiscovery: { isEnabled: false },
      },
    });
    expect((runs.get("dev") as ProgramRun).ofType(MT.defender)).toEqual([]);
    expect((runs.get("test") as ProgramRun).ofType(MT.defender)).toEqual([]);
  });

  test("prod alerts when the whole cluster is down and when the File Drop container stays empty for 24 hours", () => {
    const prod = runs.get("prod") as ProgramRun;
    const silence = prod.ofType(MT.logAlert).find((r) => String(r.inputs.ruleName).endsWith("-drop-silence"));
    const account = prod.one("azure-native:storage:StorageAccount");
    expect(silence?.inputs).toMatchObject({ windowSize: "PT24H", evaluationFrequency: "PT1H" });
    const query = String(list(obj(silence?.inputs.criteria).allOf)[0].query);
    expect(query).toContain(`where AccountName == "${String(account.inputs.accountName)}"`);
    expect(query).toContain('== "d365iomfiledropprodweu"');
    const down = prod.ofType(MT.logAlert).find((r) => String(r.inputs.ruleName).endsWith("-gw-cluster-down"));
    expect(down?.inputs.severity).toBe(0);
    for (const stack of ["dev", "test"] as const) {
      const names = (runs.get(stack) as ProgramRun).ofType(MT.logAlert).map((r) => String(r.inputs.ruleName));
      expect(names.filter((n) => /drop-silence|cluster-down/.test(n))).toEqual([]);
    }
  });
});

describe("receivers", () => {
  test("emails and a secret webhook become receivers; the webhook stays secret everywhere; no warning", async () => {
    const run = await runProgram("dev", DEV_WITH_RECEIVERS_AND_FLOW_LOGS);
    const group = run.one(MT.actionGroup).inputs;
    expect(group.emailReceivers).toEqual([
      { name: "email-1", emailAddress: "ops@contoso.com", useCommonAlertSchema: true },
      { name: "email-2", emailAddress: "oncall@contoso.com", useCommonAlertSchema: true },
    ]);
    // The engine marks the whole list secret once one value in it is.
    const receivers = group.webhookReceivers;
    expect(isSecretValue(receivers) || (Array.isArray(receivers) && receivers.every((r) => isSecretValue(obj(r).serviceUri)))).toBe(true);
    expect(reveal(group.webhookReceivers)).toEqual([{ name: "webhook", serviceUri: WEBHOOK, useCommonAlertSchema: true }]);
    expect(run.resources.flatMap((r) => plainOccurrences(r.inputs, ["SuperSecretSig123"]).map((at) => `${r.name} ${at}`))).toEqual([]);
    expect(plainOccurrences(run.outputs, ["SuperSecretSig123"])).toEqual([]);
    expect((run.outputs.nextSteps as string[]).some((s) => NO_RECEIVER.test(s))).toBe(false);
    expect(obj(run.outputs.monitoringSummary).alertReceivers).toBe(3);
  }, RUN_TIMEOUT);

  test("a webhook set in plain text is refused before anything is declared", async () => {
    await expect(runProgram("dev", { set: { monitoringAlertWebhookUrl: WEBHOOK } })).rejects.toMatchObject({
      message: expect.stringMatching(/monitoringAlertWebhookUrl: holds a secret but was set in plain text/),
      declaredResources: 0,
    });
  }, RUN_TIMEOUT);
});

describe("flow logs", () => {
  test("off by default; on, the VNet's flow log goes to the given account and Traffic Analytics to the workspace", async () => {
    expect((runs.get("prod") as ProgramRun).ofType(MT.flowLog)).toEqual([]);
    const run = await runProgram("dev", DEV_WITH_RECEIVERS_AND_FLOW_LOGS);
    const vnet = run.one("azure-native:network:VirtualNetwork");
    const workspace = run.one(MT.workspace);
    expect(run.one(MT.flowLog).inputs).toMatchObject({
      resourceGroupName: "NetworkWatcherRG",
      networkWatcherName: "NetworkWatcher_westeurope",
      targetResourceId: vnet.id,
      storageId: FLOW_LOG_STORAGE,
      enabled: true,
      format: { type: "JSON", version: 2 },
      flowAnalyticsConfiguration: { networkWatcherFlowAnalyticsConfiguration: { enabled: true, workspaceResourceId: workspace.id, workspaceRegion: "westeurope" } },
    });
    // Traffic Analytics still uses the workspace's shared key.
    expect(obj(workspace.inputs.features).disableLocalAuth).toBeUndefined();
  }, RUN_TIMEOUT);
});
