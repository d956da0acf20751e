/**
 * The monitoring pieces in each committed plan, and what happens when one goes missing: each removal
 * is caught by the policy pack's rules (which the offline plan runs) or by the monitoring check the
 * stack tests use. Also the three monitoring policies with passing and failing resources.
 */
import type { StackValidationArgs } from "@pulumi/policy";
import * as fs from "fs";
import * as path from "path";
import { planViolations } from "../../plan/cli";
import type { PlannedResource, StackPlan } from "../../plan/capture";
import { stackPolicies } from "../../policy/policies";
import { PLAN_UNKNOWN, STACK_RULES, evaluate, type PolicyResource } from "../../policy/rules";
import { expectedMonitoring, MT, monitoringGaps } from "../support/monitoring";
import { listStacks, ROOT } from "../support/stack";

const STACKS = listStacks();

const committed = (stack: string) => JSON.parse(fs.readFileSync(path.join(ROOT, "plan", "snapshots", `${stack}.json`), "utf8")) as StackPlan;

describe.each(STACKS)("committed %s plan", (stack) => {
  test("has every monitoring piece the stack expects and no policy violation", () => {
    const plan = committed(stack);
    expect(monitoringGaps(plan.resources, expectedMonitoring(stack))).toEqual([]);
    expect(planViolations(plan)).toEqual([]);
  });
});

describe("removing any monitoring piece from the prod plan is caught", () => {
  const prod = committed("prod");
  const pieces = prod.resources.filter((r) => r.type.startsWith("azure-native:") && r.name.startsWith("monitoring-")).map((r) => r.name);

  test("the prod plan shows the workspace, diagnostics, agent and association on both nodes, action group, alerts, Defender and workbook", () => {
    const count = (type: string) => prod.resources.filter((r) => r.type === type).length;
    expect({
      workspace: count(MT.workspace),
      diagnosticSettings: count(MT.diagnosticSetting),
      agents: prod.resources.filter((r) => r.type === MT.extension && r.inputs.type === "AzureMonitorWindowsAgent").length,
      associations: count(MT.dcrAssociation),
      actionGroups: count(MT.actionGroup),
      alerts: count(MT.logAlert) + count(MT.metricAlert),
      defender: count(MT.defender),
      workbooks: count(MT.workbook),
    }).toEqual({ workspace: 1, diagnosticSettings: 3, agents: 2, associations: 2, actionGroups: 1, alerts: 8, defender: 1, workbooks: 1 });
  });

  test.each(pieces)("without %s", (piece) => {
    const plan: StackPlan = { ...prod, resources: prod.resources.filter((r) => r.name !== piece) };
    const caught = [
      ...planViolations(plan).map((v) => `policy ${v.policy}: ${v.message}`),
      ...monitoringGaps(plan.resources, expectedMonitoring("prod")).map((g) => `test: ${g}`),
    ];
    expect(caught.length).toBeGreaterThan(0);
  });

  // Which net catches which piece: the policy pack for what a deployment must never lack, the
  // stack tests for the rest.
  test.each([
    ["monitoring-diag-blob", /policy diagnostics-to-workspace: 'drop-account' sends no StorageRead, StorageWrite, StorageDelete logs/],
    ["monitoring-diag-vault", /policy diagnostics-to-workspace: 'vault-vault' has no diagnostic setting/],
    ["monitoring-ama-01", /policy vm-monitoring-agent: VM 'gateway-vm-01' has no Azure Monitor Agent/],
    ["monitoring-dcr-gateway-02", /policy vm-monitoring-agent: VM 'gateway-vm-02' is associated with no data collection rule/],
    ["monitoring-action-group", /policy alerts-notify-action-group: alert rule 'monitoring-alerts-gw-heartbeat' notifies no action group/],
    ["monitoring-workspace", /policy diagnostics-to-workspace: 'drop-account' has no diagnostic setting sending to a Log Analytics workspace/],
    ["monitoring-alerts-gw-cluster-down", /test: alert rule 'gw-cluster-down' is missing/],
    ["monitoring-alerts-drop-silence", /test: alert rule 'drop-silence' is missing/],
    ["monitoring-defender", /test: Defender for Storage with on-upload malware scanning is missing/],
    ["monitoring-workbook", /test: expected one shared workbook, found 0/],
  ])("without %s: %s", (piece, expected) => {
    const plan: StackPlan = { ...prod, resources: prod.resources.filter((r) => r.name !== piece) };
    const caught = [
      ...planViolations(plan).map((v) => `policy ${v.policy}: ${v.message}`),
      ...monitoringGaps(plan.resources, expectedMonitoring("prod")).map((g) => `test: ${g}`),
    ];
    expect(caught.join("\n")).toMatch(expected);
  });

  test("a diagnostic setting that stops sending blob writes is caught", () => {
    const plan = committed("prod");
    const blob = plan.resources.find((r) => r.name === "monitoring-diag-blob") as PlannedResource;
    blob.inputs.logs = (blob.inputs.logs as { category: string; enabled: boolean }[]).map((l) => ({ ...l, enabled: l.category !== "StorageWrite" }));
    expect(planViolations(plan).map((v) => v.message)).toEqual(["'drop-account' sends no StorageWrite logs to a Log Analytics workspace"]);
  });

  test("an association moved to the other node leaves the first one uncovered", () => {
    const plan = committed("prod");
    const first = plan.resources.find((r) => r.name === "monitoring-dcr-gateway-01") as PlannedResource;
    first.references = { ...first.references, resourceUri: ["gateway-vm-02"] };
    expect(planViolations(plan).map((v) => v.message)).toEqual(["VM 'gateway-vm-01' is associated with no data collection rule"]);
  });
});

describe("monitoring policies, as the policy pack runs them", () => {
  const rule = (name: string) => {
    const found = STACK_RULES.find((r) => r.name === name);
    if (!found) throw new Error(`no stack rule ${name}`);
    return (resources: PolicyResource[]) => found.check(resources).map((v) => v.message);
  };
  const account: PolicyResource = { type: "azure-native:storage:StorageAccount", name: "drop-account", props: { accountName: "stiomretaildevweuab12c" } };
  const vault: PolicyResource = { type: "azure-native:keyvault:Vault", name: "vault", props: { vaultName: "kv-iomretaildevweuab12c" } };
  const workspace: PolicyResource = { type: MT.workspace, name: "ws", props: {} };
  const blobLogs = ["StorageRead", "StorageWrite", "StorageDelete"].map((category) => ({ category, enabled: true }));

  test("diagnostics-to-workspace: by reference while ids are unknown, or by a known id after deployment", () => {
    const check = rule("diagnostics-to-workspace");
    const byReference: PolicyResource[] = [
      account, vault, workspace,
      { type: MT.diagnosticSetting, name: "d1", props: { logs: blobLogs }, references: { resourceUri: ["drop-account"], workspaceId: ["ws"] } },
      { type: MT.diagnosticSetting, name: "d2", props: { logs: [{ categoryGroup: "audit", enabled: true }] }, references: { resourceUri: ["vault"], workspaceId: ["ws"] } },
    ];
    expect(check(byReference)).toEqual([]);
    const byId: PolicyResource[] = [
      account, vault,
      {
        type: MT.diagnosticSetting, name: "d1",
        props: { logs: blobLogs, resourceUri: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/stiomretaildevweuab12c/blobServices/default", workspaceId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/log-iom" },
      },
    ];
    expect(check(byId)).toEqual(["'vault' has no diagnostic setting sending to a Log Analytics workspace"]);
    const toStorage: PolicyResource[] = [account, { type: MT.diagnosticSetting, name: "d1", props: { logs: blobLogs, storageAccountId: "x" }, references: { resourceUri: ["drop-account"] } }];
    expect(check(toStorage)).toEqual(["'drop-account' has no diagnostic setting sending to a Log Analytics workspace"]);
  });

  test("vm-monitoring-agent: the agent of another publisher does not count", () => {
    const check = rule("vm-monitoring-agent");
    const vm: PolicyResource = { type: "azure-native:compute:VirtualMachine", name: "vm1", props: { vmName: "vm-iom-retail-dev-weu-gw01" } };
    const association: PolicyResource = { type: MT.dcrAssociation, name: "a1", props: { dataCollectionRuleId: PLAN_UNKNOWN }, references: { resourceUri: ["vm1"] } };
    const agent = (publisher: string): PolicyResource => ({ type: MT.extension, name: "e1", props: { publisher, type: "AzureMonitorWindowsAgent" }, references: { vmName: ["vm1"] } });
    expect(check([vm, association, agent("Microsoft.Azure.Monitor")])).toEqual([]);
    expect(check([vm, association, agent("Contoso.Monitoring")])).toEqual(["VM 'vm1' has no Azure Monitor Agent extension (Microsoft.Azure.Monitor/AzureMonitorWindowsAgent)"]);
  });

  test("alerts-notify-action-group: log and metric alerts, by reference or known id", () => {
    const check = rule("alerts-notify-action-group");
    const group: PolicyResource = { type: MT.actionGroup, name: "ag", props: {} };
    const logAlert: PolicyResource = { type: MT.logAlert, name: "l1", props: { actions: { actionGroups: [PLAN_UNKNOWN] } }, references: { actions: ["ag"] } };
    const metricAlert: PolicyResource = { type: MT.metricAlert, name: "m1", props: { actions: [{ actionGroupId: "/subscriptions/s/resourceGroups/rg/providers/microsoft.insights/actionGroups/ag-iom" }] } };
    expect(check([group, logAlert, metricAlert])).toEqual([]);
    expect(check([logAlert, { ...metricAlert, props: { actions: [] } }])).toEqual(["alert rule 'l1' notifies no action group", "alert rule 'm1' notifies no action group"]);
  });

  test("in the policy pack, the engine's property dependencies are what links a setting, agent or association to its resource", () => {
    // During `pulumi preview` of a new stack every id is unknown (undefined here); only the
    // dependencies say which VM the extension and the association belong to.
    type Engine = { type: string; name: string; urn: string; props: Record<string, unknown>; propertyDependencies: Record<string, Engine[]> };
    const resource = (type: string, name: string, props: Record<string, unknown>, deps: Record<string, Engine[]> = {}): Engine =>
      ({ type, name, urn: `urn:pulumi:prod::iom-bigcommerce::${type}::${name}`, props, propertyDependencies: deps });
    const vm = resource("azure-native:compute:VirtualMachine", "gateway-vm-01", { vmName: "vm-iom-retail-prod-weu-gw01" });
    const dcr = resource("azure-native:monitor:DataCollectionRule", "monitoring-dcr-gateway", {});
    const agent = resource(MT.extension, "monitoring-ama-01", { publisher: "Microsoft.Azure.Monitor", type: "AzureMonitorWindowsAgent" }, { vmName: [vm] });
    const association = resource(MT.dcrAssociation, "monitoring-dcr-gateway-01", {}, { resourceUri: [vm], dataCollectionRuleId: [dcr] });
    const policy = stackPolicies.find((p) => p.name === "vm-monitoring-agent");
    const run = (resources: Engine[]) => {
      const reported: { message: string; urn?: string }[] = [];
      const args = { resources: resources.map((r) => ({ ...r, opts: {}, dependencies: [] })) } as unknown as StackValidationArgs;
      policy?.validateStack(args, (message, urn) => { reported.push({ message, urn }); });
      return reported;
    };
    expect(run([vm, dcr, agent, association])).toEqual([]);
    expect(run([vm, dcr, agent])).toEqual([{ message: "VM 'gateway-vm-01' is associated with no data collection rule", urn: vm.urn }]);
  });

  test("the whole rule set runs in evaluate(), as the offline plan does", () => {
    expect(evaluate([account]).map((v) => v.policy)).toContain("diagnostics-to-workspace");
  });
});
