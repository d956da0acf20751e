/**
 * Each check group of the doctor against the emulators (harness.ts): it passes on a healthy
 * landing and fails, with the cause and the fix, on each way that link breaks.
 */
import { checkBigCommerce } from "../../doctor/bigcommerce";
import { checkDataverse } from "../../doctor/dataverse";
import { checkFileDrop } from "../../doctor/file-drop";
import { checkGateway, createFabricClient } from "../../doctor/gateway";
import { checkKeyVault } from "../../doctor/key-vault";
import { checkPolicyLink } from "../../doctor/policy-link";
import { environmentIdOf } from "../../doctor/target";
import type { CheckLine } from "../../doctor/report";
import { DEMO_STORE } from "../../emulators/bigcommerce";
import { BC_FLOWS, IV_FLOWS, LOGIC_COLUMNS } from "../../emulators/iom-doctor";
import { IOM_COLUMNS, IV_PARAMS } from "../../emulators/iom-provider-tables";
import { doctorContext, startDoctorWorld, TOKENS, useEnv, type DoctorWorld } from "./harness";

const byId = (lines: CheckLine[], id: string, subject?: string) => lines.filter((l) => l.id === id && (subject === undefined || l.subject === subject));
const one = (lines: CheckLine[], id: string, subject?: string) => {
  const found = byId(lines, id, subject);
  if (found.length !== 1) throw new Error(`expected one ${id} ${subject ?? ""} line, got ${JSON.stringify(lines, null, 1)}`);
  return found[0];
};

let dev: DoctorWorld;
let restore: () => void;
beforeAll(async () => {
  dev = await startDoctorWorld("dev");
  restore = useEnv(dev.env);
});
afterAll(async () => {
  restore();
  await dev.stop();
});

describe("BigCommerce: the provider's own API check with the stack's settings", () => {
  const withStore = { configChanges: { set: { bigcommerceStoreHash: DEMO_STORE.hash }, secrets: { bigcommerceAccessToken: "[encrypted]" } } };

  test("passes with a token that has IOM's scopes, naming the store and its status", async () => {
    const l = one(await checkBigCommerce(doctorContext(dev, withStore)), "bigcommerce.api");
    expect(l).toMatchObject({ status: "ok", subject: DEMO_STORE.hash, summary: expect.stringMatching(/^store 'Contoso Outdoor' is live; token works with 4 scopes: information, orders_modify, products, customers$/) });
  });

  test("fails on a missing scope, saying the API account must be recreated", async () => {
    dev.bigcommerce.addToken({ token: "bc-orders-read-only-token", storeHash: DEMO_STORE.hash, scopes: ["store_v2_information_read_only", "store_v2_orders_read_only", "store_v2_products_read_only", "store_v2_customers_read_only"] });
    const l = one(await checkBigCommerce(doctorContext(dev, { ...withStore, env: { BIGCOMMERCE_ACCESS_TOKEN: "bc-orders-read-only-token" } })), "bigcommerce.api");
    expect(l).toMatchObject({ status: "fail", summary: expect.stringMatching(/missing scope store_v2_orders \(Orders: modify\)/), fix: expect.stringMatching(/create a new API account/) });
  });

  test("fails without a token to test with, naming where one comes from", async () => {
    const l = one(await checkBigCommerce(doctorContext(dev, { ...withStore, env: { BIGCOMMERCE_ACCESS_TOKEN: undefined } })), "bigcommerce.api");
    expect(l).toMatchObject({ status: "fail", summary: "no access token to test with", fix: expect.stringMatching(/BIGCOMMERCE_ACCESS_TOKEN.*pulumi config get bigcommerceAccessToken --stack dev/) });
  });

  test("warns when the token tested is not the one pulumi up checked", async () => {
    const lines = await checkBigCommerce(doctorContext(dev, { ...withStore, outputs: { bigcommerce: { tokenFingerprint: "sha256:000000000000" } } }));
    expect(one(lines, "bigcommerce.token")).toMatchObject({ status: "warn", summary: expect.stringMatching(/is not the one 'pulumi up' last checked \(sha256:000000000000\)/) });
  });

  test("is not used by a stack without a store hash", async () => {
    expect(one(await checkBigCommerce(doctorContext(dev)), "bigcommerce.api")).toMatchObject({ status: "skip" });
  });
});

describe("Dataverse, IOM providers and their flows", () => {
  const emu = () => dev.dataverse.emu;
  const ivRow = () => emu().table("msdyn_iomprovider").rows.get(dev.dataverse.ivProviderId)!;

  test("sign-in fails when the environment's organization is not the stack's organizationId", async () => {
    emu().setOptions({ organizationId: "99999999-9999-4999-8999-999999999999" });
    try {
      const l = one(await checkDataverse(doctorContext(dev)), "dataverse.signin");
      expect(l).toMatchObject({ status: "fail", summary: expect.stringMatching(/organization is 99999999-.* while the stack's organizationId is 6f1d3c1e-/), fix: expect.stringMatching(/pulumi config set organizationId 99999999-/) });
    } finally {
      emu().setOptions({ organizationId: "6f1d3c1e-2b7a-4c55-9a0e-5d2f8b3c4a10" });
    }
  });

  test("IOM under another solution name is a warning (version unknown); the tables missing too would fail", async () => {
    const solutions = emu().table("solution").rows;
    const saved = [...solutions.entries()];
    solutions.clear();
    try {
      expect(one(await checkDataverse(doctorContext(dev)), "dataverse.iom")).toMatchObject({ status: "warn", summary: expect.stringMatching(/no solution is named msdyn_IntelligentOrderManagementAnchor/) });
    } finally {
      for (const [k, v] of saved) solutions.set(k, v);
    }
  });

  test("a provider parameter changed in the portal fails, naming both values and pulumi up", async () => {
    dev.dataverse.setValue(dev.dataverse.ivProviderId, IV_PARAMS[0], "https://elsewhere.blob.core.windows.net/x");
    try {
      const l = one(await checkDataverse(doctorContext(dev)), "iom.provider", "Inventory Visibility");
      expect(l.status).toBe("fail");
      expect(l.summary).toContain(`Inventory Visibility File Drop Location is 'https://elsewhere.blob.core.windows.net/x', the stack wants '${(dev.outputs.inventoryVisibility as { fileDropLocation: string }).fileDropLocation}'`);
      expect(l.fix).toMatch(/run 'pulumi up'/);
    } finally {
      dev.dataverse.setValue(dev.dataverse.ivProviderId, IV_PARAMS[0], (dev.outputs.inventoryVisibility as { fileDropLocation: string }).fileDropLocation);
    }
  });

  test("a provider that is not activated fails with the Activate step", async () => {
    ivRow()[IOM_COLUMNS.providerStatus] = "Inactive";
    try {
      const l = one(await checkDataverse(doctorContext(dev)), "iom.provider", "Inventory Visibility");
      expect(l).toMatchObject({ status: "fail", summary: expect.stringMatching(/not activated \(status 'Inactive'\)/), fix: expect.stringMatching(/Providers > Installed > Inventory Visibility.*Activate/) });
    } finally {
      ivRow()[IOM_COLUMNS.providerStatus] = "Activated";
    }
  });

  test("a provider never added from the catalog fails, and an installed one the stack does not use is listed, not checked", async () => {
    const bc = emu().table("msdyn_iomprovider").rows.get(dev.dataverse.bcProviderId)!;
    const saved = { ...ivRow() };
    emu().table("msdyn_iomprovider").rows.delete(dev.dataverse.ivProviderId);
    bc[IOM_COLUMNS.providerStatus] = "Inactive";
    try {
      const lines = await checkDataverse(doctorContext(dev));
      expect(one(lines, "iom.provider", "Inventory Visibility")).toMatchObject({ status: "fail", summary: expect.stringMatching(/has not been added from IOM's catalog/) });
      expect(one(lines, "iom.provider", "BigCommerce")).toMatchObject({ status: "skip", summary: expect.stringMatching(/installed, status 'Inactive'; not configured by this stack/) });
      expect(byId(lines, "flows.flow")).toEqual([expect.objectContaining({ status: "skip", summary: "no provider flows to check" })]);
    } finally {
      emu().table("msdyn_iomprovider").rows.set(dev.dataverse.ivProviderId, saved);
      bc[IOM_COLUMNS.providerStatus] = "Activated";
    }
  });

  test("discovery finds each provider's flows through its definition's logic definitions, not the template drafts or other processes", async () => {
    const lines = byId(await checkDataverse(doctorContext(dev)), "flows.flow");
    expect(lines.map((l) => l.subject).sort()).toEqual([...BC_FLOWS.map((f) => `BigCommerce / ${f}`), ...IV_FLOWS.map((f) => `Inventory Visibility / ${f}`)].sort());
    for (const l of lines) expect(l).toMatchObject({ status: "ok", summary: "on; 3 runs in the last 24 h, 0 failed" });
  });

  test("a flow suspended by a DLP policy fails with the data policy fix", async () => {
    const row = emu().table("workflow").rows.get(dev.dataverse.flows.get(BC_FLOWS[1])!)!;
    Object.assign(row, { statecode: "2", statuscode: "3" });
    try {
      const l = one(await checkDataverse(doctorContext(dev)), "flows.flow", `BigCommerce / ${BC_FLOWS[1]}`);
      expect(l).toMatchObject({ status: "fail", summary: "suspended by a data loss prevention policy", fix: expect.stringMatching(/data policy/) });
    } finally {
      Object.assign(row, { statecode: "1", statuscode: "2" });
    }
  });

  test("a failure that is not a rate limit gets the generic run-history fix", async () => {
    dev.dataverse.addRun(IV_FLOWS[1], 10, "Failed", { code: "ActionFailed", message: "The connection 'shared_azureblob' is not authorized." });
    const l = one(await checkDataverse(doctorContext(dev)), "flows.flow", `Inventory Visibility / ${IV_FLOWS[1]}`);
    emu().table("flowrun").rows.forEach((r, k) => r.errorcode === "ActionFailed" && emu().table("flowrun").rows.delete(k));
    expect(l).toMatchObject({ status: "fail", summary: expect.stringMatching(/4 runs in the last 24 h, 1 failed; latest failure .*ActionFailed: The connection 'shared_azureblob' is not authorized\./), fix: expect.stringMatching(/open the failed run/) });
  });

  test("without run history in Dataverse the flows are still checked on/off and the doctor says runs cannot be counted", async () => {
    dev.dataverse.setRunHistoryDays(0);
    try {
      const lines = await checkDataverse(doctorContext(dev));
      expect(one(lines, "flows.run-history")).toMatchObject({ status: "warn", fix: expect.stringMatching(/Cloud flow run history in Dataverse/) });
      expect(one(lines, "flows.flow", `BigCommerce / ${BC_FLOWS[0]}`)).toMatchObject({ status: "ok", summary: "on; runs not checked" });
    } finally {
      dev.dataverse.setRunHistoryDays(28);
    }
  });

  test("flows named in iomProviderFlows replace discovery for their provider; a name that matches no flow fails", async () => {
    const lines = await checkDataverse(doctorContext(dev, { configChanges: { set: { iomProviderFlows: [`BigCommerce/${BC_FLOWS[0]}`, "BigCommerce/Order Puller (old)"] } } }));
    const bc = byId(lines, "flows.flow").filter((l) => l.subject.startsWith("BigCommerce / "));
    expect(bc.map((l) => [l.subject, l.status])).toEqual([[`BigCommerce / ${BC_FLOWS[0]}`, "ok"], ["BigCommerce / Order Puller (old)", "fail"]]);
    expect(bc[1]).toMatchObject({ summary: "no cloud flow with this name in the environment", fix: expect.stringMatching(/iomProviderFlows/) });
  });

  test("a provider whose definition names no flow is a warning that points at iomProviderFlows", async () => {
    const logic = emu().table("msdyn_iomproviderdefinitionlogicdefinition").rows;
    const saved = [...logic.entries()];
    const bcDefinition = emu().table("msdyn_iomprovider").rows.get(dev.dataverse.bcProviderId)![IOM_COLUMNS.providerDefinition];
    for (const [k, r] of saved) if (r[LOGIC_COLUMNS.definition] === bcDefinition) logic.delete(k);
    try {
      const l = one(await checkDataverse(doctorContext(dev)), "flows.discovery", "BigCommerce");
      expect(l).toMatchObject({ status: "warn", fix: expect.stringMatching(/'BigCommerce\/<flow name>'/) });
    } finally {
      for (const [k, v] of saved) logic.set(k, v);
    }
  });
});

test("a service that does not answer in time fails its group's line at the deadline; the run goes on", async () => {
  dev.dataverse.emu.setOptions({ latencyPerRequestMs: 800 });
  try {
    const ctx = doctorContext(dev);
    const lines = await checkDataverse({ ...ctx, services: { ...ctx.services, groupTimeoutMs: 300 } });
    expect(one(lines, "dataverse.deadline")).toMatchObject({ status: "fail", summary: "Dataverse: no complete answer within 0.3 s" });
    expect(byId(lines, "dataverse.signin")).toEqual([]);
  } finally {
    dev.dataverse.emu.setOptions({ latencyPerRequestMs: 0 });
    // The abandoned work finishes against the fast emulator before the next test (or the end of the file).
    await new Promise((r) => setTimeout(r, 1_000));
  }
});

describe("Gateway: each member online through Fabric's API", () => {
  let prod: DoctorWorld;
  let env: () => void;
  beforeAll(async () => {
    prod = await startDoctorWorld("prod");
    env = useEnv(prod.env);
  });
  afterAll(async () => {
    env();
    await prod.stop();
  });

  test("two members online; a status check answered as a long-running operation is polled to its result", async () => {
    const lines = await checkGateway(doctorContext(prod));
    expect(one(lines, "gateway.cluster")).toMatchObject({ status: "ok", summary: "2 members registered, the stack runs 2 VMs" });
    expect(byId(lines, "gateway.member").map((l) => l.status)).toEqual(["ok", "ok"]);
    const paths = prod.fabric.log.map((l) => `${l.method} ${l.path} ${l.status}`);
    expect(paths).toEqual(expect.arrayContaining([expect.stringMatching(/^POST \/v1\/gateways\/.*\/checkStatus 202$/), expect.stringMatching(/^GET \/v1\/operations\/[^/]+ 200$/), expect.stringMatching(/^GET \/v1\/operations\/[^/]+\/result 200$/)]));
    // The cluster is on the second page of the gateway list.
    expect(paths).toContain("GET /v1/gateways?continuationToken=1 200");
  });

  test("throttled requests are retried after Retry-After and the check still completes", async () => {
    prod.fabric.throttle(2, 0);
    const lines = await checkGateway(doctorContext(prod));
    expect(byId(lines, "gateway.member").map((l) => l.status)).toEqual(["ok", "ok"]);
    expect(prod.fabric.log.filter((l) => l.status === 429)).toHaveLength(2);
  });

  test("a VM that never joined, a disabled member and an offline one each fail", async () => {
    const members = prod.fabric.gateways[1].members;
    const saved = members.map((m) => ({ ...m }));
    members[0].enabled = false;
    members[1].status = "Offline";
    members[1].errorDetails = [{ errorCode: "GatewayNotReachable", message: "The gateway could not be reached." }];
    try {
      const lines = await checkGateway(doctorContext(prod));
      expect(byId(lines, "gateway.member").map((l) => [l.status, l.summary])).toEqual([
        ["fail", "disabled in the cluster: it serves no request"],
        ["fail", "offline: GatewayNotReachable: The gateway could not be reached."],
      ]);
      members.pop();
      expect(one(await checkGateway(doctorContext(prod)), "gateway.cluster")).toMatchObject({ status: "fail", summary: "1 member registered, the stack runs 2 VMs", fix: expect.stringMatching(/did not join/) });
    } finally {
      members.splice(0, members.length, ...saved);
    }
  });

  test("a cluster Fabric does not show fails with the registration step", async () => {
    const lines = await checkGateway(doctorContext(prod, { outputs: { gatewayClusterName: "gw-iom-retail-prod-xyz" } }));
    expect(one(lines, "gateway.cluster")).toMatchObject({ status: "fail", summary: expect.stringMatching(/no on-premises gateway cluster named 'gw-iom-retail-prod-xyz' is visible to IOM_DOCTOR_ACCESS_TOKEN \(2 gateways visible\)/), fix: expect.stringMatching(/nextSteps/) });
  });

  test("the Fabric token never goes to another host, even when the API links there", async () => {
    const fabric = createFabricClient(doctorContext(prod).services);
    await expect(fabric.send("GET", "https://attacker.example.org/v1/operations/x", new AbortController().signal)).rejects.toThrow(/refusing to send the Fabric token to https:\/\/attacker\.example\.org/);
  });
});

describe("File Drop: freshness and the Error File Drop from Log Analytics", () => {
  afterEach(() => {
    dev.blobLogs.splice(3);
  });

  test("files in the error container fail with their count", async () => {
    const errors = dev.config.storage.errorFileDropContainerName;
    const account = dev.outputs.storageAccountName as string;
    for (const m of [10, 70]) dev.blobLogs.push({ TimeGenerated: new Date(dev.now.getTime() - m * 60_000).toISOString(), AccountName: account, OperationName: "PutBlob", StatusText: "Success", Uri: `https://${account}.blob.core.windows.net:443/${errors}/error-${m}.json` });
    const l = one(await checkFileDrop(doctorContext(dev)), "filedrop.errors");
    expect(l).toMatchObject({ status: "fail", summary: expect.stringMatching(/^2 error files in the last 24 h \(latest .*\): IOM could not process those inventory files$/), details: { files: 2 } });
  });

  test("writes that reach the account and fail, with no file written, fail with the write-failure steps", async () => {
    const saved = dev.blobLogs.splice(0);
    const account = dev.outputs.storageAccountName as string;
    dev.blobLogs.push({ TimeGenerated: new Date(dev.now.getTime() - 60_000).toISOString(), AccountName: account, OperationName: "PutBlob", StatusText: "AuthorizationPermissionMismatch", Uri: `https://${account}.blob.core.windows.net:443/${dev.config.storage.fileDropContainerName}/x.json` });
    try {
      const l = one(await checkFileDrop(doctorContext(dev)), "filedrop.fresh");
      expect(l).toMatchObject({ status: "fail", summary: "no file dropped in the last 24 h, and 1 write failed", fix: expect.stringMatching(/drop-write-failures/) });
    } finally {
      dev.blobLogs.splice(0, dev.blobLogs.length, ...saved);
    }
  });

  test("a workspace the identity cannot read fails with the role it needs", async () => {
    const l = one(await checkFileDrop(doctorContext(dev, { outputs: { monitoringSummary: { workspaceId: "/subscriptions/x/resourceGroups/y/providers/Microsoft.OperationalInsights/workspaces/other" } } })), "filedrop.fresh");
    expect(l).toMatchObject({ status: "fail", summary: expect.stringMatching(/could not be queried: .*InsufficientAccessError/), fix: expect.stringMatching(/Log Analytics Reader/) });
  });
});

describe("Key Vault: expiry through the management plane", () => {
  const vault = () => dev.arm.vaults[0];

  test("an expired secret and one without an expiry: the first fails, the second warns", async () => {
    const saved = vault().secrets.map((s) => ({ ...s }));
    vault().secrets[1].expires = new Date(dev.now.getTime() - 3_600_000);
    vault().secrets.push({ name: "bigcommerce-access-token", expires: new Date(dev.now.getTime() + 2 * 86_400_000), value: TOKENS.bigcommerce });
    vault().secrets.push({ name: "added-by-hand", value: "v" });
    try {
      const lines = await checkKeyVault(doctorContext(dev));
      expect(byId(lines, "keyvault.expiry").map((l) => [l.subject, l.status, l.summary.split(",")[0]])).toEqual([
        ["kv-iom-dev-q7x2 / gateway-recovery-key", "fail", expect.stringMatching(/^expired /)],
        ["kv-iom-dev-q7x2 / bigcommerce-access-token", "fail", expect.stringMatching(/^expires /)],
      ]);
      // A secret the program generates is renewed by pulumi up; one given in config at its source.
      expect(one(lines, "keyvault.expiry", "kv-iom-dev-q7x2 / gateway-recovery-key").fix).toMatch(/the program renews it in the first 'pulumi up' after the rotation window ends/);
      expect(one(lines, "keyvault.expiry", "kv-iom-dev-q7x2 / bigcommerce-access-token").fix).toMatch(/rotate it at its source/);
      expect(one(lines, "keyvault.no-expiry")).toMatchObject({ status: "warn", summary: "1 secret without an expiry: added-by-hand" });
      expect(JSON.stringify(lines)).not.toContain(TOKENS.bigcommerce);
    } finally {
      vault().secrets.splice(0, vault().secrets.length, ...saved);
    }
  });

  test("a vault that is not there fails, naming it", async () => {
    const l = one(await checkKeyVault(doctorContext(dev, { outputs: { keyVaultName: "kv-gone" } })), "keyvault.expiry");
    expect(l).toMatchObject({ status: "fail", summary: expect.stringMatching(/^no vault 'kv-gone' in resource group 'rg-iom-retail-dev-weu' of subscription /), fix: expect.stringMatching(/current 'pulumi stack output --json'/) });
  });

  test("--secret-days moves the threshold: a secret 60 days out fails at 90", async () => {
    const ctx = { ...doctorContext(dev), secretExpiryDays: 90 };
    expect(byId(await checkKeyVault(ctx), "keyvault.expiry").map((l) => l.status)).toEqual(["fail", "fail"]);
  });
});

describe("Policy link (VNet stacks)", () => {
  let test_: DoctorWorld;
  let env: () => void;
  beforeAll(async () => {
    test_ = await startDoctorWorld("test");
    env = useEnv(test_.env);
  });
  afterAll(async () => {
    env();
    await test_.stop();
  });
  const environment = () => test_.bap!.environments.get(environmentIdOf(test_))!;

  test("the stack's policy linked passes; none linked, or another policy, fails with pulumi up", async () => {
    expect(one(await checkPolicyLink(doctorContext(test_)), "powerplatform.policylink")).toMatchObject({ status: "ok", summary: "the stack's NetworkInjection policy is linked" });
    const saved = environment().vnets;
    try {
      environment().vnets = { ...saved!, id: "/subscriptions/x/resourceGroups/y/providers/Microsoft.PowerPlatform/enterprisePolicies/other" };
      expect(one(await checkPolicyLink(doctorContext(test_)), "powerplatform.policylink")).toMatchObject({ status: "fail", summary: expect.stringMatching(/linked to another policy/) });
      environment().vnets = undefined;
      expect(one(await checkPolicyLink(doctorContext(test_)), "powerplatform.policylink")).toMatchObject({ status: "fail", summary: expect.stringMatching(/^no enterprise policy is linked/), fix: expect.stringMatching(/pulumi up/) });
    } finally {
      environment().vnets = saved;
    }
  });

  test("a stack with a gateway too and no environment id only warns; a gateway-only stack does not use it", async () => {
    expect(one(await checkPolicyLink(doctorContext(test_, { configChanges: { set: { powerPlatformEnvironmentId: "" } }, outputs: { powerPlatform: {} } })), "powerplatform.policylink")).toMatchObject({ status: "warn" });
    expect(one(await checkPolicyLink(doctorContext(dev)), "powerplatform.policylink")).toMatchObject({ status: "skip" });
  });
});
