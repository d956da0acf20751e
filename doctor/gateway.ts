/**
 * The On-premises data gateway cluster: each member online, through Microsoft Fabric's REST API
 * (Core > Gateways). The same gateway cluster serves Power BI, Fabric and Power Platform, so the
 * Fabric API sees the one the stack's VMs registered.
 *
 * - `GET /v1/gateways` (paged by `continuationUri`): the cluster, by the display name the stack
 *   registers it under (output `gatewayClusterName`), type `OnPremises`.
 * - `GET /v1/gateways/{id}/members`: its members (`OnPremisesGatewayMember`: id, displayName,
 *   version, enabled). Fewer than the stack's `gatewayVmCount` means a VM never joined.
 * - `POST /v1/gateways/{id}/members/{memberId}/checkStatus` ("Checks the status of the specified
 *   gateway member"): `GatewayStatusResponse.status` `Online` / `Offline` with `errorDetails`,
 *   answered at once (200) or as a long-running operation (202 + `Location` to poll with
 *   `Retry-After`, then the result). What it proves: Fabric's cloud service reached that member
 *   through Azure Relay just now, the path a Power Automate flow's gateway connection takes. It
 *   does not prove the member can reach the storage account (the File Drop check shows writes).
 *
 * Requests go through the Azure SDK pipeline (@azure/core-rest-pipeline: retries, Retry-After,
 * https only) with a token for the Fabric API's own audience; no redirect is followed, and a
 * `Location` or `continuationUri` on another host is refused, so the token never leaves that host.
 */
import type { TokenCredential } from "@azure/identity";
import { line, plural, type CheckContext } from "./context";
import type { CheckLine } from "./report";
import { errorText, withDeadline, type DoctorServices } from "./services";

const GROUP = "Gateway";

interface FabricAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export class FabricError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "FabricError";
  }
}

/** A minimal Fabric REST client on the Azure SDK's pipeline. */
export function createFabricClient(s: DoctorServices, credential: TokenCredential = s.credential) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const core = require("@azure/core-rest-pipeline") as typeof import("@azure/core-rest-pipeline");
  const origin = new URL(s.fabricUrl).origin;
  const pipeline = core.createPipelineFromOptions({
    retryOptions: { maxRetries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 8_000 },
    redirectOptions: { maxRetries: 0 },
    userAgentOptions: { userAgentPrefix: "iom-doctor" },
    ...(s.caPem ? { tlsOptions: { ca: s.caPem } } : {}),
  });
  pipeline.addPolicy(core.bearerTokenAuthenticationPolicy({ credential, scopes: `${origin}/.default` }));
  const http = core.createDefaultHttpClient();

  const send = async (method: "GET" | "POST", url: string, signal: AbortSignal): Promise<FabricAnswer> => {
    const target = new URL(url, `${s.fabricUrl}/`);
    if (target.origin !== origin) throw new FabricError(`refusing to send the Fabric token to ${target.origin} (the API answered with a link to another host)`, 0);
    const request = core.createPipelineRequest({
      url: target.toString(),
      method,
      abortSignal: signal,
      timeout: s.requestTimeoutMs,
      headers: core.createHttpHeaders({ Accept: "application/json", ...(method === "POST" ? { "Content-Type": "application/json" } : {}) }),
      body: method === "POST" ? "{}" : undefined,
    });
    const res = await pipeline.sendRequest(http, request);
    let body: unknown;
    try {
      body = res.bodyAsText ? JSON.parse(res.bodyAsText) : undefined;
    } catch {
      body = undefined;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of res.headers) headers[k.toLowerCase()] = v;
    if (res.status >= 400) {
      const e = body as { errorCode?: string; message?: string } | undefined;
      throw new FabricError(`${method} ${target.pathname}: HTTP ${res.status}${e?.errorCode ? ` ${e.errorCode}` : ""}${e?.message ? `: ${e.message}` : ""}`, res.status);
    }
    return { status: res.status, headers, body };
  };
  return { send, origin };
}

interface Gateway {
  id: string;
  type: string;
  displayName?: string;
  numberOfMemberGateways?: number;
}

interface Member {
  id: string;
  displayName: string;
  version?: string;
  enabled: boolean;
}

interface MemberStatus {
  status?: string;
  gatewayVersion?: string;
  gatewayUpgradeState?: string;
  errorDetails?: { errorCode?: string; message?: string }[];
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      reject(new Error("aborted"));
    });
  });

type Fabric = ReturnType<typeof createFabricClient>;

async function allGateways(fabric: Fabric, signal: AbortSignal): Promise<Gateway[]> {
  const out: Gateway[] = [];
  let next: string | undefined = "/v1/gateways";
  for (let page = 0; next && page < 50; page++) {
    const r: FabricAnswer = await fabric.send("GET", next, signal);
    const body = r.body as { value?: Gateway[]; continuationUri?: string | null };
    out.push(...(body?.value ?? []));
    next = body?.continuationUri ?? undefined;
  }
  return out;
}

/**
 * The member's status: the 200 answer, or the long-running operation's result (Fabric's LRO
 * pattern: poll `Location` every `Retry-After` seconds until `status` is Succeeded or Failed, then
 * read the result from the `Location` that answer gives, else `<operation>/result`).
 */
async function memberStatus(fabric: Fabric, gatewayId: string, memberId: string, signal: AbortSignal, maxPollMs: number): Promise<MemberStatus> {
  const first = await fabric.send("POST", `/v1/gateways/${gatewayId}/members/${memberId}/checkStatus`, signal);
  if (first.status === 200) return first.body as MemberStatus;
  if (first.status !== 202 || !first.headers.location) throw new FabricError(`checkStatus answered HTTP ${first.status} without a result or an operation to poll`, first.status);
  let poll = first.headers.location;
  let wait = Number(first.headers["retry-after"] ?? "1");
  for (;;) {
    await sleep(Math.min(maxPollMs, Math.max(0, Number.isFinite(wait) ? wait * 1000 : 1000)), signal);
    const r = await fabric.send("GET", poll, signal);
    const state = (r.body as { status?: string; error?: { message?: string } } | undefined) ?? {};
    if (state.status === "Succeeded") {
      const result = await fabric.send("GET", r.headers.location && r.headers.location !== poll ? r.headers.location : `${new URL(poll, fabric.origin).pathname}/result`, signal);
      return result.body as MemberStatus;
    }
    if (state.status === "Failed") throw new FabricError(`the status check failed: ${state.error?.message ?? "no message"}`, r.status);
    if (r.headers.location) poll = r.headers.location;
    wait = Number(r.headers["retry-after"] ?? "1");
  }
}

export async function checkGateway(ctx: CheckContext): Promise<CheckLine[]> {
  const gw = ctx.target.config.gateway;
  if (!gw) return [line("gateway.cluster", GROUP, "", "skip", "this stack has no data gateway (connectivity is powerPlatformVnet)")];
  const cluster = ctx.target.outputs.gatewayClusterName;
  if (!cluster) return [line("gateway.cluster", GROUP, "", "fail", "the stack's outputs have no gatewayClusterName", "run 'pulumi up', then pass the new 'pulumi stack output --json'")];
  const fabric = createFabricClient(ctx.services);
  const lines: CheckLine[] = [];
  const manual = ctx.target.outputs.gatewayRegistrationMode === "manual";
  try {
    await withDeadline(ctx.services.groupTimeoutMs, "Fabric gateway API", async (signal) => {
      const gateways = await allGateways(fabric, signal);
      const found = gateways.find((g) => g.type === "OnPremises" && (g.displayName ?? "").toLowerCase() === cluster.toLowerCase());
      if (!found) {
        lines.push(line("gateway.cluster", GROUP, cluster, "fail", `no on-premises gateway cluster named '${cluster}' is visible to ${ctx.services.credentialSource} (${plural(gateways.length, "gateway")} visible)`,
          manual
            ? "register the gateway on the VMs as the stack's nextSteps output says (manual registration), naming the cluster exactly so"
            : "check the gateway setup log on the first VM (C:\\ProgramData\\iom-gateway-setup.log); if the cluster exists, add this identity as a gateway admin or connection creator (Power Platform admin center > Data > On-premises data gateways)"));
        return;
      }
      ctx.progress(`gateway: cluster ${cluster} found; checking its members`);
      const members = ((await fabric.send("GET", `/v1/gateways/${found.id}/members`, signal)).body as { value?: Member[] } | undefined)?.value ?? [];
      const clusterOk = members.length >= gw.vmCount;
      lines.push(line("gateway.cluster", GROUP, cluster, clusterOk ? "ok" : "fail",
        `${plural(members.length, "member")} registered, the stack runs ${plural(gw.vmCount, "VM")}`,
        clusterOk ? undefined : "a VM did not join the cluster: rerun its setup (pulumi up re-runs the Run Command) or join it by hand with the recovery key from Key Vault (Add-DataGatewayClusterMember)",
        { gatewayId: found.id, members: members.length, vmCount: gw.vmCount }));
      for (const m of members) {
        const subject = `${cluster} / ${m.displayName}`;
        if (!m.enabled) {
          lines.push(line("gateway.member", GROUP, subject, "fail", "disabled in the cluster: it serves no request", "enable it: Power Platform admin center > Data > On-premises data gateways > the cluster > the member, or Fabric's Update Gateway Member (enabled: true)", { memberId: m.id, version: m.version }));
          continue;
        }
        try {
          const st = await memberStatus(fabric, found.id, m.id, signal, 5_000);
          const details = { memberId: m.id, status: st.status, version: st.gatewayVersion ?? m.version, upgradeState: st.gatewayUpgradeState };
          if (st.status === "Online") {
            const upgrade = st.gatewayUpgradeState === "UpgradeRequired";
            lines.push(line("gateway.member", GROUP, subject, upgrade ? "warn" : "ok", `online, version ${st.gatewayVersion ?? m.version ?? "?"}${upgrade ? "; an upgrade is required" : ""}`,
              upgrade ? "update the gateway on this VM (Microsoft supports the last six releases)" : undefined, details));
          } else {
            const why = (st.errorDetails ?? []).map((d) => [d.errorCode, d.message].filter(Boolean).join(": ")).join("; ");
            lines.push(line("gateway.member", GROUP, subject, "fail", `${(st.status ?? "unknown").toLowerCase()}${why ? `: ${why}` : ""}`,
              "start the VM if it is stopped; else Run Command 'Get-Service PBIEgwService' and start the service; then the gw-heartbeat and gw-service alerts' steps in docs/operations.md", details));
          }
        } catch (e) {
          lines.push(line("gateway.member", GROUP, subject, "fail", `status not known: ${errorText(e)}`, "run the doctor again; the identity needs permission on the gateway (admin or connection creator)", { memberId: m.id }));
        }
      }
    });
  } catch (e) {
    const status = (e as { status?: number }).status;
    // A copy: work cut off by the deadline may still finish and must not add lines to the report.
    return [...lines, line("gateway.cluster", GROUP, cluster, "fail", errorText(e),
      status === 401 || status === 403
        ? "the identity needs Fabric API access: a user, or a service principal allowed by the tenant setting 'Service principals can use Fabric APIs', with permission on the gateway"
        : "run the doctor again; check https://support.fabric.microsoft.com for an outage")];
  }
  return lines;
}
