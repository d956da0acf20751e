/**
 * `PowerPlatformPolicyLink`: links the stack's `NetworkInjection` enterprise policy to its Power
 * Platform environment (what `Enable-SubnetInjection` and Terraform's `powerplatform_enterprise_policy`
 * do), and its dynamic provider. See admin-api.ts for the calls and their sources.
 *
 * - create: check the prerequisites first, each with an error naming it (the environment exists;
 *   it is a Managed Environment; environment and policy are in the same geography; no *other*
 *   policy is linked), then link and wait for the operation. Already linked to this policy: nothing to do.
 * - read (refresh): reports `linked`, `linkStatus` and which policy the environment has now.
 * - update: the only in-place change is "not linked any more" (seen by refresh): link again.
 * - delete: unlink, but only if the environment is still linked to *this* policy.
 *
 * The token comes from POWER_PLATFORM_ACCESS_TOKEN or DefaultAzureCredential at run time and is
 * never an input or output.
 */
import * as pulumi from "@pulumi/pulumi";
import type { DataverseDynamicProviderOptions } from "../dataverse";
import * as api from "./admin-api";
import { changedIgnoringCase, checkResult, cleanInputs, isKnown, pulumiLog, text, type ProviderWithoutConfigure } from "../common";
import { tokenEndpointProblem } from "../clouds";

/** Client tuning an operator (or a test) can set as POWER_PLATFORM_<KEY> (e.g. POWER_PLATFORM_MAX_RETRY_AFTER_MS). */
const ENV_CLIENT_OPTIONS = ["retryBaseMs", "maxRetries", "maxRetryAfterMs", "timeoutMs"] as const;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What the provider receives: the resource's inputs as plain values. */
export interface PowerPlatformPolicyLinkInputs {
  environmentId: string;
  /** The policy's `properties.systemId` ([TF] system_id; [PS] `$policy.Properties.systemId`). */
  policySystemId: string;
  /** The policy's ARM id (for messages and to recognise it on the environment). */
  policyArmId: string;
  /** The policy's location: a Power Platform geography. */
  policyLocation: string;
  /** BAP endpoint; default https://api.bap.microsoft.com. */
  bapUrl: string;
}

/** What the provider returns and the state keeps. */
export interface PowerPlatformPolicyLinkOutputs extends PowerPlatformPolicyLinkInputs {
  linked: boolean;
  /** The environment's `enterprisePolicies.vnets.linkStatus` as last read. */
  linkStatus: string;
  /** System id of the policy the environment is linked to now (another one, or "" for none). */
  linkedPolicySystemId: string;
  environmentName: string;
  environmentLocation: string;
}

/** The inputs with the default endpoint; anything not a string (dropped by the engine) as "". */
function clean(raw: object): PowerPlatformPolicyLinkInputs {
  const i = cleanInputs<Partial<PowerPlatformPolicyLinkInputs>>(raw);
  return {
    environmentId: text(i.environmentId),
    policySystemId: text(i.policySystemId),
    policyArmId: text(i.policyArmId),
    policyLocation: text(i.policyLocation),
    bapUrl: text(i.bapUrl) || api.DEFAULT_BAP_URL,
  };
}

export function checkPolicyLink(i: PowerPlatformPolicyLinkInputs): pulumi.dynamic.CheckFailure[] {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  if (isKnown(i.environmentId) && !GUID.test(i.environmentId)) failures.push({ property: "environmentId", reason: `must be the Power Platform environment id (a GUID), got '${i.environmentId}'` });
  if (isKnown(i.policySystemId) && !api.SYSTEM_ID_PATTERN.test(i.policySystemId)) {
    failures.push({ property: "policySystemId", reason: "must be the policy's systemId: /regions/<location>/providers/Microsoft.PowerPlatform/enterprisePolicies/<guid>" });
  }
  if (isKnown(i.policyLocation) && !/^[a-z]+$/.test(i.policyLocation)) failures.push({ property: "policyLocation", reason: "must be a Power Platform geography such as europe" });
  // Only a BAP host of the table of clouds (or loopback http, the emulator) ever gets the token.
  const bapUrlProblem = isKnown(i.bapUrl) ? tokenEndpointProblem(i.bapUrl, "bap") : undefined;
  if (bapUrlProblem) failures.push({ property: "bapUrl", reason: bapUrlProblem });
  return failures;
}

/** No `configure`: the provider reads no stack config. */
export type PowerPlatformPolicyLinkDynamicProvider = ProviderWithoutConfigure<PowerPlatformPolicyLinkInputs, PowerPlatformPolicyLinkOutputs>;

export interface PowerPlatformPolicyLinkDynamicProviderOptions extends DataverseDynamicProviderOptions {
  /** Cap on one wait between polls of a link operation (tests). */
  maxPollIntervalMs?: number;
}

/** The admin API for `bapUrl`, tuned from the process's environment. */
function connectAdminApi(options: PowerPlatformPolicyLinkDynamicProviderOptions, bapUrl: string): api.AdminApi {
  return api.createAdminApi({ bapUrl, ...api.powerPlatformTuning(options, {}, ENV_CLIENT_OPTIONS) });
}

const sameSystemId = (a: string, b: string) => a !== "" && a.toLowerCase() === b.toLowerCase();

/** The outputs: the inputs, and whether (and to what) the environment is linked now. */
function outputs(i: PowerPlatformPolicyLinkInputs, env: api.EnvironmentInfo): PowerPlatformPolicyLinkOutputs {
  const linkedTo = env.vnets?.systemId ?? "";
  const linked = sameSystemId(linkedTo, i.policySystemId) || (!!env.vnets && env.vnets.id.toLowerCase() === i.policyArmId.toLowerCase() && i.policyArmId !== "");
  return { ...i, linked, linkStatus: env.vnets?.linkStatus ?? "", linkedPolicySystemId: linkedTo, environmentName: env.displayName, environmentLocation: env.location };
}

/** Why the policy cannot be linked to the environment: not managed, another geography, linked to another policy. */
function linkProblems(i: PowerPlatformPolicyLinkInputs, env: api.EnvironmentInfo): string[] {
  const problems: string[] = [];
  if (env.protectionLevel !== api.MANAGED_PROTECTION_LEVEL) {
    problems.push(
      `environment '${env.displayName || i.environmentId}' is not a Managed Environment (governanceConfiguration.protectionLevel is '${env.protectionLevel || "none"}'): ` +
        "enable Managed Environments for it in the Power Platform admin center (Environments > the environment > Enable Managed Environments)",
    );
  }
  if (env.location && !api.sameLocation(env.location, i.policyLocation)) {
    problems.push(`environment '${env.displayName || i.environmentId}' is in geography '${env.location}' but the enterprise policy is in '${i.policyLocation}': set powerPlatformGeo to '${env.location}' (the policy and its VNets must be in the environment's geography)`);
  }
  if (env.vnets) {
    problems.push(`environment '${env.displayName || i.environmentId}' is already linked to another NetworkInjection policy (${env.vnets.id || env.vnets.systemId}); unlink it first (Disable-SubnetInjection) — this program does not replace a link it did not make`);
  }
  return problems;
}

/** Prerequisites, then link unless already linked to this policy. */
async function ensureLinked(admin: api.AdminApi, i: PowerPlatformPolicyLinkInputs): Promise<PowerPlatformPolicyLinkOutputs> {
  const env = await admin.getEnvironment(i.environmentId);
  const before = outputs(i, env);
  if (before.linked) return before;
  const problems = linkProblems(i, env);
  if (problems.length) throw new api.PolicyLinkError(`cannot link ${i.policyArmId || i.policySystemId}: ${problems.join("; ")}`);
  await admin.link(i.environmentId, i.policySystemId);
  const after = outputs(i, await admin.getEnvironment(i.environmentId));
  if (!after.linked) throw new api.PolicyLinkError(`the link operation succeeded but environment ${i.environmentId} does not show the policy yet (linkStatus '${after.linkStatus}'); run 'pulumi refresh' later`);
  return after;
}

/** `delete`: unlink, but only while the environment is linked to this policy; an environment gone has nothing linked. */
async function unlinkIfLinked(admin: api.AdminApi, i: PowerPlatformPolicyLinkInputs): Promise<void> {
  let env: api.EnvironmentInfo;
  try {
    env = await admin.getEnvironment(i.environmentId);
  } catch (e) {
    // The environment itself is gone: nothing is linked any more ([TF] treats a 404 as done too).
    if ((e as Error).name === "PolicyLinkError" && /was not found/.test((e as Error).message)) {
      pulumiLog()("warn", `environment ${i.environmentId} no longer exists; nothing to unlink`);
      return;
    }
    throw e;
  }
  if (!outputs(i, env).linked) {
    pulumiLog()("info", `environment ${i.environmentId} is not linked to ${i.policyArmId || i.policySystemId}; nothing to unlink`);
    return;
  }
  await admin.unlink(i.environmentId, i.policySystemId);
}

/** Build the provider. `options` are captured into the serialized closure: plain data only. */
export function createPowerPlatformPolicyLinkDynamicProvider(options: PowerPlatformPolicyLinkDynamicProviderOptions = {}): PowerPlatformPolicyLinkDynamicProvider {
  const connect = (bapUrl: string) => connectAdminApi(options, bapUrl);
  return {
    async check(_olds, news) {
      return checkResult(news, checkPolicyLink(clean(news)));
    },

    async diff(_id, olds, newsRaw) {
      const news = clean(newsRaw);
      // [TF]: environment_id and system_id force a new link; one environment holds one such policy,
      // so the old link goes first.
      const replaces = changedIgnoringCase(news, olds, ["environmentId", "policySystemId"] as const);
      if (replaces.length) return { changes: true, replaces, deleteBeforeReplace: true };
      const changes = olds.linked === false || news.bapUrl !== olds.bapUrl || news.policyArmId !== olds.policyArmId || news.policyLocation !== olds.policyLocation;
      return { changes, replaces: [], stables: ["environmentId", "policySystemId"] };
    },

    async create(inputs) {
      const i = clean(inputs);
      return { id: `${i.environmentId}_networkinjection`, outs: await ensureLinked(connect(i.bapUrl), i) };
    },

    async read(id, props) {
      if (!props || !props.environmentId) return { id, props };
      const i = clean(props);
      const outs = outputs(i, await connect(i.bapUrl).getEnvironment(i.environmentId));
      if (!outs.linked) pulumiLog()("warn", `environment ${i.environmentId} is no longer linked to ${i.policyArmId || i.policySystemId}${outs.linkedPolicySystemId ? ` (it is linked to ${outs.linkedPolicySystemId})` : ""}; 'pulumi up' links it again`);
      return { id, props: outs };
    },

    async update(_id, _olds, newsRaw) {
      const news = clean(newsRaw);
      return { outs: await ensureLinked(connect(news.bapUrl), news) };
    },

    async delete(_id, props) {
      const i = clean(props);
      await unlinkIfLinked(connect(i.bapUrl), i);
    },
  };
}

/** The provider object `PowerPlatformPolicyLink` uses. */
export const powerPlatformPolicyLinkDynamicProvider = createPowerPlatformPolicyLinkDynamicProvider();

export interface PowerPlatformPolicyLinkArgs {
  /** Power Platform environment id (GUID). */
  environmentId: pulumi.Input<string>;
  /** The NetworkInjection policy's `systemId` (azure-native EnterprisePolicy.systemId). */
  policySystemId: pulumi.Input<string>;
  policyArmId: pulumi.Input<string>;
  /** The policy's Power Platform geography. */
  policyLocation: pulumi.Input<string>;
  /** BAP endpoint; default https://api.bap.microsoft.com (sovereign clouds differ). */
  bapUrl?: pulumi.Input<string>;
}

/**
 * Links a NetworkInjection enterprise policy to a Power Platform environment after checking its
 * prerequisites; on delete unlinks it, but only while the environment is linked to this policy
 * (never a link it did not make). Holds no secret: the token is read at run time.
 */
export class PowerPlatformPolicyLink extends pulumi.dynamic.Resource {
  /** Whether the environment is linked to this policy, and its link status, as last read. */
  declare public readonly linked: pulumi.Output<boolean>;
  declare public readonly linkStatus: pulumi.Output<string>;
  /** The policy the environment is linked to now ("" for none), and the environment's display name. */
  declare public readonly linkedPolicySystemId: pulumi.Output<string>;
  declare public readonly environmentName: pulumi.Output<string>;

  constructor(name: string, args: PowerPlatformPolicyLinkArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      powerPlatformPolicyLinkDynamicProvider,
      name,
      {
        environmentId: args.environmentId,
        policySystemId: args.policySystemId,
        policyArmId: args.policyArmId,
        policyLocation: args.policyLocation,
        bapUrl: args.bapUrl ?? api.DEFAULT_BAP_URL,
        linked: undefined,
        linkStatus: undefined,
        linkedPolicySystemId: undefined,
        environmentName: undefined,
        environmentLocation: undefined,
      },
      opts,
      "powerplatform",
      "PowerPlatformPolicyLink",
    );
  }
}

// The other resources of this folder live in files of their own (environment.ts, managed-environment.ts,
// application-package.ts); their default providers are re-exported here, where the offline plan's
// serialization check and the tests' serializedProvider() look for a folder's default providers.
export { powerPlatformEnvironmentDynamicProvider } from "./environment";
export { powerPlatformManagedEnvironmentDynamicProvider } from "./managed-environment";
export { powerPlatformApplicationPackageDynamicProvider } from "./application-package";
