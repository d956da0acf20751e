/**
 * The landing's alert rules, each routed to one action group. Queries are pure functions so tests can
 * read them; every table and column they use is documented by Azure Monitor (Heartbeat, Event, Perf,
 * StorageBlobLogs, AZKVAuditLogs), and the metric names are those of
 * Microsoft.Storage/storageAccounts/blobServices.
 */
import * as monitor from "@pulumi/azure-native/monitor";
import * as pulumi from "@pulumi/pulumi";
import { resourceName } from "../naming";
import type { LandingPlacement } from "./landing";

/**
 * The gateway's Windows service: `PBIEgwService`, shown as "On-premises data gateway service"
 * (data-integration docs: "restart the gateway" uses `net stop PBIEgwService`; the Services snap-in
 * and Service Control Manager messages use the display name).
 */
export const GATEWAY_SERVICE = { name: "PBIEgwService", displayName: "On-premises data gateway service" } as const;

/** Blob operations that create a file: a single-shot upload, or the commit of a block upload. */
export const BLOB_WRITE_OPERATIONS = ["PutBlob", "PutBlockList"] as const;

const kql = (value: string) => JSON.stringify(value); // KQL string literals take JSON's escapes
const kqlList = (values: readonly string[]) => `dynamic([${values.map(kql).join(", ")}])`;
/** The gateway VMs as a KQL list `nodes`, lower-cased as `tolower(_ResourceId)` compares them. */
const nodesLet = (vmIds: string[]) => `let nodes = ${kqlList(vmIds.map((id) => id.toLowerCase()))};`;

/** One row per gateway VM that sent no heartbeat in the rule's window. */
export function heartbeatMissingQuery(vmIds: string[]): string {
  return [
    nodesLet(vmIds),
    "let seen = Heartbeat | where tolower(_ResourceId) in (nodes) | distinct ResourceId = tolower(_ResourceId);",
    "print ResourceId = nodes",
    "| mv-expand ResourceId to typeof(string)",
    "| join kind=leftanti seen on ResourceId",
  ].join("\n");
}

/** One row when no node of the cluster sent a heartbeat in the rule's window. */
export function clusterDownQuery(vmIds: string[]): string {
  return [
    nodesLet(vmIds),
    "Heartbeat",
    "| where tolower(_ResourceId) in (nodes)",
    "| summarize NodesReporting = dcount(tolower(_ResourceId))",
    "| where NodesReporting == 0",
  ].join("\n");
}

/**
 * Service Control Manager events for the gateway service: 7036 "entered the stopped state", 7031 and
 * 7034 "terminated unexpectedly" (Windows Server event reference).
 */
export function gatewayServiceStoppedQuery(): string {
  return [
    "Event",
    '| where EventLog == "System" and Source == "Service Control Manager"',
    `| where RenderedDescription contains ${kql(GATEWAY_SERVICE.displayName)}`,
    '| where EventID in (7031, 7034) or (EventID == 7036 and RenderedDescription contains "stopped")',
    "| project TimeGenerated, Computer, _ResourceId, EventID, RenderedDescription",
  ].join("\n");
}

/** Nodes whose average CPU or committed memory over the window is above the thresholds. */
export function pressureQuery(cpuPercent: number, memoryPercent: number): string {
  return [
    "Perf",
    '| where (ObjectName == "Processor" and CounterName == "% Processor Time" and InstanceName == "_Total")',
    '    or (ObjectName == "Memory" and CounterName == "% Committed Bytes In Use")',
    '| summarize CpuPercent = avgif(CounterValue, ObjectName == "Processor"), MemoryPercent = avgif(CounterValue, ObjectName == "Memory") by Computer, _ResourceId',
    `| where CpuPercent > ${cpuPercent} or MemoryPercent > ${memoryPercent}`,
  ].join("\n");
}

/** Requests the vault refused (403). 401s are left out: clients get one as the normal auth challenge. */
export function vaultDeniedQuery(): string {
  return [
    "AZKVAuditLogs",
    "| where HttpStatusCode == 403",
    "| summarize Denials = count() by OperationName, CallerIpAddress, Caller = tostring(Identity)",
  ].join("\n");
}

/** One row when the container received no file in the rule's window. */
export function fileDropSilenceQuery(accountName: string, containerName: string): string {
  return [
    "StorageBlobLogs",
    `| where AccountName == ${kql(accountName)}`,
    `| where OperationName in (${BLOB_WRITE_OPERATIONS.map(kql).join(", ")}) and StatusText == "Success"`,
    `| where tostring(split(tostring(parse_url(Uri).Path), "/")[1]) == ${kql(containerName)}`,
    "| summarize Files = count()",
    "| where Files == 0",
  ].join("\n");
}

export interface MonitoringAlertsArgs extends LandingPlacement {
  workspaceId: pulumi.Input<string>;
  actionGroupId: pulumi.Input<string>;
  /** The drop account's blob service (`<account id>/blobServices/default`), scope of its metric alerts. */
  blobServiceId: pulumi.Input<string>;
  dropAccountName: pulumi.Input<string>;
  fileDropContainerName: string;
  gatewayVmIds: pulumi.Input<string>[];
  cpuAlertPercent: number;
  memoryAlertPercent: number;
  blobAvailabilityPercent: number;
  /** Absent: no File Drop silence alert. */
  fileDropSilenceHours?: number;
}

interface LogRule {
  key: string;
  description: string;
  severity: number;
  query: pulumi.Input<string>;
  frequency: string;
  window: string;
  /** Columns the alert splits by, so each node or caller alerts on its own. */
  splitBy?: string[];
}

interface MetricRule {
  key: string;
  description: string;
  severity: number;
  criterion: monitor.MetricAlertArgs["criteria"];
}

/**
 * Log search alerts on the workspace and metric alerts on the drop account. The rules that exist
 * depend on the stack: gateway rules only with gateway VMs, the whole-cluster rule only with more
 * than one node, the File Drop silence rule only when configured.
 */
export class MonitoringAlerts extends pulumi.ComponentResource {
  /** Azure names of the alert rules, by key. */
  readonly ruleNames: Record<string, string> = {};

  constructor(name: string, args: MonitoringAlertsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iom:monitoring:Alerts", name, {}, opts);
    for (const rule of this.logRules(args)) this.logAlert(name, args, rule);
    for (const rule of this.metricRules(args)) this.metricAlert(name, args, rule);
    this.registerOutputs({ ruleNames: this.ruleNames });
  }

  /** The log search rules this stack has: the gateway's with gateway VMs, the vault's, File Drop silence when configured. */
  private logRules(args: MonitoringAlertsArgs): LogRule[] {
    const vmIds = pulumi.all(args.gatewayVmIds);
    const logRules: LogRule[] = [];
    if (args.gatewayVmIds.length > 0) {
      logRules.push(
        {
          key: "gw-heartbeat",
          description: "A gateway VM sent no Azure Monitor Agent heartbeat for 10 minutes: the VM is stopped, hung, or cannot reach Azure Monitor.",
          severity: 1, query: vmIds.apply(heartbeatMissingQuery), frequency: "PT5M", window: "PT10M", splitBy: ["ResourceId"],
        },
        {
          key: "gw-service",
          description: `The ${GATEWAY_SERVICE.displayName} (${GATEWAY_SERVICE.name}) stopped or crashed on a gateway VM.`,
          severity: 1, query: gatewayServiceStoppedQuery(), frequency: "PT5M", window: "PT5M", splitBy: ["Computer"],
        },
        {
          key: "gw-pressure",
          description: `A gateway VM averaged more than ${args.cpuAlertPercent}% CPU or ${args.memoryAlertPercent}% committed memory over 15 minutes.`,
          severity: 2, query: pressureQuery(args.cpuAlertPercent, args.memoryAlertPercent), frequency: "PT5M", window: "PT15M", splitBy: ["Computer"],
        },
      );
    }
    if (args.gatewayVmIds.length > 1) {
      logRules.push({
        key: "gw-cluster-down",
        description: "No node of the gateway cluster sent a heartbeat for 10 minutes: Power Automate cannot reach the drop storage through the gateway.",
        severity: 0, query: vmIds.apply(clusterDownQuery), frequency: "PT5M", window: "PT10M",
      });
    }
    logRules.push({
      key: "kv-denied",
      description: "Key Vault refused a request (HTTP 403): a caller without a role, or from a network the vault does not accept.",
      severity: 2, query: vaultDeniedQuery(), frequency: "PT15M", window: "PT15M", splitBy: ["OperationName"],
    });
    if (args.fileDropSilenceHours !== undefined) {
      logRules.push({
        key: "drop-silence",
        description: `The File Drop container '${args.fileDropContainerName}' received no file for ${args.fileDropSilenceHours} hours: IOM's Inventory Visibility stopped delivering.`,
        severity: 2,
        query: pulumi.output(args.dropAccountName).apply((account) => fileDropSilenceQuery(account, args.fileDropContainerName)),
        frequency: "PT1H",
        window: `PT${args.fileDropSilenceHours}H`,
      });
    }
    return logRules;
  }

  /** A log search alert on the workspace: fires when the rule's query returns a row. */
  private logAlert(name: string, args: MonitoringAlertsArgs, rule: LogRule): void {
    const ruleName = resourceName(args.naming, "alert", rule.key);
    new monitor.ScheduledQueryRule(`${name}-${rule.key}`, {
      resourceGroupName: args.resourceGroupName,
      location: args.location,
      ruleName,
      displayName: ruleName,
      description: rule.description,
      kind: "LogAlert",
      enabled: true,
      severity: rule.severity,
      scopes: [args.workspaceId],
      evaluationFrequency: rule.frequency,
      windowSize: rule.window,
      autoMitigate: true,
      criteria: {
        allOf: [{
          query: rule.query,
          timeAggregation: "Count",
          operator: "GreaterThan",
          threshold: 0,
          dimensions: (rule.splitBy ?? []).map((column) => ({ name: column, operator: "Include", values: ["*"] })),
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 },
        }],
      },
      actions: { actionGroups: [args.actionGroupId] },
      tags: args.tags,
    }, { parent: this });
    this.ruleNames[rule.key] = ruleName;
  }

  /** The drop account's metric rules: failed writes, and availability below the threshold. */
  private metricRules(args: MonitoringAlertsArgs): MetricRule[] {
    const blobNamespace = "Microsoft.Storage/storageAccounts/blobServices";
    return [
      {
        key: "drop-write-failures",
        description: "Writes to the drop account's blob service failed (Transactions of PutBlob, PutBlock or PutBlockList with a ResponseType other than Success).",
        severity: 2,
        criterion: {
          odataType: "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
          allOf: [{
            criterionType: "StaticThresholdCriterion",
            name: "failed-writes",
            metricNamespace: blobNamespace,
            metricName: "Transactions",
            timeAggregation: "Total",
            operator: "GreaterThan",
            threshold: 0,
            dimensions: [
              { name: "ApiName", operator: "Include", values: ["PutBlob", "PutBlock", "PutBlockList"] },
              { name: "ResponseType", operator: "Exclude", values: ["Success"] },
            ],
          }],
        },
      },
      {
        key: "drop-availability",
        description: `The drop account's blob availability fell below ${args.blobAvailabilityPercent}% over 15 minutes.`,
        severity: 1,
        criterion: {
          odataType: "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
          allOf: [{
            criterionType: "StaticThresholdCriterion",
            name: "availability",
            metricNamespace: blobNamespace,
            metricName: "Availability",
            timeAggregation: "Average",
            operator: "LessThan",
            threshold: args.blobAvailabilityPercent,
          }],
        },
      },
    ];
  }

  /** A metric alert on the drop account's blob service, evaluated every 5 minutes over 15. */
  private metricAlert(name: string, args: MonitoringAlertsArgs, rule: MetricRule): void {
    const ruleName = resourceName(args.naming, "alert", rule.key);
    new monitor.MetricAlert(`${name}-${rule.key}`, {
      resourceGroupName: args.resourceGroupName,
      location: "global",
      ruleName,
      description: rule.description,
      enabled: true,
      severity: rule.severity,
      scopes: [args.blobServiceId],
      evaluationFrequency: "PT5M",
      windowSize: "PT15M",
      autoMitigate: true,
      criteria: rule.criterion,
      actions: [{ actionGroupId: args.actionGroupId }],
      tags: args.tags,
    }, { parent: this });
    this.ruleNames[rule.key] = ruleName;
  }
}
