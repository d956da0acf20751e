/**
 * Emulator of Azure Resource Manager's Key Vault secrets (management plane), over https on
 * 127.0.0.1 (tls.ts). Sources: the Key Vault management REST reference, "Secrets - List"
 * (`GET /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{vault}/secrets
 * ?api-version=...&$top=`, a page of `value` with `nextLink`), the `Secret` model (id, name, type,
 * location, properties.attributes {enabled, nbf, exp, created, updated} in seconds since 1970,
 * contentType, secretUri, secretUriWithVersion; "'value' will never be returned from the service"),
 * and ARM's common error shape `{"error": {"code", "message"}}` (ResourceNotFound,
 * MissingApiVersionParameter).
 */
import type { IncomingMessage, ServerResponse } from "http";
import { sendJson, startHttpsServer, type JsonServer } from "./tls";

export interface EmulatedSecret {
  name: string;
  enabled?: boolean;
  /** Expiry; absent: the secret does not expire. */
  expires?: Date;
  /** Held to prove it is never sent. */
  value: string;
}

export interface EmulatedVault {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location: string;
  secrets: EmulatedSecret[];
}

export interface ArmKeyVaultEmulator {
  url: string;
  vaults: EmulatedVault[];
  log: { path: string; status: number; body: string }[];
  close(): Promise<void>;
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

export async function startArmKeyVaultEmulator(options: { token: string; vaults: EmulatedVault[]; pageSize?: number }): Promise<ArmKeyVaultEmulator> {
  const pageSize = options.pageSize ?? 25;
  const log: ArmKeyVaultEmulator["log"] = [];
  const handle = (req: IncomingMessage, _body: string, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", server.url);
    const reply = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      log.push({ path: `${url.pathname}${url.search}`, status, body: text });
      sendJson(res, status, body);
    };
    if (req.headers.authorization !== `Bearer ${options.token}`) {
      return reply(401, { error: { code: "AuthenticationFailed", message: "Authentication failed. The 'Authorization' header is missing." } });
    }
    const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.KeyVault\/vaults\/([^/]+)\/secrets$/i.exec(url.pathname);
    if (req.method !== "GET" || !m) return reply(404, { error: { code: "InvalidResourceType", message: `The resource type could not be found for ${url.pathname}.` } });
    if (!url.searchParams.get("api-version")) {
      return reply(400, { error: { code: "MissingApiVersionParameter", message: "The api-version query parameter (?api-version=) is required for all requests." } });
    }
    const [, sub, rg, name] = m;
    const vault = options.vaults.find((v) => v.subscriptionId.toLowerCase() === sub.toLowerCase() && v.resourceGroup.toLowerCase() === rg.toLowerCase() && v.name.toLowerCase() === name.toLowerCase());
    if (!vault) return reply(404, { error: { code: "ResourceNotFound", message: `The Resource 'Microsoft.KeyVault/vaults/${name}' under resource group '${rg}' was not found.` } });
    const top = Math.min(pageSize, Number(url.searchParams.get("$top") ?? pageSize));
    const skip = Number(url.searchParams.get("$skiptoken") ?? "0");
    const page = vault.secrets.slice(skip, skip + top);
    const id = `/subscriptions/${vault.subscriptionId}/resourceGroups/${vault.resourceGroup}/providers/Microsoft.KeyVault/vaults/${vault.name}`;
    const value = page.map((s) => ({
      id: `${id}/secrets/${s.name}`,
      name: s.name,
      type: "Microsoft.KeyVault/vaults/secrets",
      location: vault.location,
      properties: {
        attributes: { enabled: s.enabled !== false, created: 1_700_000_000, updated: 1_700_000_000, ...(s.expires ? { exp: seconds(s.expires) } : {}) },
        secretUri: `https://${vault.name}.vault.azure.net/secrets/${s.name}`,
        secretUriWithVersion: `https://${vault.name}.vault.azure.net/secrets/${s.name}/0123456789abcdef0123456789abcdef`,
      },
    }));
    const more = skip + top < vault.secrets.length;
    // ARM's nextLink: the same query with a $skiptoken, written as ARM writes it (a literal `$`).
    const next = `${server.url}${url.pathname}?api-version=${encodeURIComponent(url.searchParams.get("api-version")!)}${url.searchParams.get("$top") ? `&$top=${top}` : ""}&$skiptoken=${skip + top}`;
    return reply(200, { value, ...(more ? { nextLink: next } : {}) });
  };
  const server: JsonServer = await startHttpsServer(handle);
  return { url: server.url, vaults: options.vaults, log, close: () => server.close() };
}
