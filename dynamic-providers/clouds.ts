/**
 * The Microsoft clouds this program may send a Power Platform or Dataverse token to: one table,
 * the only place a host name of these services is written down. Config validation refuses any
 * other endpoint, and the HTTP clients refuse a follow-up URL (`@odata.nextLink`, `Location`,
 * `Operation-Location`) whose origin differs from the one a token was obtained for.
 *
 * Sources:
 * - [TF] microsoft/terraform-provider-power-platform, internal/constants/constants.go: the BAP,
 *   Power Apps and Power Platform API hosts and their token scopes per cloud (public, gcc,
 *   gcchigh, dod, ex, rx, china).
 * - [ARM] Microsoft's "Azure Government developer guide" and "Azure China" endpoint tables: the Resource
 *   Manager host per cloud (management.azure.com, .usgovcloudapi.net, .chinacloudapi.cn).
 * - [GDS] Microsoft's Dataverse "Discovery service" page: the Global Discovery Service per cloud
 *   (globaldisco.crm.dynamics.com, .crm9.dynamics.com, .crm.microsoftdynamics.us,
 *   .crm.appsplatform.us, .crm.dynamics.cn), hence the domains Dataverse environments live under.
 *
 * Serialized with the providers that use it: plain constants and functions only.
 */

export type CloudName = "public" | "usgov" | "usgovhigh" | "usdod" | "china" | "ex" | "rx";

export interface CloudEndpoints {
  /** Business Application Platform (admin) host: environments, enterprise-policy links. */
  readonly bapHost: string;
  /** Token scope for BAP requests ([TF] <CLOUD>_POWERAPPS_SCOPE; tryGetScopeFromURL gives BAP URLs the Power Apps scope). */
  readonly bapScope: string;
  /** Power Platform API host: application packages, governance ([TF] <CLOUD>_POWERPLATFORM_API_DOMAIN). */
  readonly powerPlatformApiHost: string;
  readonly powerPlatformApiScope: string;
  /** Power Apps API host ([TF] <CLOUD>_POWERAPPS_API_DOMAIN). */
  readonly powerAppsApiHost: string;
  /** Azure Resource Manager host ([ARM] Microsoft's "Azure Government developer guide" and "Azure China" endpoint tables); "" where not published. */
  readonly armHost: string;
  /** Domains Dataverse environments of this cloud live under ([GDS]); a host must end in `.<suffix>`. */
  readonly dataverseDomains: readonly string[];
}

export const CLOUDS: Readonly<Record<CloudName, CloudEndpoints>> = {
  public: {
    bapHost: "api.bap.microsoft.com",
    bapScope: "https://service.powerapps.com/.default",
    powerPlatformApiHost: "api.powerplatform.com",
    powerPlatformApiScope: "https://api.powerplatform.com/.default",
    powerAppsApiHost: "api.powerapps.com",
    // Commercial environments use crm.dynamics.com, crm2 ... crmNN.dynamics.com; GCC uses crm9.dynamics.com.
    armHost: "management.azure.com",
    dataverseDomains: ["dynamics.com"],
  },
  usgov: {
    bapHost: "gov.api.bap.microsoft.us",
    bapScope: "https://service.powerapps.us/.default",
    powerPlatformApiHost: "api.gov.powerplatform.microsoft.us",
    powerPlatformApiScope: "https://api.gov.powerplatform.microsoft.us/.default",
    powerAppsApiHost: "gov.api.powerapps.us",
    armHost: "management.usgovcloudapi.net",
    dataverseDomains: ["crm9.dynamics.com"],
  },
  usgovhigh: {
    bapHost: "high.api.bap.microsoft.us",
    bapScope: "https://high.service.apps.appsplatform.us/.default",
    powerPlatformApiHost: "api.appsplatform.us",
    powerPlatformApiScope: "https://api.appsplatform.us/.default",
    powerAppsApiHost: "high.api.powerapps.us",
    armHost: "management.usgovcloudapi.net",
    dataverseDomains: ["crm.microsoftdynamics.us"],
  },
  usdod: {
    bapHost: "api.bap.appsplatform.us",
    bapScope: "https://service.apps.appsplatform.us/.default",
    powerPlatformApiHost: "api.appsplatform.us",
    powerPlatformApiScope: "https://api.appsplatform.us/.default",
    powerAppsApiHost: "api.apps.appsplatform.us",
    armHost: "management.usgovcloudapi.net",
    dataverseDomains: ["crm.appsplatform.us"],
  },
  china: {
    bapHost: "api.bap.partner.microsoftonline.cn",
    bapScope: "https://service.powerapps.cn/.default",
    powerPlatformApiHost: "api.powerplatform.partner.microsoftonline.cn",
    powerPlatformApiScope: "https://api.powerplatform.partner.microsoftonline.cn/.default",
    powerAppsApiHost: "api.powerapps.cn",
    armHost: "management.chinacloudapi.cn",
    dataverseDomains: ["crm.dynamics.cn"],
  },
  ex: {
    bapHost: "api.bap.eaglex.ic.gov",
    bapScope: "https://service.powerapps.eaglex.ic.gov/.default",
    powerPlatformApiHost: "api.powerplatform.eaglex.ic.gov",
    powerPlatformApiScope: "https://api.powerplatform.eaglex.ic.gov/.default",
    powerAppsApiHost: "api.powerapps.eaglex.ic.gov",
    armHost: "",
    dataverseDomains: [], // [GDS] lists no discovery service for this cloud: no Dataverse host is accepted
  },
  rx: {
    bapHost: "api.bap.microsoft.scloud",
    bapScope: "https://service.powerapps.microsoft.scloud/.default",
    powerPlatformApiHost: "api.powerplatform.microsoft.scloud",
    powerPlatformApiScope: "https://api.powerplatform.microsoft.scloud/.default",
    powerAppsApiHost: "api.powerapps.microsoft.scloud",
    armHost: "",
    dataverseDomains: [],
  },
};

/** Plain http to this machine: the local emulators the tests run. Never a real service. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === "127.0.0.1" || hostname === "localhost" || hostname === "[::1]" || hostname === "::1";
}

/** The cloud whose BAP host `hostname` is, or undefined. */
export function cloudOfBapHost(hostname: string): CloudName | undefined {
  const h = hostname.toLowerCase();
  return (Object.keys(CLOUDS) as CloudName[]).find((c) => CLOUDS[c].bapHost === h);
}

/** The cloud whose Power Platform API host `hostname` is (the first, for a host two clouds share), or undefined. */
export function cloudOfPowerPlatformApiHost(hostname: string): CloudName | undefined {
  const h = hostname.toLowerCase();
  return (Object.keys(CLOUDS) as CloudName[]).find((c) => CLOUDS[c].powerPlatformApiHost === h);
}

/** Whether `hostname` is under one of the Dataverse domains of any cloud (an environment's host, not the domain itself). */
export function isDataverseHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return Object.values(CLOUDS).some((c) => c.dataverseDomains.some((d) => h.endsWith(`.${d}`) && h.length > d.length + 1));
}

/**
 * Why `url` may not receive a token of the given kind, or undefined when it may: https to a host of
 * the table above, with no credentials or port in the URL, or plain http to this machine (tests).
 */
export function tokenEndpointProblem(url: string, kind: TokenService): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return "is not a URL";
  }
  if (u.protocol === "http:" && isLoopbackHost(u.hostname)) return undefined;
  if (u.protocol !== "https:") return "must be an https URL";
  if (u.username || u.password) return "must not carry a user name or password (`user@host` sends the request to `host`)";
  if (u.port) return "must not name a port";
  if (serviceOfUrl(u.origin) === kind) return undefined;
  const hosts =
    kind === "bap"
      ? Object.values(CLOUDS).map((c) => c.bapHost)
      : kind === "powerPlatformApi"
        ? [...new Set(Object.values(CLOUDS).map((c) => c.powerPlatformApiHost))]
        : kind === "arm"
          ? [...new Set(Object.values(CLOUDS).map((c) => c.armHost).filter(Boolean))]
          : Object.values(CLOUDS).flatMap((c) => c.dataverseDomains.map((d) => `*.${d}`));
  const label = { bap: "Power Platform admin (BAP)", powerPlatformApi: "Power Platform API", arm: "Azure Resource Manager", dataverse: "Dataverse" }[kind];
  return `is not a known ${label} host (known: ${hosts.join(", ")})`;
}

/** The services a token of this program is for; each has its own audience and its own hosts above. */
export type TokenService = "bap" | "powerPlatformApi" | "arm" | "dataverse";

/** For messages: what each service is called. */
export const SERVICE_LABELS: Readonly<Record<TokenService, string>> = {
  bap: "the Power Platform admin API (BAP)",
  powerPlatformApi: "the Power Platform API",
  arm: "Azure Resource Manager",
  dataverse: "Dataverse",
};

/** The service whose host `url` is, by the table above; undefined for any other host (the emulators' loopback included). */
export function serviceOfUrl(url: string): TokenService | undefined {
  let h: string;
  try {
    h = new URL(url).hostname;
  } catch {
    return undefined;
  }
  if (cloudOfBapHost(h)) return "bap";
  if (cloudOfPowerPlatformApiHost(h)) return "powerPlatformApi";
  if (Object.values(CLOUDS).some((c) => c.armHost === h.toLowerCase())) return "arm";
  return isDataverseHost(h) ? "dataverse" : undefined;
}

/** Overrides the BAP token scope (Microsoft's own tools disagree for GCC and GCC High: see bapScope above and docs/iom-provider-setup.md). */
export const BAP_SCOPE_VARIABLE = "POWER_PLATFORM_BAP_SCOPE";

/**
 * The scope to request a token for `url` of `service` with: a Dataverse environment's own origin;
 * the BAP or Power Platform API scope of the host's cloud (POWER_PLATFORM_BAP_SCOPE overrides the
 * BAP one). Loopback hosts (the emulators) get the public cloud's. Undefined for a host of no known cloud.
 */
export function tokenScopeFor(url: string, service: TokenService, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const u = new URL(url);
  if (service === "dataverse" || service === "arm") return `${u.origin}/.default`;
  if (service === "bap" && env[BAP_SCOPE_VARIABLE]) return env[BAP_SCOPE_VARIABLE];
  const cloud = isLoopbackHost(u.hostname) ? "public" : service === "bap" ? cloudOfBapHost(u.hostname) : cloudOfPowerPlatformApiHost(u.hostname);
  if (!cloud) return undefined;
  return service === "bap" ? CLOUDS[cloud].bapScope : CLOUDS[cloud].powerPlatformApiScope;
}
