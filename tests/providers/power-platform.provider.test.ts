/**
 * PowerPlatformPolicyLink against the admin API emulator: link on create (with the long-running
 * operation polled), diff, refresh reporting the linked state, unlink on delete, prerequisites,
 * failures and 429s.
 */
import { ENV_ID, POLICY_ARM_ID, POLICY_SYSTEM_ID, PowerPlatformAdminEmulator, startAdminEmulator } from "../../emulators/power-platform-admin";
import { createPowerPlatformPolicyLinkDynamicProvider, type PowerPlatformPolicyLinkInputs, type PowerPlatformPolicyLinkOutputs } from "../../dynamic-providers/power-platform";

const provider = createPowerPlatformPolicyLinkDynamicProvider({ client: { retryBaseMs: 2, retryMaxMs: 20, maxRetryAfterMs: 2000 }, maxPollIntervalMs: 20 });
let emu: PowerPlatformAdminEmulator;

const inputs = (extra: Partial<PowerPlatformPolicyLinkInputs> = {}): PowerPlatformPolicyLinkInputs => ({
  environmentId: ENV_ID,
  policySystemId: POLICY_SYSTEM_ID,
  policyArmId: POLICY_ARM_ID,
  policyLocation: "europe",
  bapUrl: emu.url,
  ...extra,
});

beforeEach(async () => {
  process.env.POWER_PLATFORM_ACCESS_TOKEN = "bap-token";
  emu = await startAdminEmulator();
});
afterEach(() => emu.stop());

describe("link, refresh, unlink", () => {
  it("create links and waits for the operation; diff sees no change; delete unlinks", async () => {
    const created = await provider.create(inputs());
    const outs = created.outs as PowerPlatformPolicyLinkOutputs;
    expect(outs).toMatchObject({ linked: true, linkStatus: "Linked", linkedPolicySystemId: POLICY_SYSTEM_ID, environmentName: "IOM Test" });
    expect(emu.environments.get(ENV_ID)!.vnets?.systemId).toBe(POLICY_SYSTEM_ID);
    expect(emu.count("POST", "/NetworkInjection/link")).toBe(1);
    // It polled the operation until it finished (NotStarted, Running, Succeeded).
    expect(emu.count("GET", "/lifecycleOperations/")).toBe(3);
    // The token is never in what the state holds.
    expect(JSON.stringify(outs)).not.toContain("bap-token");

    expect((await provider.diff!(created.id, outs, inputs())).changes).toBe(false);
    const moved = await provider.diff!(created.id, outs, inputs({ environmentId: "11111111-2222-4333-8444-555555555555" }));
    expect(moved).toMatchObject({ changes: true, replaces: ["environmentId"], deleteBeforeReplace: true });

    // Someone unlinks it by hand: refresh reports it, and the next diff wants to link again.
    emu.environments.get(ENV_ID)!.vnets = undefined;
    const read = await provider.read!(created.id, outs);
    const props = read.props as PowerPlatformPolicyLinkOutputs;
    expect(props).toMatchObject({ linked: false, linkStatus: "", linkedPolicySystemId: "" });
    expect((await provider.diff!(created.id, props, inputs())).changes).toBe(true);
    const relinked = (await provider.update!(created.id, props, inputs())).outs as PowerPlatformPolicyLinkOutputs;
    expect(relinked.linked).toBe(true);

    await provider.delete!(created.id, relinked);
    expect(emu.count("POST", "/NetworkInjection/unlink")).toBe(1);
    expect(emu.environments.get(ENV_ID)!.vnets).toBeUndefined();
  });

  it("already linked to this policy: create makes no link call", async () => {
    emu.environments.get(ENV_ID)!.vnets = { policyId: "x", location: "europe", id: POLICY_ARM_ID, systemId: POLICY_SYSTEM_ID, linkStatus: "Linked" };
    const created = await provider.create(inputs());
    expect((created.outs as PowerPlatformPolicyLinkOutputs).linked).toBe(true);
    expect(emu.count("POST", "/link")).toBe(0);
  });

  it("delete after the environment itself was deleted: nothing to unlink, no error", async () => {
    const created = await provider.create(inputs());
    emu.environments.delete(ENV_ID);
    await expect(provider.delete!(created.id, created.outs as PowerPlatformPolicyLinkOutputs)).resolves.toBeUndefined();
    expect(emu.count("POST", "/unlink")).toBe(0);
  });

  it("delete leaves a link to another policy alone", async () => {
    const created = await provider.create(inputs());
    const other = "/regions/europe/providers/Microsoft.PowerPlatform/enterprisePolicies/0f0f0f0f-1111-4222-8333-444444444444";
    emu.environments.get(ENV_ID)!.vnets = { policyId: "y", location: "europe", id: "/subscriptions/x/resourceGroups/y/providers/Microsoft.PowerPlatform/enterprisePolicies/someone-elses", systemId: other, linkStatus: "Linked" };
    await provider.delete!(created.id, created.outs as PowerPlatformPolicyLinkOutputs);
    expect(emu.count("POST", "/unlink")).toBe(0);
    expect(emu.environments.get(ENV_ID)!.vnets?.systemId).toBe(other);
  });
});

describe("prerequisites and failures get errors that name them", () => {
  it("not a Managed Environment", async () => {
    await emu.stop();
    emu = await startAdminEmulator({ protectionLevel: "Basic" });
    await expect(provider.create(inputs())).rejects.toThrow(/is not a Managed Environment \(governanceConfiguration.protectionLevel is 'Basic'\)/);
    expect(emu.count("POST", "/link")).toBe(0);
  });

  it("a policy in another geography", async () => {
    await emu.stop();
    emu = await startAdminEmulator({ location: "unitedstates" });
    await expect(provider.create(inputs())).rejects.toThrow(/is in geography 'unitedstates' but the enterprise policy is in 'europe': set powerPlatformGeo to 'unitedstates'/);
  });

  it("an environment id that does not exist", async () => {
    await expect(provider.create(inputs({ environmentId: "11111111-2222-4333-8444-555555555555" }))).rejects.toThrow(/environment 11111111-2222-4333-8444-555555555555 was not found/);
  });

  it("another policy already linked: refused, not swapped", async () => {
    emu.environments.get(ENV_ID)!.vnets = { policyId: "z", location: "europe", id: "/subscriptions/x/resourceGroups/y/providers/Microsoft.PowerPlatform/enterprisePolicies/other", systemId: "/regions/europe/providers/Microsoft.PowerPlatform/enterprisePolicies/0f0f0f0f-1111-4222-8333-444444444444", linkStatus: "Linked" };
    await expect(provider.create(inputs())).rejects.toThrow(/already linked to another NetworkInjection policy/);
    expect(emu.count("POST", "/link")).toBe(0);
  });

  it("the operation fails: its message is the error", async () => {
    emu.fault({ kind: "operationFails", times: 1, message: "Subnet is not delegated to Microsoft.PowerPlatform/enterprisePolicies." });
    await expect(provider.create(inputs())).rejects.toThrow(/linking the NetworkInjection policy to environment .* failed: Subnet is not delegated/);
  });

  it("the service's own refusal (emulated) comes through when the pre-checks cannot see it", async () => {
    emu.environments.get(ENV_ID)!.location = ""; // nothing to compare against client-side
    emu.policies.get(POLICY_SYSTEM_ID.toLowerCase())!.location = "unitedstates";
    await expect(provider.create(inputs())).rejects.toThrow(/did not start: HTTP 400 LocationMismatch/);
  });

  it("429s and 503s with Retry-After are waited out", async () => {
    emu.fault({ kind: "429", times: 2 });
    emu.fault({ kind: "503", times: 1, match: (m, p) => m === "GET" && p.includes("lifecycleOperations") });
    const created = await provider.create(inputs());
    expect((created.outs as PowerPlatformPolicyLinkOutputs).linked).toBe(true);
    expect(emu.log.filter((l) => l.status === 429)).toHaveLength(2);
    expect(emu.log.filter((l) => l.status === 503)).toHaveLength(1);
  });

  it("check refuses malformed ids before any call", async () => {
    const r = await provider.check!(inputs(), inputs({ environmentId: "not-a-guid", policySystemId: "/subscriptions/x", bapUrl: "http://api.bap.example.com" }));
    expect(r.failures!.map((f) => f.property).sort()).toEqual(["bapUrl", "environmentId", "policySystemId"]);
    expect(emu.log).toHaveLength(0);
  });
});
