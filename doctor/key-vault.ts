/**
 * Key Vault: secrets that have expired or expire within `doctorSecretExpiryDays`, read through the
 * management plane (Azure Resource Manager, `Microsoft.KeyVault/vaults/secrets`, with
 * @azure/arm-keyvault). That API returns each secret's attributes (enabled, nbf, exp, created,
 * updated) and never its value ("'value' will never be returned from the service": the SDK's
 * SecretProperties and the REST reference), so the doctor needs no data-plane access to the vault
 * (which takes the private endpoint only) and sees no secret value.
 *
 * Every secret of this stack expires at the end of its rotation window (docs/azure-landing.md,
 * "Secret rotation"): the first `pulumi up` after that date renews it; a secret given in config
 * (the BigCommerce token) is renewed at its source first.
 */
import { storeResourceNames } from "../stores";
import { line, plural, utc, withStore, type CheckContext } from "./context";
import type { CheckLine } from "./report";
import { azureClientOptions, errorText, withDeadline } from "./services";

const GROUP = "Key Vault";
const DAY_MS = 86_400_000;

/** `/subscriptions/<id>/...`: the subscription of an ARM id. */
export function subscriptionOf(armId: string | undefined): string | undefined {
  return /^\/subscriptions\/([^/]+)\//i.exec(armId ?? "")?.[1];
}

interface SecretInfo {
  name: string;
  enabled: boolean;
  expires?: Date;
}

export async function checkKeyVault(ctx: CheckContext): Promise<CheckLine[]> {
  const out = ctx.target.outputs;
  const vault = out.keyVaultName;
  const group = out.resourceGroupName;
  // The vault is in the landing's resource group; the storage account's id names the subscription.
  const subscription = subscriptionOf(out.storageAccountId);
  if (!vault || !group || !subscription) {
    return [line("keyvault.expiry", GROUP, vault ?? "", "fail", "the stack's outputs lack keyVaultName, resourceGroupName or storageAccountId", "run 'pulumi up', then pass the new 'pulumi stack output --json'")];
  }
  let secrets: SecretInfo[];
  try {
    secrets = await withDeadline(ctx.services.groupTimeoutMs, "Key Vault (management plane)", async (signal) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { KeyVaultManagementClient } = require("@azure/arm-keyvault") as typeof import("@azure/arm-keyvault");
      const client = new KeyVaultManagementClient(ctx.services.credential, subscription, azureClientOptions(ctx.services, ctx.services.armUrl));
      const list: SecretInfo[] = [];
      for await (const s of client.secrets.list(group, vault, { abortSignal: signal })) {
        list.push({ name: s.name ?? "?", enabled: s.properties.attributes?.enabled !== false, expires: s.properties.attributes?.expires });
      }
      return list;
    });
  } catch (e) {
    const status = (e as { statusCode?: number }).statusCode;
    if (status === 404) {
      return [line("keyvault.expiry", GROUP, vault, "fail", `no vault '${vault}' in resource group '${group}' of subscription ${subscription}`,
        "the outputs do not describe the deployed stack (or the signed-in identity is in another subscription): pass the current 'pulumi stack output --json'")];
    }
    return [line("keyvault.expiry", GROUP, vault, "fail", `its secrets could not be listed: ${errorText(e)}`,
      status === 401 || status === 403 ? `the identity needs Reader (Microsoft.KeyVault/vaults/secrets/read) on the vault or resource group '${group}'; no data-plane role is needed` : "run the doctor again")];
  }
  const soon = ctx.now.getTime() + ctx.secretExpiryDays * DAY_MS;
  const lines: CheckLine[] = [];
  const inDays = (d: Date) => Math.ceil((d.getTime() - ctx.now.getTime()) / DAY_MS);
  const generated = new Set(Object.values(out.keyVaultSecretNames ?? {}));
  // A store's token secret is that store's: its expiry fails the store too.
  const storeOf = new Map(ctx.target.config.bigcommerceStores.map((st) => [out.bigcommerceStores?.[st.name]?.accessTokenSecretName ?? storeResourceNames(st).vaultSecretName, st.name]));
  for (const s of secrets.filter((x) => x.enabled && x.expires && x.expires.getTime() <= soon).sort((a, b) => a.expires!.getTime() - b.expires!.getTime())) {
    const expired = s.expires!.getTime() <= ctx.now.getTime();
    const when = expired ? `expired ${utc(s.expires!)}` : `expires ${utc(s.expires!)}, in ${plural(inDays(s.expires!), "day")}`;
    const fix = generated.has(s.name)
      ? `the program renews it in the first 'pulumi up' after the rotation window ends (${utc(s.expires!)}): run it then${expired ? " now" : ""}; to renew it earlier, see docs/azure-landing.md "Secret rotation"`
      : `rotate it at its source, set it again ('pulumi config set --secret ...') and run 'pulumi up' after ${utc(s.expires!)}`;
    lines.push(withStore(line("keyvault.expiry", GROUP, `${vault} / ${s.name}`, "fail", when, fix, { secret: s.name, expires: s.expires!.toISOString(), days: inDays(s.expires!) }), storeOf.get(s.name)));
  }
  const noExpiry = secrets.filter((x) => x.enabled && !x.expires).map((x) => x.name);
  if (noExpiry.length) {
    lines.push(line("keyvault.no-expiry", GROUP, vault, "warn", `${plural(noExpiry.length, "secret")} without an expiry: ${noExpiry.join(", ")}`,
      "secrets this program writes always expire: these were added by hand; give them an expiry (the key-vault-secret-expiry policy wants one)", { secrets: noExpiry }));
  }
  if (!lines.some((l) => l.status === "fail")) {
    const next = secrets.filter((x) => x.enabled && x.expires).sort((a, b) => a.expires!.getTime() - b.expires!.getTime())[0];
    lines.unshift(line("keyvault.expiry", GROUP, vault, "ok",
      `${plural(secrets.length, "secret")}, none expires within ${ctx.secretExpiryDays} days${next ? `; next: ${next.name} on ${utc(next.expires!)} (in ${inDays(next.expires!)} days)` : ""}`,
      undefined, { secrets: secrets.length, nextExpiry: next ? { secret: next.name, expires: next.expires!.toISOString() } : null }));
  }
  return lines;
}
