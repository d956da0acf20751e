/**
 * The Azure Resource Manager calls that register a subscription's preview features and resource
 * providers and read their state: what `az feature register`, `az provider register` and their
 * `show` commands do. The sources, named next to each fact:
 *
 * - [RP] Microsoft's ARM REST reference, "Providers - Get" and "Providers - Register"
 *   (api-version 2021-04-01): `GET|POST /subscriptions/{id}/providers/{namespace}[/register]`,
 *   answered 200 with the provider and its `registrationState` (Registered, Registering,
 *   NotRegistered, Unregistering, Unregistered).
 * - [FE] "Features - Get" and "Features - Register" (Microsoft.Features, api-version 2021-07-01):
 *   `GET /subscriptions/{id}/providers/Microsoft.Features/providers/{namespace}/features/{name}`
 *   and `POST .../{name}/register`, both answered 200 with the feature and its
 *   `properties.state`; Microsoft's "Set up preview features in Azure subscription" lists the states
 *   (NotRegistered, Pending, Registering, Registered, Unregistering, Unregistered), Pending being a
 *   feature that waits for the product team's approval.
 * - [CLI] `az feature register` prints: "Once the feature ... is registered, invoking 'az provider
 *   register -n <namespace>' is required to get the change propagated" (Azure/azure-cli issue 29263
 *   shows the message), hence a registration after the features.
 *
 * Requests go through the shared Dataverse client's `request` (timeouts, 429 with Retry-After,
 * backoff on 5xx and network errors), pointed at the ARM origin with an ARM token; no follow-up URL
 * is ever taken from an answer, so the token goes to that origin only.
 */
import { ProviderError, isLoopbackHttp, parsedUrl } from "../common";
import { createDataverseClient, type ClientOptions, type LogFn } from "../dataverse";

/** [RP] api-version of the provider calls; [FE] of the feature calls. */
export const PROVIDERS_API_VERSION = "2021-04-01";
export const FEATURES_API_VERSION = "2021-07-01";
export const DEFAULT_ARM_URL = "https://management.azure.com";

/**
 * ARM hosts per cloud (Microsoft, "Azure China 21Vianet" / "Azure Government developer guide"
 * endpoint tables; azure-native's `environment` setting picks among the same three). A token is
 * requested for `<origin>/.default` and sent to that origin only.
 */
export const ARM_HOSTS: Readonly<Record<string, "public" | "usgovernment" | "china">> = {
  "management.azure.com": "public",
  "management.usgovcloudapi.net": "usgovernment",
  "management.chinacloudapi.cn": "china",
};

/** The ARM origin for azure-native's `environment` setting (public when unset or unknown). */
export function armUrlFor(environment: string | undefined): string {
  const host = Object.entries(ARM_HOSTS).find(([, cloud]) => cloud === (environment ?? "").toLowerCase())?.[0] ?? "management.azure.com";
  return `https://${host}`;
}

/** Why `url` may not receive an ARM token, or undefined: https to a host above, or plain http to this machine (tests). */
export function armUrlProblem(url: string): string | undefined {
  const u = parsedUrl(url);
  if (!u) return "is not a URL";
  if (isLoopbackHttp(u)) return undefined;
  if (u.protocol !== "https:" || u.username || u.password || u.port || u.pathname !== "/" || u.search || u.hash) {
    return "must be the https origin of Azure Resource Manager (no path, port or credentials)";
  }
  return ARM_HOSTS[u.hostname.toLowerCase()] ? undefined : `is not an Azure Resource Manager host (known: ${Object.keys(ARM_HOSTS).join(", ")})`;
}

/** The variable a caller can put an ARM token in (tests, a pipeline that already holds one). */
export const ARM_TOKEN_VARIABLE = "AZURE_RESOURCE_MANAGER_ACCESS_TOKEN";

export class RegistrationError extends ProviderError {
  constructor(message: string) {
    super("RegistrationError", message);
  }
}

/** AZURE_RESOURCE_MANAGER_ACCESS_TOKEN when set, else DefaultAzureCredential for `<armUrl>/.default` (cached). */
export function armTokenSource(armUrl: string): () => Promise<string> {
  let cached: { token: string; expires: number } | undefined;
  return async () => {
    const fromEnv = process.env[ARM_TOKEN_VARIABLE];
    if (fromEnv) return fromEnv;
    if (cached && cached.expires - Date.now() > 5 * 60_000) return cached.token;
    const scope = `${new URL(armUrl).origin}/.default`;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { DefaultAzureCredential } = require("@azure/identity") as typeof import("@azure/identity");
    const t = await new DefaultAzureCredential().getToken(scope);
    if (!t) throw new RegistrationError(`could not get a token for ${scope} (DefaultAzureCredential)`);
    cached = { token: t.token, expires: t.expiresOnTimestamp };
    return t.token;
  };
}

export interface ArmApiOptions {
  armUrl: string;
  getToken?: () => Promise<string>;
  client?: Partial<ClientOptions>;
  log?: LogFn;
}

/** An answer's error, as ARM words it: `error.code` and `error.message`. */
function armError(data: unknown): { code: string; message: string } {
  const e = (data as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  return { code: typeof e?.code === "string" ? e.code : "", message: typeof e?.message === "string" ? e.message.slice(0, 300) : "" };
}

/** A refusal the client raised (401/403), told apart by its status: its own text speaks of Dataverse. */
function refusalStatus(e: unknown): number | undefined {
  const status = (e as { status?: unknown }).status;
  return (e as { name?: unknown }).name === "DataverseError" && (status === 401 || status === 403) ? status : undefined;
}

export type Refused = { refused: number };

export function createArmApi(o: ArmApiOptions) {
  const origin = new URL(o.armUrl).origin;
  const http = createDataverseClient({ environmentUrl: origin, getToken: o.getToken ?? armTokenSource(origin), maxConcurrency: 2, service: "arm", ...o.client, log: o.log });

  /** GET or POST one ARM path; a 401/403 comes back as `{ refused }` for the caller to explain. */
  async function call(method: "GET" | "POST", path: string): Promise<{ status: number; data: unknown } | Refused> {
    try {
      const r = await http.request(method, `${origin}${path}`);
      return { status: r.status, data: r.data };
    } catch (e) {
      const refused = refusalStatus(e);
      if (refused !== undefined) return { refused };
      throw e;
    }
  }

  const providerPath = (subscriptionId: string, namespace: string) =>
    `/subscriptions/${encodeURIComponent(subscriptionId)}/providers/${encodeURIComponent(namespace)}`;

  /** [RP] The provider's registrationState, or `{ refused }`. */
  async function providerState(subscriptionId: string, namespace: string): Promise<string | Refused> {
    const r = await call("GET", `${providerPath(subscriptionId, namespace)}?api-version=${PROVIDERS_API_VERSION}`);
    if ("refused" in r) return r;
    if (r.status === 404) throw new RegistrationError(`resource provider ${namespace} does not exist in subscription ${subscriptionId} (${armError(r.data).code || "HTTP 404"})`);
    if (r.status !== 200) throw new RegistrationError(`reading resource provider ${namespace}: HTTP ${r.status} ${armError(r.data).code} ${armError(r.data).message}`.trim());
    const state = (r.data as { registrationState?: unknown } | undefined)?.registrationState;
    return typeof state === "string" ? state : "";
  }

  /** [RP] Register (again): answered with the provider, usually `Registering`. */
  async function registerProvider(subscriptionId: string, namespace: string): Promise<string | Refused> {
    const r = await call("POST", `${providerPath(subscriptionId, namespace)}/register?api-version=${PROVIDERS_API_VERSION}`);
    if ("refused" in r) return r;
    if (r.status !== 200) throw new RegistrationError(`registering resource provider ${namespace}: HTTP ${r.status} ${armError(r.data).code} ${armError(r.data).message}`.trim());
    const state = (r.data as { registrationState?: unknown } | undefined)?.registrationState;
    return typeof state === "string" ? state : "";
  }

  const featurePath = (subscriptionId: string, namespace: string, feature: string) =>
    `/subscriptions/${encodeURIComponent(subscriptionId)}/providers/Microsoft.Features/providers/${encodeURIComponent(namespace)}/features/${encodeURIComponent(feature)}`;

  /** [FE] GET or register a feature: its state ("NotRegistered" for one never registered), or `{ refused }`. */
  async function feature(method: "GET" | "POST", subscriptionId: string, namespace: string, name: string): Promise<string | Refused> {
    const r = await call(method, `${featurePath(subscriptionId, namespace, name)}${method === "POST" ? "/register" : ""}?api-version=${FEATURES_API_VERSION}`);
    if ("refused" in r) return r;
    if (r.status === 404) throw new RegistrationError(`feature ${namespace}/${name} does not exist (${armError(r.data).code || "HTTP 404"}): check its name`);
    if (r.status !== 200) {
      throw new RegistrationError(`${method === "POST" ? "registering" : "reading"} feature ${namespace}/${name}: HTTP ${r.status} ${armError(r.data).code} ${armError(r.data).message}`.trim());
    }
    const state = (r.data as { properties?: { state?: unknown } } | undefined)?.properties?.state;
    return typeof state === "string" ? state : "";
  }

  return {
    providerState,
    registerProvider,
    featureState: (subscriptionId: string, namespace: string, name: string) => feature("GET", subscriptionId, namespace, name),
    registerFeature: (subscriptionId: string, namespace: string, name: string) => feature("POST", subscriptionId, namespace, name),
    stats: http.stats,
  };
}

export type ArmApi = ReturnType<typeof createArmApi>;
