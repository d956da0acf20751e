/**
 * Tokens for the Dataverse Web API, and errors an operator can act on when the service refuses one.
 *
 * - A token comes from `DATAVERSE_ACCESS_TOKEN` when set, else from `@azure/identity`'s
 *   DefaultAzureCredential with scope `<environment origin>/.default` (cached until 5 minutes
 *   before expiry). The source remembers which credential of the chain answered, when
 *   @azure/identity reports it, so an error can say where the token came from.
 * - `authError` turns a 401/403 into a message naming the environment, the token's source and
 *   what the token is for (app id, tenant, audience, expiry, read from its claims without
 *   verifying them), the audience Dataverse expects, and the fix. The token itself never appears.
 *
 * Reused by every client built on the Dataverse client (mappings, IOM provider parameters, and the
 * Power Platform admin API, whose refusals name that service and its audience instead).
 */
import { BAP_SCOPE_VARIABLE, SERVICE_LABELS, type TokenService } from "../clouds";

export interface TokenSource {
  /** A bearer token for the environment. */
  getToken(): Promise<string>;
  /** Where the last token came from, for messages (never the token). */
  describe(): string;
}

/** The claims of an Entra ID access token that explain a refusal. Not verified: for messages only. */
export interface TokenClaims {
  audience?: string;
  appId?: string;
  tenantId?: string;
  /** `app` for a service principal / managed identity, `user` for a signed-in user. */
  identityType?: "app" | "user";
  user?: string;
  expiresAt?: Date;
}

export const ENV_TOKEN_VARIABLE = "DATAVERSE_ACCESS_TOKEN";

/** The audience (resource) Dataverse expects: the environment's origin. */
export function expectedAudience(environmentUrl: string): string {
  return new URL(environmentUrl).origin;
}

export function tokenScope(environmentUrl: string): string {
  return `${expectedAudience(environmentUrl)}/.default`;
}

/** Read the payload of a JWT; undefined when the token is not a JWT. */
export function tokenClaims(token: string): TokenClaims | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const str = (k: string) => (typeof c[k] === "string" ? (c[k] as string) : undefined);
  const aud = Array.isArray(c.aud) ? String(c.aud[0]) : str("aud");
  const idtyp = str("idtyp");
  const user = str("upn") ?? str("unique_name") ?? str("preferred_username");
  return {
    audience: aud,
    appId: str("appid") ?? str("azp"),
    tenantId: str("tid"),
    identityType: idtyp === "app" || idtyp === "user" ? idtyp : user ? "user" : str("appid") || str("azp") ? "app" : undefined,
    user,
    expiresAt: typeof c.exp === "number" ? new Date(c.exp * 1000) : undefined,
  };
}

interface ChainResult {
  token: { token: string; expiresOnTimestamp: number } | null;
  successfulCredential?: { constructor: { name: string } };
}

/**
 * The default token source. DefaultAzureCredential is a ChainedTokenCredential; its
 * `getTokenInternal` (present in @azure/identity 4.x, not part of its typed API) also returns the
 * credential that answered. It is used when present, else plain `getToken`.
 */
export function defaultTokenSource(environmentUrl: string): TokenSource {
  let cached: { token: string; expires: number; source: string } | undefined;
  let last = "no token requested yet";
  const scope = tokenScope(environmentUrl);
  return {
    describe: () => last,
    getToken: async () => {
      const fromEnv = process.env[ENV_TOKEN_VARIABLE];
      if (fromEnv) {
        last = `the ${ENV_TOKEN_VARIABLE} environment variable`;
        return fromEnv;
      }
      if (cached && cached.expires - Date.now() > 5 * 60_000) {
        last = cached.source;
        return cached.token;
      }
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { DefaultAzureCredential } = require("@azure/identity") as typeof import("@azure/identity");
      const credential = new DefaultAzureCredential();
      const internal = (credential as unknown as { getTokenInternal?: (s: string) => Promise<ChainResult> }).getTokenInternal;
      let result: ChainResult;
      try {
        result = typeof internal === "function" ? await internal.call(credential, scope) : { token: await credential.getToken(scope) };
      } catch (e) {
        last = "DefaultAzureCredential (no source in its chain gave a token)";
        throw new AuthError(
          `could not get a token for ${scope} from DefaultAzureCredential: ${(e as Error).message.split("\n")[0]}. ` +
            `Set ${ENV_TOKEN_VARIABLE}, or sign in (az login), or provide a service principal (AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET or a federated token) or a managed identity.`,
          401,
          undefined,
        );
      }
      const name = result.successfulCredential?.constructor.name;
      last = `DefaultAzureCredential${name ? ` (${name})` : ""}`;
      if (!result.token) throw new AuthError(`DefaultAzureCredential returned no token for ${scope}`, 401, undefined);
      cached = { token: result.token.token, expires: result.token.expiresOnTimestamp, source: last };
      return result.token.token;
    },
  };
}

/** Wrap a plain token function (tests, other callers) as a source. */
export function tokenSourceOf(get: (() => Promise<string>) | TokenSource, label = "the getToken function passed to the client"): TokenSource {
  return typeof get === "function" ? { getToken: get, describe: () => label } : get;
}

/**
 * A 401/403 from Dataverse. `name` is "DataverseError" so the duck-typed check that works in the
 * serialized provider (see client.ts isDataverseError) still recognises it; `auth` tells it apart.
 */
export class AuthError extends Error {
  readonly auth: boolean;
  constructor(
    message: string,
    public readonly status: number,
    public readonly code: string | undefined,
  ) {
    super(message);
    this.auth = true; // not a field initializer: the closure serializer rebuilds a class from its constructor and drops them
    this.message = message; // see SyncError: needed in the serialized provider
    this.name = "DataverseError";
  }
}

export function isAuthError(e: unknown): e is AuthError {
  return typeof e === "object" && e !== null && (e as { auth?: unknown }).auth === true && typeof (e as { status?: unknown }).status === "number";
}

export interface RefusalDetails {
  /** The origin that refused (a Dataverse environment, or the BAP / Power Platform API host). */
  environmentUrl: string;
  /** The service that refused; default Dataverse. The message names it, its audience and its fix. */
  service?: TokenService;
  /** The scope a token for it is requested with (clouds.ts `tokenScopeFor`); default the environment's own. */
  scope?: string;
  status: number;
  code?: string;
  serviceMessage?: string;
  /** The WWW-Authenticate header of a 401, if any. */
  challenge?: string;
  tokenSource: string;
  token?: string;
  what: string;
}

/** The variable a token for `service` can be passed in (Dataverse: auth.ts; BAP and the Power Platform API: power-platform/admin-api.ts). */
function tokenVariable(service: TokenService): string {
  return service === "dataverse" ? ENV_TOKEN_VARIABLE : service === "arm" ? "AZURE_RESOURCE_MANAGER_ACCESS_TOKEN" : "POWER_PLATFORM_ACCESS_TOKEN";
}

/** Who refused, for the first line of the message. */
function refuser(service: TokenService, origin: string): string {
  if (service === "dataverse") return `Dataverse environment ${origin}`;
  const label = SERVICE_LABELS[service];
  return `${label[0].toUpperCase()}${label.slice(1)} at ${origin}`;
}

/** Build the operator-facing error for a 401 or 403 from Dataverse, the BAP or the Power Platform API. */
export function authError(d: RefusalDetails): AuthError {
  const service = d.service ?? "dataverse";
  const origin = new URL(d.environmentUrl).origin;
  const scope = d.scope ?? (service === "dataverse" ? tokenScope(d.environmentUrl) : undefined);
  const scopeText = scope ?? `the ${SERVICE_LABELS[service]} scope of its cloud (clouds.ts)`;
  const claims = d.token ? tokenClaims(d.token) : undefined;
  const resource = d.challenge ? /resource_id=([^,\s]+)/i.exec(d.challenge)?.[1] : undefined;
  const audience = resource ?? (service === "dataverse" ? expectedAudience(d.environmentUrl) : scope?.replace(/\/\.default$/, ""));
  const lines: string[] = [];
  const said = [d.code, d.serviceMessage].filter(Boolean).join(": ");
  lines.push(`${refuser(service, origin)} refused ${d.what} with HTTP ${d.status}${said ? ` (${said})` : d.status === 401 ? " (no details: the token was not accepted)" : ""}.`);
  lines.push(`Token from ${d.tokenSource}${aboutToken(claims, d.token)}.`);
  lines.push(`Expected audience: ${audience ?? "unknown for this host"} (request the token with scope ${scopeText}).`);
  const audienceWrong = audience !== undefined && claims?.audience !== undefined && claims.audience.replace(/\/$/, "").toLowerCase() !== audience.replace(/\/$/, "").toLowerCase();
  const expired = claims?.expiresAt !== undefined && claims.expiresAt.getTime() < Date.now();
  const who = claims?.appId ? `the app registration ${claims.appId}` : "the identity that gets the token";
  const variable = tokenVariable(service);
  if (d.status === 401 && audienceWrong) {
    lines.push(`Fix: the token is for another resource; get one for ${scopeText}${service === "bap" ? ` (${BAP_SCOPE_VARIABLE} overrides this scope where a cloud's audience differs)` : ""}.`);
  } else if (d.status === 401 && expired) {
    lines.push(`Fix: the token has expired; get a new one${d.tokenSource.includes(variable) ? ` and set ${variable} again (or unset it to use DefaultAzureCredential, which renews tokens)` : ""}.`);
  } else if (service !== "dataverse") {
    lines.push(
      d.status === 401
        ? `Fix: check that the token is a current Entra ID token of the environment's tenant for ${audience ?? scopeText}.`
        : `Fix: ${who} needs a Power Platform administrator role (Power Platform Administrator or Dynamics 365 Administrator in Entra ID) to call ${SERVICE_LABELS[service]}; the service's message may name what is missing.`,
    );
  } else if (d.status === 401) {
    lines.push(
      `Fix: check that the token is a current Entra ID token for this environment's tenant, then that ${who} has an application user in this environment ` +
        `(Power Platform admin center > Environments > this environment > Settings > Users + permissions > Application users) with a security role.`,
    );
  } else {
    lines.push(
      `Fix: in this environment, ${who} needs an application user (Power Platform admin center > Environments > this environment > Settings > Users + permissions > Application users > New app user) ` +
        `with a security role that can read the IOM tables and create, update and delete the mapping rows; if it already has one, its role lacks a privilege named in the service's message.`,
    );
  }
  return new AuthError(lines.join(" "), d.status, d.code);
}

/** What the token's claims say about whom it is for (never the token). */
function aboutToken(claims: TokenClaims | undefined, token: string | undefined): string {
  const about: string[] = [];
  if (claims?.identityType === "user") about.push(`user ${claims.user ?? "(unnamed)"}`);
  if (claims?.appId) about.push(`${claims.identityType === "user" ? "client" : "application"} id ${claims.appId}`);
  if (claims?.tenantId) about.push(`tenant ${claims.tenantId}`);
  if (claims?.audience) about.push(`audience ${claims.audience}`);
  if (claims?.expiresAt) about.push(`${claims.expiresAt.getTime() < Date.now() ? "EXPIRED at" : "expires"} ${claims.expiresAt.toISOString()}`);
  return about.length ? `: ${about.join(", ")}` : token ? " (not a JWT; cannot tell whom it is for)" : "";
}
