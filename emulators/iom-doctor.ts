/**
 * The Dataverse tables the doctor reads besides IOM's provider tables (iom-provider-tables.ts), in
 * the Dataverse emulator, and an environment seeded the way a working IOM setup looks.
 *
 * Logical names, columns and values of the documented tables are Microsoft's (Dataverse table
 * reference): `workflow` (category 5 = Modern Flow; statecode 0 Draft, 1 Activated, 2 Suspended;
 * statuscode 1 Draft, 2 Activated, 3 CompanyDLPViolation), `flowrun` (status Success/Failed/
 * Cancelled, starttime, endtime, errorcode, errormessage, lookup `workflow`; "Manage cloud flow run
 * history in Dataverse"), `organization.flowruntimetoliveinseconds` (0 = no run history kept),
 * `solution` (uniquename, friendlyname, version, installedon). `msdyn_iomproviderdefinitionlogicdefinition`
 * is IOM's documented table name (ALM page); its columns are NOT published, so they are invented
 * here (`msdyn_q…`) and only its lookups' targets (the provider definition, the flow) tie it to
 * anything, as discovery must assume.
 *
 * ASSUMED: what a failed run's errorcode/errormessage hold when a BigCommerce action was throttled
 * (the reference documents the columns, not their values); the fixtures use the HTTP status an
 * action reports ("429", "TooManyRequests") and BigCommerce's own message.
 */
import type { DataverseEmulator, EmulatorOptions } from "./dataverse";
import type { TableDef } from "./dataverse-schema";
import { IOM_COLUMNS, IV_PARAMS, startIomEnvironment, table, type SeededIom } from "./iom-provider-tables";

/** Invented columns of the logic definition table (for assertions only: the doctor discovers them). */
export const LOGIC_COLUMNS = { name: "msdyn_qn4r8t", definition: "msdyn_qd7m2x", workflow: "msdyn_qw3k9p", logicType: "msdyn_qt5j1v" } as const;

export const DOCTOR_TABLES: TableDef[] = [
  table("workflow", "workflows", "Process", "name", [
    { logicalName: "name", displayName: "Process Name", type: "String" },
    { logicalName: "category", displayName: "Category", type: "Picklist" },
    { logicalName: "type", displayName: "Type", type: "Picklist" },
    { logicalName: "statecode", displayName: "Status", type: "State" },
    { logicalName: "statuscode", displayName: "Status Reason", type: "Status" },
  ]),
  table("flowrun", "flowruns", "Flow Run", "name", [
    { logicalName: "name", displayName: "Name", type: "String" },
    { logicalName: "status", displayName: "Status", type: "String" },
    { logicalName: "starttime", displayName: "Start time", type: "DateTime" },
    { logicalName: "endtime", displayName: "End time", type: "DateTime" },
    { logicalName: "errorcode", displayName: "Error code", type: "String" },
    { logicalName: "errormessage", displayName: "Error message", type: "Memo" },
    { logicalName: "triggertype", displayName: "TriggerType", type: "String" },
    { logicalName: "workflowid", displayName: "Workflow Id", type: "String" },
    { logicalName: "workflow", displayName: "Workflow", type: "Lookup", target: "workflow", nav: "Workflow" },
  ]),
  table("organization", "organizations", "Organization", "name", [
    { logicalName: "name", displayName: "Name", type: "String" },
    { logicalName: "flowruntimetoliveinseconds", displayName: "Time to live (in seconds) for flow run", type: "Integer" },
  ]),
  table("solution", "solutions", "Solution", "friendlyname", [
    { logicalName: "friendlyname", displayName: "Display Name", type: "String" },
    { logicalName: "uniquename", displayName: "Name", type: "String" },
    { logicalName: "version", displayName: "Version", type: "String" },
    { logicalName: "installedon", displayName: "Installed On", type: "DateTime" },
  ]),
  table("msdyn_iomproviderdefinitionlogicdefinition", "msdyn_iomproviderdefinitionlogicdefinitions", "Provider Definition Logic Definition", LOGIC_COLUMNS.name, [
    { logicalName: LOGIC_COLUMNS.name, displayName: "Logical Name", type: "String" },
    { logicalName: LOGIC_COLUMNS.logicType, displayName: "Logic Type", type: "Picklist" },
    { logicalName: LOGIC_COLUMNS.definition, displayName: "Provider Definition", type: "Lookup", target: "msdyn_iomproviderdefinition", nav: "msdyn_Qd7m2x" },
    { logicalName: LOGIC_COLUMNS.workflow, displayName: "Logic Definition", type: "Lookup", target: "workflow", nav: "msdyn_Qw3k9p" },
  ]),
];

export const ORGANIZATION_ID = "6f1d3c1e-2b7a-4c55-9a0e-5d2f8b3c4a10"; // Pulumi.dev.yaml's organizationId
export const IV_FLOWS = ["Inventory Visibility File Drop Writer", "Inventory Visibility Error File Processor"];
export const BC_FLOWS = ["BigCommerce Order Puller", "BigCommerce Order Status Update"];

export interface DoctorEnvironment extends SeededIom {
  /** Flow name -> workflow id of the deployed, activated copy. */
  flows: Map<string, string>;
  /** Adds a run of a flow `minutesAgo` before `now`. */
  addRun(flow: string, minutesAgo: number, status: "Success" | "Failed" | "Cancelled", error?: { code: string; message: string }): void;
  /** Turns a deployed flow off (statecode 0 Draft, statuscode 1). */
  turnOff(flow: string): void;
  setRunHistoryDays(days: number): void;
}

/**
 * IOM installed (solution version 1.0.1.0), the Inventory Visibility provider holding `ivValues` and
 * BigCommerce both Activated, each provider definition with two logic definitions, and what
 * activation deployed: an activated copy of each flow (same name); the definition's own flow stays
 * a draft, as a template would. Runs: a few successful ones per flow in the last hours.
 */
export async function startDoctorEnvironment(o: EmulatorOptions & { token: string; ivValues: Record<string, string>; now: Date }): Promise<DoctorEnvironment> {
  const env = await startIomEnvironment({ ...o, organizationId: ORGANIZATION_ID, extraTables: DOCTOR_TABLES });
  const emu: DataverseEmulator = env.emu;
  const C = IOM_COLUMNS;
  emu.insert("organization", { name: "IOM Retail Dev", flowruntimetoliveinseconds: String(28 * 86_400) });
  emu.insert("solution", { friendlyname: "Dynamics 365 Intelligent Order Management", uniquename: "msdyn_IntelligentOrderManagementAnchor", version: "1.0.1.0", installedon: "2025-01-15T09:30:00Z" });
  for (const label of IV_PARAMS) env.setValue(env.ivProviderId, label, o.ivValues[label] ?? null);
  for (const id of [env.ivProviderId, env.bcProviderId]) emu.table("msdyn_iomprovider").rows.get(id)![C.providerStatus] = "Activated";
  const definitionOf = (providerId: string) => emu.table("msdyn_iomprovider").rows.get(providerId)![C.providerDefinition]!;
  const flows = new Map<string, string>();
  const deploy = (providerId: string, names: string[]) => {
    for (const name of names) {
      const template = emu.insert("workflow", { name, category: "5", type: "1", statecode: "0", statuscode: "1" });
      emu.insert("msdyn_iomproviderdefinitionlogicdefinition", { [LOGIC_COLUMNS.name]: `msdyn_${name.replace(/\W/g, "").toLowerCase()}`, [LOGIC_COLUMNS.logicType]: "192350003", [LOGIC_COLUMNS.definition]: definitionOf(providerId), [LOGIC_COLUMNS.workflow]: template });
      flows.set(name, emu.insert("workflow", { name, category: "5", type: "1", statecode: "1", statuscode: "2" }));
    }
  };
  deploy(env.ivProviderId, IV_FLOWS);
  deploy(env.bcProviderId, BC_FLOWS);
  // A cloud flow of another kind with a provider flow's name: not category 5, never counted.
  emu.insert("workflow", { name: BC_FLOWS[0], category: "0", type: "1", statecode: "0", statuscode: "1" });
  let seq = 0;
  const addRun: DoctorEnvironment["addRun"] = (flow, minutesAgo, status, error) => {
    const id = flows.get(flow);
    if (!id) throw new Error(`no flow ${flow}`);
    const start = new Date(o.now.getTime() - minutesAgo * 60_000);
    emu.insert("flowrun", {
      name: `08584${String(++seq).padStart(15, "0")}CU01`,
      status,
      starttime: start.toISOString(),
      endtime: new Date(start.getTime() + 30_000).toISOString(),
      errorcode: error?.code ?? null,
      errormessage: error?.message ?? null,
      triggertype: "Scheduled",
      workflowid: id,
      workflow: id,
    });
  };
  for (const f of [...IV_FLOWS, ...BC_FLOWS]) for (const m of [30, 90, 150]) addRun(f, m, "Success");
  // A failure older than the look-back window is not counted.
  addRun(BC_FLOWS[0], 60 * 30, "Failed", { code: "429", message: "The BigCommerce API rate limit was exceeded" });
  return {
    ...env,
    flows,
    addRun,
    turnOff: (flow) => {
      const row = emu.table("workflow").rows.get(flows.get(flow)!)!;
      row.statecode = "0";
      row.statuscode = "1";
    },
    setRunHistoryDays: (days) => {
      for (const row of emu.table("organization").rows.values()) row.flowruntimetoliveinseconds = String(days * 86_400);
    },
  };
}
