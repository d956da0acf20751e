/**
 * What each stack's monitoring must contain, and one check of it used both on a mocked run of the
 * program and on a plan: the pieces the policy pack cannot see missing (workspace, action group,
 * alert rules, Defender, workbook, agent counts).
 */
import { parseStackConfig } from "../../config";
import { rawStackConfig } from "./stack";

export interface DeclaredResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

export interface MonitoringExpectation {
  retentionDays: number;
  gatewayVms: number;
  /** Keys of the alert rules, the last part of their Azure names. */
  alerts: string[];
  malwareScanning: boolean;
  /** Hours of the File Drop silence alert's window, when the stack has that alert. */
  fileDropSilenceHours?: number;
}

export const MT = {
  workspace: "azure-native:operationalinsights:Workspace",
  diagnosticSetting: "azure-native:monitor:DiagnosticSetting",
  dcr: "azure-native:monitor:DataCollectionRule",
  dcrAssociation: "azure-native:monitor:DataCollectionRuleAssociation",
  extension: "azure-native:compute:VirtualMachineExtension",
  actionGroup: "azure-native:monitor:ActionGroup",
  logAlert: "azure-native:monitor:ScheduledQueryRule",
  metricAlert: "azure-native:monitor:MetricAlert",
  defender: "azure-native:security:DefenderForStorage",
  workbook: "azure-native:applicationinsights:Workbook",
  flowLog: "azure-native:network:FlowLog",
} as const;

const GATEWAY_ALERTS = ["gw-heartbeat", "gw-service", "gw-pressure"];
const ALWAYS = ["kv-denied", "drop-write-failures", "drop-availability"];

/** What a stack's monitoring must contain, read from its committed Pulumi.<stack>.yaml (over Pulumi.yaml's defaults). */
export function expectedMonitoring(stack: string): MonitoringExpectation {
  const { raw, secretKeys } = rawStackConfig(stack);
  const { gateway, monitoring } = parseStackConfig(stack, raw, secretKeys);
  const gatewayVms = gateway?.vmCount ?? 0;
  return {
    retentionDays: monitoring.retentionDays,
    gatewayVms,
    alerts: [
      ...(gatewayVms > 0 ? GATEWAY_ALERTS : []),
      ...(gatewayVms > 1 ? ["gw-cluster-down"] : []),
      ...ALWAYS,
      ...(monitoring.fileDropSilenceHours ? ["drop-silence"] : []),
    ],
    malwareScanning: monitoring.malwareScanning !== undefined,
    ...(monitoring.fileDropSilenceHours ? { fileDropSilenceHours: monitoring.fileDropSilenceHours } : {}),
  };
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === "object" && v !== null ? (v as Obj) : {});

/** Everything missing or different from the expectation; empty when the stack's monitoring is complete. */
export function monitoringGaps(resources: DeclaredResource[], expected: MonitoringExpectation): string[] {
  const gaps: string[] = [];
  const of = (type: string) => resources.filter((r) => r.type === type);

  const workspaces = of(MT.workspace);
  if (workspaces.length !== 1) gaps.push(`expected one Log Analytics workspace, found ${workspaces.length}`);
  else if (workspaces[0].inputs.retentionInDays !== expected.retentionDays) {
    gaps.push(`workspace retention is ${String(workspaces[0].inputs.retentionInDays)} days, expected ${expected.retentionDays}`);
  }
  if (of(MT.diagnosticSetting).length !== 3) gaps.push(`expected 3 diagnostic settings (blob service, account, vault), found ${of(MT.diagnosticSetting).length}`);

  const agents = of(MT.extension).filter((e) => e.inputs.type === "AzureMonitorWindowsAgent");
  const associations = of(MT.dcrAssociation);
  if (agents.length !== expected.gatewayVms) gaps.push(`expected the Azure Monitor Agent on ${expected.gatewayVms} gateway VM(s), found ${agents.length}`);
  if (associations.length !== expected.gatewayVms) gaps.push(`expected ${expected.gatewayVms} data collection rule association(s), found ${associations.length}`);
  if (expected.gatewayVms > 0 && of(MT.dcr).length !== 1) gaps.push(`expected one data collection rule for the gateway VMs, found ${of(MT.dcr).length}`);

  if (of(MT.actionGroup).length !== 1) gaps.push(`expected one action group, found ${of(MT.actionGroup).length}`);
  const rules = [...of(MT.logAlert), ...of(MT.metricAlert)];
  const ruleNames = rules.map((r) => String(r.inputs.ruleName));
  for (const key of expected.alerts) {
    if (!ruleNames.some((n) => n.endsWith(`-${key}`))) gaps.push(`alert rule '${key}' is missing`);
  }
  for (const name of ruleNames) {
    if (!expected.alerts.some((key) => name.endsWith(`-${key}`))) gaps.push(`unexpected alert rule '${name}'`);
  }
  if (expected.fileDropSilenceHours !== undefined) {
    const silence = of(MT.logAlert).find((r) => String(r.inputs.ruleName).endsWith("-drop-silence"));
    if (silence && silence.inputs.windowSize !== `PT${expected.fileDropSilenceHours}H`) {
      gaps.push(`the File Drop silence alert looks back ${String(silence.inputs.windowSize)}, expected PT${expected.fileDropSilenceHours}H`);
    }
  }

  const defenders = of(MT.defender);
  const scanning = defenders.filter((d) => obj(obj(obj(d.inputs.properties).malwareScanning).onUpload).isEnabled === true);
  if (expected.malwareScanning && scanning.length !== 1) gaps.push("Defender for Storage with on-upload malware scanning is missing on the drop account");
  if (!expected.malwareScanning && defenders.length > 0) gaps.push("Defender for Storage is declared although the stack turns malware scanning off");

  const workbooks = of(MT.workbook);
  if (workbooks.length !== 1 || workbooks[0].inputs.kind !== "shared" || workbooks[0].inputs.category !== "workbook") {
    gaps.push(`expected one shared workbook, found ${workbooks.length}`);
  }
  return gaps;
}
