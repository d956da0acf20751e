/**
 * The Power Platform admin API (BAP) calls that link a `NetworkInjection` enterprise policy to an
 * environment. Nothing here is in Microsoft's REST reference; every fact is copied from Microsoft's
 * own tools that make these calls, and the source is named next to it:
 *
 * - [TF] microsoft/terraform-provider-power-platform (internal/services/enterprise_policy,
 *   internal/api/lifecycle.go, internal/constants, internal/services/environment);
 * - [PS] microsoft/PowerPlatform-EnterprisePolicies, module Microsoft.PowerPlatform.EnterprisePolicies
 *   (Public/SubnetInjection/Enable-SubnetInjection.ps1, Disable-SubnetInjection.ps1,
 *   Private/EnvironmentOperations.ps1, Private/RESTHelpers.ps1).
 *
 * Requests go through the shared Dataverse client's `request` (one HTTP client: timeouts, 429 with
 * Retry-After, backoff on 5xx and network errors), pointed at the BAP host with a BAP token.
 */
import { createDataverseClient, type ClientOptions, type LogFn } from "../dataverse";

/** [TF] constants.PUBLIC_BAPI_DOMAIN; [PS] Get-PPEndpointUrl prod. */
export const DEFAULT_BAP_URL = "https://api.bap.microsoft.com";
/** Token audience for BAP: [TF] PUBLIC_POWERAPPS_SCOPE (used for BapiUrl); [PS] Get-PPResourceUrl prod. */
export const BAP_SCOPE = "https://service.powerapps.com/.default";
/**
 * Token audience per BAP host, by cloud: [TF] internal/constants (<CLOUD>_BAPI_DOMAIN and
 * <CLOUD>_POWERAPPS_SCOPE; internal/api/client.go tryGetScopeFromURL gives a BapiUrl request the
 * PowerAppsScope). The audience is not derivable from the host (GCC High's BAP host is under
 * microsoft.us, its audience under appsplatform.us), hence a table.
 */
export const BAP_SCOPES: Readonly<Record<string, string>> = {
  "api.bap.microsoft.com": BAP_SCOPE, // public
  "gov.api.bap.microsoft.us": "https://service.powerapps.us/.default", // US Government (GCC)
  "high.api.bap.microsoft.us": "https://high.service.apps.appsplatform.us/.default", // US Government (GCC High)
  "api.bap.appsplatform.us": "https://service.apps.appsplatform.us/.default", // US Government (DoD)
  "api.bap.partner.microsoftonline.cn": "https://service.powerapps.cn/.default", // China (21Vianet)
  "api.bap.eaglex.ic.gov": "https://service.powerapps.eaglex.ic.gov/.default", // [TF] "ex"
  "api.bap.microsoft.scloud": "https://service.powerapps.microsoft.scloud/.default", // [TF] "rx"
};

/**
 * The token audience for a BAP endpoint: POWER_PLATFORM_BAP_SCOPE when set, else BAP_SCOPES' entry
 * for its host, else undefined. The override exists because Microsoft's tools disagree for two
 * clouds: Microsoft.PowerApps.Administration.PowerShell (Get-AudienceForHostName) asks GCC for
 * https://gov.service.powerapps.us/ and GCC High for https://high.service.powerapps.us/.
 */
export function bapScopeFor(bapUrl: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.POWER_PLATFORM_BAP_SCOPE || BAP_SCOPES[new URL(bapUrl).hostname.toLowerCase()];
}
/** [TF] ENTERPRISE_POLICY_API_VERSION; [PS] Set-EnvironmentEnterprisePolicy $apiVersion. */
export const LINK_API_VERSION = "2019-10-01";
/** [TF] BAP_API_VERSION, used by GetEnvironment on the admin scope. */
export const ENVIRONMENT_API_VERSION = "2023-06-01";
/** [TF] PROTECTION_LEVEL_STANDARD: "the governance configuration protection level of a managed environment". */
export const MANAGED_PROTECTION_LEVEL = "Standard";
/** [PS] Enable-SubnetInjection: location pairs it treats as the same (environment -> policy). */
const COMPATIBLE_LOCATIONS: Record<string, string> = { unitedstates: "unitedstateseuap", unitedkingdom: "uk" };

export class PolicyLinkError extends Error {
  constructor(message: string) {
    super(message);
    this.message = message; // kept explicitly: the serialized provider rebuilds Error subclasses
    this.name = "PolicyLinkError";
  }
}

export interface LinkedPolicy {
  /** ARM id of the policy. */
  id: string;
  systemId: string;
  location: string;
  linkStatus: string;
}

export interface EnvironmentInfo {
  id: string;
  displayName: string;
  location: string;
  protectionLevel: string;
  /** properties.enterprisePolicies.vnets ([TF] EnvironmentEnterprisePoliciesDto; [PS] reads `.VNets`). */
  vnets?: LinkedPolicy;
}

export interface AdminApiOptions {
  bapUrl: string;
  getToken?: () => Promise<string>;
  client?: Partial<ClientOptions>;
  /** Cap on one poll wait (tests); default: as the service or the module says. */
  maxPollIntervalMs?: number;
  /** Give up waiting for an operation after this long. Default 20 minutes ([TF] DEFAULT_RESOURCE_OPERATION_TIMEOUT_IN_MINUTES). */
  operationTimeoutMs?: number;
  log?: LogFn;
}

/**
 * POWER_PLATFORM_ACCESS_TOKEN when set, else DefaultAzureCredential for the audience of `bapUrl`'s
 * cloud (cached). The credential signs in at AZURE_AUTHORITY_HOST (@azure/identity), which a
 * sovereign cloud's deployment sets; the audience follows the endpoint (BAP_SCOPES).
 */
export function bapTokenSource(bapUrl: string = DEFAULT_BAP_URL): () => Promise<string> {
  let cached: { token: string; expires: number } | undefined;
  return async () => {
    const fromEnv = process.env.POWER_PLATFORM_ACCESS_TOKEN;
    if (fromEnv) return fromEnv;
    if (cached && cached.expires - Date.now() > 5 * 60_000) return cached.token;
    const scope = bapScopeFor(bapUrl);
    if (!scope) {
      throw new PolicyLinkError(
        `no known token audience for the BAP endpoint ${new URL(bapUrl).origin} (known hosts: ${Object.keys(BAP_SCOPES).join(", ")}): ` +
          "check powerPlatformBapUrl, or set POWER_PLATFORM_BAP_SCOPE to that cloud's audience (or POWER_PLATFORM_ACCESS_TOKEN to a token for it)",
      );
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { DefaultAzureCredential } = require("@azure/identity") as typeof import("@azure/identity");
    const t = await new DefaultAzureCredential().getToken(scope);
    if (!t) throw new PolicyLinkError(`could not get a token for ${scope} (DefaultAzureCredential)`);
    cached = { token: t.token, expires: t.expiresOnTimestamp };
    return t.token;
  };
}

/** Case-insensitive property read: [TF]'s fixture has `vNets`, its DTO `vnets`, [PS] reads `VNets`. */
function prop(o: unknown, name: string): unknown {
  if (!o || typeof o !== "object") return undefined;
  const k = Object.keys(o).find((x) => x.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : (o as Record<string, unknown>)[k];
}
const text = (v: unknown) => (typeof v === "string" ? v : "");

function errorMessage(status: number, data: unknown, raw: string): string {
  const e = prop(data, "error");
  const msg = text(prop(e, "message")) || raw.slice(0, 300);
  const code = text(prop(e, "code"));
  return `HTTP ${status}${code ? ` ${code}` : ""}${msg ? `: ${msg}` : ""}`;
}

/** Locations compare case-insensitively, with [PS]'s compatible pairs. */
export function sameLocation(environment: string, policy: string): boolean {
  const e = environment.toLowerCase();
  const p = policy.toLowerCase();
  return e === p || COMPATIBLE_LOCATIONS[e] === p;
}

/** `/regions/<location>/providers/Microsoft.PowerPlatform/enterprisePolicies/<id>` ([TF] docs for system_id). */
export const SYSTEM_ID_PATTERN = /^\/regions\/([a-z0-9]+)\/providers\/Microsoft\.PowerPlatform\/enterprisePolicies\/[0-9a-f-]{36}$/i;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function createAdminApi(o: AdminApiOptions) {
  const base = new URL(o.bapUrl).origin;
  const http = createDataverseClient({ environmentUrl: base, getToken: o.getToken ?? bapTokenSource(o.bapUrl), maxConcurrency: 2, ...o.client, log: o.log });
  const log = o.log ?? (() => undefined);
  const timeoutMs = o.operationTimeoutMs ?? 20 * 60_000;

  async function getEnvironment(environmentId: string): Promise<EnvironmentInfo> {
    // [TF] GetEnvironment: admin scope, api-version 2023-06-01.
    const url = `${base}/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/${encodeURIComponent(environmentId)}?api-version=${ENVIRONMENT_API_VERSION}`;
    const r = await http.request("GET", url);
    if (r.status === 404) throw new PolicyLinkError(`Power Platform environment ${environmentId} was not found (or this identity is not a Power Platform administrator): check powerPlatformEnvironmentId`);
    if (r.status !== 200) throw new PolicyLinkError(`reading Power Platform environment ${environmentId}: ${errorMessage(r.status, r.data, r.text)}`);
    const props = prop(r.data, "properties");
    const vnets = prop(prop(props, "enterprisePolicies"), "vnets");
    return {
      id: environmentId,
      displayName: text(prop(props, "displayName")),
      location: text(prop(r.data, "location")),
      protectionLevel: text(prop(prop(props, "governanceConfiguration"), "protectionLevel")),
      vnets: vnets
        ? { id: text(prop(vnets, "id")), systemId: text(prop(vnets, "systemId")), location: text(prop(vnets, "location")), linkStatus: text(prop(vnets, "linkStatus")) }
        : undefined,
    };
  }

  /**
   * Poll a lifecycle operation until Succeeded / Failed. [PS] Wait-EnterprisePolicyOperation: GET the
   * `operation-location` URL, read `state.id` (NotStarted: again in 5 s; Running: in 15 s; Failed:
   * `error.message`). [TF] DoWaitForLifecycleOperationStatus: `Location` header first, the 202's
   * Retry-After as the interval, 409 = not ready yet (wait), 404 = gone (treated as done).
   */
  async function waitFor(operationUrl: string, firstWaitMs: number | undefined, what: string): Promise<string> {
    const started = Date.now();
    let wait = firstWaitMs;
    for (let poll = 1; ; poll++) {
      const cap = o.maxPollIntervalMs ?? Number.POSITIVE_INFINITY;
      await sleep(Math.min(cap, wait ?? 5000));
      const r = await http.request("GET", operationUrl);
      if (r.status === 404) return "Succeeded";
      if (r.status === 409) {
        wait = undefined;
        continue;
      }
      if (r.status !== 200) throw new PolicyLinkError(`${what}: polling the operation failed: ${errorMessage(r.status, r.data, r.text)}`);
      const state = text(prop(prop(r.data, "state"), "id")) || text(prop(r.data, "status"));
      if (state === "Succeeded") return state;
      if (state === "Failed") {
        const err = prop(r.data, "error");
        throw new PolicyLinkError(`${what} failed: ${text(prop(err, "message")) || "the operation reported Failed without a message"}`);
      }
      if (Date.now() - started > timeoutMs) throw new PolicyLinkError(`${what}: still ${state || "pending"} after ${Math.round(timeoutMs / 60000)} minutes; check the environment's history in the Power Platform admin center`);
      log("info", `${what}: ${state || "pending"} (poll ${poll}, ${Math.round((Date.now() - started) / 1000)} s)`);
      const retryAfter = Number(r.headers["retry-after"]);
      wait = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : state === "Running" ? 15_000 : 5000;
    }
  }

  /** POST link or unlink ([TF] executePolicyOperation; [PS] Set-EnvironmentEnterprisePolicy), then wait. */
  async function linkOrUnlink(action: "link" | "unlink", environmentId: string, systemId: string): Promise<void> {
    const url = `${base}/providers/Microsoft.BusinessAppPlatform/environments/${encodeURIComponent(environmentId)}/enterprisePolicies/NetworkInjection/${action}?api-version=${LINK_API_VERSION}`;
    const what = `${action === "link" ? "linking" : "unlinking"} the NetworkInjection policy ${action === "link" ? "to" : "from"} environment ${environmentId}`;
    // 409: another operation on the environment is running ([TF] accepts 409 on the POST and waits); bounded.
    for (let attempt = 0; ; attempt++) {
      const r = await http.request("POST", url, { body: { SystemId: systemId } });
      if (r.status === 409 && attempt < 10) {
        const ra = Number(r.headers["retry-after"]);
        log("info", `${what}: another operation is running on the environment; waiting`);
        await sleep(Math.min(o.maxPollIntervalMs ?? Number.POSITIVE_INFINITY, Number.isFinite(ra) ? ra * 1000 : 15_000));
        continue;
      }
      // [PS]: anything but 202 means the operation did not start.
      if (r.status !== 202) throw new PolicyLinkError(`${what} did not start: ${errorMessage(r.status, r.data, r.text)}`);
      const operation = r.headers["operation-location"] || r.headers["location"];
      if (!operation) return; // [TF]: no Location header, nothing to wait for
      const ra = Number(r.headers["retry-after"]);
      log("info", `${what}: started; waiting for the operation`);
      await waitFor(operation, Number.isFinite(ra) ? ra * 1000 : undefined, what);
      return;
    }
  }

  return {
    getEnvironment,
    link: (environmentId: string, systemId: string) => linkOrUnlink("link", environmentId, systemId),
    unlink: (environmentId: string, systemId: string) => linkOrUnlink("unlink", environmentId, systemId),
    stats: http.stats,
  };
}

export type AdminApi = ReturnType<typeof createAdminApi>;
