/**
 * BigCommerce REST client for the API check: knows the few endpoints the check uses, their v2/v3
 * response shapes, and how to behave towards the per-store rate limit.
 *
 * Requests go through the shared HTTP helper (../http.ts): each ends by `timeoutMs` (a trickling
 * answer included), the whole check by `operationTimeoutMs`, no redirect is followed (it could
 * carry the token elsewhere), a rate-limit wait beyond `maxRateLimitWaitMs` fails the call at once
 * instead of sending early, and details built from answers are redacted.
 *
 * This module is part of the dynamic provider's serialized closure (see provider.ts). Keep it to
 * plain functions and plain data: no classes, no module-level state, and load packages lazily
 * with `await import(...)` inside functions so Pulumi's closure serializer emits a `require` that
 * resolves in the dynamic-provider host process.
 */

import { isLoopbackHost } from "../clouds";
import { backoffMs, createDeadline, createHttpTarget, exchange, formatDuration, redactSecrets, sleep, timerMs, waitProblem, type Deadline, type HttpAnswer, type HttpFailure, type HttpTarget } from "../http";

/** BigCommerce's API host: the default, and the only host a store's token is sent to (apiBaseUrlProblem). */
export const DEFAULT_API_BASE_URL = "https://api.bigcommerce.com";

/**
 * Why `value` may not receive a store's token, or undefined when it may: BigCommerce's API host,
 * `https://api.bigcommerce.com` (the only one its API reference documents for the REST Management
 * API, v2 and v3: `api.bigcommerce.com/stores/{store_hash}/v2|v3`; sandbox stores use it too), with
 * no user name, port, path, query or fragment; or plain http to this machine (the emulators the
 * tests and benches run, the same loopback rule as ../clouds.ts's `tokenEndpointProblem`). The
 * resource, the CLI, the doctor and the client each refuse any other URL before a request is made.
 */
export function apiBaseUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `must be ${DEFAULT_API_BASE_URL} (not a URL)`;
  }
  const emulator = url.protocol === "http:" && isLoopbackHost(url.hostname);
  if (!emulator && url.protocol !== "https:") return `must be ${DEFAULT_API_BASE_URL}: the token travels in a header, over https only`;
  if (url.username || url.password) return `must be ${DEFAULT_API_BASE_URL}: a user name in the URL (\`user@host\`) sends the request to the host after the @`;
  if (!emulator && url.port) return `must be ${DEFAULT_API_BASE_URL}, without a port`;
  if (!emulator && url.hostname !== new URL(DEFAULT_API_BASE_URL).hostname) return `must be ${DEFAULT_API_BASE_URL}, BigCommerce's API host: a store's token goes to no other host (got ${url.hostname})`;
  if (url.pathname !== "/" || url.search || url.hash) return `must be the API host only, without a path, query or fragment (the check adds /stores/<hash>/...)`;
  return undefined;
}

/** The endpoints the check may call: GETs, and one write that cannot change anything. */
export type EndpointName = "store" | "orders" | "order-write" | "products" | "customers" | "channels";

/**
 * Which response shape an endpoint answers with. `write-probe`: a write to an id that cannot
 * exist, whose non-2xx answers logic.ts judges (401/403 refuse the scope, the rest passed it).
 */
export type ResponseShape = "v2-store" | "v2-list" | "v3-envelope" | "write-probe";

export interface EndpointSpec {
  readonly method: "GET" | "PUT";
  readonly path: string;
  readonly shape: ResponseShape;
  /** JSON body of a write. */
  readonly body?: Readonly<Record<string, unknown>>;
}

/** Paths below `/stores/{store_hash}` (BigCommerce API reference, bigcommerce/docs `reference/*.yml`; docs/bigcommerce.md). */
export const ENDPOINTS: Readonly<Record<EndpointName, EndpointSpec>> = {
  store: { method: "GET", path: "/v2/store", shape: "v2-store" },
  // 204 with an empty body when the store has no orders.
  orders: { method: "GET", path: "/v2/orders?limit=1", shape: "v2-list" },
  // The request IOM's provider makes to write an order status back (orders.v2.oas2.yml, updateOrder),
  // aimed at order 0, which cannot exist (order ids are positive), with an empty body ("fields that
  // are omitted will not be changed"): even if the order existed nothing would change.
  "order-write": { method: "PUT", path: "/v2/orders/0", shape: "write-probe", body: {} },
  products: { method: "GET", path: "/v3/catalog/products?limit=1", shape: "v3-envelope" },
  customers: { method: "GET", path: "/v3/customers?limit=1", shape: "v3-envelope" },
  channels: { method: "GET", path: "/v3/channels", shape: "v3-envelope" },
};

/** The fields of `GET /v2/store` the check reports. */
export interface StoreInfo {
  readonly id: string;
  readonly storeId?: number;
  readonly name: string;
  readonly domain: string;
  readonly secureUrl?: string;
  readonly status: string;
  readonly planName: string;
  readonly planIsTrial?: boolean;
}

export type OutcomeKind = "ok" | "http-error" | "timeout" | "network" | "bad-shape";

export interface ProbeOutcome {
  readonly endpoint: EndpointName;
  /** e.g. `GET /v2/orders?limit=1` (never contains the token). */
  readonly request: string;
  /** Final HTTP status, when an answer arrived. */
  readonly status?: number;
  readonly kind: OutcomeKind;
  /** HTTP attempts made for this probe (1 = no retry). */
  readonly attempts: number;
  readonly durationMs: number;
  /** Short explanation: the API's error title/message, a network error code, a shape problem. */
  readonly detail?: string;
  /** Set for a successful `store` probe. */
  readonly store?: StoreInfo;
}

export interface RateLimitSnapshot {
  readonly quota?: number;
  /** Lowest `X-Rate-Limit-Requests-Left` seen during the check. */
  readonly minLeft?: number;
  /** Last `X-Rate-Limit-Requests-Left` seen. */
  readonly lastLeft?: number;
  readonly windowMs?: number;
  /** 429 answers received (each was waited out and retried). */
  readonly throttled429: number;
  /** Time spent waiting because of the rate limit (429s and pacing near zero), summed over requests, in ms. */
  readonly waitedMs: number;
}

export interface ClientStats {
  /** HTTP requests sent, including retries. */
  readonly requests: number;
  /** Most requests in flight at the same time. */
  readonly maxConcurrent: number;
  readonly rateLimit: RateLimitSnapshot;
}

export interface ClientTuning {
  /** Per-request deadline, a trickling answer included. */
  readonly timeoutMs?: number;
  /** Deadline of the whole check (every call of one client), from the client's creation. */
  readonly operationTimeoutMs?: number;
  /** Retries after a 5xx, a timeout or a network error (bounded; 429 is counted separately). */
  readonly maxRetries?: number;
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** Retries after a 429. */
  readonly maxRateLimitRetries?: number;
  /** Longest rate-limit wait after a 429: a longer one asked for fails the call at once (sending early only meets another 429). */
  readonly maxRateLimitWaitMs?: number;
  /** Below this many requests left (after counting those in flight), pace the remaining ones. */
  readonly slowDownBelow?: number;
  /** Keep this many requests of the shared quota for the store's other apps: wait for the reset instead. */
  readonly reserve?: number;
}

export interface ClientOptions extends ClientTuning {
  readonly storeHash: string;
  readonly accessToken: string;
  readonly apiBaseUrl: string;
  /** Injectable for tests. */
  readonly random?: () => number;
}

export interface BigCommerceClient {
  call(endpoint: EndpointName): Promise<ProbeOutcome>;
  stats(): ClientStats;
}

export const DEFAULT_TUNING: Required<ClientTuning> = {
  timeoutMs: 10_000,
  operationTimeoutMs: 120_000,
  maxRetries: 3,
  backoffBaseMs: 300,
  backoffMaxMs: 5_000,
  maxRateLimitRetries: 4,
  maxRateLimitWaitMs: 35_000,
  slowDownBelow: 5,
  reserve: 1,
};


function headerNumber(headers: Record<string, unknown>, name: string): number | undefined {
  const raw = headers[name.toLowerCase()];
  const text = Array.isArray(raw) ? raw[0] : raw;
  if (typeof text !== "string" && typeof text !== "number") return undefined;
  const n = Number(text);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Error detail from a v3 `{status,title,...}` body or a v2 `[{status,message}]` body. */
export function errorDetail(body: string): string | undefined {
  const parsed = parseJson(body);
  if (!parsed.ok) return body.trim() ? body.trim().slice(0, 160) : undefined;
  const v = parsed.value;
  if (isRecord(v) && typeof v.title === "string") return v.title;
  if (Array.isArray(v) && isRecord(v[0]) && typeof v[0].message === "string") return v[0].message;
  return undefined;
}

/**
 * Checks a 2xx answer against the endpoint's documented shape; returns the problem, or the store
 * information for `/v2/store`.
 */
export function parseSuccess(
  shape: ResponseShape,
  status: number,
  body: string,
): { ok: true; store?: StoreInfo } | { ok: false; problem: string } {
  if (shape === "write-probe") {
    // A 2xx means the id existed after all; the scope is proven, and the empty body changed nothing.
    return { ok: true };
  }
  if (status === 204) {
    // Only the v2 list endpoints answer an empty collection with 204.
    return shape === "v2-list" && body.trim() === "" ? { ok: true } : { ok: false, problem: "unexpected 204 (no content)" };
  }
  const parsed = parseJson(body);
  if (!parsed.ok) return { ok: false, problem: "the answer is not JSON (a proxy or a wrong apiBaseUrl?)" };
  const v = parsed.value;
  switch (shape) {
    case "v2-list":
      return Array.isArray(v) ? { ok: true } : { ok: false, problem: "expected a JSON array" };
    case "v3-envelope":
      return isRecord(v) && "data" in v && isRecord(v.meta)
        ? { ok: true }
        : { ok: false, problem: "expected a v3 envelope {data, meta}" };
    case "v2-store": {
      if (!isRecord(v) || typeof v.id !== "string" || typeof v.name !== "string") {
        return { ok: false, problem: "expected a v2 store object with id and name" };
      }
      const str = (x: unknown): string => (typeof x === "string" ? x : "");
      return {
        ok: true,
        store: {
          id: v.id,
          storeId: typeof v.store_id === "number" ? v.store_id : undefined,
          name: v.name,
          domain: str(v.domain),
          secureUrl: typeof v.secure_url === "string" ? v.secure_url : undefined,
          status: str(v.status),
          planName: str(v.plan_name),
          planIsTrial: typeof v.plan_is_trial === "boolean" ? v.plan_is_trial : undefined,
        },
      };
    }
  }
}

/** `text` without `secret` and anything token-shaped (../http.ts redactSecrets): for messages built from answers. */
export function redact(text: string, secret: string): string {
  return redactSecrets(text, [secret]);
}

type FullTuning = { -readonly [K in keyof ClientTuning]-?: number };

/** The defaults, with each option the caller set to a finite number >= 0. */
function resolveTuning(options: ClientOptions): FullTuning {
  const tuning: FullTuning = { ...DEFAULT_TUNING };
  for (const key of Object.keys(DEFAULT_TUNING) as (keyof ClientTuning)[]) {
    const value = options[key];
    if (typeof value === "number" && Number.isFinite(value) && value >= 0) tuning[key] = value;
  }
  return tuning;
}

/** Exponential backoff with "equal jitter" (../http.ts); `attempt` counts from 0. */
function backoffDelay(attempt: number, tuning: FullTuning, random: () => number): number {
  return backoffMs(attempt + 1, tuning.backoffBaseMs, tuning.backoffMaxMs, random);
}

/** Where one store's requests go: its API root, with the token header (this target serves that one host: apiBaseUrlProblem). */
function createHttp(options: ClientOptions): HttpTarget {
  return createHttpTarget(`${options.apiBaseUrl.replace(/\/+$/, "")}/stores/${encodeURIComponent(options.storeHash)}`, {
    headers: { "X-Auth-Token": options.accessToken, Accept: "application/json" },
  });
}

/** One HTTP exchange within the request's and the check's deadline (../http.ts exchange). */
function sendOnce(http: HttpTarget, spec: EndpointSpec, timeoutMs: number, deadline: Deadline): Promise<HttpAnswer | HttpFailure> {
  const body = spec.body === undefined ? {} : { body: JSON.stringify(spec.body), headers: { "Content-Type": "application/json" } };
  return exchange(http, { method: spec.method, url: spec.path, ...body }, { timeoutMs, deadline });
}

/**
 * The store's rate limit as one client sees it, shared by all its calls (one check = one client):
 * `acquire` before a request (waits out a 429 pause, paces requests when few are left), `release`
 * after it, `observe` every answer's headers, `pause` after a 429.
 */
function createRateLimiter(tuning: FullTuning, random: () => number) {
  let inFlight = 0;
  let quota: number | undefined;
  let windowMs: number | undefined;
  let lastLeft: number | undefined;
  let minLeft: number | undefined;
  let resetAt: number | undefined;
  let pausedUntil = 0;
  let nextPacedAt = 0;
  let throttled429 = 0;
  let waitedMs = 0;

  const wait = async (ms: number): Promise<void> => {
    const capped = timerMs(Math.min(ms, tuning.maxRateLimitWaitMs));
    waitedMs += capped;
    await sleep(capped);
  };

  /** Waits while the store is paused after a 429, or paces requests when few are left. */
  const acquire = async (): Promise<void> => {
    for (;;) {
      const now = Date.now();
      if (pausedUntil > now) {
        await wait(pausedUntil - now);
        continue;
      }
      if (lastLeft !== undefined && resetAt !== undefined && now < resetAt) {
        const available = lastLeft - inFlight;
        if (available <= tuning.reserve) {
          // Out of quota (keeping the reserve for the store's other apps): wait for the refill.
          await wait(resetAt - now + 5);
          lastLeft = undefined;
          resetAt = undefined;
          continue;
        }
        if (available < tuning.slowDownBelow) {
          // Few left: spread them over the rest of the window instead of spending them at once.
          // Counted as in flight at once, so concurrent callers see it and take later slots.
          const pace = (resetAt - now) / (available - tuning.reserve);
          const slot = Math.max(now, nextPacedAt);
          nextPacedAt = slot + pace;
          inFlight += 1;
          if (slot > now) await wait(slot - now);
          return;
        }
      }
      inFlight += 1;
      return;
    }
  };

  const observe = (headers: Record<string, unknown>): void => {
    const left = headerNumber(headers, "x-rate-limit-requests-left");
    const q = headerNumber(headers, "x-rate-limit-requests-quota");
    const w = headerNumber(headers, "x-rate-limit-time-window-ms");
    const reset = headerNumber(headers, "x-rate-limit-time-reset-ms");
    if (q !== undefined) quota = q;
    if (w !== undefined) windowMs = w;
    if (left !== undefined) {
      lastLeft = left;
      minLeft = minLeft === undefined ? left : Math.min(minLeft, left);
      if (reset !== undefined) resetAt = Date.now() + reset;
    }
  };

  /**
   * After a 429: every call of this client holds off until the reset the headers give (else a
   * backoff). Returns the wait asked for; the caller refuses one beyond the cap.
   */
  const pause = (headers: Record<string, unknown>, attempt: number): number => {
    const resetMs = headerNumber(headers, "x-rate-limit-time-reset-ms");
    const retryAfterS = headerNumber(headers, "x-retry-after");
    const delay = resetMs !== undefined ? resetMs : retryAfterS !== undefined ? retryAfterS * 1000 : backoffDelay(attempt, tuning, random);
    // A little jitter so concurrent callers do not return in lockstep.
    const until = Date.now() + Math.min(delay, tuning.maxRateLimitWaitMs) + random() * Math.min(50, delay * 0.1);
    pausedUntil = Math.max(pausedUntil, until);
    lastLeft = undefined;
    resetAt = undefined;
    return delay;
  };

  return {
    acquire,
    release: (): void => {
      inFlight -= 1;
    },
    inFlight: (): number => inFlight,
    observe,
    countThrottled: (): void => {
      throttled429 += 1;
    },
    pause,
    snapshot: (): RateLimitSnapshot => ({ quota, minLeft, lastLeft, windowMs, throttled429, waitedMs }),
  };
}

/** What a final answer (no retry left or none needed) says about the endpoint. */
function answerOutcome(endpoint: EndpointName, status: number, body: string, attempts: number, durationMs: number, accessToken: string): ProbeOutcome {
  const spec = ENDPOINTS[endpoint];
  const request = `${spec.method} ${spec.path}`;
  if (status >= 200 && status < 300) {
    const parsed = parseSuccess(spec.shape, status, body);
    if (!parsed.ok) {
      return { endpoint, request, status, kind: "bad-shape", attempts, durationMs, detail: parsed.problem };
    }
    const detail = spec.shape === "write-probe" ? "the order exists after all; the empty body changed nothing" : undefined;
    return { endpoint, request, status, kind: "ok", attempts, durationMs, store: parsed.store, detail };
  }
  const detail = errorDetail(body);
  return { endpoint, request, status, kind: "http-error", attempts, durationMs, detail: detail === undefined ? undefined : redact(detail, accessToken) };
}

/**
 * The client for one check: `call` probes an endpoint with bounded retries (backoff on 5xx,
 * timeouts and network errors; the rate limiter's pause on 429), `stats` reports what it cost.
 */
export async function createBigCommerceClient(options: ClientOptions): Promise<BigCommerceClient> {
  // Checked again here, whoever built the options (an old state's apiBaseUrl reaches `read`): the token goes to no other host.
  const hostProblem = apiBaseUrlProblem(options.apiBaseUrl);
  if (hostProblem) throw new Error(`BigCommerce client: apiBaseUrl ${hostProblem}; nothing was sent`);
  const tuning = resolveTuning(options);
  const deadline = createDeadline(tuning.operationTimeoutMs, "operationTimeoutMs");
  const random = options.random ?? Math.random;
  const http = createHttp(options);
  const limiter = createRateLimiter(tuning, random);
  let requests = 0;
  let maxConcurrent = 0;

  const call = async (endpoint: EndpointName): Promise<ProbeOutcome> => {
    const spec = ENDPOINTS[endpoint];
    const started = Date.now();
    let attempts = 0;
    let failures = 0; // 5xx, timeouts, network errors
    let limited = 0; // 429s
    const gaveUp = (kind: "timeout" | "network", detail: string): ProbeOutcome => ({ endpoint, request: `${spec.method} ${spec.path}`, kind, attempts, durationMs: Date.now() - started, detail });
    const outOfTime = `no answer within this check's deadline of ${formatDuration(deadline.totalMs)} (operationTimeoutMs)`;
    /** Back off before a retry; false when the wait would pass the check's deadline. */
    const backoff = async (): Promise<boolean> => {
      const ms = backoffDelay(failures, tuning, random);
      failures += 1;
      if (ms > deadline.remainingMs()) return false;
      await sleep(ms);
      return true;
    };
    for (;;) {
      if (deadline.remainingMs() <= 0) return gaveUp("timeout", outOfTime);
      await limiter.acquire();
      attempts += 1;
      requests += 1;
      maxConcurrent = Math.max(maxConcurrent, limiter.inFlight());
      const answer = await sendOnce(http, spec, tuning.timeoutMs, deadline);
      limiter.release();
      if (!answer.ok) {
        if (!answer.operationExpired && failures < tuning.maxRetries && (await backoff())) continue;
        if (answer.operationExpired) return gaveUp("timeout", outOfTime);
        return gaveUp(answer.timedOut ? "timeout" : "network", answer.timedOut ? `no answer within ${tuning.timeoutMs} ms` : `network error ${answer.code}`);
      }
      limiter.observe(answer.headers);
      if (answer.status === 429) {
        limiter.countThrottled();
        if (limited < tuning.maxRateLimitRetries) {
          const asked = limiter.pause(answer.headers, limited);
          // Sending before the store's window resets only meets another 429: a wait the check may not make ends the call.
          const problem = waitProblem(asked, { capMs: tuning.maxRateLimitWaitMs, capSetting: "maxRateLimitWaitMs", asked: "BigCommerce asks", deadline });
          if (problem) return { ...answerOutcome(endpoint, 429, answer.body, attempts, Date.now() - started, options.accessToken), detail: problem };
          limited += 1;
          continue;
        }
      } else if (answer.status >= 500 && failures < tuning.maxRetries && (await backoff())) {
        continue;
      }
      return answerOutcome(endpoint, answer.status, answer.body, attempts, Date.now() - started, options.accessToken);
    }
  };

  const stats = (): ClientStats => ({ requests, maxConcurrent, rateLimit: limiter.snapshot() });

  return { call, stats };
}
