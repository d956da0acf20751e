/**
 * Emulator of Microsoft Fabric's REST API for on-premises gateways, over https on 127.0.0.1
 * (tls.ts). Sources, named next to each behaviour: the Fabric REST reference, Core > Gateways
 * ("List Gateways", "List Gateway Members", "Check Gateway Member Status") and Core > Long Running
 * Operations ("Get Operation State", "Get Operation Result", and the "Long running operations"
 * article), with the shapes of microsoft/fabric-rest-api-specs platform/definitions/gateways.json.
 * What no source states is marked ASSUMED.
 */
import { randomUUID } from "crypto";
import type { IncomingMessage, ServerResponse } from "http";
import { sendJson, startHttpsServer, type JsonServer } from "./tls";

export interface EmulatedMember {
  id: string;
  displayName: string;
  version: string;
  enabled: boolean;
  /** What a status check finds: GatewayStatus is Online or Offline. */
  status: "Online" | "Offline";
  /** errorDetails of an Offline member (ErrorResponseDetails: errorCode, message). */
  errorDetails?: { errorCode: string; message: string }[];
  upgradeState?: "UpToDate" | "NewVersionAvailable" | "UpgradeRequired" | "Unknown";
  /** Answer its status check as a long-running operation (202) that takes this many polls. */
  slowPolls?: number;
}

export interface EmulatedGateway {
  id: string;
  type: "OnPremises" | "OnPremisesPersonal" | "VirtualNetwork";
  displayName: string;
  members: EmulatedMember[];
}

interface Operation {
  pollsLeft: number;
  result: unknown;
}

export interface FabricEmulator {
  url: string;
  gateways: EmulatedGateway[];
  /** Every request: method, path (with query) and status. */
  log: { method: string; path: string; status: number; auth: boolean }[];
  /** Answer the next `times` requests with 429 and this Retry-After (seconds). */
  throttle(times: number, retryAfterSeconds?: number): void;
  close(): Promise<void>;
}

export async function startFabricEmulator(options: { token: string; gateways: EmulatedGateway[]; pageSize?: number }): Promise<FabricEmulator> {
  const gateways = options.gateways;
  const pageSize = options.pageSize ?? 100;
  const operations = new Map<string, Operation>();
  const log: FabricEmulator["log"] = [];
  let throttled = 0;
  let throttleSeconds = 0;
  // ErrorResponse: errorCode, message, requestId ("Fabric REST API errors").
  const error = (code: string, message: string) => ({ requestId: randomUUID(), errorCode: code, message });

  const handle = (req: IncomingMessage, _body: string, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", server.url);
    const method = req.method ?? "GET";
    const auth = req.headers.authorization === `Bearer ${options.token}`;
    const reply = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      log.push({ method, path: `${url.pathname}${url.search}`, status, auth });
      sendJson(res, status, body, headers);
    };
    // ASSUMED body: the reference lists 401 under "Other Status Codes" without a shape beyond ErrorResponse.
    if (!auth) return reply(401, error("TokenNotProvided", "The access token is missing or invalid."));
    if (throttled > 0) {
      throttled--;
      // "429 Too Many Requests ... a Retry-After header indicating, in seconds, how long the client must wait".
      return reply(429, error("RequestBlocked", "Request is blocked by the upstream service until: later"), { "Retry-After": String(throttleSeconds) });
    }
    const p = url.pathname;
    if (method === "GET" && p === "/v1/gateways") {
      // ListGatewaysResponse extends PaginatedResponse: continuationToken and continuationUri when more follow.
      const start = Number(url.searchParams.get("continuationToken") ?? "0");
      const page = gateways.slice(start, start + pageSize).map((g) => ({
        id: g.id,
        type: g.type,
        displayName: g.displayName,
        publicKey: { exponent: "AQAB", modulus: "emulated" },
        version: g.members[0]?.version ?? "3000.0.0",
        numberOfMemberGateways: g.members.length,
        loadBalancingSetting: "Failover",
        allowCloudConnectionRefresh: false,
        allowCustomConnectors: false,
      }));
      const more = start + pageSize < gateways.length;
      return reply(200, { value: page, ...(more ? { continuationToken: String(start + pageSize), continuationUri: `${server.url}/v1/gateways?continuationToken=${start + pageSize}` } : {}) });
    }
    const members = /^\/v1\/gateways\/([^/]+)\/members$/.exec(p);
    if (method === "GET" && members) {
      const g = gateways.find((x) => x.id === members[1]);
      if (!g) return reply(404, error("EntityNotFound", "The requested resource could not be found."));
      // OnPremisesGatewayMember: id, displayName, publicKey, version, enabled.
      return reply(200, { value: g.members.map((m) => ({ id: m.id, displayName: m.displayName, publicKey: { exponent: "AQAB", modulus: "emulated" }, version: m.version, enabled: m.enabled })) });
    }
    const check = /^\/v1\/gateways\/([^/]+)\/members\/([^/]+)\/checkStatus$/.exec(p);
    if (check) {
      if (method !== "POST") return reply(405, error("MethodNotAllowed", "Use POST."));
      const g = gateways.find((x) => x.id === check[1]);
      const m = g?.members.find((x) => x.id === check[2]);
      if (!m) return reply(404, error("EntityNotFound", "The requested resource could not be found."));
      // GatewayStatusResponse: status, gatewayVersion, gatewayUpgradeState, errorDetails (when offline).
      const result = { status: m.status, gatewayVersion: m.version, gatewayUpgradeState: m.upgradeState ?? "UpToDate", ...(m.status === "Offline" ? { errorDetails: m.errorDetails ?? [] } : {}) };
      if (!m.slowPolls) return reply(200, result);
      // "202 Accepted ... Location, x-ms-operation-id, Retry-After": the check runs as a long-running operation.
      const id = randomUUID();
      operations.set(id, { pollsLeft: m.slowPolls, result });
      return reply(202, undefined, { Location: `${server.url}/v1/operations/${id}`, "x-ms-operation-id": id, "Retry-After": "0" });
    }
    const op = /^\/v1\/operations\/([^/]+)(\/result)?$/.exec(p);
    if (method === "GET" && op) {
      const o = operations.get(op[1]);
      if (!o) return reply(404, error("EntityNotFound", "The requested resource could not be found."));
      const now = new Date().toISOString();
      if (op[2]) return o.pollsLeft > 0 ? reply(400, error("OperationNotSucceeded", "The operation has not completed.")) : reply(200, o.result);
      o.pollsLeft--;
      if (o.pollsLeft > 0) {
        return reply(200, { status: "Running", createdTimeUtc: now, lastUpdatedTimeUtc: now, percentComplete: 50 }, { Location: `${server.url}/v1/operations/${op[1]}`, "x-ms-operation-id": op[1], "Retry-After": "0" });
      }
      // "Once the operation has completed running the location header that is returned is the Get Operation Result API".
      return reply(200, { status: "Succeeded", createdTimeUtc: now, lastUpdatedTimeUtc: now, percentComplete: 100 }, { Location: `${server.url}/v1/operations/${op[1]}/result`, "x-ms-operation-id": op[1] });
    }
    return reply(404, error("EntityNotFound", `No route for ${method} ${p}.`));
  };
  const server: JsonServer = await startHttpsServer(handle);
  return {
    url: server.url,
    gateways,
    log,
    throttle(times, retryAfterSeconds = 0) {
      throttled = times;
      throttleSeconds = retryAfterSeconds;
    },
    close: () => server.close(),
  };
}
