/**
 * `AzureProviderRegistration`: a resource provider registered in the subscription, after the preview
 * features the stack needs from it, and its dynamic provider. Why not azure-native: it has no
 * resource for a provider registration, which is a POST (pulumi/pulumi-azure-native issue 1075), and
 * its `features.SubscriptionFeatureRegistration` cannot be shared: its create refuses a registration
 * that exists already ("cannot create already existing resource", its CanCreate check), which a
 * second stack in the subscription or an earlier `az feature register` makes, and its delete
 * unregisters the feature for everyone. docs/azure-landing.md, "Subscription prerequisites".
 *
 * - create / update, mode `register`: register every listed feature that is not registered yet and
 *   wait until it is `Registered` (a `Pending` one waits for Microsoft's approval: stop and say so),
 *   then register the provider, which also propagates the features ([CLI] in arm.ts), and wait until
 *   it is `Registered`. An identity that may not register gets an error naming the command for
 *   someone who may; a provider already registered is then only a warning.
 * - create / update, mode `check`: read only; fail listing every missing registration with the
 *   command that makes it.
 * - read (refresh): the states as they are now.
 * - delete: nothing. A registration is subscription-wide, other stacks and workloads use it, and
 *   unregistering would break them: the stack leaves it as it is, and says so.
 *
 * The token comes from AZURE_RESOURCE_MANAGER_ACCESS_TOKEN or DefaultAzureCredential at run time and
 * is never an input or output. Serialized: see dynamic-providers/README.md.
 */
import * as pulumi from "@pulumi/pulumi";
import type { DataverseDynamicProviderOptions } from "../dataverse";
import * as arm from "./arm";
import { cleanInputs, envNumber, isKnown, isUnknown, pulumiLog, type ProviderWithoutConfigure } from "../common";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NAMESPACE = /^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)+$/;
const FEATURE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export type RegistrationMode = "register" | "check";

/** What the provider receives: the resource's inputs as plain values. */
export interface AzureProviderRegistrationInputs {
  subscriptionId: string;
  /** Resource provider namespace, e.g. Microsoft.PowerPlatform. */
  namespace: string;
  /** Its preview features the stack needs, registered before the provider. */
  features: string[];
  mode: RegistrationMode;
  /** Azure Resource Manager origin of the stack's cloud. */
  armUrl: string;
}

/** What the provider returns and the state keeps. */
export interface AzureProviderRegistrationOutputs extends AzureProviderRegistrationInputs {
  registrationState: string;
  /** Each feature's state as last seen. */
  featureStates: Record<string, string>;
}

function clean(raw: Record<string, unknown>): AzureProviderRegistrationInputs {
  const i = cleanInputs<Partial<AzureProviderRegistrationInputs>>(raw);
  const s = (v: unknown) => (typeof v === "string" ? v : "");
  return {
    subscriptionId: s(i.subscriptionId),
    namespace: s(i.namespace),
    features: Array.isArray(i.features) ? i.features.filter((f): f is string => typeof f === "string") : [],
    mode: i.mode === "check" ? "check" : "register",
    armUrl: s(i.armUrl) || arm.DEFAULT_ARM_URL,
  };
}

export function checkProviderRegistration(i: AzureProviderRegistrationInputs): pulumi.dynamic.CheckFailure[] {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  if (isKnown(i.subscriptionId) && !GUID.test(i.subscriptionId)) failures.push({ property: "subscriptionId", reason: `must be a subscription id (a GUID), got '${i.subscriptionId}'` });
  if (isKnown(i.namespace) && !NAMESPACE.test(i.namespace)) failures.push({ property: "namespace", reason: `must be a resource provider namespace such as Microsoft.Compute, got '${i.namespace}'` });
  for (const f of i.features) if (isKnown(f) && !FEATURE.test(f)) failures.push({ property: "features", reason: `'${f}' is not a feature name` });
  const urlProblem = arm.armUrlProblem(i.armUrl);
  if (urlProblem) failures.push({ property: "armUrl", reason: urlProblem });
  return failures;
}

/** The commands that make a registration, for someone allowed to run them. */
export const registerFeatureCommand = (namespace: string, feature: string) => `az feature register --namespace ${namespace} --name ${feature}`;
export const registerProviderCommand = (namespace: string) => `az provider register --namespace ${namespace}`;

/** No `configure`: the provider reads no stack config. */
export type AzureProviderRegistrationDynamicProvider = ProviderWithoutConfigure<AzureProviderRegistrationInputs, AzureProviderRegistrationOutputs>;

export interface AzureProviderRegistrationDynamicProviderOptions extends DataverseDynamicProviderOptions {
  /** Wait between two reads of a state that is still changing. Default 10 s. */
  pollIntervalMs?: number;
  /** Give up waiting for a feature or the provider after this long. Default 15 minutes. */
  timeoutMs?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Build the provider. `options` are captured into the serialized closure: plain data only. */
export function createAzureProviderRegistrationDynamicProvider(options: AzureProviderRegistrationDynamicProviderOptions = {}): AzureProviderRegistrationDynamicProvider {
  const log = (level: "info" | "warn", message: string) => pulumiLog()(level, message);
  const connect = (armUrl: string) =>
    arm.createArmApi({
      armUrl,
      client: { retryBaseMs: envNumber("AZURE_REGISTRATION_RETRY_BASE_MS"), maxRetries: envNumber("AZURE_REGISTRATION_MAX_RETRIES"), ...options.client },
      log: pulumiLog(),
    });
  const pollMs = () => options.pollIntervalMs ?? envNumber("AZURE_REGISTRATION_POLL_MS") ?? 10_000;
  const timeoutMs = () => options.timeoutMs ?? envNumber("AZURE_REGISTRATION_TIMEOUT_MS") ?? 15 * 60_000;

  const refusal = (what: string, status: number, command: string) =>
    new arm.RegistrationError(
      `${what}: Azure refused it (HTTP ${status}): the deploying identity may not ${command.includes("feature") ? "read or register subscription features (Microsoft.Features/*)" : "register resource providers (<namespace>/register/action, in Contributor and Owner)"}. ` +
        `Ask someone who may to run '${command}' once for this subscription, or give the identity that right.`,
    );

  /** Polls `read` until it answers a state `done` accepts, `fail` explains, or the deadline passes. */
  async function waitFor(what: string, read: () => Promise<string | arm.Refused>, done: (s: string) => boolean, fail: (s: string) => string | undefined, command: string): Promise<string> {
    const started = Date.now();
    for (let poll = 1; ; poll++) {
      const state = await read();
      if (typeof state !== "string") throw refusal(`reading ${what}`, state.refused, command);
      if (done(state)) return state;
      const problem = fail(state);
      if (problem) throw new arm.RegistrationError(problem);
      if (Date.now() - started > timeoutMs()) {
        const waited = timeoutMs() >= 60_000 ? `${Math.round(timeoutMs() / 60_000)} minutes` : `${Math.round(timeoutMs() / 1000)} s`;
        throw new arm.RegistrationError(`${what} is still '${state || "unknown"}' after ${waited}; check it with the Azure CLI and run 'pulumi up' again once it is Registered (${command})`);
      }
      log("info", `${what}: ${state || "unknown"} (poll ${poll}, ${Math.round((Date.now() - started) / 1000)} s)`);
      await sleep(pollMs());
    }
  }

  const pendingApproval = (namespace: string, feature: string) =>
    `feature ${namespace}/${feature} is Pending: it waits for approval by Microsoft's product team, which no deployment can give. ` +
    `Request it (Azure portal > Subscriptions > Preview features), then run 'pulumi up' again`;

  /** Mode `check`: every registration that is missing, with its command; nothing is changed. */
  async function check(i: AzureProviderRegistrationInputs, api: arm.ArmApi): Promise<AzureProviderRegistrationOutputs> {
    const missing: string[] = [];
    const featureStates: Record<string, string> = {};
    for (const feature of i.features) {
      const state = await api.featureState(i.subscriptionId, i.namespace, feature);
      if (typeof state !== "string") throw refusal(`reading feature ${i.namespace}/${feature}`, state.refused, registerFeatureCommand(i.namespace, feature));
      featureStates[feature] = state;
      if (state === "Pending") missing.push(pendingApproval(i.namespace, feature));
      else if (state !== "Registered") missing.push(`feature ${i.namespace}/${feature} is '${state}': ${registerFeatureCommand(i.namespace, feature)}`);
    }
    const state = await api.providerState(i.subscriptionId, i.namespace);
    if (typeof state !== "string") throw refusal(`reading resource provider ${i.namespace}`, state.refused, registerProviderCommand(i.namespace));
    if (state !== "Registered" || missing.length > 0) {
      // A feature takes effect once the provider is registered after it ([CLI] in arm.ts).
      missing.push(`resource provider ${i.namespace} is '${state}'${state === "Registered" ? ", and must be registered again after its features" : ""}: ${registerProviderCommand(i.namespace)}`);
    }
    if (missing.length > 0) {
      throw new arm.RegistrationError(
        `subscription ${i.subscriptionId} lacks what this stack needs (subscriptionPrerequisites is 'check', so the stack registers nothing itself):\n` +
          missing.map((m) => `  - ${m}`).join("\n"),
      );
    }
    return { ...i, registrationState: state, featureStates };
  }

  /** Mode `register`: the features, then the provider. Nothing already registered is registered again but the provider. */
  async function register(i: AzureProviderRegistrationInputs, api: arm.ArmApi): Promise<AzureProviderRegistrationOutputs> {
    const featureStates: Record<string, string> = {};
    for (const feature of i.features) {
      const command = registerFeatureCommand(i.namespace, feature);
      const now = await api.featureState(i.subscriptionId, i.namespace, feature);
      if (typeof now !== "string") throw refusal(`reading feature ${i.namespace}/${feature}`, now.refused, command);
      if (now === "Pending") throw new arm.RegistrationError(pendingApproval(i.namespace, feature));
      if (now !== "Registered" && now !== "Registering") {
        const answer = await api.registerFeature(i.subscriptionId, i.namespace, feature);
        if (typeof answer !== "string") throw refusal(`registering feature ${i.namespace}/${feature}`, answer.refused, command);
        log("info", `feature ${i.namespace}/${feature}: registration requested (${answer || "no state in the answer"})`);
      }
      featureStates[feature] = await waitFor(
        `feature ${i.namespace}/${feature}`,
        () => api.featureState(i.subscriptionId, i.namespace, feature),
        (s) => s === "Registered",
        (s) => (s === "Pending" ? pendingApproval(i.namespace, feature) : undefined),
        command,
      );
    }
    const before = await api.providerState(i.subscriptionId, i.namespace);
    if (typeof before !== "string") throw refusal(`reading resource provider ${i.namespace}`, before.refused, registerProviderCommand(i.namespace));
    // Registered already and no feature to propagate: nothing to do.
    if (before === "Registered" && i.features.length === 0) return { ...i, registrationState: before, featureStates };
    const answer = await api.registerProvider(i.subscriptionId, i.namespace);
    if (typeof answer !== "string") {
      if (before !== "Registered") throw refusal(`registering resource provider ${i.namespace}`, answer.refused, registerProviderCommand(i.namespace));
      log("warn", `resource provider ${i.namespace} is registered, but registering it again to propagate ${i.features.join(", ")} was refused (HTTP ${answer.refused}); if a feature was registered just now, run '${registerProviderCommand(i.namespace)}'`);
      return { ...i, registrationState: before, featureStates };
    }
    log("info", `resource provider ${i.namespace}: registration requested (${answer || "no state in the answer"})`);
    const registrationState = await waitFor(
      `resource provider ${i.namespace}`,
      () => api.providerState(i.subscriptionId, i.namespace),
      (s) => s === "Registered",
      (s) => (s === "Unregistering" || s === "Unregistered" ? `resource provider ${i.namespace} went to '${s}' while being registered: someone is unregistering it` : undefined),
      registerProviderCommand(i.namespace),
    );
    return { ...i, registrationState, featureStates };
  }

  const ensure = (i: AzureProviderRegistrationInputs) => (i.mode === "check" ? check(i, connect(i.armUrl)) : register(i, connect(i.armUrl)));

  return {
    async check(_olds: AzureProviderRegistrationInputs, news: AzureProviderRegistrationInputs): Promise<pulumi.dynamic.CheckResult<AzureProviderRegistrationInputs>> {
      const failures = checkProviderRegistration(clean(news as unknown as Record<string, unknown>));
      return failures.length ? { inputs: news, failures } : { inputs: news };
    },

    async diff(_id: string, olds: AzureProviderRegistrationOutputs, newsRaw: AzureProviderRegistrationInputs): Promise<pulumi.dynamic.DiffResult> {
      const news = clean(newsRaw as unknown as Record<string, unknown>);
      const replaces = (["subscriptionId", "namespace", "armUrl"] as const).filter((k) => isUnknown(news[k]) || news[k].toLowerCase() !== String(olds[k] ?? "").toLowerCase());
      if (replaces.length) return { changes: true, replaces: [...replaces] };
      const sameFeatures = JSON.stringify([...news.features].sort()) === JSON.stringify([...(olds.features ?? [])].sort());
      // A refresh that found the provider or a feature unregistered makes the next `up` register again.
      const drifted = olds.registrationState !== "Registered" || Object.values(olds.featureStates ?? {}).some((s) => s !== "Registered");
      return { changes: !sameFeatures || news.mode !== olds.mode || drifted, replaces: [], stables: ["subscriptionId", "namespace", "armUrl"] };
    },

    async create(inputs: AzureProviderRegistrationInputs): Promise<pulumi.dynamic.CreateResult<AzureProviderRegistrationOutputs>> {
      const i = clean(inputs as unknown as Record<string, unknown>);
      return { id: `/subscriptions/${i.subscriptionId}/providers/${i.namespace}`, outs: await ensure(i) };
    },

    async read(id: string, props?: AzureProviderRegistrationOutputs): Promise<pulumi.dynamic.ReadResult<AzureProviderRegistrationOutputs>> {
      if (!props || !props.namespace) return { id, props };
      const i = clean(props as unknown as Record<string, unknown>);
      const api = connect(i.armUrl);
      const featureStates: Record<string, string> = {};
      for (const feature of i.features) {
        const s = await api.featureState(i.subscriptionId, i.namespace, feature);
        featureStates[feature] = typeof s === "string" ? s : `unreadable (HTTP ${s.refused})`;
      }
      const s = await api.providerState(i.subscriptionId, i.namespace);
      return { id, props: { ...i, registrationState: typeof s === "string" ? s : `unreadable (HTTP ${s.refused})`, featureStates } };
    },

    async update(_id: string, _olds: AzureProviderRegistrationOutputs, news: AzureProviderRegistrationInputs): Promise<pulumi.dynamic.UpdateResult<AzureProviderRegistrationOutputs>> {
      return { outs: await ensure(clean(news as unknown as Record<string, unknown>)) };
    },

    async delete(_id: string, props: AzureProviderRegistrationOutputs): Promise<void> {
      log("info", `resource provider ${props.namespace}${props.features?.length ? ` and its features ${props.features.join(", ")}` : ""} stay registered in subscription ${props.subscriptionId}: a registration is subscription-wide, and other stacks may use it`);
    },
  };
}

/** The provider object `AzureProviderRegistration` uses. */
export const azureProviderRegistrationDynamicProvider = createAzureProviderRegistrationDynamicProvider();

export interface AzureProviderRegistrationArgs {
  subscriptionId: pulumi.Input<string>;
  namespace: string;
  features: string[];
  mode: RegistrationMode;
  armUrl?: string;
}

/**
 * A resource provider registered in the subscription (mode `register`), or proven registered (mode
 * `check`), after the preview features the stack needs from it. Never unregisters anything: delete
 * leaves the registration as it is. Holds no secret: the token is read at run time.
 */
export class AzureProviderRegistration extends pulumi.dynamic.Resource {
  declare public readonly registrationState: pulumi.Output<string>;
  declare public readonly featureStates: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: AzureProviderRegistrationArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      azureProviderRegistrationDynamicProvider,
      name,
      {
        subscriptionId: args.subscriptionId,
        namespace: args.namespace,
        features: args.features,
        mode: args.mode,
        armUrl: args.armUrl ?? arm.DEFAULT_ARM_URL,
        registrationState: undefined,
        featureStates: undefined,
      },
      opts,
      "azure",
      "ProviderRegistration",
    );
  }
}
