/**
 * Subscription prerequisites as code, under the mocks with each stack's real config: a stack declares
 * a registration for exactly the resource providers and features it needs, the resources that need
 * them wait for them, `pulumi destroy` keeps them, and `check` mode registers nothing.
 * (The registration itself, against an ARM emulator: tests/providers/azure-registration.provider.test.ts.)
 */
import { capturePlan, runProgram, SUBSCRIPTION_ID, type ProgramRun } from "../support/program";
import { listStacks, rawStackConfig } from "../support/stack";
import { parseStackConfig } from "../../config";

const REGISTRATION = "pulumi-nodejs:dynamic/azure:ProviderRegistration";
const T = {
  vm: "azure-native:compute:VirtualMachine",
  subnet: "azure-native:network:Subnet",
  vnet: "azure-native:network:VirtualNetwork",
  policy: "azure-native:powerplatform:EnterprisePolicy",
} as const;

const runs = new Map<string, ProgramRun>();
beforeAll(async () => {
  for (const stack of listStacks()) runs.set(stack, await runProgram(stack));
}, 120_000);

describe.each(listStacks())("stack %s", (stack) => {
  const run = () => runs.get(stack) as ProgramRun;
  const config = parseStackConfig(stack, rawStackConfig(stack).raw);
  const powerPlatformVnet = config.powerPlatformVnet !== undefined;
  const encryptionAtHost = config.gateway?.encryptionAtHost === true;

  test("registers exactly the providers and features its resources need, in its own subscription, kept on destroy", () => {
    const registrations = run().ofType(REGISTRATION);
    expect(registrations.map((r) => [r.name, r.inputs.namespace, r.inputs.features]).sort()).toEqual([
      ...(encryptionAtHost ? [["subscription-compute", "Microsoft.Compute", ["EncryptionAtHost"]]] : []),
      ...(powerPlatformVnet ? [["subscription-powerplatform", "Microsoft.PowerPlatform", ["enterprisePoliciesPreview"]]] : []),
    ]);
    for (const r of registrations) {
      expect(r.inputs).toMatchObject({ subscriptionId: SUBSCRIPTION_ID, mode: "register", armUrl: "https://management.azure.com" });
      expect(r.retainOnDelete).toBe(true);
    }
  });

  test("what needs a registration waits for it", () => {
    const r = run();
    for (const vm of r.ofType(T.vm)) expect(vm.dependsOn ?? []).toEqual(encryptionAtHost ? ["subscription-compute"] : []);
    const delegated = [
      ...r.ofType(T.subnet).filter((s) => JSON.stringify(s.inputs.delegations ?? []).includes("Microsoft.PowerPlatform")),
      ...r.ofType(T.vnet).filter((v) => JSON.stringify(v.inputs.subnets ?? []).includes("Microsoft.PowerPlatform")),
      ...r.ofType(T.policy),
    ];
    expect(delegated.length).toBe(powerPlatformVnet ? (config.powerPlatformVnet?.failover ? 3 : 2) : 0);
    for (const x of delegated) expect(x.dependsOn).toContain("subscription-powerplatform");
  });
});

test("check mode registers nothing itself: the same resources, told only to check", async () => {
  const run = await runProgram("test", { set: { subscriptionPrerequisites: "check" } });
  expect(run.ofType(REGISTRATION).map((r) => r.inputs.mode)).toEqual(["check", "check"]);
});

test("without encryption at host the gateway VMs need no Compute registration", async () => {
  const run = await runProgram("dev", { set: { gatewayEncryptionAtHost: false } });
  expect(run.ofType(REGISTRATION)).toEqual([]);
  for (const vm of run.ofType(T.vm)) expect(vm.dependsOn).toBeUndefined();
});

test("the offline plan shows the registrations as kept on destroy", async () => {
  const plan = await capturePlan("test");
  expect(plan.resources.filter((r) => r.retainOnDelete).map((r) => r.name).sort()).toEqual(["subscription-compute", "subscription-powerplatform"]);
});
