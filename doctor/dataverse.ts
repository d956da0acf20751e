/**
 * Dataverse: the operator's sign-in to the stack's environment and the IOM app in it, then the IOM
 * providers and their flows (iom-providers.ts, flows.ts) through the same client and token.
 *
 * - Sign-in: the Web API's `WhoAmI` function (UserId, BusinessUnitId, OrganizationId). Its
 *   OrganizationId is the environment's organization, which must be the stack's `organizationId`:
 *   that value goes into the Inventory Visibility provider's Organization ID parameter.
 * - IOM: the `solution` table row of IOM's package, `msdyn_IntelligentOrderManagementAnchor` (the
 *   package name Microsoft lists for "Dynamics 365 Intelligent Order Management"; that its anchor
 *   solution carries the same unique name is assumed), with its version; when no such row exists but
 *   IOM's provider table does, IOM is there under another solution name and the version is unknown.
 */
import { dataverseUrlOf, organizationIdOf } from "./target";
import { createDataverseClient, readTableMetadata, type DataverseClient } from "../dynamic-providers/dataverse";
import { IOM_TABLES } from "../dynamic-providers/iom-provider";
import { line, utc, type CheckContext } from "./context";
import { checkFlows } from "./flows";
import { checkIomProviders, type ProviderSession } from "./iom-providers";
import type { CheckLine } from "./report";
import { errorText, withDeadline } from "./services";

export const IOM_SOLUTION = "msdyn_IntelligentOrderManagementAnchor";
const GROUP = "Dataverse";

interface WhoAmI {
  UserId?: string;
  BusinessUnitId?: string;
  OrganizationId?: string;
}

/** The client every Dataverse check uses: the project's client, bounded retries, a per-request timeout. */
export function openDataverse(ctx: CheckContext, environmentUrl: string): DataverseClient {
  return createDataverseClient({
    environmentUrl,
    maxConcurrency: 4,
    maxRetries: 2,
    max429Retries: 5,
    maxRetryAfterMs: 60_000,
    timeoutMs: ctx.services.requestTimeoutMs,
    log: (level, message) => {
      if (level !== "debug") ctx.progress(`dataverse: ${message}`);
    },
  });
}

async function signIn(ctx: CheckContext, client: DataverseClient, url: string): Promise<{ line: CheckLine; ok: boolean }> {
  const id = "dataverse.signin";
  let who: WhoAmI;
  try {
    who = await client.getJson<WhoAmI>("WhoAmI");
  } catch (e) {
    return { ok: false, line: line(id, GROUP, url, "fail", errorText(e), "sign in as an identity with an application user (or user) in this environment: DATAVERSE_ACCESS_TOKEN, az login, or a service principal for DefaultAzureCredential") };
  }
  const expected = organizationIdOf(ctx.target).toLowerCase();
  const actual = (who.OrganizationId ?? "").toLowerCase();
  const details = { userId: who.UserId, organizationId: who.OrganizationId };
  if (actual !== expected) {
    return {
      ok: true,
      line: line(id, GROUP, url, "fail", `signed in, but this environment's organization is ${who.OrganizationId ?? "(none)"} while the stack's organizationId is ${organizationIdOf(ctx.target)}`,
        `set organizationId to the environment's organization id ('pulumi config set organizationId ${who.OrganizationId ?? "<id>"}') and run 'pulumi up': IOM's Inventory Visibility provider gets it as its Organization ID; or check that dataverseEnvironmentUrl names the right environment`, details),
    };
  }
  return { ok: true, line: line(id, GROUP, url, "ok", `signed in as user ${who.UserId ?? "?"}; organization ${who.OrganizationId} matches the stack`, undefined, details) };
}

async function iomInstalled(client: DataverseClient): Promise<CheckLine> {
  const id = "dataverse.iom";
  const subject = "Intelligent Order Management";
  let rows: { uniquename?: string; friendlyname?: string; version?: string; installedon?: string }[];
  try {
    rows = await client.getAll(`solutions?$select=uniquename,friendlyname,version,installedon&$filter=${encodeURIComponent(`uniquename eq '${IOM_SOLUTION}'`)}`);
  } catch (e) {
    return line(id, GROUP, subject, "fail", `could not read the solution table: ${errorText(e)}`, "the identity needs read access to solutions (any security role with Solution read, e.g. System Customizer)");
  }
  const s = rows[0];
  if (s) {
    const installed = s.installedon ? `, installed ${utc(new Date(s.installedon))}` : "";
    return line(id, GROUP, subject, "ok", `installed: ${s.friendlyname || s.uniquename} ${s.version ?? "(no version)"}${installed}`, undefined, { solution: s.uniquename, version: s.version, installedOn: s.installedon });
  }
  // IOM's own provider table tells whether IOM is there under another name.
  try {
    await readTableMetadata(client, IOM_TABLES.provider);
    return line(id, GROUP, subject, "warn", `IOM's tables are present but no solution is named ${IOM_SOLUTION}: the version is unknown`, `compare the installed version with the release notes by hand (Power Platform admin center > the environment > Resources > Dynamics 365 apps)`);
  } catch (e) {
    const missing = (e as { status?: number }).status === 404;
    return line(id, GROUP, subject, "fail", missing ? "not installed in this environment" : `could not tell: ${errorText(e)}`,
      "install Dynamics 365 Intelligent Order Management: Power Platform admin center > Environments > the environment > Resources > Dynamics 365 apps > Install app");
  }
}

/** Sign-in, IOM, then each provider's parameters and activation, then its flows. */
export async function checkDataverse(ctx: CheckContext): Promise<CheckLine[]> {
  const dv = ctx.target.config.dataverse;
  if (!dv) {
    return [
      line("dataverse.signin", GROUP, "", "skip", "not configured (dataverseEnvironmentUrl is empty)"),
      line("iom.provider", "IOM provider", "", "skip", "no Dataverse environment"),
      line("flows.provider", "Provider flows", "", "skip", "no Dataverse environment"),
    ];
  }
  const url = ctx.services.dataverseUrl ?? dataverseUrlOf(ctx.target);
  const client = openDataverse(ctx, url);
  const host = new URL(url).host;
  const lines: CheckLine[] = [];
  try {
    await withDeadline(ctx.services.groupTimeoutMs, "Dataverse", async () => {
      const who = await signIn(ctx, client, host);
      lines.push(who.line);
      if (!who.ok) return;
      lines.push(await iomInstalled(client));
      ctx.progress("dataverse: signed in; reading IOM providers");
      const session: ProviderSession = { client };
      lines.push(...(await checkIomProviders(ctx, session)));
      ctx.progress("dataverse: reading provider flows and their runs");
      lines.push(...(await checkFlows(ctx, session)));
    });
  } catch (e) {
    // A copy: work cut off by the deadline may still finish and must not add lines to the report.
    return [...lines, line("dataverse.deadline", GROUP, host, "fail", errorText(e), "run the doctor again; if it keeps timing out, raise --timeout or check the environment's health in the Power Platform admin center")];
  }
  return lines;
}
