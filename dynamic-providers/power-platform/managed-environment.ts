/**
 * `PowerPlatformManagedEnvironment`: makes the stack's environment a Managed Environment (its
 * governance configuration at protection level Standard), which Power Platform's virtual-network
 * support requires, and its dynamic provider. The call and its source are in environment-api.ts
 * (`enableManaged`, after Terraform's powerplatform_managed_environment).
 *
 * - create / update: reads the environment; already Standard: no call; else sets the governance
 *   configuration and waits for the lifecycle operation, then reads it back.
 * - read (refresh): the protection level as it is; "Basic" (turned off in the admin center) shows as
 *   a change and the next `up` turns it on again.
 * - delete: no call. Terraform's resource sets the level back to Basic on destroy; this one leaves
 *   the environment managed (it may hold the VNet link, and turning governance off is an
 *   administrator's decision), and says so in the log.
 *
 * Serialized with its resources: plain functions and data only.
 */
import * as pulumi from "@pulumi/pulumi";
import type { DataverseDynamicProviderOptions } from "../dataverse";
import { changedIgnoringCase, checkResult, cleanInputs, isKnown, pulumiLog, type ProviderWithoutConfigure } from "../common";
import { DEFAULT_BAP_URL, MANAGED_PROTECTION_LEVEL, powerPlatformTuning } from "./admin-api";
import { PowerPlatformEnvironmentError, createEnvironmentApi } from "./environment-api";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface PowerPlatformManagedEnvironmentInputs {
  environmentId: string;
  bapUrl: string;
}

export interface PowerPlatformManagedEnvironmentOutputs extends PowerPlatformManagedEnvironmentInputs {
  /** governanceConfiguration.protectionLevel as last read: Standard when managed. */
  protectionLevel: string;
}

function clean(raw: object): PowerPlatformManagedEnvironmentInputs {
  const i = cleanInputs<Partial<PowerPlatformManagedEnvironmentInputs>>(raw);
  return { environmentId: typeof i.environmentId === "string" ? i.environmentId : "", bapUrl: typeof i.bapUrl === "string" && i.bapUrl ? i.bapUrl : DEFAULT_BAP_URL };
}

export type PowerPlatformManagedEnvironmentDynamicProvider = ProviderWithoutConfigure<PowerPlatformManagedEnvironmentInputs, PowerPlatformManagedEnvironmentOutputs>;

export interface PowerPlatformManagedEnvironmentDynamicProviderOptions extends DataverseDynamicProviderOptions {
  maxPollIntervalMs?: number;
}

export function createPowerPlatformManagedEnvironmentDynamicProvider(options: PowerPlatformManagedEnvironmentDynamicProviderOptions = {}): PowerPlatformManagedEnvironmentDynamicProvider {
  const connect = (bapUrl: string) => createEnvironmentApi({ bapUrl, ...powerPlatformTuning(options) });

  const ensureManaged = async (i: PowerPlatformManagedEnvironmentInputs): Promise<PowerPlatformManagedEnvironmentOutputs> => {
    const api = connect(i.bapUrl);
    const before = await api.getEnvironment(i.environmentId);
    if (before.protectionLevel === MANAGED_PROTECTION_LEVEL) return { ...i, protectionLevel: before.protectionLevel };
    await api.enableManaged(i.environmentId);
    const after = await api.getEnvironment(i.environmentId);
    if (after.protectionLevel !== MANAGED_PROTECTION_LEVEL) {
      throw new PowerPlatformEnvironmentError(`environment ${i.environmentId}: the governance operation succeeded but its protection level reads '${after.protectionLevel || "none"}'; run 'pulumi up' again later`);
    }
    return { ...i, protectionLevel: after.protectionLevel };
  };

  return {
    async check(_olds, news) {
      const i = clean(news);
      const failures: pulumi.dynamic.CheckFailure[] = [];
      if (isKnown(i.environmentId) && !GUID.test(i.environmentId)) failures.push({ property: "environmentId", reason: `must be the Power Platform environment id (a GUID), got '${i.environmentId}'` });
      return checkResult(news, failures);
    },

    async diff(_id, olds, newsRaw) {
      const news = clean(newsRaw);
      const replaces = changedIgnoringCase(news, olds, ["environmentId"] as const);
      if (replaces.length) return { changes: true, replaces, deleteBeforeReplace: false };
      return { changes: olds.protectionLevel !== MANAGED_PROTECTION_LEVEL || news.bapUrl !== olds.bapUrl, replaces: [], stables: ["environmentId"] };
    },

    async create(inputs) {
      const outs = await ensureManaged(clean(inputs));
      return { id: `${outs.environmentId}_governance`, outs };
    },

    async read(id, props) {
      if (!props) return { id, props };
      const i = clean(props);
      const env = await connect(i.bapUrl).getEnvironment(i.environmentId);
      if (env.protectionLevel !== MANAGED_PROTECTION_LEVEL) pulumiLog()("warn", `environment ${i.environmentId} is no longer a Managed Environment (protection level '${env.protectionLevel || "none"}'); 'pulumi up' turns it on again`);
      return { id, props: { ...i, protectionLevel: env.protectionLevel } };
    },

    async update(_id, _olds, news) {
      return { outs: await ensureManaged(clean(news)) };
    },

    async delete(_id, props) {
      pulumiLog()("info", `environment ${String(props.environmentId)} stays a Managed Environment: this program does not turn governance off (the Power Platform admin center does)`);
    },
  };
}

export const powerPlatformManagedEnvironmentDynamicProvider = createPowerPlatformManagedEnvironmentDynamicProvider();

export interface PowerPlatformManagedEnvironmentArgs {
  environmentId: pulumi.Input<string>;
  bapUrl?: pulumi.Input<string>;
}

/**
 * Makes a Power Platform environment a Managed Environment (governance protection level
 * Standard, as Terraform's powerplatform_managed_environment sets it). Delete leaves it managed.
 * Holds no secret.
 */
export class PowerPlatformManagedEnvironment extends pulumi.dynamic.Resource {
  declare public readonly environmentId: pulumi.Output<string>;
  declare public readonly protectionLevel: pulumi.Output<string>;

  constructor(name: string, args: PowerPlatformManagedEnvironmentArgs, opts?: pulumi.CustomResourceOptions) {
    super(powerPlatformManagedEnvironmentDynamicProvider, name, { environmentId: args.environmentId, bapUrl: args.bapUrl ?? DEFAULT_BAP_URL, protectionLevel: undefined }, opts, "powerplatform", "ManagedEnvironment");
  }
}
