// An HTTP emulator of the parts of the BigCommerce REST API the API check uses, following
// BigCommerce's developer documentation (bigcommerce/docs: docs/start/authentication/api-accounts.mdx,
// docs/start/about/status-codes.mdx, reference/*.yml; summed up in docs/bigcommerce.md): X-Auth-Token auth (401), 403 with the real missing-scope
// body, a token used against another store hash, v2 and v3 answer shapes, 204 on an empty order
// list, per-store rate-limit headers with a quota that runs out (429) and refills, and injectable
// faults (503/500, slow answers, dropped connections) plus a global latency. Test controls that
// are not service behaviour: a clock the rate-limit window runs on, and holding every answer
// until released (to see what a client sends before any answer).
//
// It rejects what the real API rejects: no or unknown token, paths outside /stores/<hash>/v2|v3,
// a trailing slash on a v3 path (403, as BigCommerce does), methods a route does not support (405).
//
// Scopes: a `_read_only` scope allows GET (and HEAD) only; its modify form allows every method
// (bigcommerce/docs api-accounts.mdx, "OAuth scopes"). Every route needs a scope: the same page
// lists "Time V2" (`/v2/time`) under Information & Settings, next to Store Information V2. The
// scope is checked before the entity is looked up, so a write to a missing order is 403 without the
// modify scope and, with it, 404 or whatever `missingOrderWriteStatus` says (undocumented; see
// docs/bigcommerce.md, "Proving a modify scope", for why this order is assumed). Orders are
// entities (ids from 100, as BigCommerce numbers them) whose status a PUT can change, and every
// write that changed data is counted, so a test can prove a check changed nothing.

import * as http from "http";
import type { AddressInfo } from "net";
import { DEFAULT_REQUIRED_SCOPES } from "../dynamic-providers/bigcommerce/logic";

export interface EmulatorStore {
  hash: string;
  storeId: number;
  name: string;
  domain: string;
  status: string;
  planName: string;
  /** 0: `GET /v2/orders` answers 204 with an empty body. */
  orders: number;
  /** `plan_is_trial` (a free-trial store, as IOM's guide uses). Default false. */
  planIsTrial?: boolean;
}

export interface EmulatorToken {
  token: string;
  storeHash: string;
  /** Scope names as BigCommerce grants them; a modify scope also allows its read-only requests. */
  scopes: string[];
}

export interface RateLimitOptions {
  quota: number;
  windowMs: number;
  /** Send the quota headers with a 429 (BigCommerce may not). Default true. */
  headersOn429?: boolean;
  /** Send `X-Retry-After: <seconds>` with a 429. */
  retryAfterSeconds?: number;
  /** The clock the window runs on (default Date.now): a test can move it instead of sleeping. */
  now?: () => number;
}

export interface Fault {
  /** Path prefix below /stores/<hash> (e.g. `/v2/time`); every path when absent. */
  path?: string;
  /** Answer with this status (e.g. 503, 500, or 429 without headers). */
  status?: number;
  /** Delay the answer by this much (a slow answer; longer than the client timeout = a timeout). */
  delayMs?: number;
  /** Destroy the connection without answering. */
  drop?: boolean;
  /** Extra response headers (e.g. `X-Retry-After` on a 429). */
  headers?: Record<string, string>;
  /** How many matching requests it affects. */
  times: number;
}

export interface LoggedRequest {
  method: string;
  url: string;
  /** 0 while unanswered, or when the connection was dropped or abandoned. */
  status: number;
  at: number;
  hadToken: boolean;
  accept?: string;
  /** X-Rate-Limit-Requests-Left sent with the answer, when there was one. */
  requestsLeft?: number;
}

export interface EmulatorOptions {
  stores?: EmulatorStore[];
  tokens?: EmulatorToken[];
  latencyMs?: number;
  rateLimit?: RateLimitOptions;
  /** What a valid token gets when used against another store's hash (undocumented; default 404). */
  wrongStoreStatus?: 401 | 403 | 404;
  /**
   * What a write to an order that does not exist gets once past the scope check (undocumented:
   * an entity check, 404, or a body or method check first; default 404).
   */
  missingOrderWriteStatus?: 400 | 404 | 405 | 422;
}

export interface BigCommerceEmulator {
  readonly url: string;
  readonly requests: LoggedRequest[];
  /** Writes that changed store data, since the start (resetLog does not clear it). */
  readonly dataChanges: () => number;
  /** Current status id of an order, or undefined if the store has no such order. */
  orderStatus(hash: string, id: number): number | undefined;
  /** Most requests being handled at the same time. */
  readonly maxInFlight: () => number;
  store(hash: string): EmulatorStore;
  addToken(token: EmulatorToken): void;
  revokeToken(token: string): void;
  addFault(fault: Fault): void;
  clearFaults(): void;
  setLatency(ms: number): void;
  setRateLimit(options: RateLimitOptions): void;
  /**
   * Hold every answer until the returned function is called (test control, not service
   * behaviour): a test can see which requests a client sends before it gets any answer.
   */
  holdAnswers(): () => void;
  /** Forgets the request log and concurrency figure. */
  resetLog(): void;
  close(): Promise<void>;
}

export const MISSING_SCOPE_BODY = {
  status: 403,
  title: "You don't have a required scope to access the endpoint",
  type: "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
  errors: {},
};

export const DEMO_STORE: EmulatorStore = {
  hash: "abc123",
  storeId: 1001234,
  name: "Contoso Outdoor",
  domain: "contoso-outdoor.example",
  status: "live",
  planName: "Plus",
  orders: 3,
};

export const ALL_READ_SCOPES = [
  "store_v2_information_read_only",
  "store_v2_orders_read_only",
  "store_v2_products_read_only",
  "store_v2_customers_read_only",
  "store_channel_settings_read_only",
];

/** The check's default scopes (what IOM's BigCommerce provider needs), plus channel settings: a token that passes the default check. */
export const IOM_SCOPES = [...new Set([...DEFAULT_REQUIRED_SCOPES, "store_channel_settings_read_only"])];

interface Route {
  /** Path below /stores/<hash>; `{id}` matches a whole number. */
  pattern: string;
  /** Scope family: its modify form allows every method, its `_read_only` form GET and HEAD. */
  scope: string;
  methods: string[];
}

// `PUT /v2/orders` is 405 while `PUT /v2/orders/{id}` is valid (status-codes.mdx, 405).
const ROUTES: Route[] = [
  // "Time V2" is listed under Information & Settings (api-accounts.mdx, "Store resource scopes").
  { pattern: "/v2/time", scope: "store_v2_information", methods: ["GET"] },
  { pattern: "/v2/store", scope: "store_v2_information", methods: ["GET"] },
  { pattern: "/v2/orders", scope: "store_v2_orders", methods: ["GET", "POST"] },
  { pattern: "/v2/orders/count", scope: "store_v2_orders", methods: ["GET"] },
  { pattern: "/v2/orders/{id}", scope: "store_v2_orders", methods: ["GET", "PUT", "DELETE"] },
  { pattern: "/v3/catalog/products", scope: "store_v2_products", methods: ["GET", "POST", "PUT", "DELETE"] },
  { pattern: "/v3/pricelists", scope: "store_v2_products", methods: ["GET", "POST"] },
  { pattern: "/v3/customers", scope: "store_v2_customers", methods: ["GET", "POST", "PUT", "DELETE"] },
  { pattern: "/v3/channels", scope: "store_channel_settings", methods: ["GET", "POST"] },
];

function matchRoute(path: string): { route: Route; id?: number } | undefined {
  for (const route of ROUTES) {
    const re = new RegExp(`^${route.pattern.replace("{id}", "(\\d+)")}$`);
    const m = re.exec(path);
    if (m) return { route, id: m[1] === undefined ? undefined : Number(m[1]) };
  }
  return undefined;
}

function v3Error(status: number, title: string): Record<string, unknown> {
  return { status, title, type: "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes", errors: {} };
}

function v2Error(status: number, message: string): unknown[] {
  return [{ status, message }];
}

function envelope(data: unknown[], limit: number): Record<string, unknown> {
  return {
    data: data.slice(0, limit),
    meta: {
      pagination: {
        total: data.length,
        count: Math.min(limit, data.length),
        per_page: limit,
        current_page: 1,
        total_pages: Math.max(1, Math.ceil(data.length / limit)),
        links: { previous: null, current: `?page=1&limit=${limit}`, next: data.length > limit ? `?page=2&limit=${limit}` : null },
      },
    },
  };
}

export async function startBigCommerceEmulator(options: EmulatorOptions = {}): Promise<BigCommerceEmulator> {
  const stores = new Map<string, EmulatorStore>();
  for (const s of options.stores ?? [{ ...DEMO_STORE }]) stores.set(s.hash, { ...s });
  const tokens = new Map<string, EmulatorToken>();
  for (const t of options.tokens ?? []) tokens.set(t.token, { ...t, scopes: [...t.scopes] });
  let latencyMs = options.latencyMs ?? 0;
  let rateLimit: RateLimitOptions = options.rateLimit ?? { quota: 150, windowMs: 30_000 };
  const wrongStoreStatus = options.wrongStoreStatus ?? 404;
  const missingOrderWriteStatus = options.missingOrderWriteStatus ?? 404;
  const faults: Fault[] = [];
  const windows = new Map<string, { start: number; used: number }>();
  const requests: LoggedRequest[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let dataChanges = 0;
  let held: (() => void)[] | undefined;
  // Order id -> status_id, per store (status 1 = Pending).
  const orders = new Map<string, Map<number, number>>();
  for (const s of stores.values()) orders.set(s.hash, new Map(Array.from({ length: s.orders }, (_, i) => [100 + i, 1] as [number, number])));

  /** A read-only scope grants GET/HEAD only; the modify form grants every method. */
  const hasScope = (granted: string[], family: string, method: string): boolean =>
    granted.includes(family) || ((method === "GET" || method === "HEAD") && granted.includes(`${family}_read_only`));

  const takeFault = (path: string): Fault | undefined => {
    const f = faults.find((x) => x.times > 0 && (x.path === undefined || path.startsWith(x.path)));
    if (f) f.times -= 1;
    return f;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handle(req, res, Buffer.concat(chunks).toString("utf8")));
  });

  const handle = (req: http.IncomingMessage, res: http.ServerResponse, bodyText: string): void => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const method = req.method ?? "GET";
    const rawUrl = req.url ?? "/";
    const tokenHeader = req.headers["x-auth-token"];
    const token = typeof tokenHeader === "string" ? tokenHeader : undefined;
    const headers: Record<string, string> = {};
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    // Logged on arrival (status 0 until answered), so a test's resetLog() is not polluted later
    // by answers to an earlier test's requests.
    const entry: LoggedRequest = { method, url: rawUrl, status: 0, at: Date.now(), hadToken: token !== undefined, accept: req.headers.accept };
    requests.push(entry);
    const finish = (): boolean => {
      if (finished) return false;
      finished = true;
      inFlight -= 1;
      return true;
    };
    // The client gave up (timeout) or went away: stop the pending answer.
    res.on("close", () => {
      if (timer) clearTimeout(timer);
      finish();
    });

    const send = (status: number, body?: unknown, delayMs = 0): void => {
      const out = body === undefined ? "" : JSON.stringify(body);
      const answer = (): void => {
        timer = setTimeout(() => {
          if (!finish()) return;
          entry.status = status;
          res.writeHead(status, { ...headers, ...(out ? { "Content-Type": "application/json" } : {}) });
          res.end(out);
        }, latencyMs + delayMs);
      };
      if (held) held.push(answer);
      else answer();
    };

    const url = new URL(rawUrl, "http://emulator");
    const match = /^\/stores\/([^/]+)(\/v[23]\/.*)$/.exec(url.pathname);
    if (!match) {
      send(404, v3Error(404, "Not Found"));
      return;
    }
    const [, hash, path] = match;
    const version = path.startsWith("/v3/") ? "v3" : "v2";
    const err = (status: number, text: string): unknown => (version === "v3" ? v3Error(status, text) : v2Error(status, text));

    const fault = takeFault(path);
    if (fault?.drop) {
      timer = setTimeout(() => {
        finish();
        req.socket.destroy();
      }, latencyMs);
      return;
    }
    if (fault?.status !== undefined) {
      Object.assign(headers, fault.headers ?? {});
      send(fault.status, err(fault.status, fault.status === 503 ? "Service Unavailable" : "Server Error"), fault.delayMs ?? 0);
      return;
    }
    const slow = fault?.delayMs ?? 0;

    if (token === undefined || token === "") {
      send(401, err(401, "No credentials were supplied in the request."), slow);
      return;
    }
    const grant = tokens.get(token);
    if (!grant) {
      send(401, err(401, "Invalid credentials."), slow);
      return;
    }
    if (grant.storeHash !== hash || !stores.has(hash)) {
      send(wrongStoreStatus, wrongStoreStatus === 403 ? MISSING_SCOPE_BODY : err(wrongStoreStatus, "Store not found"), slow);
      return;
    }
    const store = stores.get(hash) as EmulatorStore;

    // Per-store quota, shared by every token of the store.
    const now = (rateLimit.now ?? Date.now)();
    let win = windows.get(hash);
    if (!win || now - win.start >= rateLimit.windowMs) {
      win = { start: now, used: 0 };
      windows.set(hash, win);
    }
    const resetMs = Math.max(0, win.start + rateLimit.windowMs - now);
    const quotaHeaders = (left: number): void => {
      headers["X-Rate-Limit-Time-Window-Ms"] = String(rateLimit.windowMs);
      headers["X-Rate-Limit-Time-Reset-Ms"] = String(resetMs);
      headers["X-Rate-Limit-Requests-Quota"] = String(rateLimit.quota);
      headers["X-Rate-Limit-Requests-Left"] = String(left);
      entry.requestsLeft = left;
    };
    if (win.used >= rateLimit.quota) {
      if (rateLimit.headersOn429 !== false) quotaHeaders(0);
      if (rateLimit.retryAfterSeconds !== undefined) headers["X-Retry-After"] = String(rateLimit.retryAfterSeconds);
      send(429, err(429, "Too many requests"), slow);
      return;
    }
    win.used += 1;
    quotaHeaders(rateLimit.quota - win.used);

    const matched = matchRoute(path);
    if (!matched) {
      // A wrong v3 path (a trailing slash, say) gets the missing-scope 403, as on the real API.
      if (version === "v3") send(403, MISSING_SCOPE_BODY, slow);
      else send(404, v2Error(404, "The requested resource was not found."), slow);
      return;
    }
    const { route, id } = matched;
    if (!route.methods.includes(method)) {
      send(405, err(405, "Method Not Allowed"), slow);
      return;
    }
    // The scope first, then the entity (see the header).
    if (!hasScope(grant.scopes, route.scope, method)) {
      send(403, MISSING_SCOPE_BODY, slow);
      return;
    }
    if (route.pattern === "/v2/orders/{id}") {
      const storeOrders = orders.get(hash) as Map<number, number>;
      const current = id === undefined ? undefined : storeOrders.get(id);
      if (current === undefined) {
        if (method === "PUT" && missingOrderWriteStatus !== 404) send(missingOrderWriteStatus, v2Error(missingOrderWriteStatus, "The request was not processed."), slow);
        else send(404, v2Error(404, "The requested resource was not found."), slow);
        return;
      }
      if (method === "PUT") {
        let body: unknown;
        try {
          body = bodyText.trim() === "" ? {} : JSON.parse(bodyText);
        } catch {
          send(400, v2Error(400, "The request body is not valid JSON."), slow);
          return;
        }
        // "Those fields that are omitted will not be changed" (orders.v2.oas2.yml, updateOrder).
        const next = typeof body === "object" && body !== null && "status_id" in body ? Number((body as { status_id: unknown }).status_id) : current;
        if (next !== current) {
          storeOrders.set(id as number, next);
          dataChanges += 1;
        }
        send(200, { id, status_id: next }, slow);
        return;
      }
      if (method === "DELETE") {
        storeOrders.delete(id as number);
        dataChanges += 1;
        send(204, undefined, slow);
        return;
      }
      send(200, { id, status_id: current }, slow);
      return;
    }
    if (method !== "GET") {
      // Writes to collections are not modelled beyond their scope check.
      send(501, err(501, "Not modelled by the emulator"), slow);
      return;
    }
    const limitParam = url.searchParams.get("limit");
    const limit = limitParam === null ? 50 : Number(limitParam);
    if (!Number.isInteger(limit) || limit < 1 || limit > 250) {
      send(422, err(422, "The limit must be between 1 and 250."), slow);
      return;
    }

    switch (path) {
      case "/v2/time":
        send(200, { time: Math.floor(Date.now() / 1000) }, slow);
        return;
      case "/v2/store":
        send(
          200,
          {
            id: store.hash,
            domain: store.domain,
            secure_url: `https://${store.domain}`,
            control_panel_base_url: `https://store-${store.hash}.mybigcommerce.com`,
            status: store.status,
            name: store.name,
            first_name: "Ada",
            last_name: "Lovelace",
            plan_name: store.planName,
            plan_level: store.planName,
            plan_is_trial: store.planIsTrial ?? false,
            store_id: store.storeId,
            default_channel_id: 1,
            currency: "USD",
            timezone: { name: "Etc/UTC", raw_offset: 0, dst_offset: 0, dst_correction: false },
            features: { stencil_enabled: true },
          },
          slow,
        );
        return;
      case "/v2/orders":
        if (store.orders === 0) send(204, undefined, slow);
        else send(200, Array.from({ length: Math.min(limit, store.orders) }, (_, i) => ({ id: 100 + i, status: "Pending", status_id: 1 })), slow);
        return;
      case "/v2/orders/count":
        send(200, { count: store.orders, statuses: [] }, slow);
        return;
      case "/v3/catalog/products":
        send(200, envelope([{ id: 77, name: "Tent", sku: "TENT-1" }], limit), slow);
        return;
      case "/v3/pricelists":
        send(200, envelope([], limit), slow);
        return;
      case "/v3/customers":
        send(200, envelope([{ id: 5, email: "buyer@example.com" }], limit), slow);
        return;
      case "/v3/channels":
        send(200, envelope([{ id: 1, name: "Contoso Outdoor", type: "storefront", platform: "bigcommerce" }], limit), slow);
        return;
      default:
        send(404, err(404, "Not Found"), slow);
    }
  };

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    maxInFlight: () => maxInFlight,
    dataChanges: () => dataChanges,
    orderStatus(hash: string, id: number): number | undefined {
      return orders.get(hash)?.get(id);
    },
    store(hash: string): EmulatorStore {
      const s = stores.get(hash);
      if (!s) throw new Error(`emulator has no store ${hash}`);
      return s;
    },
    addToken(t: EmulatorToken): void {
      tokens.set(t.token, { ...t, scopes: [...t.scopes] });
    },
    revokeToken(t: string): void {
      tokens.delete(t);
    },
    addFault(f: Fault): void {
      faults.push({ ...f });
    },
    clearFaults(): void {
      faults.length = 0;
    },
    setLatency(ms: number): void {
      latencyMs = ms;
    },
    setRateLimit(r: RateLimitOptions): void {
      rateLimit = r;
      windows.clear();
    },
    holdAnswers(): () => void {
      held = held ?? [];
      return () => {
        const waiting = held ?? [];
        held = undefined;
        for (const answer of waiting) answer();
      };
    },
    resetLog(): void {
      requests.length = 0;
      maxInFlight = inFlight;
    },
    close(): Promise<void> {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
