/**
 * `PowerPlatformApplicationPackage`: a Dynamics 365 application package installed in the stack's
 * environment (the IOM app, `msdyn_IntelligentOrderManagementAnchor`), and its dynamic provider.
 * The calls and their sources are in app-package-api.ts.
 *
 * - create / update: the environment must have a Dataverse (read through BAP, as Terraform's
 *   DataverseExists does); the package must be offered to it (the tenant's entitlement); already
 *   installed: no call; else install and wait for the operation, then read the package list again.
 * - read (refresh): version and state as the package list reports them; a package no longer
 *   installed shows as a change and the next `up` installs it again.
 * - delete: uninstalls nothing. The Power Platform API has no uninstall (Terraform's resource does
 *   the same: "No application have been uninstalled, as this is the expected behavior"); the log
 *   says so.
 *
 * Outputs `instanceUrl`, the Dataverse the package is installed in: the program takes the URL for
 * the mappings and the provider parameters from here, so they wait for the install.
 *
 * Serialized with its resources: plain functions and data only. Tokens are read at run time.
 */
import * as pulumi from "@pulumi/pulumi";
import type { DataverseDynamicProviderOptions } from "../dataverse";
import { changedIgnoringCase, checkResult, cleanInputs, endpointUrlProblem, isKnown, pulumiLog, text, type ProviderWithoutConfigure } from "../common";
import { CLOUDS } from "../clouds";
import { createAdminApi, DEFAULT_BAP_URL, powerPlatformTuning } from "./admin-api";
import { ApplicationPackageError, createApplicationPackageApi, INSTALLED, IOM_APPLICATION_PACKAGE, type ApplicationPackage } from "./app-package-api";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The public cloud's Power Platform API origin (clouds.ts). */
export const DEFAULT_POWER_PLATFORM_API_URL = `https://${CLOUDS.public.powerPlatformApiHost}`;

export interface PowerPlatformApplicationPackageInputs {
  environmentId: string;
  /** The package's unique name, e.g. msdyn_IntelligentOrderManagementAnchor. */
  uniqueName: string;
  bapUrl: string;
  powerPlatformApiUrl: string;
}

export interface PowerPlatformApplicationPackageArgs {
  environmentId: pulumi.Input<string>;
  /** Default msdyn_IntelligentOrderManagementAnchor (IOM). */
  uniqueName?: pulumi.Input<string>;
  bapUrl?: pulumi.Input<string>;
  /** Power Platform API origin; default https://api.powerplatform.com. */
  powerPlatformApiUrl?: pulumi.Input<string>;
}

export interface PowerPlatformApplicationPackageOutputs extends PowerPlatformApplicationPackageInputs {
  /** The package's name as the service lists it. */
  name: string;
  /** Installed version, e.g. 9.2.24031.1. */
  version: string;
  /** Installed, or what the service reports instead. */
  state: string;
  /** The environment's Dataverse URL (no trailing slash): where the package is installed. */
  instanceUrl: string;
}

function clean(raw: object): PowerPlatformApplicationPackageInputs {
  const i = cleanInputs<Partial<PowerPlatformApplicationPackageInputs>>(raw);
  return {
    environmentId: text(i.environmentId),
    uniqueName: text(i.uniqueName),
    bapUrl: text(i.bapUrl) || DEFAULT_BAP_URL,
    powerPlatformApiUrl: text(i.powerPlatformApiUrl) || DEFAULT_POWER_PLATFORM_API_URL,
  };
}

export function checkApplicationPackage(i: PowerPlatformApplicationPackageInputs): pulumi.dynamic.CheckFailure[] {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  if (isKnown(i.environmentId) && !GUID.test(i.environmentId)) failures.push({ property: "environmentId", reason: `must be the Power Platform environment id (a GUID), got '${i.environmentId}'` });
  if (isKnown(i.uniqueName) && !/^[A-Za-z][A-Za-z0-9_]*$/.test(i.uniqueName)) failures.push({ property: "uniqueName", reason: "must be an application package's unique name such as msdyn_IntelligentOrderManagementAnchor" });
  for (const key of ["bapUrl", "powerPlatformApiUrl"] as const) {
    const problem = isKnown(i[key]) ? endpointUrlProblem(i[key], "must be an https URL") : undefined;
    if (problem) failures.push({ property: key, reason: problem });
  }
  return failures;
}

export type PowerPlatformApplicationPackageDynamicProvider = ProviderWithoutConfigure<PowerPlatformApplicationPackageInputs, PowerPlatformApplicationPackageOutputs>;

export interface PowerPlatformApplicationPackageDynamicProviderOptions extends DataverseDynamicProviderOptions {
  maxPollIntervalMs?: number;
}

const findPackage = (list: ApplicationPackage[], uniqueName: string) => list.find((p) => p.uniqueName.toLowerCase() === uniqueName.toLowerCase());

export function createPowerPlatformApplicationPackageDynamicProvider(options: PowerPlatformApplicationPackageDynamicProviderOptions = {}): PowerPlatformApplicationPackageDynamicProvider {
  const tuning = () => powerPlatformTuning(options);
  const packages = (i: PowerPlatformApplicationPackageInputs) => createApplicationPackageApi({ powerPlatformApiUrl: i.powerPlatformApiUrl, ...tuning() });

  const outputsOf = (i: PowerPlatformApplicationPackageInputs, p: ApplicationPackage | undefined, instanceUrl: string): PowerPlatformApplicationPackageOutputs => ({
    ...i,
    name: p?.name ?? "",
    version: p?.version ?? "",
    state: p?.state ?? "NotOffered",
    instanceUrl,
  });

  const ensureInstalled = async (i: PowerPlatformApplicationPackageInputs): Promise<PowerPlatformApplicationPackageOutputs> => {
    const env = await createAdminApi({ bapUrl: i.bapUrl, ...tuning() }).getEnvironment(i.environmentId);
    // [TF-APP] Create: "No Dataverse exists in environment" stops an install before it is sent.
    if (!env.dataverse) throw new ApplicationPackageError(`cannot install ${i.uniqueName}: environment '${env.displayName || i.environmentId}' has no Dataverse`);
    const api = packages(i);
    const before = findPackage(await api.list(i.environmentId), i.uniqueName);
    if (!before) {
      throw new ApplicationPackageError(
        `application package ${i.uniqueName} is not offered to environment '${env.displayName || i.environmentId}': the tenant has no entitlement to it ` +
          "(for IOM: an Intelligent Order Management licence) or the name is wrong (check iomApplicationPackage; the Power Platform admin center lists the offered ones under the environment's Resources > Dynamics 365 apps)",
      );
    }
    if (before.state === INSTALLED) {
      pulumiLog()("info", `${i.uniqueName} ${before.version} is already installed in environment ${i.environmentId}; nothing to do`);
      return outputsOf(i, before, env.dataverse.instanceUrl);
    }
    if (before.lastError) pulumiLog()("info", `${i.uniqueName}: the last install attempt reported '${before.lastError}'; installing again`);
    await api.install(i.environmentId, i.uniqueName);
    const after = findPackage(await api.list(i.environmentId), i.uniqueName);
    if (after?.state !== INSTALLED) {
      throw new ApplicationPackageError(`installing ${i.uniqueName} into environment ${i.environmentId} reported success, but the package's state is '${after?.state ?? "missing"}'${after?.lastError ? ` (${after.lastError})` : ""}; run 'pulumi up' again`);
    }
    return outputsOf(i, after, env.dataverse.instanceUrl);
  };

  return {
    async check(_olds, news) {
      return checkResult(news, checkApplicationPackage(clean(news)));
    },

    async diff(_id, olds, newsRaw) {
      const news = clean(newsRaw);
      // Another environment or package is another install; the old one is never uninstalled.
      const replaces = changedIgnoringCase(news, olds, ["environmentId", "uniqueName"] as const);
      if (replaces.length) return { changes: true, replaces, deleteBeforeReplace: false };
      const changes = olds.state !== INSTALLED || news.bapUrl !== olds.bapUrl || news.powerPlatformApiUrl !== olds.powerPlatformApiUrl;
      return { changes, replaces: [], stables: ["environmentId", "uniqueName", "instanceUrl"] };
    },

    async create(inputs) {
      const outs = await ensureInstalled(clean(inputs));
      return { id: `${outs.environmentId}_${outs.uniqueName.toLowerCase()}`, outs };
    },

    async read(id, props) {
      if (!props) return { id, props };
      const i = clean(props);
      const p = findPackage(await packages(i).list(i.environmentId), i.uniqueName);
      if (p?.state !== INSTALLED) pulumiLog()("warn", `${i.uniqueName} is not installed in environment ${i.environmentId} (state '${p?.state ?? "not offered"}'); 'pulumi up' installs it`);
      return { id, props: outputsOf(i, p, props.instanceUrl ?? "") };
    },

    async update(_id, _olds, news) {
      return { outs: await ensureInstalled(clean(news)) };
    },

    async delete(_id, props) {
      pulumiLog()("warn", `${String(props.uniqueName)} stays installed in environment ${String(props.environmentId)}: the Power Platform API has no uninstall, so pulumi destroy removes nothing`);
    },
  };
}

export const powerPlatformApplicationPackageDynamicProvider = createPowerPlatformApplicationPackageDynamicProvider();

/**
 * A Dynamics 365 application package installed in an environment (IOM by default). Installs it
 * unless it is installed already; exports version and state and the Dataverse URL it lives in.
 * Delete uninstalls nothing (no API for it). Holds no secret.
 */
export class PowerPlatformApplicationPackage extends pulumi.dynamic.Resource {
  /** The installed version and the package's state (Installed once done). */
  declare public readonly version: pulumi.Output<string>;
  declare public readonly state: pulumi.Output<string>;
  /** Where it is installed: the environment and its Dataverse URL. */
  declare public readonly environmentId: pulumi.Output<string>;
  declare public readonly instanceUrl: pulumi.Output<string>;

  constructor(name: string, args: PowerPlatformApplicationPackageArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      powerPlatformApplicationPackageDynamicProvider,
      name,
      {
        environmentId: args.environmentId,
        uniqueName: args.uniqueName ?? IOM_APPLICATION_PACKAGE,
        bapUrl: args.bapUrl ?? DEFAULT_BAP_URL,
        powerPlatformApiUrl: args.powerPlatformApiUrl ?? DEFAULT_POWER_PLATFORM_API_URL,
        name: undefined,
        version: undefined,
        state: undefined,
        instanceUrl: undefined,
      },
      opts,
      "powerplatform",
      "ApplicationPackage",
    );
  }
}
