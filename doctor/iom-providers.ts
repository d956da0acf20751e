/**
 * Each IOM provider the stack configures: its parameters hold what the stack wants, and it is
 * activated. The same discovery and reads the IomProviderParameters resource uses
 * (dynamic-providers/iom-provider), read-only.
 *
 * The providers: Inventory Visibility (its three parameters come from the stack's outputs and
 * organizationId, plus any the stack adds), each BigCommerce store's provider instance (its store
 * hash parameter, found as IomProviderParameters finds it, plus any iomProviderParameters entries
 * naming that instance; its lines carry the store's name), every other provider named in
 * iomProviderParameters, and every provider named in iomProviderFlows (activation only). Secret
 * parameters are not compared: the doctor never reads their values.
 */
import { organizationIdOf } from "./target";
import type { DataverseClient } from "../dynamic-providers/dataverse";
import {
  INVENTORY_VISIBILITY_PARAMETERS,
  discoverIomProviderSchema,
  findIomProvider,
  normalizeName,
  parseIomProviderSchemaOverride,
  readParameters,
  type IomProviderRow,
  type IomProviderSchema,
} from "../dynamic-providers/iom-provider";
import { line, plural, withStore, type CheckContext } from "./context";
import type { CheckLine } from "./report";
import { errorText } from "./services";

const GROUP = "IOM provider";

/** What the provider check found, for the flow check that follows. */
export interface ProviderSession {
  client: DataverseClient;
  schema?: IomProviderSchema;
  /**
   * The providers whose flows are checked: those the stack configures (by the name the stack uses,
   * with their row when found) and every other activated provider installed in IOM.
   */
  providers?: { name: string; row?: IomProviderRow; configured: boolean; store?: string }[];
}

interface WantedProvider {
  name: string;
  /** The BigCommerce store whose provider instance this is. */
  store?: string;
  /** Parameter name -> the value the stack wants; undefined when the stack's outputs lack it. */
  parameters: Record<string, string | undefined>;
}

/** The providers and parameter values the stack wants, from config and outputs. */
export function wantedProviders(ctx: CheckContext): WantedProvider[] {
  const setup = ctx.target.config.providerSetup;
  if (!setup) return [];
  const iv = ctx.target.outputs.inventoryVisibility ?? {};
  const out: WantedProvider[] = [
    {
      name: setup.inventoryVisibilityProvider,
      parameters: {
        [INVENTORY_VISIBILITY_PARAMETERS.fileDropLocation]: iv.fileDropLocation,
        [INVENTORY_VISIBILITY_PARAMETERS.errorFileDropLocation]: iv.errorFileDropLocation,
        [INVENTORY_VISIBILITY_PARAMETERS.organizationId]: organizationIdOf(ctx.target),
      },
    },
  ];
  const find = (name: string) => out.find((p) => normalizeName(p.name) === normalizeName(name));
  for (const p of setup.providers) {
    const existing = find(p.name);
    if (existing) Object.assign(existing.parameters, p.parameters);
    else out.push({ name: p.name, parameters: { ...p.parameters } });
  }
  for (const store of ctx.target.config.bigcommerceStores) {
    const hash = { [ctx.target.config.bigcommerceStoreHashParameter]: store.storeHash };
    const existing = find(store.providerName);
    if (existing) Object.assign(existing, { store: store.name, parameters: { ...hash, ...existing.parameters } });
    else out.push({ name: store.providerName, store: store.name, parameters: hash });
  }
  for (const f of ctx.target.config.doctor.providerFlows) if (!find(f.provider)) out.push({ name: f.provider, parameters: {} });
  return out;
}

const isActivated = (status: string | null) => (status ?? "").trim().toLowerCase() === "activated";

async function checkOne(session: ProviderSession, schema: IomProviderSchema, want: WantedProvider): Promise<CheckLine> {
  const l = await checkProvider(session, schema, want);
  return withStore(l, want.store);
}

async function checkProvider(session: ProviderSession, schema: IomProviderSchema, want: WantedProvider): Promise<CheckLine> {
  const id = "iom.provider";
  let row: IomProviderRow;
  try {
    row = await findIomProvider(session.client, schema, want.name);
  } catch (e) {
    session.providers!.push({ name: want.name, configured: true, store: want.store });
    return line(id, GROUP, want.name, "fail", errorText(e), `add the provider from IOM's catalog (Providers > Library${want.store ? `, one BigCommerce instance per store, named '${want.name}'` : ""}), then run 'pulumi up'`);
  }
  session.providers!.push({ name: want.name, row, configured: true, store: want.store });
  const missingOutputs = Object.entries(want.parameters).filter(([, v]) => v === undefined).map(([n]) => n);
  const names = Object.keys(want.parameters).filter((n) => !missingOutputs.includes(n));
  const problems: string[] = [];
  const fixes: string[] = [];
  if (missingOutputs.length) {
    problems.push(`the stack's outputs lack the value of ${missingOutputs.join(", ")}`);
    fixes.push("run 'pulumi up' (its outputs are older than this program), then pass the new 'pulumi stack output --json'");
  }
  let compared = 0;
  if (names.length) {
    try {
      const current = await readParameters(session.client, schema, row, names);
      let differ = 0;
      for (const n of names) {
        compared += 1;
        const actual = current.get(n)?.value ?? "";
        if (actual !== want.parameters[n]) {
          differ += 1;
          problems.push(`${n} is '${actual}', the stack wants '${want.parameters[n]}'`);
        }
      }
      if (differ) fixes.push("run 'pulumi up' (it writes them back; 'pulumi refresh' first shows what changed)");
    } catch (e) {
      problems.push(errorText(e));
      fixes.push("check the parameter names in iomProviderParameters against the provider's parameter form");
    }
  }
  const status = row.activationStatus;
  if (status === null) {
    fixes.push("no activation status column was found: set iomProviderSchema providerStatus=<logical name> to check it");
  } else if (!isActivated(status)) {
    problems.push(`it is not activated (status '${status}')`);
    fixes.push(`in IOM, Providers > Installed > ${row.name}: set up its connections, then select Activate (activation deploys its flows)`);
  }
  const details = { providerId: row.id, activationStatus: status, parametersCompared: compared };
  const label = row.name === want.name ? want.name : `${want.name} ("${row.name}")`;
  if (problems.length) return line(id, GROUP, label, "fail", `${problems.join("; ")}.`, fixes.join("; "), details);
  const params = compared ? `${plural(compared, "parameter")} as the stack wants; ` : "";
  if (status === null) return line(id, GROUP, label, "warn", `${params}activation status unknown`, fixes.join("; "), details);
  return line(id, GROUP, label, "ok", `${params}${status}`, undefined, details);
}

export async function checkIomProviders(ctx: CheckContext, session: ProviderSession): Promise<CheckLine[]> {
  const wanted = wantedProviders(ctx);
  session.providers = [];
  if (!wanted.length) return [line("iom.provider", GROUP, "", "skip", "the stack configures no IOM provider")];
  try {
    session.schema = await discoverIomProviderSchema(session.client, parseIomProviderSchemaOverride(ctx.target.config.providerSetup?.schemaOverride));
  } catch (e) {
    return [line("iom.provider", GROUP, "", "fail", errorText(e), "install IOM, or set iomProviderSchema to the columns the message names (docs/iom-provider-setup.md)")];
  }
  const lines: CheckLine[] = [];
  for (const want of wanted) lines.push(await checkOne(session, session.schema, want));
  // The providers the stack does not configure (the BigCommerce order source, say) still carry
  // orders: an activated one gets its flows checked; one not activated is listed as unused.
  try {
    const known = new Set(session.providers.flatMap((p) => (p.row ? [p.row.id] : [])));
    for (const row of await listProviders(session.client, session.schema)) {
      if (known.has(row.id)) continue;
      if (isActivated(row.activationStatus)) session.providers.push({ name: row.name, row, configured: false });
      else lines.push(line("iom.provider", GROUP, row.name, "skip", `installed, ${row.activationStatus ? `status '${row.activationStatus}'` : "status unknown"}; not configured by this stack, so its flows are not checked`));
    }
  } catch (e) {
    lines.push(line("iom.provider", GROUP, "others", "warn", `the other installed providers could not be listed: ${errorText(e)}`, "their flows are not checked this time; run the doctor again"));
  }
  return lines;
}

/** Every provider installed in IOM, with its definition and activation status (the columns discovery found). */
async function listProviders(client: DataverseClient, s: IomProviderSchema): Promise<IomProviderRow[]> {
  const p = s.provider;
  const select = [p.primaryId, p.name, `_${p.definition.attribute}_value`, ...(p.status ? [p.status] : [])].join(",");
  const rows = await client.getAll<Record<string, unknown>>(`${p.entitySet}?$select=${select}`);
  const text = (v: unknown) => (v === null || v === undefined ? "" : String(v));
  return rows.map((r) => ({
    id: text(r[p.primaryId]),
    name: text(r[p.name]),
    definitionId: r[`_${p.definition.attribute}_value`] ? text(r[`_${p.definition.attribute}_value`]) : null,
    definitionName: "",
    activationStatus: p.status ? (r[p.status] === null || r[p.status] === undefined ? null : text(r[`${p.status}@OData.Community.Display.V1.FormattedValue`] ?? r[p.status])) : null,
  }));
}
