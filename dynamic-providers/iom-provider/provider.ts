/**
 * `IomProviderParameters`: the parameters of one IOM provider instance (e.g. Inventory Visibility's
 * File Drop Location, Error File Drop Location and Organization ID), set by `pulumi up`, and its
 * dynamic provider.
 *
 * - Inputs carry `parameters` as a map name -> value, so Pulumi's own input diff shows each
 *   parameter's old -> new value in a preview. Secret values travel in a separate map,
 *   `secretParameters`, which is a Pulumi secret as a whole (the SDK makes a map secret as soon as
 *   one value in it is, so one mixed map would hide every value): the engine keeps it encrypted and
 *   the preview shows `[secret]`. The provider keeps only a keyed fingerprint of each secret value
 *   in its outputs (`keyedFingerprint` of common.ts, with the stack's `fingerprintKey`, a secret
 *   input it never returns): no secret value, and nothing that tests a guess of one, is in the state
 *   it returns. States with the old scrypt fingerprints are compared once that way and rewritten
 *   (diffParameters).
 * - create/update write only the values that differ from Dataverse; read (refresh) reports drift
 *   (a value edited in the portal) in `drift` and returns the actual values as the new inputs, so
 *   the next preview shows actual -> desired; read gets no key, so a secret's row is compared by its
 *   version (`@odata.etag`) instead; delete leaves every value as it is (no call at all).
 * - Only the named parameters of the named provider are ever touched.
 * - Activation (which deploys the provider's Power Automate flows) has no documented API: the status
 *   is read and exported as `activationStatus`, the step itself stays with the operator.
 *
 * The token comes from DATAVERSE_ACCESS_TOKEN or DefaultAzureCredential at run time (the shared
 * Dataverse client); it is never an input or output.
 */
import * as pulumi from "@pulumi/pulumi";
import type { DataverseDynamicProviderOptions } from "../dataverse";
import * as clientMod from "../dataverse";
import {
  cleanInputs,
  endpointUrlProblem,
  fingerprintKeyId,
  fingerprintKeyProblem,
  isKnown,
  isUnknown,
  keyedFingerprint,
  numbersFromEnv,
  pulumiLog,
  type DetailedDiffResult,
  type ProviderWithoutConfigure,
} from "../common";
import * as discovery from "./discovery";
import * as params from "./parameters";

/** What the provider receives: the resource's inputs as plain values (secrets too). */
export interface IomProviderParametersInputs {
  environmentUrl: string;
  /** The provider instance, by its name or its catalog definition's name. */
  providerName: string;
  /** Parameter label -> value. */
  parameters: Record<string, string>;
  /** Parameter label -> secret value: kept in outputs as fingerprints only. */
  secretParameters: Record<string, string>;
  /** Flat override of discovered columns (discovery.ts IOM_PROVIDER_OVERRIDE_KEYS). */
  schemaOverride: string;
  /** The stack's key for the fingerprints of secret values (a secret input; never returned). */
  fingerprintKey: string;
}

export interface ParameterDrift {
  name: string;
  /** What Pulumi last applied (a fingerprint for secrets). */
  applied: string;
  /** What Dataverse holds now (for a secret, SECRET_CHANGED: its row changed since the last apply). */
  actual: string;
}

/**
 * What `applied` holds for a secret whose row a refresh found changed since the last apply: no
 * fingerprint matches it, so the next preview shows the parameter as changed and `up` puts it back.
 */
export const SECRET_CHANGED = "(changed outside Pulumi)";

/** What the provider returns and the state keeps: secret values only as fingerprints. */
export interface IomProviderParametersOutputs {
  environmentUrl: string;
  providerName: string;
  /** Names whose values are secret (their values are fingerprints in `applied`). */
  secretParameterNames: string[];
  schemaOverride: string;
  /** Name -> value as applied; secrets as `hmac-sha256:` fingerprints (`scrypt:` in states written before issue 17). */
  applied: Record<string, string>;
  /** `fingerprintKeyId` of the key the fingerprints were made with. */
  fingerprintKeyId?: string;
  /** Secret parameter -> its row's `@odata.etag` after the last apply, for refresh. */
  secretVersions?: Record<string, string>;
  /** Only in states written before issue 17: the scrypt salt of their fingerprints. */
  fingerprintSalt?: string;
  providerId: string;
  /** The provider's label in IOM ("Inventory Visibility", ...). */
  providerLabel: string;
  activationStatus: string | null;
  /** Names written by the last create/update. */
  written: string[];
  /** Parameters whose value in Dataverse differed from the applied one at the last refresh; empty when none. */
  drift: ParameterDrift[];
}

/** The client options an operator or a test may tune through `DATAVERSE_SYNC_<OPTION>` variables. */
const ENV_CLIENT_OPTIONS = ["maxRetries", "retryBaseMs", "maxRetryAfterMs", "timeoutMs", "operationTimeoutMs"] as const;

/** Inputs without the host's `__provider` and with defaults for anything the engine dropped. */
function clean(raw: Record<string, unknown>): IomProviderParametersInputs {
  const i = cleanInputs<Partial<IomProviderParametersInputs>>(raw);
  return {
    environmentUrl: String(i.environmentUrl ?? ""),
    providerName: String(i.providerName ?? ""),
    // A map not known yet (preview) arrives as the engine's unknown marker: checked in diff, empty here.
    parameters: (typeof i.parameters === "object" && i.parameters !== null ? i.parameters : {}) as Record<string, string>,
    secretParameters: (typeof i.secretParameters === "object" && i.secretParameters !== null ? i.secretParameters : {}) as Record<string, string>,
    schemaOverride: typeof i.schemaOverride === "string" ? i.schemaOverride : "",
    fingerprintKey: typeof i.fingerprintKey === "string" ? i.fingerprintKey : "",
  };
}

/** `mapsUnknown`: a parameter map is not known yet (preview), so "no parameter" cannot be judged. */
export function checkIomProviderParameters(i: IomProviderParametersInputs, mapsUnknown = false): pulumi.dynamic.CheckFailure[] {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  if (!i.environmentUrl) failures.push({ property: "environmentUrl", reason: "required" });
  else if (isKnown(i.environmentUrl)) {
    const problem = endpointUrlProblem(i.environmentUrl, "must be https://<org>.<region>.dynamics.com");
    if (problem) failures.push({ property: "environmentUrl", reason: problem });
  }
  if (!i.providerName.trim()) failures.push({ property: "providerName", reason: "required (the IOM provider, e.g. Inventory Visibility)" });
  const keyProblem = isUnknown(i.fingerprintKey) ? undefined : fingerprintKeyProblem(i.fingerprintKey);
  if (keyProblem) failures.push({ property: "fingerprintKey", reason: keyProblem });
  const maps = [["parameters", i.parameters], ["secretParameters", i.secretParameters]] as const;
  const seen = new Map<string, string>();
  for (const [property, map] of maps) {
    if (!map || typeof map !== "object" || Array.isArray(map)) {
      failures.push({ property, reason: "a map of parameter name to value" });
      continue;
    }
    for (const [name, value] of Object.entries(map)) {
      if (!name.trim()) failures.push({ property, reason: "a parameter name is empty" });
      if (typeof value !== "string") failures.push({ property: `${property}["${name}"]`, reason: "must be a string" });
      const n = discovery.normalizeName(name);
      if (seen.has(n)) failures.push({ property, reason: `"${name}" and "${seen.get(n)}" name the same parameter` });
      seen.set(n, name);
    }
  }
  if (seen.size === 0 && !failures.length && !mapsUnknown) failures.push({ property: "parameters", reason: "names no parameter" });
  if (i.schemaOverride && isKnown(i.schemaOverride)) {
    try {
      discovery.parseIomProviderSchemaOverride(i.schemaOverride);
    } catch (e) {
      failures.push({ property: "schemaOverride", reason: (e as Error).message });
    }
  }
  return failures;
}

/** Every parameter the inputs name, secret or not. */
function allParameters(i: IomProviderParametersInputs): Record<string, string> {
  return { ...i.parameters, ...i.secretParameters };
}

/** A secret value's fingerprint: keyed, and kept apart per parameter. */
function secretFingerprint(key: string, name: string, value: string): string {
  return keyedFingerprint(key, `iom provider parameter ${discovery.normalizeName(name)}`, value);
}

/** What the state holds for a value: the value itself, or a fingerprint for a secret. */
function stored(i: IomProviderParametersInputs, name: string, value: string): string {
  return name in i.secretParameters ? secretFingerprint(i.fingerprintKey, name, value) : value;
}

/**
 * Parameter-level comparison of the last applied state with new inputs. A secret is compared by
 * its fingerprint under the new key when the state's fingerprints were made with that key. A state
 * written before issue 17 holds scrypt fingerprints with their salt: those are compared the old way
 * (no key needed), and `fingerprintKey` asks for one update, which writes nothing that Dataverse
 * already holds and rewrites the state with keyed fingerprints; so the upgrade shows one change per
 * resource with secrets, never a changed parameter. A key not known yet (the preview that creates
 * it) or another key also asks for that update, as secrets cannot be compared then.
 */
export function diffParameters(
  olds: IomProviderParametersOutputs,
  news: IomProviderParametersInputs,
): { added: string[]; changed: string[]; removed: string[]; fingerprintKey: boolean } {
  const added: string[] = [];
  const changed: string[] = [];
  const applied = olds.applied ?? {};
  const wanted = allParameters(news);
  const sameKey = isKnown(news.fingerprintKey) && news.fingerprintKey !== "" && olds.fingerprintKeyId === fingerprintKeyId(news.fingerprintKey);
  let fingerprintKey = false;
  for (const [name, value] of Object.entries(wanted)) {
    const before = applied[name];
    if (before === undefined) added.push(name);
    else if (isUnknown(value)) changed.push(name);
    else if (!(name in news.secretParameters)) {
      if (value !== before) changed.push(name);
    } else if (before.startsWith(params.LEGACY_SCRYPT_PREFIX)) {
      fingerprintKey = true;
      if (params.legacyScryptFingerprint(value, olds.fingerprintSalt ?? "") !== before) changed.push(name);
    } else if (sameKey) {
      if (secretFingerprint(news.fingerprintKey, name, value) !== before) changed.push(name);
    } else fingerprintKey = true;
  }
  const removed = Object.keys(applied).filter((n) => !(n in wanted));
  return { added, changed, removed, fingerprintKey };
}

/** No `configure`: the provider reads no stack config. */
export type IomProviderParametersDynamicProvider = ProviderWithoutConfigure<IomProviderParametersInputs, IomProviderParametersOutputs>;

export type IomProviderParametersDynamicProviderOptions = DataverseDynamicProviderOptions;

/** Build the provider. `options` are captured into the serialized closure: plain data only. */
export function createIomProviderParametersDynamicProvider(options: IomProviderParametersDynamicProviderOptions = {}): IomProviderParametersDynamicProvider {
  const connect = (environmentUrl: string) =>
    clientMod.createDataverseClient({ environmentUrl, ...numbersFromEnv("DATAVERSE_SYNC_", ENV_CLIENT_OPTIONS), ...options.client, maxConcurrency: 4, log: pulumiLog() });

  /** Read, write what differs, and build the outputs. */
  const apply = async (i: IomProviderParametersInputs): Promise<IomProviderParametersOutputs> => {
    const keyProblem = fingerprintKeyProblem(i.fingerprintKey);
    if (keyProblem) throw new Error(`IomProviderParameters: fingerprintKey ${keyProblem}`);
    const client = connect(i.environmentUrl);
    const schema = await discovery.discoverIomProviderSchema(client, discovery.parseIomProviderSchemaOverride(i.schemaOverride));
    const provider = await params.findIomProvider(client, schema, i.providerName);
    const wanted = allParameters(i);
    const current = await params.readParameters(client, schema, provider, Object.keys(wanted));
    const written = await params.writeParameters(client, schema, provider, current, wanted);
    if (written.length) pulumiLog()("info", `IOM provider "${provider.name}": set ${written.map((n) => (n in i.secretParameters ? `${n} (secret)` : n)).join(", ")}`);
    // Each written row has a new version: read the secrets' versions again for refresh to compare.
    const secretNames = Object.keys(i.secretParameters);
    const after = written.some((n) => n in i.secretParameters) ? await params.readParameters(client, schema, provider, secretNames) : current;
    return {
      environmentUrl: i.environmentUrl,
      providerName: i.providerName,
      secretParameterNames: Object.keys(i.secretParameters).sort(),
      schemaOverride: i.schemaOverride,
      applied: Object.fromEntries(Object.entries(wanted).map(([n, v]) => [n, stored(i, n, v)])),
      fingerprintKeyId: fingerprintKeyId(i.fingerprintKey),
      secretVersions: Object.fromEntries(secretNames.map((n) => [n, after.get(n)?.version ?? ""])),
      providerId: provider.id,
      providerLabel: provider.name,
      activationStatus: provider.activationStatus,
      written,
      drift: [],
    };
  };

  return {
    async check(_olds: IomProviderParametersInputs, news: IomProviderParametersInputs): Promise<pulumi.dynamic.CheckResult<IomProviderParametersInputs>> {
      const raw = news as unknown as Record<string, unknown>;
      const failures = checkIomProviderParameters(clean(raw), isUnknown(raw.parameters) || isUnknown(raw.secretParameters));
      return failures.length ? { inputs: news, failures } : { inputs: news };
    },

    async diff(_id: string, olds: IomProviderParametersOutputs, newsRaw: IomProviderParametersInputs): Promise<DetailedDiffResult> {
      const raw = newsRaw as unknown as Record<string, unknown>;
      const unknownMaps = (["parameters", "secretParameters"] as const).filter((k) => isUnknown(raw[k]));
      if (unknownMaps.length) return { changes: true, replaces: [], detailedDiff: Object.fromEntries(unknownMaps.map((k) => [k, { kind: "UPDATE" as const, inputDiff: true }])) };
      const news = clean(raw);
      const replaces = (["environmentUrl", "providerName"] as const).filter((k) => isUnknown(news[k]) || news[k] !== olds[k]);
      if (replaces.length) return { changes: true, replaces: [...replaces], deleteBeforeReplace: false };
      const d = diffParameters(olds, news);
      const detailedDiff: DetailedDiffResult["detailedDiff"] = {};
      for (const n of d.added) detailedDiff[`parameters["${n}"]`] = { kind: "ADD", inputDiff: true };
      for (const n of d.changed) detailedDiff[`parameters["${n}"]`] = { kind: "UPDATE", inputDiff: true };
      for (const n of d.removed) detailedDiff[`parameters["${n}"]`] = { kind: "DELETE", inputDiff: true };
      // A parameter that moved between the plain and the secret map changes how the state keeps it.
      const sameSecrets = Object.keys(news.secretParameters).sort().join("\n") === [...(olds.secretParameterNames ?? [])].sort().join("\n");
      if (!sameSecrets) detailedDiff.secretParameters = { kind: "UPDATE", inputDiff: true };
      if (news.schemaOverride !== (olds.schemaOverride ?? "")) detailedDiff.schemaOverride = { kind: "UPDATE", inputDiff: true };
      if (d.fingerprintKey) detailedDiff.fingerprintKey = { kind: "UPDATE", inputDiff: true };
      return { changes: Object.keys(detailedDiff).length > 0, replaces: [], stables: ["environmentUrl", "providerName"], detailedDiff };
    },

    async create(inputs: IomProviderParametersInputs): Promise<pulumi.dynamic.CreateResult<IomProviderParametersOutputs>> {
      const i = clean(inputs as unknown as Record<string, unknown>);
      const outs = await apply(i);
      return { id: `iom-provider-${outs.providerId}`, outs };
    },

    async read(id: string, props?: IomProviderParametersOutputs): Promise<pulumi.dynamic.ReadResult<IomProviderParametersOutputs>> {
      if (!props || !props.applied) return { id, props };
      const o = props;
      const client = connect(o.environmentUrl);
      const schema = await discovery.discoverIomProviderSchema(client, discovery.parseIomProviderSchemaOverride(o.schemaOverride));
      let provider: params.IomProviderRow;
      try {
        provider = await params.findIomProvider(client, schema, o.providerName);
      } catch (e) {
        // The provider was removed from IOM: the resource is gone (a later `up` reports the catalog step).
        if ((e as Error).name === "SchemaError" && /has not been added from IOM's catalog/.test((e as Error).message)) return { id: "", props: {} as IomProviderParametersOutputs };
        throw e;
      }
      const names = Object.keys(o.applied);
      const current = await params.readParameters(client, schema, provider, names);
      const secret = (n: string) => o.secretParameterNames.includes(n);
      const actual: Record<string, string> = {};
      const versions: Record<string, string> = { ...o.secretVersions };
      const drift: ParameterDrift[] = [];
      for (const n of names) {
        const row = current.get(n)!;
        if (!secret(n)) actual[n] = row.value;
        else if (o.applied[n].startsWith(params.LEGACY_SCRYPT_PREFIX)) actual[n] = params.legacyScryptFingerprint(row.value, o.fingerprintSalt ?? "");
        else {
          // No key here (read gets only the state): the row's version says whether it changed.
          const known = o.secretVersions?.[n];
          actual[n] = known !== undefined && (row.version ?? "") === known ? o.applied[n] : SECRET_CHANGED;
          versions[n] = row.version ?? "";
        }
        if (actual[n] !== o.applied[n]) drift.push({ name: n, applied: o.applied[n], actual: secret(n) ? SECRET_CHANGED : actual[n] });
      }
      if (drift.length) pulumiLog()("warn", `IOM provider "${provider.name}": changed outside Pulumi: ${drift.map((d) => d.name).join(", ")}`);
      const outputs: IomProviderParametersOutputs = {
        ...o,
        applied: actual,
        ...(o.secretVersions ? { secretVersions: versions } : {}),
        providerId: provider.id,
        providerLabel: provider.name,
        activationStatus: provider.activationStatus,
        drift,
      };
      // New inputs: the actual values, so the next preview shows actual -> desired. A secret's actual
      // value is never returned; a placeholder says whether it changed. Nor is the fingerprint key
      // (read never gets it): the next `up` passes it again.
      const inputs: Omit<IomProviderParametersInputs, "fingerprintKey"> = {
        environmentUrl: o.environmentUrl,
        providerName: o.providerName,
        schemaOverride: o.schemaOverride,
        parameters: Object.fromEntries(names.filter((n) => !secret(n)).map((n) => [n, current.get(n)!.value])),
        secretParameters: Object.fromEntries(names.filter(secret).map((n) => [n, drift.some((d) => d.name === n) ? "(secret changed outside Pulumi)" : "(secret unchanged)"])),
      };
      return { id, props: outputs, inputs: inputs as unknown as IomProviderParametersOutputs };
    },

    async update(_id: string, _olds: IomProviderParametersOutputs, news: IomProviderParametersInputs): Promise<pulumi.dynamic.UpdateResult<IomProviderParametersOutputs>> {
      const outs = await apply(clean(news as unknown as Record<string, unknown>));
      return { outs };
    },

    async delete(): Promise<void> {
      // Deliberately nothing: the values stay in IOM (docs/iom-provider-setup.md).
    },
  };
}

/** The provider object `IomProviderParameters` uses. */
export const iomProviderParametersDynamicProvider = createIomProviderParametersDynamicProvider();

// ---- the resource --------------------------------------------------------------------------------

export interface IomProviderParametersArgs {
  /** `https://<org>.<region>.dynamics.com` */
  environmentUrl: pulumi.Input<string>;
  /** The IOM provider by name, e.g. "Inventory Visibility" or "BigCommerce". */
  providerName: pulumi.Input<string>;
  /** Parameter name (as IOM's parameter form labels it) -> value. */
  parameters: Record<string, pulumi.Input<string>>;
  /** Parameter name -> secret value: made a Pulumi secret, and only fingerprinted in the state. */
  secretParameters?: Record<string, pulumi.Input<string>>;
  /** Override of discovered columns, e.g. "parameterValue=abc_value" (docs/iom-provider-setup.md). */
  schemaOverride?: pulumi.Input<string>;
  /**
   * The stack's key for the fingerprints of secret values (index.ts: one random.RandomBytes per
   * stack); made a Pulumi secret, never returned by the provider.
   */
  fingerprintKey: pulumi.Input<string>;
}

/**
 * Sets named parameters of one IOM provider instance and reports drift on refresh; never touches
 * any other parameter or provider, and delete leaves the values in place. Secret parameters (and
 * the fingerprint key) are Pulumi secrets as inputs, and only keyed fingerprints in the state it
 * returns.
 */
export class IomProviderParameters extends pulumi.dynamic.Resource {
  declare public readonly providerId: pulumi.Output<string>;
  declare public readonly providerLabel: pulumi.Output<string>;
  declare public readonly activationStatus: pulumi.Output<string | null>;
  declare public readonly written: pulumi.Output<string[]>;
  declare public readonly drift: pulumi.Output<ParameterDrift[]>;

  constructor(name: string, args: IomProviderParametersArgs, opts?: pulumi.CustomResourceOptions) {
    const both = Object.keys(args.secretParameters ?? {}).filter((n) => n in args.parameters);
    if (both.length) throw new Error(`IomProviderParameters ${name}: ${both.join(", ")} given both as plain and as secret parameters`);
    super(
      iomProviderParametersDynamicProvider,
      name,
      {
        environmentUrl: args.environmentUrl,
        providerName: args.providerName,
        parameters: args.parameters,
        secretParameters: pulumi.secret(pulumi.output(args.secretParameters ?? {})),
        schemaOverride: args.schemaOverride ?? "",
        fingerprintKey: pulumi.secret(args.fingerprintKey),
        providerId: undefined,
        providerLabel: undefined,
        activationStatus: undefined,
        written: undefined,
        drift: undefined,
      },
      opts,
      "iom",
      "IomProviderParameters",
    );
  }
}
