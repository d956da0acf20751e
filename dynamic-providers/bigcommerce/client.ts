/**
 * BigCommerce REST client for the API check: knows the few endpoints the check uses, their v2/v3
 * response shapes, and how to behave towards the per-store rate limit.
 *
 * This module is part of the dynamic provider's serialized closure (see provider.ts). Keep it to
 * plain functions and plain data: no classes, no module-level state, and load packages lazily
 * with `await import(...)` inside functions so Pulumi's closure serializer emits a `require` that
 * resolves in the dynamic-provider host process.
 */

import type { AxiosInstance } from "axios";

/** The endpoints the check may call: GETs, and one write that cannot change anything. */
export type EndpointName = "time" | "store" | "orders" | "order-write" | "products" | "customers" | "channels";

/**
 * Which response shape an endpoint answers with. `write-probe`: a write to an id that cannot
 * exist, where 404 proves the scope (the request got past the scope check) and 403 its absence.
 */
export type ResponseShape = "v2-time" | "v2-store" | "v2-list" | "v3-envelope" | "write-probe";

export interface EndpointSpec {
  readonly method: "GET" | "PUT";
  readonly path: string;
  readonly shape: ResponseShape;
  /** JSON body of a write. */
  readonly body?: Readonly<Record<string, unknown>>;
}

/** Paths below `/stores/{store_hash}` (BigCommerce API reference, bigcommerce/docs `reference/*.yml`; docs/bigcommerce.md). */
export const ENDPOINTS: Readonly<Record<EndpointName, EndpointSpec>> = {
  time: { method: "GET", path: "/v2/time", shape: "v2-time" },
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
  /** Per-request timeout. */
  readonly timeoutMs?: number;
  /** Retries after a 5xx, a timeout or a network error (bounded; 429 is counted separately). */
  readonly maxRetries?: number;
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** Retries after a 429. */
  readonly maxRateLimitRetries?: number;
  /** Upper bound for one rate-limit wait, whatever the headers say. */
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
  maxRetries: 3,
  backoffBaseMs: 300,
  backoffMaxMs: 5_000,
  maxRateLimitRetries: 4,
  maxRateLimitWaitMs: 35_000,
  slowDownBelow: 5,
  reserve: 1,
};

// An array, not a Set: the closure serializer does not carry Set contents.
const NETWORK_CODES_TIMEOUT: readonly string[] = ["ECONNABORTED", "ETIMEDOUT", "ERR_CANCELED"];

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

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
    case "v2-time":
      return isRecord(v) && typeof v.time === "number" ? { ok: true } : { ok: false, problem: "expected {time: number}" };
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

/** Replaces every occurrence of `secret` in `text` (defence in depth for messages built from answers). */
export function redact(text: string, secret: string): string {
  return secret ? text.split(secret).join("[redacted]") : text;
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

/** Exponential backoff with "equal jitter": half the capped delay, plus up to the other half at random. */
function backoffDelay(attempt: number, tuning: FullTuning, random: () => number): number {
  const cap = Math.min(tuning.backoffMaxMs, tuning.backoffBaseMs * 2 ** attempt);
  return cap / 2 + (random() * cap) / 2;
}

/** The axios instance for one store: the token header, no redirects, status and body left to us. */
function createHttp(axios: typeof import("axios").default, options: ClientOptions, tuning: FullTuning): AxiosInstance {
  return axios.create({
    baseURL: `${options.apiBaseUrl.replace(/\/+$/, "")}/stores/${encodeURIComponent(options.storeHash)}`,
    timeout: tuning.timeoutMs,
    headers: { "X-Auth-Token": options.accessToken, Accept: "application/json" },
    // Never follow a redirect: it could carry the token to another host.
    maxRedirects: 0,
    // Status handling, body parsing and shape checks are ours.
    validateStatus: () => true,
    responseType: "text",
    transformResponse: [(data: unknown) => data],
  });
}

/** One HTTP exchange: the answer, or the network error's code (never the axios error: its config holds the token). */
type Exchange = { ok: true; status: number; body: string; headers: Record<string, unknown> } | { ok: false; code: string };

async function sendOnce(axios: typeof import("axios").default, http: AxiosInstance, spec: EndpointSpec, timeoutMs: number): Promise<Exchange> {
  try {
    // `timeout` is an idle timeout on the socket; the signal makes it a hard deadline too.
    const res = await http.request<string>({
      method: spec.method,
      url: spec.path,
      signal: AbortSignal.timeout(timeoutMs),
      ...(spec.body === undefined ? {} : { data: JSON.stringify(spec.body), headers: { "Content-Type": "application/json" } }),
    });
    return { ok: true, status: res.status, body: typeof res.data === "string" ? res.data : "", headers: { ...(res.headers as Record<string, unknown>) } };
  } catch (err: unknown) {
    return { ok: false, code: axios.isAxiosError(err) ? err.code ?? "ERR_NETWORK" : "ERR_UNKNOWN" };
  }
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
    const capped = Math.min(ms, tuning.maxRateLimitWaitMs);
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

  /** After a 429: every call of this client holds off until the reset the headers give (else a backoff). */
  const pause = (headers: Record<string, unknown>, attempt: number): void => {
    const resetMs = headerNumber(headers, "x-rate-limit-time-reset-ms");
    const retryAfterS = headerNumber(headers, "x-retry-after");
    const delay = resetMs !== undefined ? resetMs : retryAfterS !== undefined ? retryAfterS * 1000 : backoffDelay(attempt, tuning, random);
    // A little jitter so concurrent callers do not return in lockstep.
    const until = Date.now() + Math.min(delay, tuning.maxRateLimitWaitMs) + random() * Math.min(50, delay * 0.1);
    pausedUntil = Math.max(pausedUntil, until);
    lastLeft = undefined;
    resetAt = undefined;
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
  if (spec.shape === "write-probe" && status === 404) {
    // Past the scope check, and nothing to write to: the scope is granted, no data changed.
    return { endpoint, request, status, kind: "ok", attempts, durationMs, detail: "no such order: the write was authorized and changed nothing" };
  }
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
  const axios = (await import("axios")).default;
  const tuning = resolveTuning(options);
  const random = options.random ?? Math.random;
  const http = createHttp(axios, options, tuning);
  const limiter = createRateLimiter(tuning, random);
  let requests = 0;
  let maxConcurrent = 0;

  const call = async (endpoint: EndpointName): Promise<ProbeOutcome> => {
    const spec = ENDPOINTS[endpoint];
    const started = Date.now();
    let attempts = 0;
    let failures = 0; // 5xx, timeouts, network errors
    let limited = 0; // 429s
    for (;;) {
      await limiter.acquire();
      attempts += 1;
      requests += 1;
      maxConcurrent = Math.max(maxConcurrent, limiter.inFlight());
      const answer = await sendOnce(axios, http, spec, tuning.timeoutMs);
      limiter.release();
      if (!answer.ok) {
        if (failures < tuning.maxRetries) {
          await sleep(backoffDelay(failures, tuning, random));
          failures += 1;
          continue;
        }
        const timedOut = NETWORK_CODES_TIMEOUT.includes(answer.code);
        const detail = timedOut ? `no answer within ${tuning.timeoutMs} ms` : `network error ${answer.code}`;
        return { endpoint, request: `${spec.method} ${spec.path}`, kind: timedOut ? "timeout" : "network", attempts, durationMs: Date.now() - started, detail };
      }
      limiter.observe(answer.headers);
      if (answer.status === 429) {
        limiter.countThrottled();
        if (limited < tuning.maxRateLimitRetries) {
          limiter.pause(answer.headers, limited);
          limited += 1;
          continue;
        }
      } else if (answer.status >= 500 && failures < tuning.maxRetries) {
        await sleep(backoffDelay(failures, tuning, random));
        failures += 1;
        continue;
      }
      return answerOutcome(endpoint, answer.status, answer.body, attempts, Date.now() - started, options.accessToken);
    }
  };

  const stats = (): ClientStats => ({ requests, maxConcurrent, rateLimit: limiter.snapshot() });

  return { call, stats };
}
