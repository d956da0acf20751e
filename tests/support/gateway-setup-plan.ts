/**
 * The decision gateway-setup.ps1 takes on every run, as data: what to do given the node's mode, the
 * state of the gateway on this machine and whether the cluster exists. The script holds the same
 * table (`$SetupPlans`); the tests read it from the script with a PowerShell grammar and compare, and
 * run create -> re-run -> join through this model.
 */

/** prepare: no service principal; the gateway software is installed and an operator registers it. */
export type SetupMode = "prepare" | "create" | "join";
/**
 * - notInstalled: no gateway service (PBIEgwService) and the cluster lists no member for this machine
 * - installedOnly: the gateway is installed but not a member of the cluster
 * - registered: installed, and the cluster lists this machine
 * - staleMember: the cluster lists this machine but nothing is installed here (e.g. a rebuilt VM)
 */
export type LocalGatewayState = "notInstalled" | "installedOnly" | "registered" | "staleMember";
/** unknown: prepare mode signs in to nothing, so the cluster cannot be read. */
export type ClusterState = "exists" | "missing" | "unknown";
export type SetupStep = "install" | "create" | "join";
export type SetupPlan = { steps: SetupStep[] } | { failure: "stale-member" | "no-cluster" };

/** `<mode>/<local state>/<cluster>` -> `install+create`, `join`, `none`, `fail:<reason>`. */
export const GATEWAY_SETUP_PLANS: Readonly<Record<string, string>> = {
  "prepare/notInstalled/unknown": "install",
  "prepare/installedOnly/unknown": "none",
  "create/notInstalled/missing": "install+create",
  "create/notInstalled/exists": "install+join",
  "create/installedOnly/missing": "create",
  "create/installedOnly/exists": "join",
  "create/registered/exists": "none",
  "create/staleMember/exists": "fail:stale-member",
  "join/notInstalled/missing": "fail:no-cluster",
  "join/notInstalled/exists": "install+join",
  "join/installedOnly/missing": "fail:no-cluster",
  "join/installedOnly/exists": "join",
  "join/registered/exists": "none",
  "join/staleMember/exists": "fail:stale-member",
};

/** How the script names the local state from what it observes. */
export function localGatewayState(installed: boolean, listedInCluster: boolean): LocalGatewayState {
  if (listedInCluster) return installed ? "registered" : "staleMember";
  return installed ? "installedOnly" : "notInstalled";
}

export function planGatewaySetup(mode: SetupMode, local: LocalGatewayState, cluster: ClusterState): SetupPlan {
  const key = `${mode}/${local}/${cluster}`;
  const entry = GATEWAY_SETUP_PLANS[key];
  if (entry === undefined) throw new Error(`no plan for state ${key}`);
  if (entry.startsWith("fail:")) return { failure: entry.slice("fail:".length) as "stale-member" | "no-cluster" };
  return { steps: entry === "none" ? [] : (entry.split("+") as SetupStep[]) };
}
