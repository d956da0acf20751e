/**
 * The Power Platform admin API (BAP) calls that create, read, change and delete an environment and
 * set its governance configuration (Managed Environment). Not in Microsoft's REST reference either:
 * every fact comes from Microsoft's Terraform provider, named next to it:
 *
 * - [TF-ENV] internal/services/environment/api_environment.go, dto.go, resource_environment.go and
 *   the recorded answers under its tests/resource/ (e.g. Validate_Taken_Domain_Name,
 *   Validate_Retry_On_Running_LifecycleOperation, Validate_Do_Not_Retry_On_NoCapacity,
 *   Validate_Update_Environment_Type, Validate_Delete_Retry_On_EmptyBody_Conflict);
 * - [TF-ME] internal/services/managed_environment/api_managed_environment.go, resource_managed_environment.go;
 * - [TF-LC] internal/api/lifecycle.go (DoWaitForLifecycleOperationStatus), internal/constants.
 *
 * Requests go through admin-api.ts's client (`request`, the shared Dataverse client pointed at the
 * BAP origin with a BAP token) and its operation polling (`waitFor`). Pure functions and closures
 * only: it runs inside the serialized providers.
 */
import { ProviderError } from "../common";
import { createAdminApi, errorMessage, prop, text, ZERO_GUID, type AdminApi, type AdminApiOptions, type EnvironmentInfo, type OperationResult } from "./admin-api";
import type { LogFn, Resp } from "../dataverse";
import { parseRetryAfter, sleep, waitProblem } from "../http";

/** [TF-ENV] dto.go EnvironmentTypes (Default is the tenant's own and cannot be created). */
export const ENVIRONMENT_SKUS = ["Trial", "Sandbox", "Production", "Developer"] as const;
export type EnvironmentSku = (typeof ENVIRONMENT_SKUS)[number];
/** [TF-ENV] helpers.DomainNameRegex, the rule Terraform checks a domain name against. */
export const DOMAIN_NAME_PATTERN = /^[a-z0-9][a-z0-9-]*$/;
/** [TF-LC] constants.BAP_API_VERSION: create, read, list, delete. */
const API_2023 = "2023-06-01";
/** [TF-LC] constants.BAP_2021_API_VERSION: validateEnvironmentDetails, PATCH, modifySku, governanceConfiguration. */
const API_2021 = "2021-04-01";
/** [TF-LC] constants.MAX_RETRY_COUNT: bound on retries after a 409 or a failed lifecycle operation. */
const MAX_RETRIES = 10;
/** [TF-ENV] handleHttpConflict: a 409 with this code means another lifecycle operation runs; anything else is final. */
const OPERATION_NOT_STARTABLE = "OperationNotStartable";

export class PowerPlatformEnvironmentError extends ProviderError {
  constructor(message: string) {
    super("PowerPlatformEnvironmentError", message);
  }
}

/**
 * What an environment is created with: the create request's content ([TF-ENV] environmentCreateDto,
 * createLinkEnvironmentMetadataDto), the provider's inputs in create mode and the stack config's
 * `create` settings (config.ts) all use this one type.
 */
export interface EnvironmentSpec {
  displayName: string;
  description: string;
  sku: EnvironmentSku;
  /** Power Platform geography, e.g. europe ([TF-ENV] `location`; config key powerPlatformGeo). */
  location: string;
  /** Base language (LCID), e.g. 1033. */
  languageCode: number;
  /** ISO currency code, e.g. EUR. */
  currencyCode: string;
  /** Dataverse domain: https://<domainName>.<region>.dynamics.com. */
  domainName: string;
  /** Entra security group that may use the environment; "" for none (sent as the zero GUID, [TF-ENV] docs: "For an empty security group ..."). */
  securityGroupId: string;
  /** Dynamics 365 templates the Dataverse is created with. */
  templates: string[];
}

/** One template of a location ([TF] environment_templates: grouped by SKU category, `isDisabled` with a reason). */
export interface TemplateInfo {
  name: string;
  displayName: string;
  disabledReason?: string;
}

/**
 * The governance configuration a Managed Environment gets: protection level Standard as
 * [TF-ME] resource_managed_environment.go sends it, with the settings Terraform requires filled
 * with the admin center's permissive choices (no sharing limit, no solution-checker enforcement,
 * usage insights on). Changing them is left to the admin center.
 */
export const MANAGED_ENVIRONMENT_SETTINGS = {
  protectionLevel: "Standard",
  settings: {
    extendedSettings: {
      excludeEnvironmentFromAnalysis: "false",
      isGroupSharingDisabled: "false",
      maxLimitUserSharing: "-1",
      disableAiGeneratedDescriptions: "false",
      includeOnHomepageInsights: "false",
      limitSharingMode: "noLimit",
      solutionCheckerMode: "none",
      suppressValidationEmails: "false",
      solutionCheckerRuleOverrides: "",
    },
  },
} as const;

/**
 * A 401/403 from a Power Platform API, with the fix that applies to it: the shared client's own
 * message is about Dataverse application users, which these APIs do not have. Any other error
 * passes through.
 */
export function powerPlatformRefusal(e: unknown, api: string, tokenVariable: string): unknown {
  const refused = e as { auth?: unknown; status?: unknown; message?: string };
  if (refused?.auth !== true || (refused.status !== 401 && refused.status !== 403)) return e;
  const first = String(refused.message ?? "").split(". ")[0].replace(/^Dataverse environment /, "");
  return new PowerPlatformEnvironmentError(
    `the ${api} refused the request (HTTP ${refused.status}): ${first}. The identity needs the Power Platform administrator role, or, for a service principal, ` +
      `registration as a Power Platform management application (docs/power-platform-identity.md); the token comes from ${tokenVariable} when set, else DefaultAzureCredential`,
  );
}

/** Longest Retry-After a lifecycle retry waits out; a longer one fails at once (http.ts waitProblem). */
const MAX_RETRY_AFTER_MS = 300_000;
const retryAfterMs = (r: Resp): number | undefined => parseRetryAfter(r.headers["retry-after"]);
const isNotStartable = (r: Resp) => r.status === 409 && (r.text.includes(OPERATION_NOT_STARTABLE) || JSON.stringify(r.data ?? "").includes(OPERATION_NOT_STARTABLE));

/**
 * The request and poll helper every environment call goes through: admin-api.ts's client with
 * refusals explained for BAP, the URL of a BAP path, the pause between attempts, starting a
 * lifecycle operation (with its 409 retries) and waiting for it.
 */
interface Lifecycle {
  request: AdminApi["request"];
  getEnvironment: AdminApi["getEnvironment"];
  stats: AdminApi["stats"];
  log: LogFn;
  /** Give up waiting for the Dataverse after this long (the operation timeout). */
  operationTimeoutMs: number;
  /** `<BAP origin>/providers/Microsoft.BusinessAppPlatform<path>` with its api-version. */
  bap(path: string, version: string): string;
  /** Waits `ms` (a Retry-After, checked against the cap) or, when the service named none, [TF] DefaultRetryAfter: 10-19 s. */
  pause(ms?: number): Promise<void>;
  /** Throws `<what>: <the service's error>`. */
  fail(what: string, r: Resp): never;
  waitForOperation(r: Resp, what: string): Promise<OperationResult | undefined>;
  startOperation(method: string, url: string, body: unknown, what: string, accept: number[]): Promise<Resp>;
}

function createLifecycle(o: AdminApiOptions): Lifecycle {
  const shared = createAdminApi(o);
  const refusal = (e: unknown) => powerPlatformRefusal(e, "Power Platform admin API (BAP)", "POWER_PLATFORM_ACCESS_TOKEN");
  const request: AdminApi["request"] = (...args) => shared.request(...args).catch((e: unknown) => Promise.reject(refusal(e)));
  const getEnvironment = (id: string) => shared.getEnvironment(id).catch((e: unknown) => Promise.reject(refusal(e)));
  const base = new URL(o.bapUrl).origin;
  const log = o.log ?? (() => undefined);
  const cap = o.maxPollIntervalMs ?? Number.POSITIVE_INFINITY;
  const fail = (what: string, r: Resp): never => {
    throw new PowerPlatformEnvironmentError(`${what}: ${errorMessage(r.status, r.data, r.text)}`);
  };
  const pause = (ms?: number) => {
    const problem = ms === undefined ? undefined : waitProblem(ms, { capMs: MAX_RETRY_AFTER_MS, capSetting: "the Power Platform admin API's 5-minute cap", asked: "the Power Platform admin API asks" });
    if (problem) throw new PowerPlatformEnvironmentError(problem);
    return sleep(Math.min(cap, ms ?? 10_000 + Math.floor(Math.random() * 9_000)));
  };

  /** Waits for the operation a 202 started (Location first, then Operation-Location: [TF-LC]); errors renamed to this module's. */
  async function waitForOperation(r: Resp, what: string) {
    const url = r.headers["location"] || r.headers["operation-location"];
    if (!url) return undefined; // [TF-LC]: no header, nothing to wait for
    log("info", `${what}: started; waiting for the operation`);
    try {
      return await shared.waitFor(url, r.headers, what);
    } catch (e) {
      throw new PowerPlatformEnvironmentError((e as Error).message);
    }
  }

  /**
   * Sends a request that starts a lifecycle operation; while the service answers 409
   * OperationNotStartable (another operation on the environment), waits and sends it again, at
   * most MAX_RETRIES times ([TF-ENV] handleHttpConflict). Any other 409 is final.
   */
  async function startOperation(method: string, url: string, body: unknown, what: string, accept: number[]): Promise<Resp> {
    for (let attempt = 0; ; attempt++) {
      // The create is never resent after a 5xx or a lost connection ([TF-ENV]: 500 is final): it may have worked.
      const r = await request(method, url, { body, retry: !(method === "POST" && new URL(url).pathname.endsWith("/environments")) });
      if (isNotStartable(r) && attempt < MAX_RETRIES) {
        log("info", `${what}: another lifecycle operation is running on the environment; waiting (attempt ${attempt + 1} of ${MAX_RETRIES})`);
        await pause(retryAfterMs(r));
        continue;
      }
      if (accept.includes(r.status)) return r;
      return fail(`${what} did not start`, r);
    }
  }

  return {
    request,
    getEnvironment,
    stats: shared.stats,
    log,
    operationTimeoutMs: o.operationTimeoutMs ?? 20 * 60_000,
    bap: (path, version) => `${base}/providers/Microsoft.BusinessAppPlatform${path}${path.includes("?") ? "&" : "?"}api-version=${version}`,
    pause,
    fail,
    waitForOperation,
    startOperation,
  };
}

/**
 * Whether the domain name is free in the location: [TF-ENV] ValidateCreateEnvironmentDetails
 * (POST validateEnvironmentDetails, 200 = free). A taken or invalid name is a 400 with an error
 * code such as InvalidDomainName (recorded in Validate_Taken_Domain_Name); the message is returned.
 */
async function domainProblem(c: Lifecycle, location: string, domainName: string): Promise<string | undefined> {
  const r = await c.request("POST", c.bap("/validateEnvironmentDetails", API_2021), { body: { domainName, environmentLocation: location } });
  if (r.status === 200) return undefined;
  if (r.status === 400 || r.status === 409) return errorMessage(r.status, r.data, r.text);
  return c.fail(`checking the domain name '${domainName}'`, r);
}

/** The location's templates, all SKU categories together ([TF] environment_templates: GET locations/{location}/templates). */
async function listTemplates(c: Lifecycle, location: string): Promise<TemplateInfo[]> {
  const r = await c.request("GET", c.bap(`/locations/${encodeURIComponent(location)}/templates`, API_2023));
  if (r.status !== 200) c.fail(`listing the environment templates of '${location}'`, r);
  const found = new Map<string, TemplateInfo>();
  for (const group of Object.values((r.data ?? {}) as Record<string, unknown>)) {
    if (!Array.isArray(group)) continue;
    for (const t of group) {
      const name = text(prop(t, "name"));
      const props = prop(t, "properties");
      const disabled = prop(props, "isDisabled") === true;
      const known = found.get(name);
      // A template listed for several SKUs is usable when any entry is enabled.
      if (known && !known.disabledReason) continue;
      found.set(name, { name, displayName: text(prop(props, "displayName")), disabledReason: disabled ? text(prop(prop(props, "disabledReason"), "message")) || text(prop(prop(props, "disabledReason"), "code")) || "disabled" : undefined });
    }
  }
  return [...found.values()];
}

/** Environments of the tenant ([TF-ENV] GetEnvironments), by their Dataverse domain: finds one an interrupted run created. */
async function findByDomain(c: Lifecycle, domainName: string): Promise<string | undefined> {
  const r = await c.request("GET", c.bap("/scopes/admin/environments", API_2023));
  if (r.status !== 200) return undefined;
  const list = prop(r.data, "value");
  if (!Array.isArray(list)) return undefined;
  const hit = list.find((e) => text(prop(prop(prop(e, "properties"), "linkedEnvironmentMetadata"), "domainName")).toLowerCase() === domainName.toLowerCase());
  return hit ? text(prop(hit, "name")) : undefined;
}

/**
 * Reads the environment until its Dataverse is readable: [TF-ENV] waitForDataverseMetadata ("BAPI
 * reports the environment lifecycle operation as succeeded before that metadata is exposed"),
 * bounded by the operation timeout.
 */
async function waitForDataverse(c: Lifecycle, environmentId: string): Promise<EnvironmentInfo> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    const env = await c.getEnvironment(environmentId);
    if (env.dataverse) return env;
    if (Date.now() - started > c.operationTimeoutMs) throw new PowerPlatformEnvironmentError(`environment ${environmentId} was created, but its Dataverse is still not readable after ${Math.round(c.operationTimeoutMs / 60000)} minutes; run 'pulumi refresh' later`);
    c.log("info", `environment ${environmentId}: waiting for its Dataverse (read ${attempt})`);
    await c.pause();
  }
}

/** The create request's body ([TF-ENV] environmentCreateDto, createLinkEnvironmentMetadataDto). */
function createBody(spec: EnvironmentSpec) {
  return {
    location: spec.location,
    properties: {
      displayName: spec.displayName,
      ...(spec.description ? { description: spec.description } : {}),
      environmentSku: spec.sku,
      linkedEnvironmentMetadata: {
        baseLanguage: spec.languageCode,
        currency: { code: spec.currencyCode },
        domainName: spec.domainName,
        securityGroupId: spec.securityGroupId || ZERO_GUID,
        templates: spec.templates,
      },
    },
  };
}

/**
 * Creates the environment and waits until it and its Dataverse are ready; returns its id.
 * [TF-ENV] createEnvironmentWithRetry: 202 -> poll the lifecycle operation, the new id is the last
 * segment of its `links.environment.path`; 201 -> the body's `name`; 409 OperationNotStartable ->
 * wait and retry; any other 409 (e.g. InsufficientCapacity_StorageDriven) and 500 are final and
 * not retried (a 500 may still have created it, so the create is never sent twice).
 */
async function createEnvironment(c: Lifecycle, spec: EnvironmentSpec): Promise<string> {
  const what = `creating Power Platform environment '${spec.displayName}' (domain ${spec.domainName})`;
  const r = await c.startOperation("POST", c.bap("/environments", API_2023), createBody(spec), what, [201, 202, 500]);
  if (r.status === 500) {
    throw new PowerPlatformEnvironmentError(
      `${what}: the service answered ${errorMessage(r.status, r.data, r.text)}. It may have created the environment anyway: ` +
        `look for domain '${spec.domainName}' in the Power Platform admin center before running 'pulumi up' again (the next run takes it over if it is there)`,
    );
  }
  let id: string;
  if (r.status === 201) {
    if (text(prop(prop(r.data, "properties"), "provisioningState")) !== "Succeeded") c.fail(`${what} failed`, r);
    id = text(prop(r.data, "name"));
  } else {
    const op = await c.waitForOperation(r, what);
    id = text(prop(prop(prop(op?.data, "links"), "environment"), "path")).split("/").pop() ?? "";
  }
  // [TF-ENV]: "Guard against reading the environment with an empty id, which resolves to the environment list endpoint".
  if (!id) throw new PowerPlatformEnvironmentError(`${what}: the service did not say which environment it created; look for domain '${spec.domainName}' in the Power Platform admin center`);
  c.log("info", `${what}: created environment ${id}; waiting for its Dataverse`);
  return id;
}

/** What can change in place: display name, description and security group. */
export type EnvironmentChange = Pick<EnvironmentSpec, "displayName" | "description" | "securityGroupId">;

/**
 * Changes display name, description and security group in place: [TF-ENV] updateEnvironmentWithRetry
 * (PATCH on the admin scope, api-version 2021-04-01 "due to a bug in BAPI that triggers managed
 * environment on update of a description field"), then waits until `states.management.id` is Ready.
 * A display name the service did not take is sent once more ([TF-ENV] Update: "the display name is
 * not propagated correctly on environment update").
 */
async function updateEnvironment(c: Lifecycle, environmentId: string, change: EnvironmentChange): Promise<EnvironmentInfo> {
  const body = { properties: { displayName: change.displayName, description: change.description, linkedEnvironmentMetadata: { securityGroupId: change.securityGroupId || ZERO_GUID } } };
  const what = `updating Power Platform environment ${environmentId}`;
  for (let sent = 1; ; sent++) {
    const r = await c.startOperation("PATCH", c.bap(`/scopes/admin/environments/${encodeURIComponent(environmentId)}`, API_2021), body, what, [200, 202, 204]);
    await c.waitForOperation(r, what);
    const env = await readUntilSettled(c, environmentId, what);
    if (env.displayName === change.displayName || sent >= 2) return env;
    c.log("info", `${what}: the service still shows display name '${env.displayName}'; sending the change once more`);
  }
}

/** Reads the environment while its management state is Running (bounded); any state but Ready or Running fails. */
async function readUntilSettled(c: Lifecycle, environmentId: string, what: string): Promise<EnvironmentInfo> {
  let env = await c.getEnvironment(environmentId);
  for (let reads = 0; env.managementState === "Running" && reads < MAX_RETRIES; reads++) {
    await c.pause();
    env = await c.getEnvironment(environmentId);
  }
  if (env.managementState && env.managementState !== "Ready" && env.managementState !== "Running") {
    throw new PowerPlatformEnvironmentError(`${what}: unexpected management state '${env.managementState}'`);
  }
  return env;
}

/** [TF-ENV] modifyEnvironmentTypeWithRetry: POST modifySku { environmentSku } (202, 200 or 409), then the operation. */
async function modifySku(c: Lifecycle, environmentId: string, sku: EnvironmentSku): Promise<void> {
  const what = `changing the SKU of Power Platform environment ${environmentId} to ${sku}`;
  const r = await c.startOperation("POST", c.bap(`/scopes/admin/environments/${encodeURIComponent(environmentId)}/modifySku`, API_2021), { environmentSku: sku }, what, [200, 202]);
  await c.waitForOperation(r, what);
}

/**
 * [TF-ENV] deleteEnvironmentWithRetry: DELETE with { code: "7", message } (202, 204, 409, 404); 404
 * means gone; a 409 without a body is a transient conflict and retried like OperationNotStartable.
 */
async function removeEnvironment(c: Lifecycle, environmentId: string): Promise<void> {
  const what = `deleting Power Platform environment ${environmentId}`;
  const url = c.bap(`/scopes/admin/environments/${encodeURIComponent(environmentId)}`, API_2023);
  for (let attempt = 0; ; attempt++) {
    const r = await c.request("DELETE", url, { body: { code: "7", message: "Deleted by pulumi destroy (iom-bigcommerce)" } });
    if (r.status === 404) return;
    if (r.status === 409 && ((r.text === "" && r.data === undefined) || isNotStartable(r)) && attempt < MAX_RETRIES) {
      c.log("info", `${what}: another lifecycle operation is running; waiting`);
      await c.pause(retryAfterMs(r));
      continue;
    }
    if (r.status !== 202 && r.status !== 204) c.fail(`${what} did not start`, r);
    await c.waitForOperation(r, what);
    return;
  }
}

/**
 * Makes the environment a Managed Environment: [TF-ME] enableManagedEnvironmentWithRetry (POST
 * governanceConfiguration, 204/202/409). A 409 comes "both when the environment is already managed
 * and when the environment is busy": the environment is read to tell which, and retried when busy.
 */
async function enableManaged(c: Lifecycle, environmentId: string): Promise<void> {
  const what = `making Power Platform environment ${environmentId} a Managed Environment`;
  const url = c.bap(`/environments/${encodeURIComponent(environmentId)}/governanceConfiguration`, API_2021);
  for (let attempt = 0; ; attempt++) {
    const r = await c.request("POST", url, { body: MANAGED_ENVIRONMENT_SETTINGS });
    if (r.status === 409) {
      if ((await c.getEnvironment(environmentId)).protectionLevel === MANAGED_ENVIRONMENT_SETTINGS.protectionLevel) return;
      if (attempt >= MAX_RETRIES) c.fail(`${what}: still refused after ${MAX_RETRIES} attempts`, r);
      c.log("info", `${what}: the environment is busy; waiting`);
      await c.pause(retryAfterMs(r));
      continue;
    }
    if (r.status !== 202 && r.status !== 204 && r.status !== 200) c.fail(`${what} did not start`, r);
    await c.waitForOperation(r, what);
    return;
  }
}

/** The environment calls, each a function of its own above over one request/poll helper (`createLifecycle`). */
export function createEnvironmentApi(o: AdminApiOptions) {
  const c = createLifecycle(o);
  return {
    getEnvironment: c.getEnvironment,
    domainProblem: (location: string, domainName: string) => domainProblem(c, location, domainName),
    listTemplates: (location: string) => listTemplates(c, location),
    findByDomain: (domainName: string) => findByDomain(c, domainName),
    create: (spec: EnvironmentSpec) => createEnvironment(c, spec),
    waitForDataverse: (environmentId: string) => waitForDataverse(c, environmentId),
    update: (environmentId: string, change: EnvironmentChange) => updateEnvironment(c, environmentId, change),
    modifySku: (environmentId: string, sku: EnvironmentSku) => modifySku(c, environmentId, sku),
    remove: (environmentId: string) => removeEnvironment(c, environmentId),
    enableManaged: (environmentId: string) => enableManaged(c, environmentId),
    stats: c.stats,
  };
}

export type EnvironmentApi = ReturnType<typeof createEnvironmentApi>;
