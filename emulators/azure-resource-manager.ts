/**
 * Emulator of the Azure Resource Manager calls that register resource providers and preview features
 * in a subscription, on 127.0.0.1. What it does is what Microsoft's REST reference documents; the
 * source is named next to each non-obvious behaviour:
 *   [RP] "Providers - Get" / "Providers - Register" (api-version 2021-04-01);
 *   [FE] "Features - Get" / "Features - Register" (Microsoft.Features, api-version 2021-07-01), and
 *        "Set up preview features in Azure subscription" for the states;
 *   [RBAC] "Troubleshoot Azure RBAC": a caller without the action gets 403 AuthorizationFailed.
 */
import * as http from "http";
import { listenLocally, type LocalServer } from "./local-server";

export const SUBSCRIPTION = "11111111-2222-3333-4444-555555555555";

/** A feature that waits for approval stays Pending ([FE]: "Pending" = awaiting the product team). */
export interface EmulatedFeature {
  state: "NotRegistered" | "Pending" | "Registering" | "Registered" | "Unregistered";
  /** Whether a registration is approved without a person (most are); false: it stays Pending. */
  autoApprove?: boolean;
}

export type ArmFault = { status: 429 | 500; times: number; retryAfter?: string; match?: (method: string, path: string) => boolean };

export class ArmEmulator {
  /** Registration state per resource provider namespace ([RP] registrationState). */
  readonly providers = new Map<string, string>();
  /** Per `<namespace>/<feature>`. */
  readonly features = new Map<string, EmulatedFeature>();
  readonly log: { method: string; path: string; status: number }[] = [];
  /** GETs a Registering provider or feature answers before it is Registered (registration is asynchronous). */
  pollsToRegister = 2;
  /** Namespaces this caller may not register ([RBAC]: `<namespace>/register/action` missing). */
  readonly deniedRegister = new Set<string>();
  /** A caller that may not use Microsoft.Features at all. */
  deniedFeatures = false;
  url = "";
  private readonly pending = new Map<string, number>();
  private faults: ArmFault[] = [];
  private listening?: LocalServer;

  constructor(readonly token = "arm-token") {}

  fault(f: ArmFault): void {
    this.faults.push(f);
  }

  count(method: string, pathPart: string): number {
    return this.log.filter((l) => l.method === method && l.path.includes(pathPart)).length;
  }

  async start(): Promise<this> {
    this.listening = await listenLocally(http.createServer((req, res) => this.handle(req, res)));
    this.url = this.listening.url;
    return this;
  }

  async stop(): Promise<void> {
    await this.listening?.stop();
  }

  /** A Registering state moves on after `pollsToRegister` reads. */
  private advance(key: string, state: string, onDone: () => void): string {
    if (state !== "Registering") return state;
    const left = (this.pending.get(key) ?? this.pollsToRegister) - 1;
    this.pending.set(key, left);
    if (left <= 0) {
      this.pending.delete(key);
      onDone();
      return "Registered";
    }
    return state;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://x");
    const method = req.method ?? "GET";
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.log.push({ method, path: url.pathname, status });
      res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
      res.end(JSON.stringify(body));
    };
    const armError = (status: number, code: string, message: string) => send(status, { error: { code, message } });
    if (req.headers.authorization !== `Bearer ${this.token}`) return armError(401, "InvalidAuthenticationToken", "The access token is invalid.");

    const fault = this.faults.find((f) => f.times > 0 && (!f.match || f.match(method, url.pathname)));
    if (fault) {
      fault.times--;
      return fault.status === 429
        ? send(429, { error: { code: "TooManyRequests", message: "throttled" } }, { "retry-after": fault.retryAfter ?? "0" })
        : armError(500, "InternalServerError", "try again");
    }

    const sub = `/subscriptions/${SUBSCRIPTION}/providers/`;
    if (!url.pathname.startsWith(sub)) return armError(404, "SubscriptionNotFound", "The subscription could not be found.");
    const rest = url.pathname.slice(sub.length).split("/").map(decodeURIComponent);

    // [FE] Microsoft.Features/providers/{ns}/features/{name}[/register]
    if (rest[0] === "Microsoft.Features" && rest[1] === "providers" && rest[3] === "features" && rest[4]) {
      if (url.searchParams.get("api-version") !== "2021-07-01") return armError(400, "InvalidApiVersionParameter", "unsupported api-version");
      if (this.deniedFeatures) return armError(403, "AuthorizationFailed", "The client does not have authorization to perform action 'Microsoft.Features/providers/features/read'.");
      const key = `${rest[2]}/${rest[4]}`;
      const feature = this.features.get(key);
      if (!feature) return armError(404, "FeatureNotFound", `The feature '${rest[4]}' could not be found.`);
      const body = () => ({ id: url.pathname, name: `${rest[2]}/${rest[4]}`, properties: { state: feature.state }, type: "Microsoft.Features/providers/features" });
      if (method === "POST" && rest[5] === "register") {
        // [FE] Register answers with the feature; one that needs approval goes to Pending instead.
        if (feature.state !== "Registered") feature.state = feature.autoApprove === false ? "Pending" : "Registering";
        return send(200, body());
      }
      if (method === "GET" && rest.length === 5) {
        feature.state = this.advance(key, feature.state, () => undefined) as EmulatedFeature["state"];
        return send(200, body());
      }
      return armError(405, "MethodNotAllowed", "not supported");
    }

    // [RP] {namespace}[/register]
    const namespace = rest[0];
    if (url.searchParams.get("api-version") !== "2021-04-01") return armError(400, "InvalidApiVersionParameter", "unsupported api-version");
    if (!this.providers.has(namespace)) return armError(404, "InvalidResourceNamespace", `The resource namespace '${namespace}' is invalid.`);
    const body = () => ({ id: url.pathname.replace(/\/register$/, ""), namespace, registrationState: this.providers.get(namespace) });
    if (method === "POST" && rest[1] === "register" && rest.length === 2) {
      if (this.deniedRegister.has(namespace)) {
        return armError(403, "AuthorizationFailed", `The client does not have authorization to perform action '${namespace}/register/action' over scope '/subscriptions/${SUBSCRIPTION}'.`);
      }
      // [RP] Register is answered 200 with the provider; a registered one is registered again (it propagates new features).
      this.providers.set(namespace, "Registering");
      return send(200, body());
    }
    if (method === "GET" && rest.length === 1) {
      this.providers.set(namespace, this.advance(namespace, this.providers.get(namespace) ?? "", () => undefined));
      return send(200, body());
    }
    return armError(405, "MethodNotAllowed", "not supported");
  }
}

export async function startArmEmulator(): Promise<ArmEmulator> {
  return new ArmEmulator().start();
}
