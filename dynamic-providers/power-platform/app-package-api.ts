/**
 * The Power Platform API's application packages: list what an environment has and installs one
 * (how the IOM app gets into the environment). Sources, named next to each fact:
 *
 * - [TF-APP] microsoft/terraform-provider-power-platform internal/services/application/api_application.go
 *   (GetApplicationsByEnvironmentId, InstallApplicationInEnvironment), dto.go and
 *   resource_environment_application_package_install.go (delete uninstalls nothing);
 * - [REST] Microsoft Learn, Power Platform REST reference, appmanagement "Get Environment Application
 *   Package", "Install Application Package" (200 InstancePackage or 202), "Get Application Package
 *   Install Status" (status NotStarted, Running, Succeeded, Failed, Canceled).
 *
 * Requests go through admin-api.ts's client and operation polling, pointed at the Power Platform API
 * origin with a token for its audience (clouds.ts). Runs inside the serialized providers.
 */
import { ProviderError } from "../common";
import { createAdminApi, errorMessage, prop, text, type AdminApiOptions } from "./admin-api";
import { powerPlatformRefusal } from "./environment-api";
import { CLOUDS, cloudOfPowerPlatformApiHost } from "../clouds";
import { parseRetryAfter, sleep, waitProblem } from "../http";

/** [TF-APP] constants.APPLICATION_API_VERSION, also the version the [REST] pages document. */
const APPLICATION_API_VERSION = "2022-03-01-preview";
/** [TF] constants.MAX_RETRY_COUNT. */
const MAX_RETRIES = 10;
/** IOM's package: Microsoft's finance-and-operations docs list it for "Dynamics 365 Intelligent Order Management" (issue 16). */
export const IOM_APPLICATION_PACKAGE = "msdyn_IntelligentOrderManagementAnchor";
/** The state an installed package reports ([REST]: the list filters on appInstallState Installed / NotInstalled). */
export const INSTALLED = "Installed";

export class ApplicationPackageError extends ProviderError {
  constructor(message: string) {
    super("ApplicationPackageError", message);
  }
}

/** One entry of an environment's package list ([TF-APP] environmentApplicationDto). */
export interface ApplicationPackage {
  uniqueName: string;
  name: string;
  version: string;
  /** e.g. None (not installed, [TF-APP] fixture), Installed, a failed or running install. */
  state: string;
  /** `errorDetails.message` of the last failed attempt, when the service reports one. */
  lastError: string;
}

/**
 * POWER_PLATFORM_API_ACCESS_TOKEN when set, else DefaultAzureCredential for the Power Platform API
 * audience of `apiUrl`'s cloud (clouds.ts), cached until five minutes before it expires.
 */
export function powerPlatformApiTokenSource(apiUrl: string): () => Promise<string> {
  let cached: { token: string; expires: number } | undefined;
  return async () => {
    const fromEnv = process.env.POWER_PLATFORM_API_ACCESS_TOKEN;
    if (fromEnv) return fromEnv;
    if (cached && cached.expires - Date.now() > 5 * 60_000) return cached.token;
    const cloud = cloudOfPowerPlatformApiHost(new URL(apiUrl).hostname);
    if (!cloud) throw new ApplicationPackageError(`no known token audience for the Power Platform API at ${new URL(apiUrl).origin}; set POWER_PLATFORM_API_ACCESS_TOKEN to a token for it`);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { DefaultAzureCredential } = require("@azure/identity") as typeof import("@azure/identity");
    const t = await new DefaultAzureCredential().getToken(CLOUDS[cloud].powerPlatformApiScope);
    if (!t) throw new ApplicationPackageError(`could not get a token for ${CLOUDS[cloud].powerPlatformApiScope} (DefaultAzureCredential)`);
    cached = { token: t.token, expires: t.expiresOnTimestamp };
    return t.token;
  };
}


export function createApplicationPackageApi(o: Omit<AdminApiOptions, "bapUrl"> & { powerPlatformApiUrl: string }) {
  const base = new URL(o.powerPlatformApiUrl).origin;
  const shared = createAdminApi({ ...o, bapUrl: base, service: "powerPlatformApi", getToken: o.getToken ?? powerPlatformApiTokenSource(base) });
  const api = {
    ...shared,
    request: (...args: Parameters<typeof shared.request>) =>
      shared.request(...args).catch((e: unknown) => Promise.reject(powerPlatformRefusal(e, "Power Platform API", "POWER_PLATFORM_API_ACCESS_TOKEN"))),
  };
  const log = o.log ?? (() => undefined);
  const url = (environmentId: string, rest = "") => `${base}/appmanagement/environments/${encodeURIComponent(environmentId)}/applicationPackages${rest}?api-version=${APPLICATION_API_VERSION}`;

  /** [TF-APP] GetApplicationsByEnvironmentId: every package relevant to the environment, installed or not. */
  async function list(environmentId: string): Promise<ApplicationPackage[]> {
    const r = await api.request("GET", url(environmentId));
    if (r.status !== 200) throw new ApplicationPackageError(`listing the application packages of environment ${environmentId}: ${errorMessage(r.status, r.data, r.text)}`);
    const value = prop(r.data, "value");
    return (Array.isArray(value) ? value : []).map((p) => ({
      uniqueName: text(prop(p, "uniqueName")),
      name: text(prop(p, "applicationName")) || text(prop(p, "localizedName")),
      version: text(prop(p, "version")),
      state: text(prop(p, "state")),
      lastError: text(prop(prop(p, "errorDetails"), "message")) || text(prop(prop(p, "lastError"), "message")),
    }));
  }

  /**
   * Installs the package and waits: [TF-APP] InstallApplicationInEnvironment (POST .../install, 202
   * with Operation-Location polled until `status` is Succeeded or Failed with `error.message`); [REST]
   * also documents 200 with the InstancePackage, whose `lastOperation.operationId` is polled at
   * `environments/{id}/operations/{operationId}`. A 409 (another operation on the environment) is
   * waited out, at most MAX_RETRIES times.
   */
  async function install(environmentId: string, uniqueName: string): Promise<void> {
    const what = `installing application package ${uniqueName} into environment ${environmentId}`;
    for (let attempt = 0; ; attempt++) {
      const r = await api.request("POST", url(environmentId, `/${encodeURIComponent(uniqueName)}/install`), { body: {} });
      if (r.status === 409 && attempt < MAX_RETRIES) {
        const asked = parseRetryAfter(r.headers["retry-after"]);
        const problem = asked === undefined ? undefined : waitProblem(asked, { capMs: 300_000, capSetting: "the Power Platform API's 5-minute cap", asked: "the Power Platform API asks" });
        if (problem) throw new ApplicationPackageError(`${what}: ${problem}`);
        log("info", `${what}: another operation is running on the environment; waiting`);
        await sleep(Math.min(o.maxPollIntervalMs ?? Number.POSITIVE_INFINITY, asked ?? 15_000));
        continue;
      }
      let operation: string | undefined;
      if (r.status === 202) operation = r.headers["operation-location"] || r.headers["location"];
      else if (r.status === 200) {
        const id = text(prop(prop(r.data, "lastOperation"), "operationId"));
        operation = id ? `${base}/appmanagement/environments/${encodeURIComponent(environmentId)}/operations/${encodeURIComponent(id)}?api-version=${APPLICATION_API_VERSION}` : undefined;
      } else throw new ApplicationPackageError(`${what} did not start: ${errorMessage(r.status, r.data, r.text)}`);
      // [TF-APP] treats a 202 without Operation-Location as an error: nothing to wait for is no proof of an install.
      if (!operation) throw new ApplicationPackageError(`${what}: the service started it but named no operation to follow`);
      log("info", `${what}: started; waiting for the operation`);
      try {
        await api.waitFor(operation, {}, what);
      } catch (e) {
        throw new ApplicationPackageError((e as Error).message);
      }
      return;
    }
  }

  return { list, install, stats: api.stats };
}

export type ApplicationPackageApi = ReturnType<typeof createApplicationPackageApi>;
