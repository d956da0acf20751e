/**
 * `PowerPlatformEnvironment`: the stack's Power Platform environment with a Dynamics 365-enabled
 * Dataverse, created by the stack (mode `create`) or read from an existing one (mode `adopt`), and
 * its dynamic provider. The calls and their sources are in environment-api.ts.
 *
 * - check: validates the inputs; refuses a change of location, domain, language, currency or
 *   templates of a created environment (the service cannot change them, and a replacement would be
 *   a new, empty environment); before the first create, asks the service whether the domain name is
 *   free and whether the templates exist and are licensed, when credentials allow (only a definite
 *   answer fails a preview).
 * - create: mode create creates and waits for the lifecycle operation and the Dataverse; mode adopt
 *   reads the environment and checks it is the one the stack's config names. Outputs either way:
 *   environment id, Dataverse URL (instanceUrl), organization id, domain name, version.
 * - update: display name, description and security group in place (PATCH); SKU through the service's
 *   modifySku. Adopt mode never calls anything but GET.
 * - read (refresh): the environment as it is; a display name changed in the admin center shows as
 *   drift and the next `up` puts it back (create mode).
 * - delete: never for an adopted environment; a created one is kept and the log says so, unless
 *   `deleteOnDestroy`.
 *
 * Serialized with its resources: plain functions and data only (dynamic-providers/README.md). The
 * token comes from POWER_PLATFORM_ACCESS_TOKEN or DefaultAzureCredential at run time and is never
 * an input or output.
 */
import * as pulumi from "@pulumi/pulumi";
import type { DataverseDynamicProviderOptions } from "../dataverse";
import { checkResult, cleanInputs, endpointUrlProblem, isKnown, isUnknown, pulumiLog, text, type DetailedDiffResult, type ProviderWithoutConfigure } from "../common";
import { DEFAULT_BAP_URL, ZERO_GUID, powerPlatformTuning, type EnvironmentInfo } from "./admin-api";
import { DOMAIN_NAME_PATTERN, ENVIRONMENT_SKUS, PowerPlatformEnvironmentError, createEnvironmentApi, type EnvironmentApi, type EnvironmentSku, type EnvironmentSpec } from "./environment-api";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type EnvironmentMode = "create" | "adopt";

/**
 * What the provider receives: the resource's inputs as plain values. The settings an environment is
 * created with are `EnvironmentSpec`'s; `sku` is any text here until `check` has validated it.
 */
export interface PowerPlatformEnvironmentInputs extends Omit<EnvironmentSpec, "sku"> {
  mode: EnvironmentMode;
  /** Adopt: the environment to read. Create: "" (the output names the created one). */
  environmentId: string;
  sku: string;
  /** Create mode: delete the environment on `pulumi destroy` (default false: keep it). */
  deleteOnDestroy: boolean;
  /** Adopt mode: the Dataverse URL the stack's config names, checked against the environment ("" = not checked). */
  expectedInstanceUrl: string;
  /** Adopt mode: the organization id the stack's config names, checked likewise. */
  expectedOrganizationId: string;
  bapUrl: string;
}

export interface PowerPlatformEnvironmentArgs {
  mode: pulumi.Input<EnvironmentMode>;
  /** Adopt mode: the environment's id. */
  environmentId?: pulumi.Input<string>;
  displayName?: pulumi.Input<string>;
  description?: pulumi.Input<string>;
  sku?: pulumi.Input<string>;
  location?: pulumi.Input<string>;
  languageCode?: pulumi.Input<number>;
  currencyCode?: pulumi.Input<string>;
  domainName?: pulumi.Input<string>;
  securityGroupId?: pulumi.Input<string>;
  templates?: pulumi.Input<pulumi.Input<string>[]>;
  deleteOnDestroy?: pulumi.Input<boolean>;
  expectedInstanceUrl?: pulumi.Input<string>;
  expectedOrganizationId?: pulumi.Input<string>;
  /** BAP endpoint; default https://api.bap.microsoft.com. */
  bapUrl?: pulumi.Input<string>;
}

/** What the provider returns and the state keeps: the inputs, with the environment's actual values where it has them. */
export interface PowerPlatformEnvironmentOutputs extends PowerPlatformEnvironmentInputs {
  /** Dataverse URL without a trailing slash, e.g. https://iom-retail-dev.crm4.dynamics.com. */
  instanceUrl: string;
  organizationId: string;
  version: string;
}

/** Inputs the service fixes at creation: a change is refused, never a silent replacement. */
const FIXED_AT_CREATION = ["location", "domainName", "languageCode", "currencyCode", "templates"] as const;
const WHY_FIXED: Record<(typeof FIXED_AT_CREATION)[number], string> = {
  location: "a Power Platform environment cannot move to another geography",
  domainName: "the Dataverse domain is its URL, which the mappings, provider parameters and Power Automate connections use",
  languageCode: "the base language is set when the Dataverse is created",
  currencyCode: "the base currency is set when the Dataverse is created",
  templates: "Dynamics 365 templates are applied when the Dataverse is created",
};

function clean(raw: object): PowerPlatformEnvironmentInputs {
  const i = cleanInputs<Partial<PowerPlatformEnvironmentInputs>>(raw);
  return {
    mode: i.mode === "create" ? "create" : i.mode === "adopt" ? "adopt" : (text(i.mode) as EnvironmentMode),
    environmentId: text(i.environmentId),
    displayName: text(i.displayName),
    description: text(i.description),
    sku: text(i.sku),
    location: text(i.location),
    languageCode: typeof i.languageCode === "number" ? i.languageCode : Number(i.languageCode ?? 0),
    currencyCode: text(i.currencyCode),
    domainName: text(i.domainName),
    securityGroupId: text(i.securityGroupId),
    templates: Array.isArray(i.templates) ? i.templates.map(String) : [],
    deleteOnDestroy: i.deleteOnDestroy === true,
    expectedInstanceUrl: text(i.expectedInstanceUrl),
    expectedOrganizationId: text(i.expectedOrganizationId),
    bapUrl: text(i.bapUrl) || DEFAULT_BAP_URL,
  };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const sameText = (a: string, b: string) => a.replace(/\/+$/, "").toLowerCase() === b.replace(/\/+$/, "").toLowerCase();

/** Why the change from `olds` to `news` cannot be made in place, or undefined. */
function refusedChange(olds: Partial<PowerPlatformEnvironmentInputs>, news: PowerPlatformEnvironmentInputs): { property: string; reason: string } | undefined {
  if (olds.mode === "adopt" && news.mode === "create") {
    return { property: "mode", reason: "cannot switch an adopted environment to create mode: the stack would create a second, empty environment. Keep 'adopt', or create a new stack" };
  }
  if (olds.mode === "create" && news.mode === "adopt" && isKnown(news.environmentId) && olds.environmentId && !sameText(news.environmentId, olds.environmentId)) {
    return { property: "environmentId", reason: `adopt mode must name the environment this stack created (${olds.environmentId}); adopting another one would drop the created one from the stack without a word` };
  }
  if (olds.mode !== "create" || news.mode !== "create") return undefined;
  for (const key of FIXED_AT_CREATION) {
    const value = news[key];
    if (olds[key] === undefined || (Array.isArray(value) ? value.some(isUnknown) : isUnknown(value))) continue;
    const changed = key === "domainName" || key === "location" || key === "currencyCode" ? !sameText(String(olds[key]), String(value)) : !same(olds[key], value);
    if (changed) {
      return {
        property: key,
        reason: `cannot change from ${JSON.stringify(olds[key])} to ${JSON.stringify(value)}: ${WHY_FIXED[key]}. The program never replaces the environment silently; ` +
          "to move to a new environment create it in another stack (or set the old value back), move the data, then switch this stack to adopt the new one",
      };
    }
  }
  return undefined;
}

export function checkEnvironment(i: PowerPlatformEnvironmentInputs): pulumi.dynamic.CheckFailure[] {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  const add = (property: string, reason: string) => failures.push({ property, reason });
  if (isKnown(i.mode) && i.mode !== "create" && i.mode !== "adopt") add("mode", "must be create or adopt");
  const bapUrlProblem = isKnown(i.bapUrl) ? endpointUrlProblem(i.bapUrl, "must be an https URL") : undefined;
  if (bapUrlProblem) add("bapUrl", bapUrlProblem);
  if (i.mode === "adopt") {
    if (isKnown(i.environmentId) && !GUID.test(i.environmentId)) add("environmentId", `must be the Power Platform environment id (a GUID), got '${i.environmentId}'`);
    return failures;
  }
  if (i.mode !== "create") return failures;
  if (isKnown(i.displayName) && !i.displayName.trim()) add("displayName", "required");
  if (isKnown(i.sku) && !(ENVIRONMENT_SKUS as readonly string[]).includes(i.sku)) add("sku", `must be one of ${ENVIRONMENT_SKUS.join(", ")}`);
  if (isKnown(i.location) && !/^[a-z]+$/.test(i.location)) add("location", "must be a Power Platform geography such as europe or unitedstates");
  if (isKnown(i.languageCode) && !(Number.isInteger(i.languageCode) && i.languageCode > 0)) add("languageCode", "must be a language LCID such as 1033");
  if (isKnown(i.currencyCode) && !/^[A-Z]{3}$/.test(i.currencyCode)) add("currencyCode", "must be an ISO 4217 currency code such as EUR");
  if (isKnown(i.domainName) && !(DOMAIN_NAME_PATTERN.test(i.domainName) && i.domainName.length <= 63)) {
    add("domainName", "must start with a lowercase letter or digit and hold only lowercase letters, digits and '-' (at most 63)");
  }
  if (isKnown(i.securityGroupId) && i.securityGroupId !== "" && !GUID.test(i.securityGroupId)) add("securityGroupId", "must be an Entra security group id (a GUID), or empty");
  if (!i.templates.some(isUnknown) && i.templates.length === 0) add("templates", "must name at least one Dynamics 365 template: they enable Dynamics 365 apps in the Dataverse");
  return failures;
}

/** No `configure`: the provider reads no stack config. */
export type PowerPlatformEnvironmentDynamicProvider = ProviderWithoutConfigure<PowerPlatformEnvironmentInputs, PowerPlatformEnvironmentOutputs>;

export interface PowerPlatformEnvironmentDynamicProviderOptions extends DataverseDynamicProviderOptions {
  /** Cap on one wait between polls of an operation (tests). */
  maxPollIntervalMs?: number;
}

/** Create failed after the environment existed: the engine keeps `id` and `properties` in the state, so nothing is orphaned. */
class EnvironmentInitError extends Error {
  readonly reasons: string[];
  constructor(
    message: string,
    readonly id: string,
    readonly properties: Record<string, unknown>,
  ) {
    super(message);
    this.message = message;
    this.name = "EnvironmentInitError";
    this.reasons = [message];
  }
}

/** Who has the domain: nobody, an environment an interrupted run of this stack created, or someone else (with the service's answer). */
type DomainOwner = { kind: "free" } | { kind: "ours"; environmentId: string } | { kind: "taken"; problem: string };

/**
 * Asks the service whether the domain is free; when it is not, whether it belongs to an environment
 * with this stack's display name and location: a `pulumi up` stopped after the create request.
 */
async function domainOwner(api: EnvironmentApi, i: PowerPlatformEnvironmentInputs): Promise<DomainOwner> {
  const problem = await api.domainProblem(i.location, i.domainName);
  if (!problem) return { kind: "free" };
  const existing = await api.findByDomain(i.domainName);
  const env = existing ? await api.getEnvironment(existing) : undefined;
  if (env && env.displayName === i.displayName && sameText(env.location, i.location)) return { kind: "ours", environmentId: env.id };
  return { kind: "taken", problem };
}

/**
 * The environment calls for `bapUrl`, tuned from the process's environment. A preview's checks
 * (`preflight`) fail fast: one retry, short timeouts, never a long Retry-After.
 */
function connectEnvironmentApi(options: PowerPlatformEnvironmentDynamicProviderOptions, bapUrl: string, preflight = false): EnvironmentApi {
  return createEnvironmentApi({ bapUrl, ...powerPlatformTuning(options, preflight ? { maxRetries: 1, timeoutMs: 20_000, max429Retries: 2, maxRetryAfterMs: 15_000 } : {}) });
}

/** The outputs: the inputs, with the environment's actual values where it has them. */
function outputsOf(i: PowerPlatformEnvironmentInputs, env: EnvironmentInfo): PowerPlatformEnvironmentOutputs {
  return {
    ...i,
    environmentId: env.id,
    displayName: env.displayName,
    description: env.description,
    sku: env.sku || i.sku,
    location: env.location || i.location,
    domainName: env.dataverse?.domainName || i.domainName,
    securityGroupId: env.dataverse ? env.dataverse.securityGroupId : i.securityGroupId,
    instanceUrl: env.dataverse?.instanceUrl ?? "",
    organizationId: env.dataverse?.organizationId ?? "",
    version: env.dataverse?.version ?? "",
  };
}

/** What the create request carries, from the (checked) inputs. */
function specOf(i: PowerPlatformEnvironmentInputs): EnvironmentSpec {
  return {
    displayName: i.displayName,
    description: i.description,
    sku: i.sku as EnvironmentSku,
    location: i.location,
    languageCode: i.languageCode,
    currencyCode: i.currencyCode,
    domainName: i.domainName,
    securityGroupId: i.securityGroupId,
    templates: i.templates,
  };
}

/** Adopt mode: reads the environment, which must have a Dataverse and be the one the config names. */
async function adoptEnvironment(api: EnvironmentApi, i: PowerPlatformEnvironmentInputs): Promise<PowerPlatformEnvironmentOutputs> {
  const env = await api.getEnvironment(i.environmentId);
  if (!env.dataverse) throw new PowerPlatformEnvironmentError(`Power Platform environment '${env.displayName || i.environmentId}' has no Dataverse: IOM needs one with Dynamics 365 apps enabled (check powerPlatformEnvironmentId)`);
  const problems: string[] = [];
  if (i.expectedInstanceUrl && !sameText(i.expectedInstanceUrl, env.dataverse.instanceUrl)) {
    problems.push(`its Dataverse is ${env.dataverse.instanceUrl}, but dataverseEnvironmentUrl says ${i.expectedInstanceUrl}`);
  }
  if (i.expectedOrganizationId && !sameText(i.expectedOrganizationId, env.dataverse.organizationId)) {
    problems.push(`its organization id is ${env.dataverse.organizationId}, but organizationId says ${i.expectedOrganizationId}`);
  }
  if (problems.length) {
    throw new PowerPlatformEnvironmentError(`Power Platform environment ${i.environmentId} ('${env.displayName}') is not the one this stack's config describes: ${problems.join("; ")}. Fix the config so all three name the same environment`);
  }
  return outputsOf(i, env);
}

/** Create mode: a free domain (or one an interrupted run of this stack left), create, wait for the Dataverse. */
async function createNewEnvironment(api: EnvironmentApi, i: PowerPlatformEnvironmentInputs): Promise<PowerPlatformEnvironmentOutputs> {
  const owner = await domainOwner(api, i);
  if (owner.kind === "taken") {
    throw new PowerPlatformEnvironmentError(`the domain name '${i.domainName}' cannot be used in '${i.location}' (${owner.problem}): another environment has it or it is not allowed; set powerPlatformDomainName to another name`);
  }
  if (owner.kind === "ours") pulumiLog()("warn", `domain '${i.domainName}' belongs to environment ${owner.environmentId} with this stack's display name '${i.displayName}', left by an interrupted 'pulumi up'; taking it over`);
  const id = owner.kind === "ours" ? owner.environmentId : await api.create(specOf(i));
  try {
    return outputsOf(i, await api.waitForDataverse(id));
  } catch (e) {
    throw new EnvironmentInitError(`${(e as Error).message} (environment ${id} exists and is kept in the stack's state; 'pulumi up' continues with it)`, id, { ...i, environmentId: id, instanceUrl: "", organizationId: "", version: "" });
  }
}

/** Before the first create: whether the service says the domain is taken or a template is missing or not licensed. */
async function preflightFailures(api: EnvironmentApi, news: PowerPlatformEnvironmentInputs): Promise<pulumi.dynamic.CheckFailure[]> {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  const [owner, templates] = await Promise.all([domainOwner(api, news), api.listTemplates(news.location)]);
  if (owner.kind === "taken") {
    failures.push({ property: "domainName", reason: `'${news.domainName}' cannot be used in '${news.location}': ${owner.problem}. Another environment has it (a stack copied from another one keeps its domain): set powerPlatformDomainName to another name` });
  }
  for (const name of news.templates) {
    const t = templates.find((x) => x.name.toLowerCase() === name.toLowerCase());
    if (!t) failures.push({ property: "templates", reason: `'${name}' is not a template of '${news.location}' (available: ${templates.map((x) => x.name).join(", ") || "none"})` });
    else if (t.disabledReason) failures.push({ property: "templates", reason: `'${name}' (${t.displayName}) cannot be used by this identity: ${t.disabledReason}` });
  }
  return failures;
}

/** Throws the refusal of a change that cannot be made in place (`refusedChange`). */
function refuseChange(olds: Partial<PowerPlatformEnvironmentInputs>, news: PowerPlatformEnvironmentInputs): void {
  const refused = refusedChange(olds, news);
  if (refused) throw new PowerPlatformEnvironmentError(`${refused.property}: ${refused.reason}`);
}

/** `diff`: another adopted environment is a replacement (nothing in the service changes); everything else changes in place. */
function diffEnvironment(olds: PowerPlatformEnvironmentOutputs, news: PowerPlatformEnvironmentInputs): DetailedDiffResult {
  refuseChange(olds, news);
  const detailedDiff: NonNullable<DetailedDiffResult["detailedDiff"]> = {};
  const differs = (key: keyof PowerPlatformEnvironmentInputs) => {
    const value = news[key];
    return isUnknown(value) || !same(value, olds[key]);
  };
  if (news.mode === "adopt" && olds.mode === "adopt" && differs("environmentId")) {
    // Another adopted environment: nothing is created or deleted in the service, only read.
    return { changes: true, replaces: ["environmentId"], deleteBeforeReplace: false, detailedDiff: { environmentId: { kind: "UPDATE", inputDiff: true } } };
  }
  const inPlace: (keyof PowerPlatformEnvironmentInputs)[] = news.mode === "create"
    ? ["mode", "displayName", "description", "securityGroupId", "sku", "deleteOnDestroy", "bapUrl"]
    : ["mode", "expectedInstanceUrl", "expectedOrganizationId", "bapUrl"];
  for (const key of inPlace) if (differs(key)) detailedDiff[key] = { kind: "UPDATE", inputDiff: true };
  // A created environment whose Dataverse was not readable yet: the next `up` finishes the job.
  const unfinished = news.mode === "create" && !olds.instanceUrl;
  return { changes: unfinished || Object.keys(detailedDiff).length > 0, replaces: [], stables: ["environmentId", "instanceUrl", "organizationId", "domainName", "location"], detailedDiff };
}

/** `read` (refresh): the environment as it is; one gone from the tenant gets an empty id, so the next `up` creates it anew (create mode). */
async function readEnvironment(api: EnvironmentApi, id: string, i: PowerPlatformEnvironmentInputs): Promise<pulumi.dynamic.ReadResult<PowerPlatformEnvironmentOutputs>> {
  let env: EnvironmentInfo;
  try {
    env = await api.getEnvironment(id);
  } catch (e) {
    if (!/was not found/.test((e as Error).message)) throw e;
    pulumiLog()("warn", `Power Platform environment ${id} no longer exists${i.mode === "adopt" ? "; the adopted environment must be restored or powerPlatformEnvironmentId changed" : ""}`);
    return { id: "", props: undefined };
  }
  return { id, props: { ...outputsOf(i, env), languageCode: i.languageCode, currencyCode: i.currencyCode, templates: i.templates } };
}

/** `update`, create mode: the SKU through modifySku, display name, description and security group through one PATCH. */
async function updateCreatedEnvironment(api: EnvironmentApi, id: string, olds: PowerPlatformEnvironmentOutputs, news: PowerPlatformEnvironmentInputs): Promise<PowerPlatformEnvironmentOutputs> {
  let env = olds.instanceUrl ? await api.getEnvironment(id) : await api.waitForDataverse(id);
  if (news.sku !== env.sku) await api.modifySku(id, news.sku as EnvironmentSku);
  const securityGroupNow = env.dataverse?.securityGroupId ?? "";
  if (news.displayName !== env.displayName || news.description !== env.description || (news.securityGroupId || "") !== (securityGroupNow === ZERO_GUID ? "" : securityGroupNow)) {
    env = await api.update(id, { displayName: news.displayName, description: news.description, securityGroupId: news.securityGroupId });
  } else if (news.sku !== olds.sku) {
    env = await api.getEnvironment(id);
  }
  return { ...outputsOf(news, env), environmentId: id };
}

/** `delete`: never an adopted environment; a created one only with `deleteOnDestroy`, else the log says it stays. */
async function deleteEnvironment(options: PowerPlatformEnvironmentDynamicProviderOptions, id: string, props: PowerPlatformEnvironmentOutputs): Promise<void> {
  const i = clean(props);
  const log = pulumiLog();
  if (i.mode === "adopt") {
    log("info", `Power Platform environment ${id} was adopted, not created, by this stack: left as it is`);
    return;
  }
  if (!i.deleteOnDestroy) {
    log("warn", `Power Platform environment ${id} ('${i.displayName}', ${props.instanceUrl || i.domainName}) was left in the tenant: powerPlatformEnvironmentDeleteOnDestroy is false. Delete it in the Power Platform admin center when it is no longer needed`);
    return;
  }
  await connectEnvironmentApi(options, i.bapUrl).remove(id);
}

/** Build the provider. `options` are captured into the serialized closure: plain data only. */
export function createPowerPlatformEnvironmentDynamicProvider(options: PowerPlatformEnvironmentDynamicProviderOptions = {}): PowerPlatformEnvironmentDynamicProvider {
  const connect = (bapUrl: string, preflight = false) => connectEnvironmentApi(options, bapUrl, preflight);
  return {
    async check(oldsRaw, newsRaw) {
      const news = clean(newsRaw);
      const olds = cleanInputs<Partial<PowerPlatformEnvironmentInputs>>(oldsRaw ?? {});
      const failures = checkEnvironment(news);
      const refused = refusedChange(olds, news);
      if (refused) failures.push(refused);
      const firstCreate = news.mode === "create" && olds.mode !== "create";
      const knownForPreflight = isKnown(news.location) && isKnown(news.domainName) && !news.templates.some(isUnknown) && isKnown(news.bapUrl);
      if (!failures.length && firstCreate && knownForPreflight) {
        // Only a definite answer fails the preview; no credentials, a timeout or a throttle only warn.
        try {
          failures.push(...(await preflightFailures(connect(news.bapUrl, true), news)));
        } catch (e) {
          pulumiLog()("warn", `could not ask the Power Platform admin API whether domain '${news.domainName}' is free and the templates are licensed (${(e as Error).message.split("\n")[0]}); 'pulumi up' checks the domain again before creating`);
        }
      }
      return checkResult(newsRaw, failures);
    },

    async diff(_id, olds, newsRaw) {
      return diffEnvironment(olds, clean(newsRaw));
    },

    async create(inputs) {
      const i = clean(inputs);
      const outs = i.mode === "adopt" ? await adoptEnvironment(connect(i.bapUrl), i) : await createNewEnvironment(connect(i.bapUrl), i);
      return { id: outs.environmentId, outs };
    },

    async read(id, props) {
      if (!props) return { id, props };
      const i = clean(props);
      return readEnvironment(connect(i.bapUrl), id, i);
    },

    async update(id, olds, newsRaw) {
      const news = clean(newsRaw);
      refuseChange(olds, news);
      const api = connect(news.bapUrl);
      if (news.mode === "adopt") return { outs: await adoptEnvironment(api, { ...news, environmentId: news.environmentId || id }) };
      return { outs: await updateCreatedEnvironment(api, id, olds, news) };
    },

    async delete(id, props) {
      await deleteEnvironment(options, id, props);
    },
  };
}

/** The provider object `PowerPlatformEnvironment` uses. */
export const powerPlatformEnvironmentDynamicProvider = createPowerPlatformEnvironmentDynamicProvider();

/**
 * The stack's Power Platform environment with a Dynamics 365-enabled Dataverse: created by the
 * stack (mode create) or adopted (mode adopt: only read, never changed or deleted). Exports its id,
 * Dataverse URL, organization id, domain and version. A created environment is kept on destroy
 * unless `deleteOnDestroy`. Holds no secret: the token is read at run time.
 */
export class PowerPlatformEnvironment extends pulumi.dynamic.Resource {
  /** The environment's id: the one created, or the one adopted. */
  declare public readonly environmentId: pulumi.Output<string>;
  declare public readonly displayName: pulumi.Output<string>;
  /** Its Dataverse: URL (no trailing slash), organization id, domain and version, as the service reports them. */
  declare public readonly instanceUrl: pulumi.Output<string>;
  declare public readonly organizationId: pulumi.Output<string>;
  declare public readonly domainName: pulumi.Output<string>;
  declare public readonly version: pulumi.Output<string>;

  constructor(name: string, args: PowerPlatformEnvironmentArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      powerPlatformEnvironmentDynamicProvider,
      name,
      {
        mode: args.mode,
        // Inputs a mode does not use stay absent, so they are outputs (the environment's actual
        // values); in create mode the id is one, unknown until the environment exists (a preview
        // would otherwise hand "" to everything that uses it).
        environmentId: args.environmentId,
        displayName: args.displayName,
        description: args.description,
        sku: args.sku,
        location: args.location,
        languageCode: args.languageCode,
        currencyCode: args.currencyCode,
        domainName: args.domainName,
        securityGroupId: args.securityGroupId,
        templates: args.templates,
        deleteOnDestroy: args.deleteOnDestroy,
        expectedInstanceUrl: args.expectedInstanceUrl,
        expectedOrganizationId: args.expectedOrganizationId,
        bapUrl: args.bapUrl ?? DEFAULT_BAP_URL,
        instanceUrl: undefined,
        organizationId: undefined,
        version: undefined,
      },
      opts,
      "powerplatform",
      "Environment",
    );
  }
}
