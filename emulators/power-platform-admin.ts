/**
 * Emulator of the Power Platform admin API (BAP) calls that link a NetworkInjection enterprise
 * policy, on 127.0.0.1. Its behaviour is what Microsoft's own tools expect of the service; the
 * source of each non-obvious behaviour is named next to it:
 *   [TF] microsoft/terraform-provider-power-platform (enterprise_policy resource, its test
 *        fixtures, api/lifecycle.go, environment DTOs);
 *   [PS] microsoft/PowerPlatform-EnterprisePolicies (Enable-/Disable-SubnetInjection,
 *        Set-EnvironmentEnterprisePolicy, Wait-EnterprisePolicyOperation, Send-RequestWithRetries).
 * What no source states (the exact error body for a non-managed environment) is marked ASSUMED.
 */
import * as http from "http";
import { randomUUID } from "crypto";
import { JsonApiEmulator } from "./local-server";

export interface EmulatedEnvironment {
  id: string;
  displayName: string;
  /** Power Platform geography, e.g. "europe" ([TF] fixture: top-level `location`). */
  location: string;
  /** "Standard" = Managed Environment, "Basic" = not ([TF] PROTECTION_LEVEL_STANDARD). */
  protectionLevel: "Standard" | "Basic";
  vnets?: { policyId: string; location: string; id: string; systemId: string; linkStatus: string };
}

export interface EmulatedPolicy {
  armId: string;
  systemId: string;
  location: string;
}

export interface Operation {
  id: string;
  environmentId: string;
  type: string;
  /** Where the operation's environment is ([TF] LifecycleDto links.environment.path: a create's new id). */
  environmentPath?: string;
  /** Polls left before it finishes. */
  pollsLeft: number;
  state: "NotStarted" | "Running" | "Succeeded" | "Failed";
  fail?: string;
  apply: () => void;
}

export type AdminFault = { kind: "429" | "503" | "403"; times: number; match?: (method: string, path: string) => boolean } | { kind: "operationFails"; times: number; message: string };

export class PowerPlatformAdminEmulator extends JsonApiEmulator<AdminFault> {
  readonly environments = new Map<string, EmulatedEnvironment>();
  readonly policies = new Map<string, EmulatedPolicy>();
  readonly operations = new Map<string, Operation>();
  /** Polls an operation takes (NotStarted, Running..., then done). */
  pollsPerOperation = 3;
  /** Retry-After seconds on 202 and on operation polls ([PS] old scripts poll "every retry-after seconds"). */
  retryAfterSeconds = "0.01";

  constructor(readonly token = "bap-token") {
    super();
  }

  addEnvironment(e: EmulatedEnvironment): void {
    this.environments.set(e.id.toLowerCase(), e);
  }

  addPolicy(p: EmulatedPolicy): void {
    this.policies.set(p.systemId.toLowerCase(), p);
  }

  protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", "http://x");
    const r = { method: req.method ?? "GET", path: url.pathname };
    if (req.headers.authorization !== `Bearer ${this.token}`) return this.send(res, r, 401, this.error("MissingAuthenticationToken", "The request did not have a valid bearer token for https://service.powerapps.com/."));
    for (const f of this.faults) {
      if (f.kind === "403" && f.times > 0 && (!f.match || f.match(r.method, r.path))) {
        f.times--;
        // ASSUMED body: a valid token of an identity without the admin role; no source shows the service's exact text.
        return this.send(res, r, 403, this.error("Forbidden", "The caller does not have permission to perform this action on the environment."));
      }
      if ((f.kind === "429" || f.kind === "503") && f.times > 0 && (!f.match || f.match(r.method, r.path))) {
        f.times--;
        // [PS] Send-RequestWithRetries: 429 and 503 come with Retry-After (seconds or an HTTP date).
        return this.send(res, r, f.kind === "429" ? 429 : 503, this.error(f.kind === "429" ? "TooManyRequests" : "ServiceUnavailable", "Injected."), { "Retry-After": this.retryAfterSeconds });
      }
    }
    return this.route(r, url, raw, res);
  }

  /** Answers one authenticated request that no fault took; a subclass adds routes in front of these. */
  protected route(r: { method: string; path: string }, url: URL, raw: string, res: http.ServerResponse): void {
    const apiVersion = url.searchParams.get("api-version");

    // GET environment: [TF] admin scope with api-version 2023-06-01; [PS] non-admin path with 2016-11-01.
    const envMatch = /^\/providers\/Microsoft\.BusinessAppPlatform\/(?:scopes\/admin\/)?environments\/([^/]+)$/.exec(r.path);
    if (envMatch && r.method === "GET") {
      if (!apiVersion) return this.send(res, r, 400, this.error("MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests."));
      const e = this.environments.get(envMatch[1].toLowerCase());
      if (!e) return this.send(res, r, 404, this.error("EnvironmentNotFound", `The environment '${envMatch[1]}' could not be found in the tenant.`));
      return this.send(res, r, 200, {
        id: `/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/${e.id}`,
        type: "Microsoft.BusinessAppPlatform/scopes/environments",
        location: e.location,
        name: e.id,
        properties: {
          displayName: e.displayName,
          governanceConfiguration: { protectionLevel: e.protectionLevel },
          // [TF] fixture spells the key `vNets`; readers must not depend on its case.
          ...(e.vnets ? { enterprisePolicies: { vNets: e.vnets } } : {}),
        },
      });
    }

    // POST link / unlink: [TF] and [PS] both: .../environments/{id}/enterprisePolicies/NetworkInjection/{link|unlink}?api-version=2019-10-01, body { SystemId }.
    const linkMatch = /^\/providers\/Microsoft\.BusinessAppPlatform\/environments\/([^/]+)\/enterprisePolicies\/([^/]+)\/(link|unlink)$/.exec(r.path);
    if (linkMatch) {
      if (r.method !== "POST") return this.send(res, r, 405, this.error("MethodNotAllowed", "Use POST."));
      if (apiVersion !== "2019-10-01") return this.send(res, r, 400, this.error("InvalidApiVersion", `api-version '${apiVersion}' is not supported for enterprise policies.`));
      const [, envId, policyType, action] = linkMatch;
      if (policyType !== "NetworkInjection") return this.send(res, r, 404, this.error("NotFound", `Unknown policy type '${policyType}'.`));
      const e = this.environments.get(envId.toLowerCase());
      // A community report (Enable-SubnetInjection returning NotFound on the link URL) traces it to a wrong environment id.
      if (!e) return this.send(res, r, 404, this.error("EnvironmentNotFound", `The environment '${envId}' could not be found.`));
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return this.send(res, r, 400, this.error("InvalidRequestContent", "The request content was invalid and could not be deserialized."));
      }
      // JSON property names bind case-insensitively ([TF] sends systemId, [PS] SystemId).
      const key = Object.keys(body).find((k) => k.toLowerCase() === "systemid");
      const systemId = key ? String(body[key]) : "";
      const policy = this.policies.get(systemId.toLowerCase());
      if (!policy) return this.send(res, r, 400, this.error("InvalidEnterprisePolicy", `Enterprise policy '${systemId}' was not found.`));
      if ([...this.operations.values()].some((o) => o.environmentId === e.id && (o.state === "NotStarted" || o.state === "Running"))) {
        // [TF] executePolicyOperation accepts 409 Conflict (an operation already in progress).
        return this.send(res, r, 409, this.error("OperationInProgress", "Another lifecycle operation is in progress for this environment."), { "Retry-After": this.retryAfterSeconds });
      }
      if (action === "link") {
        // ASSUMED error shape: the module's README requires a Managed Environment; the service's exact answer is not published.
        if (e.protectionLevel !== "Standard") return this.send(res, r, 400, this.error("EnvironmentNotManaged", "The environment must be a Managed Environment to use enterprise policies."));
        // [PS] Enable-SubnetInjection: "The environment and policy must be in the same location."
        if (e.location.toLowerCase() !== policy.location.toLowerCase()) return this.send(res, r, 400, this.error("LocationMismatch", `Policy location '${policy.location}' does not match environment location '${e.location}'.`));
      } else if (!e.vnets || e.vnets.systemId.toLowerCase() !== systemId.toLowerCase()) {
        return this.send(res, r, 400, this.error("PolicyNotLinked", "The enterprise policy is not linked to this environment."));
      }
      const failFault = this.faults.find((f): f is Extract<AdminFault, { kind: "operationFails" }> => f.kind === "operationFails" && f.times > 0);
      if (failFault) failFault.times--;
      const op: Operation = {
        id: randomUUID(),
        environmentId: e.id,
        // Operation type ids seen in a community report: NewNetworkInjection / SwapNetworkInjection.
        type: action === "link" ? (e.vnets ? "SwapNetworkInjection" : "NewNetworkInjection") : "RemoveNetworkInjection",
        pollsLeft: this.pollsPerOperation,
        state: "NotStarted",
        fail: failFault?.message,
        apply:
          action === "link"
            ? () => (e.vnets = { policyId: policy.systemId.split("/").pop()!, location: policy.location, id: policy.armId, systemId: policy.systemId, linkStatus: "Linked" })
            : () => (e.vnets = undefined),
      };
      this.operations.set(op.id, op);
      const opUrl = `${this.url}/providers/Microsoft.BusinessAppPlatform/lifecycleOperations/${op.id}?api-version=2023-06-01`;
      // [PS] reads `operation-location`; [TF] reads `Location` first (its fixtures), then Operation-Location.
      return this.send(res, r, 202, undefined, { "operation-location": opUrl, Location: opUrl, "Retry-After": this.retryAfterSeconds });
    }

    // GET lifecycle operation: [TF] LifecycleDto (state.id, type.id); [PS] NotStarted / Running / Succeeded / Failed with error.message.
    const opMatch = /^\/providers\/Microsoft\.BusinessAppPlatform\/lifecycleOperations\/([^/]+)$/.exec(r.path);
    if (opMatch && r.method === "GET") {
      const op = this.operations.get(opMatch[1]);
      if (!op) return this.send(res, r, 404, this.error("NotFound", "Operation not found."));
      if (op.state === "NotStarted" || op.state === "Running") {
        op.pollsLeft--;
        if (op.pollsLeft <= 0) {
          op.state = op.fail ? "Failed" : "Succeeded";
          if (!op.fail) op.apply();
        } else op.state = op.pollsLeft === this.pollsPerOperation - 1 ? "NotStarted" : "Running";
      }
      return this.send(
        res,
        r,
        200,
        {
          id: op.id,
          type: { id: op.type },
          state: { id: op.state },
          ...(op.environmentPath ? { links: { environment: { path: op.environmentPath } } } : {}),
          ...(op.state === "Failed" ? { error: { code: "OperationFailed", message: op.fail } } : {}),
        },
        op.state === "Succeeded" || op.state === "Failed" ? {} : { "Retry-After": this.retryAfterSeconds },
      );
    }
    return this.send(res, r, 404, this.error("NotFound", `No route for ${r.method} ${r.path}.`));
  }
}

export const POLICY_ARM_ID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-test/providers/Microsoft.PowerPlatform/enterprisePolicies/epol-test";
export const POLICY_SYSTEM_ID = "/regions/europe/providers/Microsoft.PowerPlatform/enterprisePolicies/5b0b3f0e-8d0f-4c1e-9a63-2f4b7d9e1c11";
export const ENV_ID = "7a3c9f1e-2d4b-4e6a-8c0d-1f2e3a4b5c6d";

/** An emulator with one managed environment in "europe" and the stack's policy registered. */
export async function startAdminEmulator(env: Partial<EmulatedEnvironment> = {}): Promise<PowerPlatformAdminEmulator> {
  const emu = new PowerPlatformAdminEmulator();
  emu.addEnvironment({ id: ENV_ID, displayName: "IOM Test", location: "europe", protectionLevel: "Standard", ...env });
  emu.addPolicy({ armId: POLICY_ARM_ID, systemId: POLICY_SYSTEM_ID, location: "europe" });
  await emu.start();
  return emu;
}
