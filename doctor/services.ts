/**
 * Where the doctor's checks send their requests, and as whom: the public endpoints by default, each
 * replaceable through an environment variable (a sovereign cloud, or the local emulators the tests
 * run), and the operator's credentials.
 *
 * - Dataverse and the Power Platform admin API go through the project's own clients
 *   (dynamic-providers/dataverse, power-platform), with their tokens (DATAVERSE_ACCESS_TOKEN /
 *   POWER_PLATFORM_ACCESS_TOKEN, else DefaultAzureCredential).
 * - Azure Resource Manager, Log Analytics and Fabric go through the Azure SDK's pipeline
 *   (@azure/core-rest-pipeline, under @azure/arm-keyvault and @azure/monitor-query-logs too): its
 *   retry policies (exponential backoff on 5xx and network errors, Retry-After on 429/503), a bearer
 *   token for the endpoint's own audience only, and https only. The credential is
 *   DefaultAzureCredential, or a fixed token from IOM_DOCTOR_ACCESS_TOKEN (the emulators).
 * - Every check group runs under one deadline (`withDeadline`): an answer that never comes is a
 *   failed line, not a hung doctor.
 */
import type { AccessToken, TokenCredential } from "@azure/identity";
import { apiBaseUrlProblem } from "../dynamic-providers/bigcommerce";
import { endpointUrlProblem } from "../dynamic-providers/common";
import { DoctorUsageError } from "./target";

export const DEFAULT_ENDPOINTS = {
  fabricUrl: "https://api.fabric.microsoft.com",
  /** The Log Analytics query API's v1 root, as @azure/monitor-query-logs takes it. */
  logAnalyticsUrl: "https://api.loganalytics.io/v1",
  armUrl: "https://management.azure.com",
} as const;

/** Environment variables that replace an endpoint (docs/operations.md, "The doctor"). */
export const ENDPOINT_ENV = {
  dataverseUrl: "IOM_DOCTOR_DATAVERSE_URL",
  bigcommerceApiUrl: "IOM_DOCTOR_BIGCOMMERCE_API_URL",
  bapUrl: "IOM_DOCTOR_BAP_URL",
  fabricUrl: "IOM_DOCTOR_FABRIC_URL",
  logAnalyticsUrl: "IOM_DOCTOR_LOG_ANALYTICS_URL",
  armUrl: "IOM_DOCTOR_ARM_URL",
} as const;
export const CA_FILE_ENV = "IOM_DOCTOR_CA_FILE";
export const STATIC_TOKEN_ENV = "IOM_DOCTOR_ACCESS_TOKEN";

export interface DoctorServices {
  /** Replaces the stack's dataverseEnvironmentUrl. */
  dataverseUrl?: string;
  /** Replaces https://api.bigcommerce.com: only with plain http to this machine (the emulators). */
  bigcommerceApiUrl?: string;
  /** Replaces the stack's powerPlatformBapUrl (or the public one). */
  bapUrl?: string;
  fabricUrl: string;
  logAnalyticsUrl: string;
  armUrl: string;
  /** For ARM, Log Analytics and Fabric. */
  credential: TokenCredential;
  /** Where `credential` comes from, for messages. */
  credentialSource: string;
  /** A PEM certificate authority the Azure SDK clients trust besides the system's (the emulators' test CA). */
  caPem?: string;
  /** Deadline of one check group. */
  groupTimeoutMs: number;
  /** Per-request timeout of the Azure SDK and Dataverse clients. */
  requestTimeoutMs: number;
}

/** A credential that hands out one fixed token (IOM_DOCTOR_ACCESS_TOKEN); it expires in an hour as far as the SDK knows. */
export function staticCredential(token: string): TokenCredential {
  return { getToken: async (): Promise<AccessToken> => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
}

function defaultCredential(): TokenCredential {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { DefaultAzureCredential } = require("@azure/identity") as typeof import("@azure/identity");
  return new DefaultAzureCredential();
}

/** The services from the environment; a malformed endpoint or an unreadable CA file is a usage error. */
export function servicesFromEnv(env: Readonly<Record<string, string | undefined>>, timeouts: { groupTimeoutMs: number; requestTimeoutMs: number }): DoctorServices {
  const problems: string[] = [];
  const url = (name: string, fallback?: string, check = (v: string) => endpointUrlProblem(v, "must be an https URL (plain http only to this machine)")): string | undefined => {
    const v = env[name];
    if (!v) return fallback;
    const problem = check(v);
    if (problem) problems.push(`${name}: ${problem}`);
    return v.replace(/\/+$/, "");
  };
  let caPem: string | undefined;
  const caFile = env[CA_FILE_ENV];
  if (caFile) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      caPem = (require("fs") as typeof import("fs")).readFileSync(caFile, "utf8");
    } catch (e) {
      problems.push(`${CA_FILE_ENV}: cannot read ${caFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  const services: DoctorServices = {
    dataverseUrl: url(ENDPOINT_ENV.dataverseUrl),
    // The store tokens go to BigCommerce's own host only (or the emulators' loopback), as for the resource.
    bigcommerceApiUrl: url(ENDPOINT_ENV.bigcommerceApiUrl, undefined, apiBaseUrlProblem),
    bapUrl: url(ENDPOINT_ENV.bapUrl),
    fabricUrl: url(ENDPOINT_ENV.fabricUrl, DEFAULT_ENDPOINTS.fabricUrl)!,
    logAnalyticsUrl: url(ENDPOINT_ENV.logAnalyticsUrl, DEFAULT_ENDPOINTS.logAnalyticsUrl)!,
    armUrl: url(ENDPOINT_ENV.armUrl, DEFAULT_ENDPOINTS.armUrl)!,
    credential: env[STATIC_TOKEN_ENV] ? staticCredential(env[STATIC_TOKEN_ENV]!) : defaultCredential(),
    credentialSource: env[STATIC_TOKEN_ENV] ? STATIC_TOKEN_ENV : "DefaultAzureCredential",
    caPem,
    ...timeouts,
  };
  if (problems.length) throw new DoctorUsageError(problems.join("; "));
  return services;
}

/** Client options every Azure SDK client of the doctor gets: endpoint, bounded retries, the extra CA. */
export function azureClientOptions(s: DoctorServices, endpoint: string) {
  return {
    endpoint,
    retryOptions: { maxRetries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 8_000 },
    // A redirect would carry the bearer token to wherever it points: none is followed.
    redirectOptions: { maxRetries: 0 },
    ...(s.caPem ? { tlsOptions: { ca: s.caPem } } : {}),
  };
}

export class DeadlineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DeadlineError";
  }
}

/**
 * Runs `work` with an AbortSignal that fires after `ms`; rejects with a DeadlineError then, even if
 * `work` ignores the signal (the Dataverse client's requests keep their own timeouts).
 */
export async function withDeadline<T>(ms: number, what: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new DeadlineError(`${what}: no complete answer within ${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`));
    }, ms);
  });
  try {
    return await Promise.race([work(controller.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The message of an error from any client, one line, without a stack; the service's error code first when the message lacks it. */
export function errorText(e: unknown): string {
  const m = (e instanceof Error ? e.message : String(e)).split("\n").map((l) => l.trim()).filter(Boolean).join(" ");
  const code = (e as { code?: unknown }).code;
  return typeof code === "string" && /^[A-Za-z][A-Za-z0-9_.]+$/.test(code) && !m.includes(code) && !/^E[A-Z]+$/.test(code) ? `${code}: ${m}` : m;
}
