/**
 * The monitoring keys as config/ reads them, and the workbook definition as the program loads it:
 * bad values and broken definitions stop the run with the key or file named.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ConfigError, parseStackConfig } from "../../config";
import { LANDING_WORKBOOK, loadLandingWorkbook } from "../../components/monitoring";
import { prepareWorkbook, queryPlaceholders, readWorkbook, serializeWorkbook, stableGuid, workbookParameters } from "../../components/workbook";
import { rawStackConfig, type ConfigChanges } from "../support/stack";

function problems(stack: string, changes: ConfigChanges): string[] {
  const { raw, secretKeys } = rawStackConfig(stack, changes);
  try {
    parseStackConfig(stack, raw, secretKeys);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.map((p) => `${p.key}: ${p.message}`);
  }
}

describe("monitoring configuration", () => {
  test("each committed stack reads as the environments differ", () => {
    const read = (stack: string) => {
      const { raw, secretKeys } = rawStackConfig(stack);
      return parseStackConfig(stack, raw, secretKeys).monitoring;
    };
    expect(read("dev")).toEqual({
      retentionDays: 30, emails: [], webhookUrl: undefined, cpuAlertPercent: 85, memoryAlertPercent: 90, blobAvailabilityPercent: 99,
      fileDropSilenceHours: undefined, malwareScanning: undefined, gatewayEventLog: "On-premises data gateway service", flowLogs: undefined,
    });
    expect(read("prod")).toMatchObject({ retentionDays: 90, fileDropSilenceHours: 24, malwareScanning: { capGbPerMonth: 1000 } });
  });

  test("bad values are reported together, each with its key", () => {
    expect(problems("dev", {
      set: {
        monitoringRetentionDays: 7,
        monitoringAlertEmails: ["ops@contoso.com", "not-an-address"],
        monitoringFileDropSilenceHours: 72,
        monitoringCpuAlertPercent: 120,
        monitoringMalwareScanningCapGbPerMonth: 0,
        monitoringGatewayEventLog: "Application!*",
        monitoringFlowLogStorageAccountId: "stflowlogs",
      },
      secrets: { monitoringAlertWebhookUrl: "http://hooks.example.com/x" },
    })).toEqual([
      "monitoringRetentionDays: must be at least 30 (got '7')",
      "monitoringAlertEmails: [1] must hold email addresses",
      "monitoringAlertWebhookUrl: must be an https:// URL, or empty",
      "monitoringCpuAlertPercent: must be at most 100 (got '120')",
      "monitoringFileDropSilenceHours: must be at most 48 (a log alert's longest window) (got '72')",
      "monitoringMalwareScanningCapGbPerMonth: must be -1 (no cap) or at least 1 (got '0')",
      "monitoringGatewayEventLog: must be an event log name without XPath characters (!, *, [ ]) (got 'Application!*')",
      expect.stringMatching(/^monitoringFlowLogStorageAccountId: must be a storage account resource id/),
    ]);
  });

  test("a Network Watcher name without flow logs is refused as unused", () => {
    expect(problems("dev", { set: { monitoringNetworkWatcherName: "nw-weu" } })).toEqual([
      "monitoringNetworkWatcherName: is only used with monitoringFlowLogStorageAccountId (VNet flow logs)",
    ]);
  });

  test("flow logs default to the region's NetworkWatcher_<location> in NetworkWatcherRG", () => {
    const id = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-net/providers/Microsoft.Storage/storageAccounts/stflowlogs";
    const { raw, secretKeys } = rawStackConfig("test", { set: { monitoringFlowLogStorageAccountId: id } });
    expect(parseStackConfig("test", raw, secretKeys).monitoring.flowLogs).toEqual({
      storageAccountId: id, networkWatcherResourceGroup: "NetworkWatcherRG", networkWatcherName: "NetworkWatcher_westeurope",
    });
  });
});

describe("the workbook definition", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "iom-workbook-"));
  const write = (name: string, content: string) => {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, content);
    return file;
  };

  test("the committed file declares every parameter its queries use, and nothing else is filled in", () => {
    const definition = readWorkbook(LANDING_WORKBOOK);
    expect([...queryPlaceholders(definition)].sort()).toEqual(["ErrorFileDropContainer", "FileDropContainer"]);
    expect([...workbookParameters(definition).keys()]).toEqual(["TimeRange", "FileDropContainer", "ErrorFileDropContainer"]);
    const filled = loadLandingWorkbook({ fileDrop: "d365iomfiledropdevweu", errorFileDrop: "d365iomerrorfiledevweu" });
    const parameters = workbookParameters(filled);
    expect([parameters.get("FileDropContainer")?.value, parameters.get("ErrorFileDropContainer")?.value]).toEqual(["d365iomfiledropdevweu", "d365iomerrorfiledevweu"]);
    expect(JSON.parse(serializeWorkbook(filled, "/subscriptions/s/x/workspaces/log")).fallbackResourceIds).toEqual(["/subscriptions/s/x/workspaces/log"]);
  });

  test("a broken definition names the file and every problem", () => {
    expect(() => readWorkbook(write("bad.json", "{ not json"))).toThrow(/bad\.json: not a readable JSON workbook definition/);
    const file = write("wrong.json", JSON.stringify({
      version: "Notebook/2.0",
      items: [{ type: 3, content: { query: "" } }, { type: 3, content: { query: "StorageBlobLogs | where X == \"{Missing}\"" } }],
    }));
    expect(() => readWorkbook(file)).toThrow(/wrong\.json:\n {2}- version must be "Notebook\/1\.0" \(is "Notebook\/2\.0"\)\n {2}- items\[0\] is a query without a query/);
    const undeclared = write("undeclared.json", JSON.stringify({ version: "Notebook/1.0", items: [{ type: 3, content: { query: "T | where C == \"{Missing}\"" } }] }));
    expect(() => readWorkbook(undeclared)).toThrow(/undeclared\.json:\n {2}- a query uses \{Missing\} but no parameter of that name is declared/);
    expect(() => prepareWorkbook(LANDING_WORKBOOK, { Container: "x" })).toThrow(/landing\.workbook\.json: declares no parameter 'Container'/);
  });

  test("the workbook's name is a GUID that depends only on its key", () => {
    expect(stableGuid("iom-bigcommerce/prod/landing-workbook")).toBe(stableGuid("iom-bigcommerce/prod/landing-workbook"));
    expect(stableGuid("iom-bigcommerce/prod/landing-workbook")).not.toBe(stableGuid("iom-bigcommerce/dev/landing-workbook"));
    expect(stableGuid("x")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
