/**
 * Operating the landing: a Log Analytics workspace, diagnostic settings of the drop account and the
 * vault, the Azure Monitor Agent with a data collection rule on every gateway VM, an action group,
 * the alert rules (monitoringAlerts.ts), Defender for Storage malware scanning, optional VNet flow
 * logs, and one workbook (components/workbooks/landing.workbook.json). docs/operations.md says what
 * each alert means and what to do first.
 */
import * as applicationinsights from "@pulumi/azure-native/applicationinsights";
import * as compute from "@pulumi/azure-native/compute";
import * as monitor from "@pulumi/azure-native/monitor";
import * as network from "@pulumi/azure-native/network";
import * as operationalinsights from "@pulumi/azure-native/operationalinsights";
import * as security from "@pulumi/azure-native/security";
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { WORKLOAD, resourceName } from "../naming";
import type { LandingPlacement } from "./landing";
import { MonitoringAlerts } from "./monitoringAlerts";
import { WORKBOOK_DIR, prepareWorkbook, serializeWorkbook, stableGuid, type WorkbookDefinition } from "./workbook";

export const LANDING_WORKBOOK = path.join(WORKBOOK_DIR, "landing.workbook.json");

/** The landing workbook with the stack's container names; throws, naming the file, when the definition is broken. */
export function loadLandingWorkbook(containers: { fileDrop: string; errorFileDrop: string }): WorkbookDefinition {
  return prepareWorkbook(LANDING_WORKBOOK, { FileDropContainer: containers.fileDrop, ErrorFileDropContainer: containers.errorFileDrop });
}

/** The Azure Monitor Agent for Windows as a VM extension (publisher and type as Azure Policy deploys it). */
export const AZURE_MONITOR_AGENT = { publisher: "Microsoft.Azure.Monitor", type: "AzureMonitorWindowsAgent", typeHandlerVersion: "1.1" } as const;

/** Blob service log categories (table StorageBlobLogs) and the transaction metrics category. */
export const BLOB_LOG_CATEGORIES = ["StorageRead", "StorageWrite", "StorageDelete"] as const;
export const STORAGE_METRIC_CATEGORY = "Transaction";
/** Key Vault's audit category; with the "Dedicated" destination it lands in AZKVAuditLogs. */
export const VAULT_LOG_CATEGORY = "AuditEvent";

/** Performance counters the gateway VMs report: CPU, memory, disk and network. */
export const GATEWAY_COUNTERS = [
  "\\Processor(_Total)\\% Processor Time",
  "\\Memory\\% Committed Bytes In Use",
  "\\Memory\\Available MBytes",
  "\\LogicalDisk(_Total)\\% Free Space",
  "\\LogicalDisk(_Total)\\Free Megabytes",
  "\\PhysicalDisk(_Total)\\Avg. Disk Queue Length",
  "\\Network Interface(*)\\Bytes Total/sec",
] as const;

/**
 * Event log queries for the agent: Application errors and warnings, and every System event at
 * information level or above (the service start and stop events, 7036, are informational).
 */
export const WINDOWS_EVENT_QUERIES = [
  "Application!*[System[(Level=1 or Level=2 or Level=3)]]",
  "System!*[System[(Level=1 or Level=2 or Level=3 or Level=4)]]",
] as const;

/** The gateway's own event log, a data source of its own so a wrong log name cannot affect the others. */
export function gatewayEventQuery(gatewayEventLog: string): string {
  return `${gatewayEventLog}!*[System[(Level=1 or Level=2 or Level=3 or Level=4)]]`;
}

/** Who the alerts reach and when they fire, as the stack config (`StackConfig.monitoring`) holds them. */
export interface AlertSettings {
  emails: string[];
  webhookUrl?: pulumi.Input<string>;
  cpuAlertPercent: number;
  memoryAlertPercent: number;
  blobAvailabilityPercent: number;
  /** Absent: the File Drop silence alert is off. */
  fileDropSilenceHours?: number;
}

export interface MonitoringArgs extends LandingPlacement {
  retentionDays: number;
  dropStorage: {
    accountId: pulumi.Input<string>;
    accountName: pulumi.Input<string>;
    fileDropContainerName: string;
    errorFileDropContainerName: string;
  };
  vaultId: pulumi.Input<string>;
  /** Gateway VMs; empty when the stack runs no gateway. */
  gatewayVms: { name: pulumi.Input<string>; id: pulumi.Input<string>; after?: pulumi.Resource }[];
  gatewayEventLog: string;
  alerts: AlertSettings;
  /** Present: Defender for Storage with on-upload malware scanning on the drop account. */
  malwareScanning?: { capGbPerMonth: number };
  /** Present: VNet flow logs into an existing storage account, with Traffic Analytics to the workspace. */
  flowLogs?: { vnetId: pulumi.Input<string>; storageAccountId: string; networkWatcherResourceGroup: string; networkWatcherName: string };
  /** The landing workbook (loadLandingWorkbook) and the stable key its GUID name is derived from. */
  workbook: { definition: WorkbookDefinition; key: string };
}

export class Monitoring extends pulumi.ComponentResource {
  readonly workspaceId: pulumi.Output<string>;
  readonly workspaceName: pulumi.Output<string>;
  readonly actionGroupId: pulumi.Output<string>;
  /** Email and webhook receivers of the action group; 0 means the alerts reach nobody. */
  readonly receiverCount: number;
  readonly alertRuleNames: Record<string, string>;
  readonly workbookName: string;
  readonly malwareScanning: boolean;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iom:monitoring:Monitoring", name, {}, opts);
    const workspace = this.workspace(name, args);
    const blobServiceId = this.diagnosticSettings(name, args, workspace);
    this.gatewayAgent(name, args, workspace);
    const { actionGroup, receiverCount } = this.actionGroup(name, args);
    this.receiverCount = receiverCount;
    const alerts = new MonitoringAlerts(`${name}-alerts`, {
      resourceGroupName: args.resourceGroupName,
      location: args.location,
      naming: args.naming,
      tags: args.tags,
      workspaceId: workspace.id,
      actionGroupId: actionGroup.id,
      blobServiceId,
      dropAccountName: args.dropStorage.accountName,
      fileDropContainerName: args.dropStorage.fileDropContainerName,
      gatewayVmIds: args.gatewayVms.map((vm) => vm.id),
      ...args.alerts,
    }, { parent: this });
    this.malwareScan(name, args);
    this.flowLog(name, args, workspace);
    this.workbookName = this.workbook(name, args, workspace);

    this.workspaceId = workspace.id;
    this.workspaceName = workspace.name;
    this.actionGroupId = actionGroup.id;
    this.alertRuleNames = alerts.ruleNames;
    this.malwareScanning = args.malwareScanning !== undefined;
    this.registerOutputs({
      workspaceId: this.workspaceId,
      workspaceName: this.workspaceName,
      actionGroupId: this.actionGroupId,
      receiverCount: this.receiverCount,
      alertRuleNames: this.alertRuleNames,
      workbookName: this.workbookName,
    });
  }

  /** The Log Analytics workspace everything reports to. */
  private workspace(name: string, args: MonitoringArgs): operationalinsights.Workspace {
    const { naming, tags, resourceGroupName, location } = args;
    const workspaceName = resourceName(naming, "log");
    const workspace = new operationalinsights.Workspace(`${name}-workspace`, {
      resourceGroupName,
      location,
      workspaceName,
      sku: { name: "PerGB2018" },
      retentionInDays: args.retentionDays,
      features: {
        enableLogAccessUsingOnlyResourcePermissions: true,
        // The agent and diagnostic settings authenticate with Entra ID; Traffic Analytics still uses the workspace key.
        disableLocalAuth: args.flowLogs ? undefined : true,
      },
      tags,
    }, { parent: this });
    return workspace;
  }

  /**
   * Diagnostic settings: the blob service's read/write/delete logs, the account's transaction
   * metrics, the vault's audit events. Returns the blob service's id, which the alerts query.
   */
  private diagnosticSettings(name: string, args: MonitoringArgs, workspace: operationalinsights.Workspace): pulumi.Output<string> {
    const child = { parent: this };
    const workspaceName = resourceName(args.naming, "log");
    const toWorkspace = `to-${workspaceName}`;

    // Diagnostic settings: the blob service's read/write/delete logs, the account's transaction
    // metrics, the vault's audit events.
    const blobServiceId = pulumi.interpolate`${args.dropStorage.accountId}/blobServices/default`;
    new monitor.DiagnosticSetting(`${name}-diag-blob`, {
      name: toWorkspace,
      resourceUri: blobServiceId,
      workspaceId: workspace.id,
      logs: BLOB_LOG_CATEGORIES.map((category) => ({ category, enabled: true })),
      metrics: [{ category: STORAGE_METRIC_CATEGORY, enabled: true }],
    }, child);
    new monitor.DiagnosticSetting(`${name}-diag-account`, {
      name: toWorkspace,
      resourceUri: args.dropStorage.accountId,
      workspaceId: workspace.id,
      metrics: [{ category: STORAGE_METRIC_CATEGORY, enabled: true }],
    }, child);
    new monitor.DiagnosticSetting(`${name}-diag-vault`, {
      name: toWorkspace,
      resourceUri: args.vaultId,
      workspaceId: workspace.id,
      logAnalyticsDestinationType: "Dedicated",
      logs: [{ category: VAULT_LOG_CATEGORY, enabled: true }],
      metrics: [{ category: "AllMetrics", enabled: true }],
    }, child);
    return blobServiceId;
  }

  /** Gateway VMs: the agent, one rule for events and counters, and each node associated with it. */
  private gatewayAgent(name: string, args: MonitoringArgs, workspace: operationalinsights.Workspace): void {
    const child = { parent: this };
    const { naming, tags, resourceGroupName, location } = args;
    if (args.gatewayVms.length > 0) {
      const dcr = new monitor.DataCollectionRule(`${name}-dcr-gateway`, {
        resourceGroupName,
        location,
        dataCollectionRuleName: resourceName(naming, "dcr", "gw"),
        description: "Windows events (Application, System, the data gateway's own log) and CPU, memory, disk and network counters of the gateway VMs.",
        kind: "Windows",
        dataSources: {
          windowsEventLogs: [
            { name: "windows-events", streams: ["Microsoft-Event"], xPathQueries: [...WINDOWS_EVENT_QUERIES] },
            { name: "gateway-events", streams: ["Microsoft-Event"], xPathQueries: [gatewayEventQuery(args.gatewayEventLog)] },
          ],
          performanceCounters: [{ name: "gateway-counters", streams: ["Microsoft-Perf"], samplingFrequencyInSeconds: 60, counterSpecifiers: [...GATEWAY_COUNTERS] }],
        },
        destinations: { logAnalytics: [{ name: "workspace", workspaceResourceId: workspace.id }] },
        dataFlows: [{ streams: ["Microsoft-Event", "Microsoft-Perf"], destinations: ["workspace"] }],
        tags,
      }, child);
      args.gatewayVms.forEach((vm, index) => {
        const node = String(index + 1).padStart(2, "0");
        // The agent signs in with the VM's system-assigned identity.
        new compute.VirtualMachineExtension(`${name}-ama-${node}`, {
          resourceGroupName,
          location,
          vmName: vm.name,
          vmExtensionName: AZURE_MONITOR_AGENT.type,
          publisher: AZURE_MONITOR_AGENT.publisher,
          type: AZURE_MONITOR_AGENT.type,
          typeHandlerVersion: AZURE_MONITOR_AGENT.typeHandlerVersion,
          autoUpgradeMinorVersion: true,
          enableAutomaticUpgrade: true,
          tags,
        }, { ...child, dependsOn: vm.after ? [vm.after] : [] }); // Azure runs one extension operation at a time on a VM
        new monitor.DataCollectionRuleAssociation(`${name}-dcr-gateway-${node}`, {
          associationName: `${resourceName(naming, "dcr", "gw")}-association`,
          resourceUri: vm.id,
          dataCollectionRuleId: dcr.id,
          description: "Gateway VM events and counters to the landing workspace.",
        }, child);
      });
    }
  }

  /**
   * One action group; receivers come from config. An empty group is still created so the alert
   * rules exist and show in the portal; nextSteps warns that nobody is notified.
   */
  private actionGroup(name: string, args: MonitoringArgs): { actionGroup: monitor.ActionGroup; receiverCount: number } {
    const child = { parent: this };
    const { naming, tags, resourceGroupName } = args;
    const emailReceivers = args.alerts.emails.map((emailAddress, i) => ({ name: `email-${i + 1}`, emailAddress, useCommonAlertSchema: true }));
    const webhookReceivers = args.alerts.webhookUrl
      ? [{ name: "webhook", serviceUri: pulumi.secret(args.alerts.webhookUrl), useCommonAlertSchema: true }]
      : [];
    const actionGroup = new monitor.ActionGroup(`${name}-action-group`, {
      resourceGroupName,
      location: "global",
      actionGroupName: resourceName(naming, "ag"),
      // Shown in SMS and email subjects; at most 12 characters.
      groupShortName: `${WORKLOAD}${naming.environment}${naming.regionCode}`.slice(0, 12),
      enabled: true,
      emailReceivers,
      webhookReceivers,
      tags,
    }, child);
    return { actionGroup, receiverCount: emailReceivers.length + webhookReceivers.length };
  }

  /** The drop containers take files from outside systems: scan each upload. */
  private malwareScan(name: string, args: MonitoringArgs): void {
    const child = { parent: this };
    if (args.malwareScanning) {
      new security.DefenderForStorage(`${name}-defender`, {
        resourceId: args.dropStorage.accountId,
        settingName: "current", // the only setting name the API accepts
        properties: {
          isEnabled: true,
          overrideSubscriptionLevelSettings: true,
          malwareScanning: { onUpload: { isEnabled: true, capGBPerMonth: args.malwareScanning.capGbPerMonth } },
          sensitiveDataDiscovery: { isEnabled: false },
        },
      }, child);
    }
  }

  /** VNet flow logs with Traffic Analytics, when the stack asks for them. */
  private flowLog(name: string, args: MonitoringArgs, workspace: operationalinsights.Workspace): void {
    const child = { parent: this };
    const { naming, tags, location } = args;
    if (args.flowLogs) {
      // Created in the region's Network Watcher, which Azure enables with the first VNet of a region.
      new network.FlowLog(`${name}-flow-log`, {
        resourceGroupName: args.flowLogs.networkWatcherResourceGroup,
        networkWatcherName: args.flowLogs.networkWatcherName,
        flowLogName: resourceName(naming, "fl", "vnet"),
        location,
        targetResourceId: args.flowLogs.vnetId,
        storageId: args.flowLogs.storageAccountId,
        enabled: true,
        format: { type: "JSON", version: 2 },
        retentionPolicy: { enabled: true, days: args.retentionDays },
        flowAnalyticsConfiguration: {
          networkWatcherFlowAnalyticsConfiguration: {
            enabled: true,
            workspaceId: workspace.customerId,
            workspaceRegion: location,
            workspaceResourceId: workspace.id,
            trafficAnalyticsInterval: 10,
          },
        },
        tags,
      }, child);
    }
  }

  /** The landing workbook over the workspace; returns its (stable) resource name. */
  private workbook(name: string, args: MonitoringArgs, workspace: operationalinsights.Workspace): string {
    const { naming, tags, resourceGroupName, location } = args;
    const workbookName = stableGuid(`${args.workbook.key}/landing-workbook`);
    new applicationinsights.Workbook(`${name}-workbook`, {
      resourceGroupName,
      location,
      resourceName: workbookName,
      kind: "shared",
      category: "workbook",
      displayName: `IOM landing (${naming.businessUnit} ${naming.environment} ${naming.regionCode})`,
      description: "Gateway VM health, File Drop and Error File Drop files per day, failed requests and Key Vault denials.",
      sourceId: workspace.id.apply((id) => id.toLowerCase()),
      serializedData: workspace.id.apply((id) => serializeWorkbook(args.workbook.definition, id)),
      tags,
    }, { parent: this });
    return workbookName;
  }
}
