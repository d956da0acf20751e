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
import { changedIgnoringCase, checkResult, cleanInputs, envNumber, isKnown, pulumiLog, text, type ProviderWithoutConfigure } from "../common";

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

function clean(raw: object): AzureProviderRegistrationInputs {
  const i = cleanInputs<Partial<AzureProviderRegistrationInputs>>(raw);
  return {
    subscriptionId: text(i.subscriptionId),
    namespace: text(i.namespace),
    features: Array.isArray(i.features) ? i.features.filter((f): f is string => typeof f === "string") : [],
    mode: i.mode === "check" ? "check" : "register",
    armUrl: text(i.armUrl) || arm.DEFAULT_ARM_URL,
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
const log = (level: "info" | "warn", message: string) => pulumiLog()(level, message);

/** The ARM calls for `armUrl`, tuned from the process's environment. */
function connectArm(options: AzureProviderRegistrationDynamicProviderOptions, armUrl: string): arm.ArmApi {
  return arm.createArmApi({
    armUrl,
    client: { retryBaseMs: envNumber("AZURE_REGISTRATION_RETRY_BASE_MS"), maxRetries: envNumber("AZURE_REGISTRATION_MAX_RETRIES"), ...options.client },
    log: pulumiLog(),
  });
}

/** How often and how long a registration is waited for: the options, else the environment, else 10 s and 15 minutes. */
interface Polling {
  pollMs: number;
  timeoutMs: number;
}

function pollingOf(options: AzureProviderRegistrationDynamicProviderOptions): Polling {
  return {
    pollMs: options.pollIntervalMs ?? envNumber("AZURE_REGISTRATION_POLL_MS") ?? 10_000,
    timeoutMs: options.timeoutMs ?? envNumber("AZURE_REGISTRATION_TIMEOUT_MS") ?? 15 * 60_000,
  };
}

/** A 401/403 from ARM, with the command someone allowed to can run instead. */
function refusal(what: string, status: number, command: string): arm.RegistrationError {
  return new arm.RegistrationError(
    `${what}: Azure refused it (HTTP ${status}): the deploying identity may not ${command.includes("feature") ? "read or register subscription features (Microsoft.Features/*)" : "register resource providers (<namespace>/register/action, in Contributor and Owner)"}. ` +
      `Ask someone who may to run '${command}' once for this subscription, or give the identity that right.`,
  );
}

const pendingApproval = (namespace: string, feature: string) =>
  `feature ${namespace}/${feature} is Pending: it waits for approval by Microsoft's product team, which no deployment can give. ` +
  `Request it (Azure portal > Subscriptions > Preview features), then run 'pulumi up' again`;

/** A state read that may be refused: the state, or the refusal as the error to throw. */
async function stateOrRefusal(read: Promise<string | arm.Refused>, what: string, command: string): Promise<string> {
  const state = await read;
  if (typeof state !== "string") throw refusal(what, state.refused, command);
  return state;
}

/** Polls `read` until it answers a state `done` accepts, `fail` explains, or the deadline passes. */
async function waitForState(polling: Polling, what: string, read: () => Promise<string | arm.Refused>, done: (s: string) => boolean, fail: (s: string) => string | undefined, command: string): Promise<string> {
  const started = Date.now();
  for (let poll = 1; ; poll++) {
    const state = await stateOrRefusal(read(), `reading ${what}`, command);
    if (done(state)) return state;
    const problem = fail(state);
    if (problem) throw new arm.RegistrationError(problem);
    if (Date.now() - started > polling.timeoutMs) {
      const waited = polling.timeoutMs >= 60_000 ? `${Math.round(polling.timeoutMs / 60_000)} minutes` : `${Math.round(polling.timeoutMs / 1000)} s`;
      throw new arm.RegistrationError(`${what} is still '${state || "unknown"}' after ${waited}; check it with the Azure CLI and run 'pulumi up' again once it is Registered (${command})`);
    }
    log("info", `${what}: ${state || "unknown"} (poll ${poll}, ${Math.round((Date.now() - started) / 1000)} s)`);
    await sleep(polling.pollMs);
  }
}

/** Mode `check`: every registration that is missing, with its command; nothing is changed. */
async function checkRegistrations(i: AzureProviderRegistrationInputs, api: arm.ArmApi): Promise<AzureProviderRegistrationOutputs> {
  const missing: string[] = [];
  const featureStates: Record<string, string> = {};
  for (const feature of i.features) {
    const state = await stateOrRefusal(api.featureState(i.subscriptionId, i.namespace, feature), `reading feature ${i.namespace}/${feature}`, registerFeatureCommand(i.namespace, feature));
    featureStates[feature] = state;
    if (state === "Pending") missing.push(pendingApproval(i.namespace, feature));
    else if (state !== "Registered") missing.push(`feature ${i.namespace}/${feature} is '${state}': ${registerFeatureCommand(i.namespace, feature)}`);
  }
  const state = await stateOrRefusal(api.providerState(i.subscriptionId, i.namespace), `reading resource provider ${i.namespace}`, registerProviderCommand(i.namespace));
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

/** Mode `register`, first part: each feature not registered yet is registered and waited for; their states. */
async function registerFeatures(i: AzureProviderRegistrationInputs, api: arm.ArmApi, polling: Polling): Promise<Record<string, string>> {
  const featureStates: Record<string, string> = {};
  for (const feature of i.features) {
    const command = registerFeatureCommand(i.namespace, feature);
    const now = await stateOrRefusal(api.featureState(i.subscriptionId, i.namespace, feature), `reading feature ${i.namespace}/${feature}`, command);
    if (now === "Pending") throw new arm.RegistrationError(pendingApproval(i.namespace, feature));
    if (now !== "Registered" && now !== "Registering") {
      const answer = await stateOrRefusal(api.registerFeature(i.subscriptionId, i.namespace, feature), `registering feature ${i.namespace}/${feature}`, command);
      log("info", `feature ${i.namespace}/${feature}: registration requested (${answer || "no state in the answer"})`);
    }
    featureStates[feature] = await waitForState(
      polling,
      `feature ${i.namespace}/${feature}`,
      () => api.featureState(i.subscriptionId, i.namespace, feature),
      (s) => s === "Registered",
      (s) => (s === "Pending" ? pendingApproval(i.namespace, feature) : undefined),
      command,
    );
  }
  return featureStates;
}

/** Mode `register`: the features, then the provider. Nothing already registered is registered again but the provider. */
async function register(i: AzureProviderRegistrationInputs, api: arm.ArmApi, polling: Polling): Promise<AzureProviderRegistrationOutputs> {
  const featureStates = await registerFeatures(i, api, polling);
  const command = registerProviderCommand(i.namespace);
  const before = await stateOrRefusal(api.providerState(i.subscriptionId, i.namespace), `reading resource provider ${i.namespace}`, command);
  // Registered already and no feature to propagate: nothing to do.
  if (before === "Registered" && i.features.length === 0) return { ...i, registrationState: before, featureStates };
  const answer = await api.registerProvider(i.subscriptionId, i.namespace);
  if (typeof answer !== "string") {
    if (before !== "Registered") throw refusal(`registering resource provider ${i.namespace}`, answer.refused, command);
    log("warn", `resource provider ${i.namespace} is registered, but registering it again to propagate ${i.features.join(", ")} was refused (HTTP ${answer.refused}); if a feature was registered just now, run '${command}'`);
    return { ...i, registrationState: before, featureStates };
  }
  log("info", `resource provider ${i.namespace}: registration requested (${answer || "no state in the answer"})`);
  const registrationState = await waitForState(
    polling,
    `resource provider ${i.namespace}`,
    () => api.providerState(i.subscriptionId, i.namespace),
    (s) => s === "Registered",
    (s) => (s === "Unregistering" || s === "Unregistered" ? `resource provider ${i.namespace} went to '${s}' while being registered: someone is unregistering it` : undefined),
    command,
  );
  return { ...i, registrationState, featureStates };
}

/** `read` (refresh): the states as they are now; a refused read is recorded as such, not thrown. */
async function readRegistrations(i: AzureProviderRegistrationInputs, api: arm.ArmApi): Promise<AzureProviderRegistrationOutputs> {
  const shown = (s: string | arm.Refused) => (typeof s === "string" ? s : `unreadable (HTTP ${s.refused})`);
  const featureStates: Record<string, string> = {};
  for (const feature of i.features) featureStates[feature] = shown(await api.featureState(i.subscriptionId, i.namespace, feature));
  return { ...i, registrationState: shown(await api.providerState(i.subscriptionId, i.namespace)), featureStates };
}

/** `diff`: another subscription, namespace or cloud is another registration; features, mode and drift change in place. */
function diffRegistration(olds: AzureProviderRegistrationOutputs, news: AzureProviderRegistrationInputs): pulumi.dynamic.DiffResult {
  const replaces = changedIgnoringCase(news, olds, ["subscriptionId", "namespace", "armUrl"] as const);
  if (replaces.length) return { changes: true, replaces };
  const sameFeatures = JSON.stringify([...news.features].sort()) === JSON.stringify([...(olds.features ?? [])].sort());
  // A refresh that found the provider or a feature unregistered makes the next `up` register again.
  const drifted = olds.registrationState !== "Registered" || Object.values(olds.featureStates ?? {}).some((s) => s !== "Registered");
  return { changes: !sameFeatures || news.mode !== olds.mode || drifted, replaces: [], stables: ["subscriptionId", "namespace", "armUrl"] };
}

/** Build the provider. `options` are captured into the serialized closure: plain data only. */
export function createAzureProviderRegistrationDynamicProvider(options: AzureProviderRegistrationDynamicProviderOptions = {}): AzureProviderRegistrationDynamicProvider {
  const ensure = (i: AzureProviderRegistrationInputs) => (i.mode === "check" ? checkRegistrations(i, connectArm(options, i.armUrl)) : register(i, connectArm(options, i.armUrl), pollingOf(options)));
  return {
    async check(_olds, news) {
      return checkResult(news, checkProviderRegistration(clean(news)));
    },

    async diff(_id, olds, news) {
      return diffRegistration(olds, clean(news));
    },

    async create(inputs) {
      const i = clean(inputs);
      return { id: `/subscriptions/${i.subscriptionId}/providers/${i.namespace}`, outs: await ensure(i) };
    },

    async read(id, props) {
      if (!props || !props.namespace) return { id, props };
      const i = clean(props);
      return { id, props: await readRegistrations(i, connectArm(options, i.armUrl)) };
    },

    async update(_id, _olds, news) {
      return { outs: await ensure(clean(news)) };
    },

    async delete(_id, props) {
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
