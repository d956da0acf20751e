/**
 * The offline plan: captured from the real program with no CLI or cloud, deterministic, secrets and
 * unknowns marked, bad config refused with the program's own errors, and the committed plans kept
 * in step with the code.
 */
import { spawnSync } from "child_process";
import * as path from "path";
import { diffAgainstCommitted, planViolations, renderTree, serializePlan } from "../../plan/cli";
import { capturePlan as capture } from "../support/program";
import { listStacks, ROOT } from "../support/stack";

// The program server's captures skip serializing the dynamic providers (their text is replaced in a
// plan anyway). That they serialize, and the CLI's --check on every stack, is `.ci/run`'s
// `npm run plan -- --all --check`, which fails CI on either; running the CLI on a stack here as well
// cost a second SDK load and program run (5 s of CPU, the suite's slowest file), so the tests below
// check what it prints from the same functions, on the plan the program server captured.

const TOKEN = "bc-plan-token-0123456789abcdefghij";

test("the plan marks secrets and unknown values instead of showing or inventing them", async () => {
  const plan = await capture("dev", { set: { bigcommerceStoreHash: "abc123" }, secrets: { bigcommerceAccessToken: TOKEN } });
  const text = serializePlan(plan);
  expect(text).not.toContain(TOKEN);
  const tokenSecret = plan.resources.find((r) => r.name === "vault-secret-bigcommerceAccessToken");
  // a Key Vault secret shows its expiry and content type; only its value is masked
  expect(tokenSecret?.inputs.properties).toMatchObject({ value: "[secret]", attributes: { enabled: true } });
  const account = plan.resources.find((r) => r.type === "azure-native:storage:StorageAccount");
  expect(account?.inputs.accountName).toBe("[unknown]"); // its random suffix exists only after deployment
  expect(plan.outputs.storageAccountName).toBe("[unknown]");
  expect(text).not.toMatch(/\/subscriptions\/[0-9a-f-]{36}/); // no made-up ids
  expect(plan.outputs.blobPrivateEndpointIp).toBe("10.20.0.4"); // what is known is shown
});

test("components parent their resources, and the plan is the same on every run", async () => {
  const first = await capture("test");
  // The committed plan was captured by another process on another day: the same text means no
  // time, random value or registration order leaks into a plan.
  expect(diffAgainstCommitted(first)).toBeUndefined();
  const byName = new Map(first.resources.map((r) => [r.name, r]));
  expect(byName.get("drop-account")?.parent).toBe("drop");
  expect(byName.get("drop-private-link-pep")?.parent).toBe("drop-private-link");
  expect(byName.get("drop-private-link")?.parent).toBe("drop");
  expect(byName.get("landing")?.parent).toBeUndefined();
  expect(first.resources.map((r) => r.name)).toEqual([...first.resources.map((r) => r.name)].sort((a, b) => a.localeCompare(b)));
});

test("a bad config gives the program's own error", async () => {
  await expect(capture("prod", { set: { gatewaySubnetPrefix: "10.22.0.16/28" } }))
    .rejects.toThrow(/Stack 'prod'.*\n.*iom-bigcommerce:gatewaySubnetPrefix: 10\.22\.0\.16\/28 overlaps privateEndpointSubnetPrefix/);
});

test("a plan that differs from the committed one yields a readable diff", async () => {
  const plan = await capture("dev");
  expect(diffAgainstCommitted(plan)).toBeUndefined();
  const account = plan.resources.find((r) => r.type === "azure-native:storage:StorageAccount");
  if (!account) throw new Error("no storage account");
  account.inputs.minimumTlsVersion = "TLS1_0";
  const diff = diffAgainstCommitted(plan) as string;
  expect(diff).toContain("plan/snapshots/dev.json (committed)");
  expect(diff).toMatch(/^-\s+"minimumTlsVersion": "TLS1_2",$/m);
  expect(diff).toMatch(/^\+\s+"minimumTlsVersion": "TLS1_0",$/m);
});

test("the printed plan: the tree with each resource's key settings, where unknown inputs come from, and the policies' verdict", async () => {
  const plan = await capture("dev");
  const text = renderTree(plan, planViolations(plan));
  expect(text).toMatch(/^Stack dev \(iom-bigcommerce\): \d+ resources$/m);
  expect(text).toMatch(/├─ iom:storage:DropStorage drop\n│ {2}├─ azure-native:storage:StorageAccount drop-account .*publicNetworkAccess=Disabled/);
  // dev creates its Power Platform environment: the chain environment -> IOM app -> mappings and
  // provider parameters shows where each value a preview cannot know yet comes from.
  expect(text).toMatch(/─ pulumi-nodejs:dynamic\/powerplatform:Environment powerplatform-environment {2}mode=create {2}domainName=iom-retail-dev-weu {2}sku=Sandbox/);
  expect(text).toMatch(/─ pulumi-nodejs:dynamic\/powerplatform:ApplicationPackage iom-app .*environmentId=\[from powerplatform-environment\].*uniqueName=msdyn_IntelligentOrderManagementAnchor/);
  expect(text).toMatch(/─ pulumi-nodejs:dynamic\/dataverse:IomMappingSet iom-mappings-products .*environmentUrl=\[from iom-app\]/);
  expect(text).toMatch(/─ pulumi-nodejs:dynamic\/iom:IomProviderParameters iom-provider-parameters-inventory-visibility {2}environmentUrl=\[from iom-app\]/);
  expect(text).toContain("inventoryVisibility.organizationId=[unknown]");
  expect(text).toMatch(/\nPolicies: no violations$/);
});

test("`npm run plan` refuses an unknown stack with a usage error", () => {
  // as package.json's "plan" script runs it
  const result = spawnSync(process.execPath, ["-r", path.join(ROOT, "scripts", "swc-register.js"), path.join(ROOT, "plan", "cli.ts"), "staging"], {
    cwd: ROOT, encoding: "utf8", timeout: 60_000,
  });
  expect(result.status).toBe(2);
  expect(result.stderr).toContain(`unknown stack 'staging': no Pulumi.staging.yaml (stacks: ${listStacks().join(", ")})`);
});
