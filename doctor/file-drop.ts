/**
 * The File Drop: whether Inventory Visibility delivered a file in the look-back window, and how many
 * files landed in the Error File Drop, from the stack's Log Analytics workspace.
 *
 * The drop account's diagnostic setting sends its blob logs (StorageRead/Write/Delete) to the
 * stack's workspace, table `StorageBlobLogs` (Azure Monitor table reference: TimeGenerated,
 * AccountName, OperationName, StatusText, Uri). A file is created by `PutBlob`, or committed by
 * `PutBlockList` after `PutBlock`s: the operations the drop-silence alert counts too
 * (components/monitoringAlerts.ts). The container is the first segment of the request's path.
 *
 * The query goes through @azure/monitor-query-logs (the current Log Analytics query client;
 * @azure/monitor-query is deprecated in its favour), by the workspace's resource id
 * (`monitoringSummary.workspaceId`, `POST <endpoint>/<resource id>/query`), so no workspace GUID
 * output is needed.
 */
import { line, plural, utc, ago, type CheckContext } from "./context";
import type { CheckLine } from "./report";
import { azureClientOptions, errorText, withDeadline } from "./services";

const GROUP = "File Drop";
/** The blob operations that create a file; the same list as the drop-silence alert's. */
export const FILE_WRITE_OPERATIONS = ["PutBlob", "PutBlockList"] as const;

const kql = (value: string) => JSON.stringify(value); // KQL string literals take JSON's escapes

/** One row per container that saw a file write: successful files, failed writes, time of the last file. */
export function fileDropQuery(accountName: string, containers: readonly string[]): string {
  return [
    "StorageBlobLogs",
    `| where AccountName == ${kql(accountName)}`,
    `| where OperationName in (${FILE_WRITE_OPERATIONS.map(kql).join(", ")})`,
    '| extend Container = tostring(split(tostring(parse_url(Uri).Path), "/")[1])',
    `| where Container in (${containers.map(kql).join(", ")})`,
    '| summarize Files = countif(StatusText == "Success"), FailedWrites = countif(StatusText != "Success"), LastFile = maxif(TimeGenerated, StatusText == "Success") by Container',
  ].join("\n");
}

interface ContainerStats {
  files: number;
  failedWrites: number;
  lastFile?: Date;
}

export async function checkFileDrop(ctx: CheckContext): Promise<CheckLine[]> {
  const { storage } = ctx.target.config;
  const out = ctx.target.outputs;
  const drop = storage.fileDropContainerName;
  const errors = storage.errorFileDropContainerName;
  const workspaceId = out.monitoringSummary?.workspaceId;
  const account = out.storageAccountName;
  if (!workspaceId || !account) {
    return [line("filedrop.fresh", GROUP, drop, "fail", `the stack's outputs lack ${!workspaceId ? "monitoringSummary.workspaceId" : "storageAccountName"}`, "run 'pulumi up', then pass the new 'pulumi stack output --json'")];
  }
  const hours = ctx.lookbackHours;
  let stats: Map<string, ContainerStats>;
  try {
    stats = await withDeadline(ctx.services.groupTimeoutMs, "Log Analytics query", async (signal) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { LogsQueryClient } = require("@azure/monitor-query-logs") as typeof import("@azure/monitor-query-logs");
      const client = new LogsQueryClient(ctx.services.credential, {
        ...azureClientOptions(ctx.services, ctx.services.logAnalyticsUrl),
        audience: `${new URL(ctx.services.logAnalyticsUrl).origin}/.default`,
      });
      const result = await client.queryResource(workspaceId, fileDropQuery(account, [drop, errors]), { duration: `PT${hours}H` }, {
        serverTimeoutInSeconds: Math.max(10, Math.floor(ctx.services.requestTimeoutMs / 1000)),
        abortSignal: signal,
      });
      if (result.status !== "Success") throw new Error(`the query returned part of its data only: ${result.partialError.message}`);
      const table = result.tables[0];
      const col = (name: string) => table.columnDescriptors.findIndex((c) => c.name === name);
      const [c, f, w, l] = ["Container", "Files", "FailedWrites", "LastFile"].map(col);
      const map = new Map<string, ContainerStats>();
      for (const row of table?.rows ?? []) {
        const last = row[l];
        map.set(String(row[c]), { files: Number(row[f]), failedWrites: Number(row[w]), lastFile: last instanceof Date ? last : last ? new Date(String(last)) : undefined });
      }
      return map;
    });
  } catch (e) {
    const status = (e as { statusCode?: number }).statusCode;
    return [line("filedrop.fresh", GROUP, drop, "fail", `the workspace could not be queried: ${errorText(e)}`,
      status === 401 || status === 403 ? "the identity needs Log Analytics Reader (or Reader) on the stack's workspace" : "run the doctor again; Log Analytics may be catching up or down (Azure status page)")];
  }
  const lines: CheckLine[] = [];
  const d = stats.get(drop) ?? { files: 0, failedWrites: 0 };
  const details = { container: drop, files: d.files, failedWrites: d.failedWrites, lastFile: d.lastFile?.toISOString() ?? null, hours };
  if (d.files === 0) {
    lines.push(line("filedrop.fresh", GROUP, drop, "fail", `no file dropped in the last ${hours} h${d.failedWrites ? `, and ${plural(d.failedWrites, "write")} failed` : ""}`,
      d.failedWrites
        ? "writes reach the account and fail: see the drop-write-failures alert's steps in docs/operations.md (a lost role or a network the account refuses)"
        : "nothing is arriving: in IOM, is the Inventory Visibility provider active and its File Drop Location the stack's inventoryVisibility.fileDropLocation? Then its flows' runs (Provider flow lines) and the gateway",
      details));
  } else {
    const last = d.lastFile ? `, last ${utc(d.lastFile)} (${ago(d.lastFile, ctx.now)})` : "";
    lines.push(line("filedrop.fresh", GROUP, drop, d.failedWrites ? "warn" : "ok", `${plural(d.files, "file")} in the last ${hours} h${last}${d.failedWrites ? `; ${plural(d.failedWrites, "write")} failed` : ""}`,
      d.failedWrites ? "some writes failed: the workbook's failed requests by status show which writer and why" : undefined, details));
  }
  const er = stats.get(errors) ?? { files: 0, failedWrites: 0 };
  const erDetails = { container: errors, files: er.files, lastFile: er.lastFile?.toISOString() ?? null, hours };
  if (er.files > 0) {
    const last = er.lastFile ? ` (latest ${utc(er.lastFile)})` : "";
    lines.push(line("filedrop.errors", GROUP, errors, "fail", `${plural(er.files, "error file")} in the last ${hours} h${last}: IOM could not process those inventory files`,
      "open the latest error file in the Error File Drop container (its content names the rejected records), fix the source data or the mappings, then drop the file again", erDetails));
  } else {
    lines.push(line("filedrop.errors", GROUP, errors, "ok", `no error file in the last ${hours} h`, undefined, erDetails));
  }
  return lines;
}
