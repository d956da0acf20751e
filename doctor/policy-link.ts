/**
 * VNet stacks: the NetworkInjection enterprise policy linked to the Power Platform environment, as
 * the environment reports it now (the Power Platform admin API's environment read, the same call the
 * PowerPlatformPolicyLink resource makes in `pulumi refresh`: `properties.enterprisePolicies.vnets`
 * with the linked policy's id and `linkStatus`).
 */
import { environmentIdOf } from "./target";
import { DEFAULT_BAP_URL, createAdminApi } from "../dynamic-providers/power-platform";
import { line, type CheckContext } from "./context";
import type { CheckLine } from "./report";
import { errorText, withDeadline } from "./services";

const GROUP = "Policy link";
const ID = "powerplatform.policylink";

export async function checkPolicyLink(ctx: CheckContext): Promise<CheckLine[]> {
  const { config, outputs } = ctx.target;
  if (!config.powerPlatformVnet) return [line(ID, GROUP, "", "skip", "this stack has no Power Platform VNet support (connectivity is dataGateway)")];
  const policy = outputs.powerPlatformEnterprisePolicyId;
  const envId = environmentIdOf(ctx.target);
  if (!envId) {
    return [line(ID, GROUP, policy ?? "", config.connectivity.dataGateway ? "warn" : "fail", "no environment to link to: powerPlatformEnvironmentId is empty and the outputs name no created environment",
      "set powerPlatformEnvironmentId to the IOM environment's id and run 'pulumi up' (it links the policy), or link it by hand as nextSteps says")];
  }
  if (!policy) return [line(ID, GROUP, envId, "fail", "the stack's outputs lack powerPlatformEnterprisePolicyId", "run 'pulumi up', then pass the new 'pulumi stack output --json'")];
  const bapUrl = ctx.services.bapUrl ?? config.powerPlatformBapUrl ?? DEFAULT_BAP_URL;
  try {
    const env = await withDeadline(ctx.services.groupTimeoutMs, "Power Platform admin API", () =>
      createAdminApi({ bapUrl, client: { maxRetries: 2, timeoutMs: ctx.services.requestTimeoutMs, maxRetryAfterMs: 60_000 } }).getEnvironment(envId));
    const linked = env.vnets;
    const details = { environmentId: envId, environmentName: env.displayName, linkedPolicy: linked?.id ?? null, linkStatus: linked?.linkStatus ?? null };
    if (!linked) {
      return [line(ID, GROUP, env.displayName || envId, "fail", "no enterprise policy is linked to the environment: Power Automate cannot reach the private storage through the VNet",
        "run 'pulumi up' (it links the policy), or Enable-SubnetInjection from Microsoft.PowerPlatform.EnterprisePolicies", details)];
    }
    if (linked.id.toLowerCase() !== policy.toLowerCase()) {
      return [line(ID, GROUP, env.displayName || envId, "fail", `the environment is linked to another policy (${linked.id}), not the stack's (${policy})`,
        "run 'pulumi up' to link the stack's policy (it swaps the link), unless the other policy is meant to be there", details)];
    }
    if (linked.linkStatus.toLowerCase() !== "linked") {
      return [line(ID, GROUP, env.displayName || envId, "fail", `the stack's policy is attached but its link status is '${linked.linkStatus || "(empty)"}'`,
        "wait for the link operation to finish and check again; if it stays so, see the environment's history in the Power Platform admin center", details)];
    }
    return [line(ID, GROUP, env.displayName || envId, "ok", "the stack's NetworkInjection policy is linked", undefined, details)];
  } catch (e) {
    return [line(ID, GROUP, envId, "fail", errorText(e), "the identity must be a Power Platform administrator (POWER_PLATFORM_ACCESS_TOKEN or DefaultAzureCredential); check powerPlatformEnvironmentId")];
  }
}
