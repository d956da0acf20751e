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
 * Requests go through the shared Dataverse client's `request` (one HTTP client: deadlines, 429 with
 * Retry-After, backoff on 5xx and network errors, its own origin only, redaction), pointed at the
 * BAP host with a BAP token. The host must be a BAP host of ../clouds.ts (or loopback http, the
 * emulator): any other is refused before a token is requested. An operation URL
 * (`Operation-Location`, `Location`) on another origin is refused before it is polled, and a
 * `Retry-After` beyond the cap (`maxRetryAfterMs`) or past the operation's deadline fails at once.
 */
import { ProviderError, envNumber, numbersFromEnv, pulumiLog, text } from "../common";
import { createDataverseClient, tokenSourceOf, type ClientOptions, type DataverseClient, type LogFn, type TokenSource } from "../dataverse";
import { BAP_SCOPE_VARIABLE, CLOUDS, cloudOfBapHost, tokenEndpointProblem } from "../clouds";
import { createDeadline, formatDuration, originProblem, parseRetryAfter, redactSecrets, sleep, waitProblem, type Deadline } from "../http";

/** [TF] constants.PUBLIC_BAPI_DOMAIN; [PS] Get-PPEndpointUrl prod. */
export const DEFAULT_BAP_URL = `https://${CLOUDS.public.bapHost}`;
/** Token audience for BAP: [TF] PUBLIC_POWERAPPS_SCOPE (used for BapiUrl); [PS] Get-PPResourceUrl prod. */
export const BAP_SCOPE = CLOUDS.public.bapScope;
/**
 * Token audience per BAP host, from the one table of clouds (../clouds.ts, after [TF]
 * internal/constants). The audience is not derivable from the host (GCC High's BAP host is under
 * microsoft.us, its audience under appsplatform.us), hence a table.
 */
export const BAP_SCOPES: Readonly<Record<string, string>> = Object.fromEntries(Object.values(CLOUDS).map((c) => [c.bapHost, c.bapScope]));

/**
 * The token audience for a BAP endpoint: POWER_PLATFORM_BAP_SCOPE when set, else its cloud's
 * (../clouds.ts), else undefined. The override exists because Microsoft's tools disagree for two
 * clouds: Microsoft.PowerApps.Administration.PowerShell (Get-AudienceForHostName) asks GCC for
 * https://gov.service.powerapps.us/ and GCC High for https://high.service.powerapps.us/.
 */
export function bapScopeFor(bapUrl: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const cloud = cloudOfBapHost(new URL(bapUrl).hostname);
  return env[BAP_SCOPE_VARIABLE] || (cloud ? CLOUDS[cloud].bapScope : undefined);
}
/** [TF] ENTERPRISE_POLICY_API_VERSION; [PS] Set-EnvironmentEnterprisePolicy $apiVersion. */
export const LINK_API_VERSION = "2019-10-01";
/** [TF] BAP_API_VERSION, used by GetEnvironment on the admin scope. */
export const ENVIRONMENT_API_VERSION = "2023-06-01";
/** [TF] PROTECTION_LEVEL_STANDARD: "the governance configuration protection level of a managed environment". */
export const MANAGED_PROTECTION_LEVEL = "Standard";
/** [TF] constants.ZERO_UUID: what the service and Terraform use for "no security group". */
export const ZERO_GUID = "00000000-0000-0000-0000-000000000000";
/** [PS] Enable-SubnetInjection: location pairs it treats as the same (environment -> policy). */
const COMPATIBLE_LOCATIONS: Record<string, string> = { unitedstates: "unitedstateseuap", unitedkingdom: "uk" };

export class PolicyLinkError extends ProviderError {
  constructor(message: string) {
    super("PolicyLinkError", message);
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
  /** properties.environmentSku: Trial, Sandbox, Production, Developer, Default ([TF] dto.go EnvironmentTypes). */
  sku: string;
  description: string;
  /** properties.states.management.id: Ready, Running, ... ([TF] updateEnvironmentWithRetry waits for Ready). */
  managementState: string;
  /** properties.linkedEnvironmentMetadata ([TF] LinkedEnvironmentMetadataDto); absent until Dataverse is readable. */
  dataverse?: DataverseInfo;
}

/** The environment's Dataverse, as [TF] LinkedEnvironmentMetadataDto reads it. */
export interface DataverseInfo {
  /** `instanceUrl` without its trailing slash ([TF] GetEnvironmentHostById trims it too). */
  instanceUrl: string;
  /** `resourceId`: the Dataverse organization id ([TF] organization_id). */
  organizationId: string;
  domainName: string;
  version: string;
  /** "" when none; [TF] GetEnvironment reports a missing one as the zero GUID. */
  securityGroupId: string;
}

/** What polling an operation ended with: its final state and the last body read. */
export interface OperationResult {
  state: string;
  data: unknown;
}

export interface AdminApiOptions {
  /** The origin the token is for: a BAP host, or (service "powerPlatformApi") a Power Platform API host, of clouds.ts. */
  bapUrl: string;
  /** Which service `bapUrl` is: decides the known hosts it may be and the wording of refusals. Default "bap". */
  service?: "bap" | "powerPlatformApi";
  getToken?: () => Promise<string>;
  client?: Partial<ClientOptions>;
  /** Cap on one poll wait (tests); default: as the service or the module says. */
  maxPollIntervalMs?: number;
  /** Give up waiting for an operation after this long. Default 20 minutes ([TF] DEFAULT_RESOURCE_OPERATION_TIMEOUT_IN_MINUTES). */
  operationTimeoutMs?: number;
  log?: LogFn;
}

/** The client settings that are numbers: the ones an environment variable can set. */
type NumericClientOption = { [K in keyof ClientOptions]-?: NonNullable<ClientOptions[K]> extends number ? K : never }[keyof ClientOptions];
/** The client settings a Power Platform provider reads from POWER_PLATFORM_<KEY> unless told otherwise. */
const TUNING_FROM_ENV: readonly NumericClientOption[] = ["retryBaseMs", "maxRetries"];

/**
 * How a Power Platform provider tunes its clients, read when a provider method runs: the
 * variables POWER_PLATFORM_<KEY> of `envKeys` (e.g. POWER_PLATFORM_MAX_RETRIES), then the caller's
 * `client` settings, then the provider's options (tests); poll cap and operation timeout likewise.
 */
export function powerPlatformTuning(
  options: { client?: Partial<ClientOptions>; maxPollIntervalMs?: number },
  client: Partial<ClientOptions> = {},
  envKeys: readonly NumericClientOption[] = TUNING_FROM_ENV,
): Omit<AdminApiOptions, "bapUrl"> {
  return {
    client: { ...numbersFromEnv("POWER_PLATFORM_", envKeys), ...client, ...options.client },
    maxPollIntervalMs: options.maxPollIntervalMs ?? envNumber("POWER_PLATFORM_MAX_POLL_MS"),
    operationTimeoutMs: envNumber("POWER_PLATFORM_OPERATION_TIMEOUT_MS"),
    log: pulumiLog(),
  };
}

/** Where a BAP token can be passed instead of DefaultAzureCredential's. */
export const BAP_TOKEN_VARIABLE = "POWER_PLATFORM_ACCESS_TOKEN";

/**
 * POWER_PLATFORM_ACCESS_TOKEN when set, else DefaultAzureCredential for the audience of `bapUrl`'s
 * cloud (cached). The credential signs in at AZURE_AUTHORITY_HOST (@azure/identity), which a
 * sovereign cloud's deployment sets; the audience follows the endpoint (../clouds.ts).
 */
export function bapTokenSource(bapUrl: string = DEFAULT_BAP_URL): () => Promise<string> {
  const source = bapTokens(bapUrl);
  return () => source.getToken();
}

/** bapTokenSource, saying where the last token came from (for auth errors). */
function bapTokens(bapUrl: string): TokenSource {
  let cached: { token: string; expires: number } | undefined;
  let last = "no token requested yet";
  return {
    describe: () => last,
    async getToken() {
      const fromEnv = process.env[BAP_TOKEN_VARIABLE];
      if (fromEnv) {
        last = `the ${BAP_TOKEN_VARIABLE} environment variable`;
        return fromEnv;
      }
      last = "DefaultAzureCredential";
      if (cached && cached.expires - Date.now() > 5 * 60_000) return cached.token;
      const scope = bapScopeFor(bapUrl);
      if (!scope) {
        throw new PolicyLinkError(
          `no known token audience for the BAP endpoint ${new URL(bapUrl).origin} (known hosts: ${Object.keys(BAP_SCOPES).join(", ")}): ` +
            `check powerPlatformBapUrl, or set ${BAP_SCOPE_VARIABLE} to that cloud's audience (or ${BAP_TOKEN_VARIABLE} to a token for it)`,
        );
      }
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { DefaultAzureCredential } = require("@azure/identity") as typeof import("@azure/identity");
      const t = await new DefaultAzureCredential().getToken(scope);
      if (!t) throw new PolicyLinkError(`could not get a token for ${scope} (DefaultAzureCredential)`);
      cached = { token: t.token, expires: t.expiresOnTimestamp };
      return t.token;
    },
  };
}

/** Case-insensitive property read: [TF]'s fixture has `vNets`, its DTO `vnets`, [PS] reads `VNets`. */
export function prop(o: unknown, name: string): unknown {
  if (!o || typeof o !== "object") return undefined;
  const k = Object.keys(o).find((x) => x.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : (o as Record<string, unknown>)[k];
}
export { text };

export function errorMessage(status: number, data: unknown, raw: string): string {
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

/** What the admin API's calls share: one client for the origin, the operation's deadline, the log, and errors cleaned of the tokens sent. */
interface AdminContext {
  base: string;
  http: DataverseClient;
  deadline: Deadline;
  log: LogFn;
  maxRetryAfterMs: number;
  /** Cap on one poll wait (tests). */
  maxPollIntervalMs?: number;
  /** A PolicyLinkError whose message holds no token (it may quote the service's answer). */
  fail(message: string): PolicyLinkError;
}

async function getEnvironment(c: AdminContext, environmentId: string): Promise<EnvironmentInfo> {
  // [TF] GetEnvironment: admin scope, api-version 2023-06-01.
  const url = `${c.base}/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/${encodeURIComponent(environmentId)}?api-version=${ENVIRONMENT_API_VERSION}`;
  const r = await c.http.request("GET", url);
  if (r.status === 404) throw c.fail(`Power Platform environment ${environmentId} was not found (or this identity is not a Power Platform administrator): check powerPlatformEnvironmentId`);
  if (r.status !== 200) throw c.fail(`reading Power Platform environment ${environmentId}: ${errorMessage(r.status, r.data, r.text)}`);
  return environmentInfo(environmentId, r.data);
}

/**
 * How long to wait before the next poll or attempt: the answer's Retry-After, else `fallbackMs`
 * (the module's intervals). A Retry-After beyond the cap fails at once, naming it; the wait is
 * shortened to maxPollIntervalMs (tests); a wait past the operation's deadline returns undefined.
 */
function nextWait(c: AdminContext, headers: Record<string, string>, fallbackMs: number, what: string): number | undefined {
  const asked = parseRetryAfter(headers["retry-after"]);
  const problem = asked === undefined ? undefined : waitProblem(asked, { capMs: c.maxRetryAfterMs, capSetting: "POWER_PLATFORM_MAX_RETRY_AFTER_MS", asked: "the Power Platform admin API asks", deadline: undefined });
  if (problem) throw c.fail(`${what}: ${problem}`);
  const ms = Math.min(c.maxPollIntervalMs ?? Number.POSITIVE_INFINITY, asked ?? fallbackMs);
  return ms <= c.deadline.remainingMs() ? ms : undefined;
}

/** Why `url` may not receive this client's token: another origin, unless a subdomain of the token's https host. */
function operationOriginProblem(base: string, url: string, what: string): string | undefined {
  const problem = originProblem(url, base, `the operation URL of ${what}`);
  if (!problem) return undefined;
  try {
    const target = new URL(url, base);
    const host = new URL(base);
    if (target.protocol === "https:" && host.protocol === "https:" && !target.username && !target.password && !target.port && target.hostname.endsWith(`.${host.hostname}`)) return undefined;
  } catch {
    // not a URL: originProblem said so
  }
  return problem;
}

/**
 * Poll a lifecycle operation until Succeeded / Failed. [PS] Wait-EnterprisePolicyOperation: GET the
 * `operation-location` URL, read `state.id` (NotStarted: again in 5 s; Running: in 15 s; Failed:
 * `error.message`). [TF] DoWaitForLifecycleOperationStatus: `Location` header first, the 202's
 * Retry-After as the interval, 409 = not ready yet (wait), 404 = gone (treated as done).
 */
async function waitFor(c: AdminContext, operationUrl: string, first: Record<string, string>, what: string): Promise<OperationResult> {
  // The token was obtained for this host: an operation URL elsewhere is refused, not polled.
  // [TF]'s fixtures poll lifecycle operations on a regional host of the same service
  // (https://europe.api.bap.microsoft.com/...), so a subdomain of the token's host is accepted.
  const offOrigin = operationOriginProblem(c.base, operationUrl, what);
  if (offOrigin) throw c.fail(offOrigin);
  operationUrl = new URL(operationUrl, c.base).toString();
  const started = Date.now();
  const stillPending = (state: string) =>
    c.fail(`${what}: still ${state || "pending"} after ${formatDuration(Date.now() - started)}, and the next poll would pass this operation's deadline (${formatDuration(c.deadline.totalMs)}, ${c.deadline.setting}); check the environment's history in the Power Platform admin center`);
  let wait = nextWait(c, first, 5000, what);
  for (let poll = 1; ; poll++) {
    if (wait === undefined) throw stillPending("");
    await sleep(wait);
    const r = await c.http.request("GET", operationUrl);
    if (r.status === 404) return { state: "Succeeded", data: undefined };
    if (r.status === 409) {
      wait = nextWait(c, {}, 5000, what);
      continue;
    }
    if (r.status !== 200) throw c.fail(`${what}: polling the operation failed: ${errorMessage(r.status, r.data, r.text)}`);
    const state = text(prop(prop(r.data, "state"), "id")) || text(prop(r.data, "status"));
    if (state === "Succeeded") return { state, data: r.data };
    if (state === "Failed" || state === "Canceled") {
      const message = text(prop(prop(r.data, "error"), "message")) || `the operation reported ${state} without a message`;
      throw c.fail(`${what} ${state === "Canceled" ? "was canceled" : "failed"}: ${message}`);
    }
    c.log("info", `${what}: ${state || "pending"} (poll ${poll}, ${Math.round((Date.now() - started) / 1000)} s)`);
    wait = nextWait(c, r.headers, state === "Running" ? 15_000 : 5000, what);
    if (wait === undefined) throw stillPending(state);
  }
}

/** POST link or unlink ([TF] executePolicyOperation; [PS] Set-EnvironmentEnterprisePolicy), then wait. */
async function linkOrUnlink(c: AdminContext, action: "link" | "unlink", environmentId: string, systemId: string): Promise<void> {
  const url = `${c.base}/providers/Microsoft.BusinessAppPlatform/environments/${encodeURIComponent(environmentId)}/enterprisePolicies/NetworkInjection/${action}?api-version=${LINK_API_VERSION}`;
  const what = `${action === "link" ? "linking" : "unlinking"} the NetworkInjection policy ${action === "link" ? "to" : "from"} environment ${environmentId}`;
  // 409: another operation on the environment is running ([TF] accepts 409 on the POST and waits); bounded.
  for (let attempt = 0; ; attempt++) {
    const r = await c.http.request("POST", url, { body: { SystemId: systemId } });
    if (r.status === 409 && attempt < 10) {
      c.log("info", `${what}: another operation is running on the environment; waiting`);
      const wait = nextWait(c, r.headers, 15_000, what);
      if (wait === undefined) throw c.fail(`${what}: another operation is still running on the environment, and waiting for it would pass this operation's deadline (${formatDuration(c.deadline.totalMs)}, ${c.deadline.setting})`);
      await sleep(wait);
      continue;
    }
    // [PS]: anything but 202 means the operation did not start.
    if (r.status !== 202) throw c.fail(`${what} did not start: ${errorMessage(r.status, r.data, r.text)}`);
    const header = r.headers["operation-location"] ? "Operation-Location" : "Location";
    const operation = r.headers[header.toLowerCase()];
    if (!operation) return; // [TF]: no Location header, nothing to wait for
    // The token was obtained for the BAP host: an operation URL elsewhere is refused, not polled.
    c.log("info", `${what}: started; waiting for the operation`);
    await waitFor(c, operation, r.headers, what);
    return;
  }
}

/**
 * The admin API for one BAP (or Power Platform API) origin: its environment read, link and unlink,
 * and, for environment-api.ts and app-package-api.ts, the shared client's `request` and the
 * operation polling `waitFor`. The host is checked before any token is requested.
 */
export function createAdminApi(o: AdminApiOptions) {
  const base = new URL(o.bapUrl).origin;
  // Before any token is requested: a host of no known cloud never gets one ([TF] constants via ../clouds.ts).
  const service = o.service ?? "bap";
  const endpoint = tokenEndpointProblem(o.bapUrl, service);
  if (endpoint) throw new PolicyLinkError(`the ${service === "bap" ? "BAP" : "Power Platform API"} endpoint ${base} ${endpoint}; check powerPlatformBapUrl (no token is sent there)`);
  const tokens = recordingTokens(o.getToken ? tokenSourceOf(o.getToken) : bapTokens(o.bapUrl));
  const operationTimeoutMs = o.operationTimeoutMs ?? o.client?.operationTimeoutMs ?? 20 * 60_000;
  const c: AdminContext = {
    base,
    deadline: createDeadline(operationTimeoutMs, "POWER_PLATFORM_OPERATION_TIMEOUT_MS"),
    http: createDataverseClient({ environmentUrl: base, getToken: tokens, maxConcurrency: 2, operationTimeoutMs, service, ...o.client, log: o.log }),
    log: o.log ?? (() => undefined),
    maxRetryAfterMs: o.client?.maxRetryAfterMs ?? 300_000,
    maxPollIntervalMs: o.maxPollIntervalMs,
    fail: (message) => new PolicyLinkError(redactSecrets(message, tokens.sent)),
  };
  return {
    getEnvironment: (environmentId: string) => getEnvironment(c, environmentId),
    link: (environmentId: string, systemId: string) => linkOrUnlink(c, "link", environmentId, systemId),
    unlink: (environmentId: string, systemId: string) => linkOrUnlink(c, "unlink", environmentId, systemId),
    /** The shared client's request, for the environment and application-package calls (environment-api.ts, app-package-api.ts). */
    request: c.http.request,
    waitFor: (operationUrl: string, first: Record<string, string>, what: string) => waitFor(c, operationUrl, first, what),
    stats: c.http.stats,
  };
}

/** The environment's fields, from a GET environment answer. */
function environmentInfo(environmentId: string, data: unknown): EnvironmentInfo {
  const props = prop(data, "properties");
  const vnets = prop(prop(props, "enterprisePolicies"), "vnets");
  return {
    id: environmentId,
    displayName: text(prop(props, "displayName")),
    location: text(prop(data, "location")),
    protectionLevel: text(prop(prop(props, "governanceConfiguration"), "protectionLevel")),
    vnets: vnets ? { id: text(prop(vnets, "id")), systemId: text(prop(vnets, "systemId")), location: text(prop(vnets, "location")), linkStatus: text(prop(vnets, "linkStatus")) } : undefined,
    sku: text(prop(props, "environmentSku")),
    description: text(prop(props, "description")),
    managementState: text(prop(prop(prop(props, "states"), "management"), "id")),
    dataverse: dataverseInfo(prop(props, "linkedEnvironmentMetadata")),
  };
}

/** The environment's Dataverse, once its metadata is there ([TF] LinkedEnvironmentMetadataDto). */
function dataverseInfo(linked: unknown): DataverseInfo | undefined {
  if (!text(prop(linked, "instanceUrl"))) return undefined;
  const securityGroupId = text(prop(linked, "securityGroupId"));
  return {
    instanceUrl: text(prop(linked, "instanceUrl")).replace(/\/+$/, ""),
    organizationId: text(prop(linked, "resourceId")),
    domainName: text(prop(linked, "domainName")),
    version: text(prop(linked, "version")),
    securityGroupId: securityGroupId === ZERO_GUID ? "" : securityGroupId,
  };
}

/** A token source that remembers the tokens it handed out, so messages can be cleaned of them. */
function recordingTokens(source: TokenSource): TokenSource & { sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    describe: () => source.describe(),
    async getToken() {
      const token = await source.getToken();
      if (!sent.includes(token)) sent.push(token);
      return token;
    },
  };
}

export type AdminApi = ReturnType<typeof createAdminApi>;
