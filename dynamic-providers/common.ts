/**
 * What every dynamic provider here shares: the engine's marker for values not known yet, the
 * cleaning of the inputs the engine hands a provider, the provider types, and the keyed
 * fingerprints of secrets. See README.md in this folder.
 *
 * Serialized with the providers that use it: plain constants and functions only, no state.
 */
import type * as pulumi from "@pulumi/pulumi";

/**
 * The value the engine passes for an input not known yet (during a preview): the SDK's
 * `unknownValue` (@pulumi/pulumi/runtime/rpc), a constant of the engine's protocol. Written out
 * because importing it loads the SDK's gRPC runtime, 0.15 s of CPU in every test file of provider
 * logic that needs nothing else of the SDK; tests/providers/iom-provider.provider.test.ts holds
 * the two equal. Not the offline plan's `[unknown]` text (PLAN_UNKNOWN, policy/rules.ts), which
 * the plan writes in its place.
 */
export const ENGINE_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Whether `value` is the engine's unknown marker. */
export function isUnknown(value: unknown): boolean {
  return value === ENGINE_UNKNOWN;
}

/** Whether `value` or, for an array, any of its elements is unknown: nothing can be validated yet. */
export function hasUnknown(value: unknown): boolean {
  return isUnknown(value) || (Array.isArray(value) && value.some(isUnknown));
}

/** Whether `value` is set and known: a check that needs the value runs only then. */
export function isKnown<T>(value: T | undefined): value is T {
  return value !== undefined && !isUnknown(value);
}

/** A `pulumi.dynamic.ResourceProvider` with every method present but `configure`: the type of a provider that reads no stack config. */
export type ProviderWithoutConfigure<Inputs, Outputs> = Required<Omit<pulumi.dynamic.ResourceProvider<Inputs, Outputs>, "configure">>;

/**
 * A `diff` result that also says which properties change and how, in Pulumi's detailed-diff shape
 * (property path -> kind), for hosts that forward it.
 */
export interface DetailedDiffResult extends pulumi.dynamic.DiffResult {
  detailedDiff?: Record<string, { kind: "ADD" | "UPDATE" | "DELETE"; inputDiff: boolean }>;
}

/**
 * The inputs as the provider's own type: without the serialized provider text the engine adds
 * (`__provider`) and without properties the engine sent as undefined (an undefined input is absent).
 */
export function cleanInputs<T extends object>(inputs: object): T {
  return Object.fromEntries(Object.entries(inputs).filter(([key, value]) => key !== "__provider" && value !== undefined)) as T;
}

/** `v` when it is a string, else "": an input the engine dropped or sent as another type reads as empty. */
export function text(v: unknown): string {
  return typeof v === "string" ? v : "";
}

/** What `check` returns: the inputs as the engine sent them, with the failures when there are any. */
export function checkResult<T>(inputs: T, failures: pulumi.dynamic.CheckFailure[]): pulumi.dynamic.CheckResult<T> {
  return failures.length ? { inputs, failures } : { inputs };
}

/**
 * Which of `keys` a `diff` must treat as changed, comparing ids and names as the services do,
 * without regard to case: a new value that is unknown or differs from the old one.
 */
export function changedIgnoringCase<K extends string>(news: Record<K, string>, olds: Partial<Record<K, unknown>>, keys: readonly K[]): K[] {
  return keys.filter((k) => isUnknown(news[k]) || news[k].toLowerCase() !== String(olds[k] ?? "").toLowerCase());
}

/**
 * The base of the providers' errors: `name` set, and `message` set again explicitly because the
 * serialized provider rebuilds an Error subclass from its constructor. A provider's error is a
 * one-line subclass: `class XError extends ProviderError { constructor(m: string) { super("XError", m); } }`.
 */
export class ProviderError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.message = message;
    this.name = name;
  }
}

/** How a provider reports progress and warnings (the shape the Dataverse client's `LogFn` takes). */
export type ProviderLog = (level: "info" | "warn" | "debug", message: string) => void;

/**
 * A log that writes through `pulumi.log` when the provider runs under the engine, and to stderr
 * otherwise. `@pulumi/pulumi` is required on each call, so a serialized provider emits a `require`
 * the host resolves instead of capturing the SDK's object graph.
 */
export function pulumiLog(): ProviderLog {
  return (level, message) => {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const p = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
      void p.log[level](message);
    } catch {
      console.error(message);
    }
  };
}

/** The number in the environment variable `name`; undefined when it is unset, empty or not a number. */
export function envNumber(name: string): number | undefined {
  const v = process.env[name];
  return v !== undefined && v !== "" && Number.isFinite(Number(v)) ? Number(v) : undefined;
}

/**
 * Client tuning from the environment of the process running the provider (tests, benchmarks, an
 * operator slowing a run down): for each `key`, the variable `<prefix><KEY_IN_SNAKE_CASE>`
 * (`maxRetries` -> `DATAVERSE_SYNC_MAX_RETRIES`). Only the variables that are set appear in the result.
 * Not inputs: tuning does not belong in the state.
 */
export function numbersFromEnv<K extends string>(prefix: string, keys: readonly K[]): Partial<Record<K, number>> {
  const out: Partial<Record<K, number>> = {};
  for (const key of keys) {
    const value = envNumber(prefix + key.replace(/([A-Z]|[0-9]+)/g, "_$1").toUpperCase());
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/**
 * Why `url` is not an endpoint a provider may call, or undefined when it is: https, or plain http to
 * this machine only (the local emulators). `httpsReason` is the failure's wording for a non-https URL.
 */
export function endpointUrlProblem(url: string, httpsReason: string): string | undefined {
  const u = parsedUrl(url);
  if (!u) return `not a URL: ${url}`;
  return u.protocol === "https:" || isLoopbackHttp(u) ? undefined : httpsReason;
}

/** `url` parsed, or undefined when it is not an absolute URL. */
export function parsedUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/** Whether `u` is plain http to this machine: the only http a provider calls (the local emulators). */
export function isLoopbackHttp(u: URL): boolean {
  return u.protocol === "http:" && (u.hostname === "127.0.0.1" || u.hostname === "localhost" || u.hostname === "[::1]");
}

/** The scheme of `keyedFingerprint`, the first part of every fingerprint it makes. */
export const FINGERPRINT_SCHEME = "hmac-sha256";

/** The shortest fingerprint key accepted (index.ts makes one of 32 random bytes, 44 characters of base64). */
export const MIN_FINGERPRINT_KEY_LENGTH = 32;

/**
 * A fingerprint of a secret for the state and outputs: HMAC-SHA-256 keyed with the stack's
 * fingerprint key, `hmac-sha256:` and 32 hex digits. The key is a random secret index.ts creates
 * once per stack; the engine keeps it encrypted and it reaches a provider only as a secret input,
 * never in what the provider returns. So a state file alone cannot test a guess of a secret, and
 * the same secret has another fingerprint in another stack. `purpose` keeps the uses apart (a
 * token's fingerprint is not a parameter's).
 */
export function keyedFingerprint(key: string, purpose: string, value: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createHmac } = require("crypto") as typeof import("crypto");
  return `${FINGERPRINT_SCHEME}:${createHmac("sha256", key).update(`${purpose}\u0000${value}`, "utf8").digest("hex").slice(0, 32)}`;
}

/**
 * Which key a state's fingerprints were made with, so a diff can tell "another key" from "another
 * secret": the fingerprint of a constant, which says nothing about the key itself.
 */
export function fingerprintKeyId(key: string): string {
  return keyedFingerprint(key, "fingerprint key id", "");
}

/** Why `key` cannot be a fingerprint key, or undefined; the message never quotes it. */
export function fingerprintKeyProblem(key: unknown): string | undefined {
  if (typeof key !== "string" || key === "") return "required: the stack's secret fingerprint key (index.ts passes a random.RandomBytes, as a secret)";
  if (key.length < MIN_FINGERPRINT_KEY_LENGTH) return `must be at least ${MIN_FINGERPRINT_KEY_LENGTH} characters of random data (it has ${key.length})`;
  return undefined;
}
