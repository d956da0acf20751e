/**
 * What every HTTP client of the providers shares (Dataverse, the Power Platform admin API, BigCommerce):
 * one exchange with a hard deadline, Retry-After and backoff, timers Node accepts, the rule that a
 * token goes only to its own origin, and the redaction of anything token-shaped from messages.
 * docs/security.md describes the resulting guarantees; a new client uses these, never its own.
 *
 * - **Deadlines.** axios's `timeout` is an idle timer on the socket: a server that trickles a byte
 *   every half second never trips it. `exchange` also passes an `AbortSignal` that fires at the
 *   request's deadline, which aborts the connection *and* the body read (checked against a
 *   trickling server: ERR_CANCELED at the deadline, socket closed). An operation (a whole sync, a
 *   link and its polls) has a `Deadline` of its own; each request's signal fires at whichever comes first.
 * - **Waits.** A `Retry-After` (or any wait) beyond the client's cap, or past the operation's
 *   deadline, is refused at once by `waitProblem`, with a message naming the wait: sending earlier
 *   than asked only extends a throttle. Every timer goes through `timerMs`, so none exceeds Node's
 *   2^31-1 ms (a longer one fires after 1 ms with a TimeoutOverflowWarning).
 * - **Origins.** `originProblem` refuses a follow-up URL (`@odata.nextLink`, `Location`,
 *   `Operation-Location`) on another origin before any request: the token was obtained for one.
 * - **Redaction.** `redactSecrets` removes the given secrets and anything token-shaped (a JWT, a
 *   `Bearer` credential, `access_token=`-style pairs) from text built from a response.
 *
 * Serialized with the providers that use it (dynamic-providers/README.md): plain functions and
 * constants, no state; axios is only a type here, each client requires it lazily.
 */
import type { AxiosInstance, AxiosRequestConfig } from "axios";

/** Node's largest timer: `setTimeout` with more fires after 1 ms and warns (TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** `ms` as a delay Node's timers accept: 0 for NaN or negative, at most MAX_TIMER_MS. */
export function timerMs(ms: number): number {
  return Number.isNaN(ms) || ms <= 0 ? 0 : Math.min(MAX_TIMER_MS, ms);
}

/** Resolve after `ms` (bounded by timerMs). */
export function sleep(ms: number): Promise<void> {
  return new Promise<void>((resolve) => setTimeout(resolve, timerMs(ms)));
}

/** A duration for messages: "250 ms", "2.5 s", "30 s", "5 min", "3 h", "11574 days". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "forever";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 10) return `${Number(s.toFixed(1))} s`;
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} days`;
}

/** Retry-After as milliseconds: seconds (fractions accepted) or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const n = Number(v);
  if (Number.isFinite(n) && n >= 0) return n * 1000;
  const d = Date.parse(v);
  return Number.isFinite(d) ? Math.max(0, d - Date.now()) : undefined;
}

/** Exponential backoff with "equal jitter": half the capped delay, plus up to the other half at random. `retry` counts from 1. */
export function backoffMs(retry: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.max(0, retry - 1));
  return cap / 2 + (random() * cap) / 2;
}

/**
 * The overall deadline of one operation: every request and every wait of it ends by `at`. Built
 * once per operation (a client is built per provider call), never shared between operations.
 */
export interface Deadline {
  /** Epoch ms; Infinity when the operation has no deadline. */
  readonly at: number;
  /** The configured length, for messages. */
  readonly totalMs: number;
  /** The configuration that sets it (an environment variable or an option), for messages. */
  readonly setting: string;
  remainingMs(): number;
}

/** A deadline `ms` from now; none (Infinity) when `ms` is undefined, not a number or <= 0. */
export function createDeadline(ms: number | undefined, setting: string): Deadline {
  const totalMs = ms !== undefined && Number.isFinite(ms) && ms > 0 ? ms : Number.POSITIVE_INFINITY;
  const at = Date.now() + totalMs;
  return { at, totalMs, setting, remainingMs: () => at - Date.now() };
}

/** The message for an operation that ran out of time; `what` is the operation ("syncing ...", "linking ..."). */
export function deadlineMessage(deadline: Deadline, what: string): string {
  return `${what}: gave up after ${formatDuration(deadline.totalMs)}, this operation's deadline (${deadline.setting})`;
}

/**
 * Why the client may not wait `ms` before its next request, or undefined when it may: more than
 * `capMs` (a service asking for longer is refused at once, not waited out), or past the operation's
 * deadline. `asked` names who asks ("Dataverse asks (Retry-After)"); `capSetting` the cap's knob.
 */
export function waitProblem(ms: number, o: { capMs: number; capSetting: string; asked: string; deadline?: Deadline }): string | undefined {
  if (ms > o.capMs) {
    // Rounded alike ("2 s, more than the 2 s"), the wait is shown to the hundredth of a second.
    const [wait, cap] = [formatDuration(ms), formatDuration(o.capMs)];
    return `${o.asked} to wait ${wait === cap ? `${(ms / 1000).toFixed(2)} s` : wait}, more than the ${cap} this run may wait (${o.capSetting}); run again later`;
  }
  const left = o.deadline?.remainingMs() ?? Number.POSITIVE_INFINITY;
  if (ms > left) {
    return `${o.asked} to wait ${formatDuration(ms)}, past this operation's deadline (${formatDuration(o.deadline!.totalMs)}, ${formatDuration(Math.max(0, left))} left; ${o.deadline!.setting}); run again later`;
  }
  return undefined;
}

/**
 * Why `url` (absolute, or relative to `origin`) may not receive the token obtained for `origin`,
 * or undefined when it may. `what` names the URL's source for the message ("the @odata.nextLink").
 */
export function originProblem(url: string, origin: string, what: string): string | undefined {
  let target: URL;
  try {
    target = new URL(url, origin);
  } catch {
    return `${what} is not a URL`;
  }
  if (target.origin === new URL(origin).origin && !target.username && !target.password) return undefined;
  return `refused to follow ${what} to ${target.origin}: the token was obtained for ${new URL(origin).origin}, and a token goes only to the origin it was obtained for`;
}

/** Token-shaped text: JWTs, `Bearer` credentials and `name=value` / `"name":"value"` pairs of well-known secret names. */
const TOKEN_SHAPES: readonly [RegExp, string][] = [
  [/\beyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g, "[redacted JWT]"],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, "$1 [redacted]"],
  [/\b(access_token|refresh_token|id_token|client_secret|client_assertion|x-auth-token|api[_-]?key|password)("?\s*[:=]\s*"?)[^"&\s,;}]+/gi, "$1$2[redacted]"],
];

/**
 * `text` without any of `secrets` (the exact token a client holds) and without anything
 * token-shaped: for every message built from a response body or header.
 */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join("[redacted]");
  for (const [pattern, replacement] of TOKEN_SHAPES) out = out.replace(pattern, replacement);
  return out;
}

/**
 * The axios settings every client starts from: status, body and redirects are the client's
 * (a redirect could carry the token to another host), the body stays text.
 */
export function rawAxiosDefaults(timeoutMs: number): AxiosRequestConfig {
  return {
    timeout: timerMs(timeoutMs),
    maxRedirects: 0,
    validateStatus: () => true,
    responseType: "text",
    transformResponse: [(d: unknown) => d],
    // Bodies are already text or bytes; axios's default transform would re-encode objects.
    transformRequest: [(d: unknown) => d],
  };
}

/** One HTTP answer: headers lower-cased, the body as text. */
export interface HttpAnswer {
  ok: true;
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** No answer: the error's code (never the axios error itself: its config holds the token). */
export interface HttpFailure {
  ok: false;
  /** e.g. ECONNREFUSED, ECONNRESET, ERR_CANCELED, ETIMEDOUT. */
  code: string;
  /** The request's own deadline (or the socket's idle timeout) passed. */
  timedOut: boolean;
  /** The operation's deadline passed: no retry can help. */
  operationExpired: boolean;
  /** For messages: code and axios's message (no URL, header or body). */
  message: string;
}

/**
 * Send one request and read its whole answer, within `timeoutMs` and the operation's deadline,
 * whatever the server does (a trickling body included). Never throws for a network failure.
 */
export async function exchange(http: AxiosInstance, config: AxiosRequestConfig, limits: { timeoutMs: number; deadline?: Deadline }): Promise<HttpAnswer | HttpFailure> {
  const left = limits.deadline?.remainingMs() ?? Number.POSITIVE_INFINITY;
  const budget = Math.min(limits.timeoutMs, left);
  if (budget <= 0) return { ok: false, code: "ETIMEDOUT", timedOut: true, operationExpired: true, message: "the operation's deadline has passed" };
  try {
    const res = await http.request<string>({ ...config, signal: AbortSignal.timeout(Math.max(1, timerMs(budget))) });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers ?? {})) {
      if (typeof v === "string") headers[k.toLowerCase()] = v;
      else if (typeof v === "number") headers[k.toLowerCase()] = String(v);
      else if (Array.isArray(v)) headers[k.toLowerCase()] = v.join(", ");
    }
    return { ok: true, status: res.status, headers, body: typeof res.data === "string" ? res.data : "" };
  } catch (e) {
    const err = e as { code?: unknown; message?: unknown };
    const code = typeof err.code === "string" ? err.code : "ERR_NETWORK";
    const timedOut = code === "ERR_CANCELED" || code === "ECONNABORTED" || code === "ETIMEDOUT";
    // The signal fires at whichever deadline is nearer; when that was the operation's, no retry can help.
    const operationExpired = timedOut && ((limits.deadline?.remainingMs() ?? 1) <= 0 || (code === "ERR_CANCELED" && left <= limits.timeoutMs));
    const what = code === "ERR_CANCELED" ? `no complete answer within ${formatDuration(budget)}` : typeof err.message === "string" ? err.message : "";
    return { ok: false, code, timedOut, operationExpired, message: `${code}${what ? `: ${what}` : ""}` };
  }
}
