/**
 * The cloud flows of each IOM provider the stack configures and of every other activated provider
 * (the BigCommerce order source among them): on or off, and their runs in the look-back window, from
 * Dataverse (the guide's Management and Monitoring section: "track the status of flows associated
 * with various Providers").
 *
 * Facts used (Dataverse table reference):
 * - `workflow` (Process): `category` 5 = Modern Flow (a cloud flow); `statecode` 0 Draft (off),
 *   1 Activated (on), 2 Suspended (`statuscode` 3 CompanyDLPViolation).
 * - `flowrun` (an elastic table, "Manage cloud flow run history in Dataverse"): `status` (Success,
 *   Failed, Cancelled), `starttime`, `endtime`, `errorcode`, `errormessage`, lookup `workflow`.
 *   Only solution cloud flows have runs there; `organization.flowruntimetoliveinseconds` = 0 means
 *   no run is stored at all (the doctor then says it cannot count runs).
 *
 * Which flows belong to a provider is not published. IOM documents that a provider definition's
 * flows are its "Provider Definition Logic Definition" components (table
 * `msdyn_iomproviderdefinitionlogicdefinition`, "the actions to deploy during provider activation",
 * IOM docs create-new-provider and alm). The doctor reads that table's metadata for its lookups to
 * `msdyn_iomproviderdefinition` and `workflow` (its columns are not published either), takes the
 * flows the provider's definition names, and treats every cloud flow with the same name as a
 * deployed copy (ASSUMED: what activation deploys keeps the flow's name). A flow name passes when at
 * least one of its copies is on; runs are counted over all copies. Where this finds nothing, or not
 * the right flows, `iomProviderFlows` names them ('Provider/Flow name') and replaces the discovery
 * for that provider.
 */
import type { DataverseClient } from "../dynamic-providers/dataverse";
import { readTableMetadata } from "../dynamic-providers/dataverse";
import { normalizeName } from "../dynamic-providers/iom-provider";
import { ago, line, plural, utc, withStore, type CheckContext } from "./context";
import type { ProviderSession } from "./iom-providers";
import type { CheckLine } from "./report";
import { errorText } from "./services";

const GROUP = "Provider flow";
export const LOGIC_DEFINITION_TABLE = "msdyn_iomproviderdefinitionlogicdefinition";
export const MODERN_FLOW = 5;
const STATE = { draft: 0, activated: 1, suspended: 2 } as const;
const DLP_VIOLATION = 3;

interface WorkflowRow {
  workflowid: string;
  name: string;
  statecode: number;
  statuscode?: number;
}

interface FlowRunRow {
  name?: string;
  status?: string;
  starttime?: string;
  errorcode?: string | null;
  errormessage?: string | null;
  _workflow_value?: string;
}

/** A provider's flows by name, with every cloud flow row of that name. */
interface ProviderFlows {
  provider: string;
  /** The BigCommerce store whose provider instance it is. */
  store?: string;
  /** How the names were found, for the report. */
  source: "config" | "discovered";
  flows: { name: string; rows: WorkflowRow[] }[];
}

const q = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** Cloud flows (category 5) with one of these names. */
async function flowsNamed(client: DataverseClient, names: string[]): Promise<WorkflowRow[]> {
  if (!names.length) return [];
  const out: WorkflowRow[] = [];
  for (let i = 0; i < names.length; i += 15) {
    const filter = `category eq ${MODERN_FLOW} and (${names.slice(i, i + 15).map((n) => `name eq ${q(n)}`).join(" or ")})`;
    out.push(...(await client.getAll<WorkflowRow>(`workflows?$select=workflowid,name,statecode,statuscode&$filter=${encodeURIComponent(filter)}`)));
  }
  return out;
}

/** The flow names a provider definition's logic definitions point at; throws with what was found when the table does not say. */
async function discoveredNames(client: DataverseClient, definitionId: string): Promise<string[]> {
  const meta = await readTableMetadata(client, LOGIC_DEFINITION_TABLE);
  const rels = meta.ManyToOneRelationships ?? [];
  const toDefinition = [...new Set(rels.filter((r) => r.ReferencedEntity === "msdyn_iomproviderdefinition").map((r) => r.ReferencingAttribute))];
  const toWorkflow = [...new Set(rels.filter((r) => r.ReferencedEntity === "workflow").map((r) => r.ReferencingAttribute))];
  if (toDefinition.length !== 1 || toWorkflow.length !== 1) {
    throw new Error(
      `${LOGIC_DEFINITION_TABLE} has ${toDefinition.length} lookup(s) to msdyn_iomproviderdefinition and ${toWorkflow.length} to workflow; the doctor needs exactly one of each to find a provider's flows`,
    );
  }
  const rows = await client.getAll<Record<string, unknown>>(
    `${meta.EntitySetName}?$select=_${toWorkflow[0]}_value&$filter=${encodeURIComponent(`_${toDefinition[0]}_value eq ${definitionId}`)}`,
  );
  const ids = [...new Set(rows.map((r) => r[`_${toWorkflow[0]}_value`]).filter((v): v is string => typeof v === "string"))];
  const names: string[] = [];
  for (let i = 0; i < ids.length; i += 15) {
    const filter = ids.slice(i, i + 15).map((id) => `workflowid eq ${id}`).join(" or ");
    const wf = await client.getAll<WorkflowRow>(`workflows?$select=workflowid,name&$filter=${encodeURIComponent(filter)}`);
    names.push(...wf.map((w) => w.name));
  }
  return [...new Set(names)];
}

/** Runs of these flows since `since`, newest first. */
async function runsOf(client: DataverseClient, ids: string[], since: Date): Promise<FlowRunRow[]> {
  const out: FlowRunRow[] = [];
  for (let i = 0; i < ids.length; i += 15) {
    const filter = `(${ids.slice(i, i + 15).map((id) => `_workflow_value eq ${id}`).join(" or ")}) and starttime ge ${since.toISOString()}`;
    out.push(...(await client.getAll<FlowRunRow>(`flowruns?$select=name,status,starttime,errorcode,errormessage,_workflow_value&$filter=${encodeURIComponent(filter)}`)));
  }
  // Sorted here: $orderby support on elastic tables is not something to depend on.
  return out.sort((a, b) => Date.parse(b.starttime ?? "") - Date.parse(a.starttime ?? ""));
}

/** An error message for the table: one line, URLs without their query (a SAS or key may be in it), at most `max` characters. */
export function cleanError(text: string, max = 240): string {
  const one = text.replace(/\s+/g, " ").replace(/(https?:\/\/[^\s?"']+)\?[^\s"']*/g, "$1?…").trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** BigCommerce's (or any API's) rate limit in a run's error: the fix is about quota, not the flow. */
const RATE_LIMITED = /\b429\b|too ?many ?requests|rate.?limit/i;

/** On when any flow of the name is on (the others are the definition's template or older copies; details list each). */
function stateText(rows: WorkflowRow[]): { on: boolean; text: string } {
  if (rows.some((r) => r.statecode === STATE.activated)) return { on: true, text: "on" };
  const suspended = rows.find((r) => r.statecode === STATE.suspended);
  if (suspended) return { on: false, text: suspended.statuscode === DLP_VIOLATION ? "suspended by a data loss prevention policy" : "suspended" };
  return { on: false, text: "off" };
}

function flowLine(ctx: CheckContext, provider: string, name: string, rows: WorkflowRow[], runs: FlowRunRow[] | undefined): CheckLine {
  const id = "flows.flow";
  const subject = `${provider} / ${name}`;
  if (!rows.length) {
    return line(id, GROUP, subject, "fail", "no cloud flow with this name in the environment",
      `check the name in iomProviderFlows against Power Automate > My flows / Solutions; or the provider was never activated (IOM, Providers > Installed > ${provider} > Activate)`);
  }
  const state = stateText(rows);
  const ids = new Set(rows.map((r) => r.workflowid));
  const mine = (runs ?? []).filter((r) => r._workflow_value && ids.has(r._workflow_value));
  const failed = mine.filter((r) => (r.status ?? "").toLowerCase() === "failed");
  const window = `${ctx.lookbackHours} h`;
  const runText = runs === undefined ? "runs not checked" : mine.length === 0 ? `no runs in the last ${window}` : `${plural(mine.length, "run")} in the last ${window}, ${failed.length} failed`;
  const latest = failed[0];
  const details = {
    workflowIds: [...ids],
    state: rows.map((r) => ({ workflowId: r.workflowid, statecode: r.statecode, statuscode: r.statuscode })),
    runs: runs === undefined ? null : mine.length,
    failed: runs === undefined ? null : failed.length,
    latestFailure: latest ? { at: latest.starttime, errorCode: latest.errorcode ?? null, errorMessage: cleanError(latest.errormessage ?? "", 2000) } : null,
  };
  const problems: string[] = [];
  const fixes: string[] = [];
  if (!state.on) {
    problems.push(state.text);
    fixes.push(
      state.text.includes("data loss")
        ? "a DLP policy suspended it: allow its connectors together in the environment's data policy (Power Platform admin center > Policies > Data policies), then turn it on"
        : `turn it on (Power Automate > Solutions > the flow > Turn on), or re-activate the provider in IOM (Providers > Installed > ${provider})`,
    );
  }
  if (failed.length && latest) {
    const at = latest.starttime ? `${utc(new Date(latest.starttime))}, ${ago(new Date(latest.starttime), ctx.now)}` : "time unknown";
    const cause = cleanError([latest.errorcode, latest.errormessage].filter(Boolean).join(": ") || "no error text");
    problems.push(`${runText}; latest failure ${at}: ${cause}`);
    fixes.push(
      RATE_LIMITED.test(`${latest.errorcode ?? ""} ${latest.errormessage ?? ""}`)
        ? "rate limited (HTTP 429): the BigCommerce store's API quota is shared by all its apps; space out this flow's schedule, find the app that spends the quota (npm run check:bigcommerce shows the headroom), or raise the store's plan limit"
        : "open the failed run (Power Automate > the flow > 28-day run history) and fix the failing action; a connection error means its connection needs signing in again",
    );
  }
  if (problems.length) return line(id, GROUP, subject, "fail", `${state.on ? `${state.text}; ` : ""}${problems.join("; ")}`, fixes.join("; "), details);
  return line(id, GROUP, subject, "ok", `${state.text}; ${runText}`, undefined, details);
}

/** The flows of every provider the stack configures (or names flows for). */
async function providerFlows(ctx: CheckContext, session: ProviderSession): Promise<{ found: ProviderFlows[]; lines: CheckLine[] }> {
  const lines: CheckLine[] = [];
  const found: ProviderFlows[] = [];
  const named = ctx.target.config.doctor.providerFlows;
  const byName = (p: string) => named.find((n) => normalizeName(n.provider) === normalizeName(p));
  const providers = session.providers ?? [];
  for (const n of named) if (!providers.some((p) => normalizeName(p.name) === normalizeName(n.provider))) providers.push({ name: n.provider, configured: true });
  for (const p of providers) {
    const configured = byName(p.name);
    if (configured) {
      const rows = await flowsNamed(session.client, configured.flows);
      found.push({ provider: p.name, store: p.store, source: "config", flows: configured.flows.map((f) => ({ name: f, rows: rows.filter((r) => r.name.toLowerCase() === f.toLowerCase()) })) });
      continue;
    }
    // Not in IOM (the provider line says so): nothing to discover from.
    if (!p.row?.definitionId) continue;
    let names: string[];
    try {
      names = await discoveredNames(session.client, p.row.definitionId);
    } catch (e) {
      lines.push(withStore(line("flows.discovery", GROUP, p.name, "warn", `its flows could not be found: ${errorText(e)}`, `name them in iomProviderFlows ('${p.name}/<flow name>')`), p.store));
      continue;
    }
    if (!names.length) {
      lines.push(withStore(line("flows.discovery", GROUP, p.name, "warn", `its provider definition names no flow (${LOGIC_DEFINITION_TABLE})`, `name its flows in iomProviderFlows ('${p.name}/<flow name>') to have them checked`), p.store));
      continue;
    }
    const rows = await flowsNamed(session.client, names);
    found.push({ provider: p.name, store: p.store, source: "discovered", flows: names.map((f) => ({ name: f, rows: rows.filter((r) => r.name.toLowerCase() === f.toLowerCase()) })) });
  }
  return { found, lines };
}

/** Whether Dataverse keeps flow runs: `organization.flowruntimetoliveinseconds` above zero. */
async function runHistory(client: DataverseClient): Promise<{ kept: boolean; ttlSeconds?: number; problem?: string }> {
  try {
    const orgs = await client.getAll<{ flowruntimetoliveinseconds?: number | null }>("organizations?$select=flowruntimetoliveinseconds");
    const ttl = orgs[0]?.flowruntimetoliveinseconds;
    if (typeof ttl === "number" && ttl <= 0) return { kept: false, ttlSeconds: ttl };
    return { kept: true, ttlSeconds: typeof ttl === "number" ? ttl : undefined };
  } catch (e) {
    return { kept: true, problem: errorText(e) };
  }
}

export async function checkFlows(ctx: CheckContext, session: ProviderSession): Promise<CheckLine[]> {
  const lines: CheckLine[] = [];
  const { found, lines: discovery } = await providerFlows(ctx, session);
  lines.push(...discovery);
  const all = found.flatMap((p) => p.flows);
  if (!all.length) {
    if (!lines.length) lines.push(line("flows.flow", GROUP, "", "skip", "no provider flows to check"));
    return lines;
  }
  const history = await runHistory(session.client);
  let runs: FlowRunRow[] | undefined;
  if (!history.kept) {
    lines.push(line("flows.run-history", GROUP, "run history", "warn", "this environment keeps no cloud flow runs in Dataverse (Organization FlowRunTimeToLiveInSeconds is 0): failed runs cannot be counted",
      "Power Platform admin center > Environments > the environment > Settings > Features > Cloud flow run history in Dataverse: keep runs for 7 to 28 days"));
  } else {
    const since = new Date(ctx.now.getTime() - ctx.lookbackHours * 3_600_000);
    try {
      runs = await runsOf(session.client, [...new Set(all.flatMap((f) => f.rows.map((r) => r.workflowid)))], since);
    } catch (e) {
      lines.push(line("flows.run-history", GROUP, "run history", "warn", `runs could not be read from the flowrun table: ${errorText(e)}`, "the identity needs read access to Flow Run (flowrun); environments without it keep runs only in Power Automate"));
    }
  }
  for (const p of found) for (const f of p.flows) lines.push(withStore(flowLine(ctx, p.provider, f.name, f.rows, runs), p.store));
  return lines;
}
