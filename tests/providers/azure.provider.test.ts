/**
 * AzureProviderRegistration against the ARM emulator: a fresh subscription gets its feature and then
 * its provider registered, an already prepared one is left as it is but for the provider's
 * re-registration that propagates features, check mode changes nothing and names every command,
 * refusals and approvals are explained, delete never unregisters, 429/500 are waited out.
 */
import { ArmEmulator, SUBSCRIPTION, startArmEmulator } from "../../emulators/azure-resource-manager";
import { captureConsolePerTest } from "../support/console";
import {
  createAzureProviderRegistrationDynamicProvider, type AzureProviderRegistrationInputs, type AzureProviderRegistrationOutputs,
} from "../../dynamic-providers/azure";

const provider = createAzureProviderRegistrationDynamicProvider({ client: { retryBaseMs: 2, retryMaxMs: 20, maxRetryAfterMs: 2000 }, pollIntervalMs: 5, timeoutMs: 2000 });
let emu: ArmEmulator;
const logs = captureConsolePerTest();

const inputs = (extra: Partial<AzureProviderRegistrationInputs> = {}): AzureProviderRegistrationInputs => ({
  subscriptionId: SUBSCRIPTION,
  namespace: "Microsoft.PowerPlatform",
  features: ["enterprisePoliciesPreview"],
  mode: "register",
  armUrl: emu.url,
  ...extra,
});
const outsOf = async (i: AzureProviderRegistrationInputs) => (await provider.create(i)).outs as AzureProviderRegistrationOutputs;

beforeEach(async () => {
  process.env.AZURE_RESOURCE_MANAGER_ACCESS_TOKEN = "arm-token";
  emu = await startArmEmulator();
  emu.providers.set("Microsoft.PowerPlatform", "NotRegistered");
  emu.providers.set("Microsoft.Compute", "Registered");
  emu.features.set("Microsoft.PowerPlatform/enterprisePoliciesPreview", { state: "NotRegistered" });
  emu.features.set("Microsoft.Compute/EncryptionAtHost", { state: "NotRegistered" });
});
afterEach(() => emu.stop());

describe("mode register", () => {
  it("a fresh subscription: the feature is registered and awaited, then the provider, which is awaited too", async () => {
    const outs = await outsOf(inputs());
    expect(outs).toMatchObject({ registrationState: "Registered", featureStates: { enterprisePoliciesPreview: "Registered" } });
    expect(emu.features.get("Microsoft.PowerPlatform/enterprisePoliciesPreview")?.state).toBe("Registered");
    expect(emu.providers.get("Microsoft.PowerPlatform")).toBe("Registered");
    const posts = emu.log.filter((l) => l.method === "POST").map((l) => l.path);
    expect(posts).toEqual([
      `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Features/providers/Microsoft.PowerPlatform/features/enterprisePoliciesPreview/register`,
      `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.PowerPlatform/register`,
    ]);
    // the provider is registered only once the feature is: its registration propagates the feature
    const featureDone = emu.log.findIndex((l) => l.method === "GET" && l.path.endsWith("/enterprisePoliciesPreview") && emu.log.indexOf(l) > 0);
    expect(emu.log.findIndex((l) => l.method === "POST" && l.path.endsWith("Microsoft.PowerPlatform/register"))).toBeGreaterThan(featureDone);
    expect(JSON.stringify(outs)).not.toContain("arm-token");
  });

  it("a subscription prepared by hand: no feature registration, one provider registration to propagate it", async () => {
    emu.features.set("Microsoft.Compute/EncryptionAtHost", { state: "Registered" });
    const outs = await outsOf(inputs({ namespace: "Microsoft.Compute", features: ["EncryptionAtHost"] }));
    expect(outs.registrationState).toBe("Registered");
    expect(emu.count("POST", "/features/")).toBe(0);
    expect(emu.count("POST", "/Microsoft.Compute/register")).toBe(1);
  });

  it("a provider without features that is registered already: nothing is sent but reads", async () => {
    await outsOf(inputs({ namespace: "Microsoft.Compute", features: [] }));
    expect(emu.log.map((l) => l.method)).toEqual(["GET"]);
  });

  it("a feature that waits for Microsoft's approval stops the run, saying so, and the provider is not registered", async () => {
    emu.features.set("Microsoft.PowerPlatform/enterprisePoliciesPreview", { state: "NotRegistered", autoApprove: false });
    await expect(provider.create(inputs())).rejects.toThrow(/feature Microsoft\.PowerPlatform\/enterprisePoliciesPreview is Pending: it waits for approval by Microsoft's product team/);
    expect(emu.count("POST", "/Microsoft.PowerPlatform/register")).toBe(0);
  });

  it("an identity that may not register the provider gets the command for someone who may", async () => {
    emu.deniedRegister.add("Microsoft.PowerPlatform");
    await expect(provider.create(inputs())).rejects.toThrow(
      /registering resource provider Microsoft\.PowerPlatform: Azure refused it \(HTTP 403\).*Ask someone who may to run 'az provider register --namespace Microsoft\.PowerPlatform' once/,
    );
  });

  it("a refused re-registration of a provider that is registered is only a warning", async () => {
    emu.providers.set("Microsoft.PowerPlatform", "Registered");
    emu.features.set("Microsoft.PowerPlatform/enterprisePoliciesPreview", { state: "Registered" });
    emu.deniedRegister.add("Microsoft.PowerPlatform");
    const outs = await outsOf(inputs());
    expect(outs.registrationState).toBe("Registered");
    expect(logs.join("\n")).toMatch(/registering it again to propagate enterprisePoliciesPreview was refused \(HTTP 403\)/);
  });

  it("a registration that never finishes ends with the state and the command, not a hang", async () => {
    emu.pollsToRegister = 10_000;
    const impatient = createAzureProviderRegistrationDynamicProvider({ pollIntervalMs: 5, timeoutMs: 100 });
    await expect(impatient.create(inputs({ features: [] }))).rejects.toThrow(/resource provider Microsoft\.PowerPlatform is still 'Registering' after \d+ s; .*az provider register --namespace Microsoft\.PowerPlatform/);
  });

  it("waits out 429 with Retry-After and retries a 500", async () => {
    emu.fault({ status: 429, times: 1, retryAfter: "0.05" });
    emu.fault({ status: 500, times: 1 });
    expect((await outsOf(inputs())).registrationState).toBe("Registered");
    expect(emu.log.filter((l) => l.status === 429 || l.status === 500)).toHaveLength(2);
  });
});

describe("mode check", () => {
  it("changes nothing and names every missing registration with its command", async () => {
    await expect(provider.create(inputs({ mode: "check" }))).rejects.toThrow(
      new RegExp([
        `subscription ${SUBSCRIPTION} lacks what this stack needs \\(subscriptionPrerequisites is 'check', so the stack registers nothing itself\\):`,
        "  - feature Microsoft\\.PowerPlatform/enterprisePoliciesPreview is 'NotRegistered': az feature register --namespace Microsoft\\.PowerPlatform --name enterprisePoliciesPreview",
        "  - resource provider Microsoft\\.PowerPlatform is 'NotRegistered': az provider register --namespace Microsoft\\.PowerPlatform",
      ].join("\\n")),
    );
    expect(emu.count("POST", "")).toBe(0);
  });

  it("a registered provider whose feature is not registered needs registering again after it", async () => {
    await expect(provider.create(inputs({ mode: "check", namespace: "Microsoft.Compute", features: ["EncryptionAtHost"] })))
      .rejects.toThrow(/resource provider Microsoft\.Compute is 'Registered', and must be registered again after its features: az provider register --namespace Microsoft\.Compute/);
  });

  it("passes when everything is registered", async () => {
    emu.features.set("Microsoft.Compute/EncryptionAtHost", { state: "Registered" });
    const outs = await outsOf(inputs({ mode: "check", namespace: "Microsoft.Compute", features: ["EncryptionAtHost"] }));
    expect(outs).toMatchObject({ registrationState: "Registered", featureStates: { EncryptionAtHost: "Registered" } });
    expect(emu.count("POST", "")).toBe(0);
  });
});

describe("lifecycle", () => {
  it("diff: another namespace or subscription replaces, other features update, the same inputs change nothing; none calls Azure", async () => {
    const outs = await outsOf(inputs());
    const calls = emu.log.length;
    expect((await provider.diff(outs.namespace, outs, inputs())).changes).toBe(false);
    expect(await provider.diff(outs.namespace, outs, inputs({ namespace: "Microsoft.Compute" }))).toMatchObject({ changes: true, replaces: ["namespace"] });
    expect(await provider.diff(outs.namespace, outs, inputs({ features: [] }))).toMatchObject({ changes: true, replaces: [] });
    expect(emu.log.length).toBe(calls);
  });

  it("refresh reads the states; someone unregistering the provider makes the next up register it again", async () => {
    const outs = await outsOf(inputs());
    emu.providers.set("Microsoft.PowerPlatform", "Unregistered");
    const read = (await provider.read(outs.namespace, outs)).props as AzureProviderRegistrationOutputs;
    expect(read.registrationState).toBe("Unregistered");
    expect((await provider.diff(outs.namespace, read, inputs())).changes).toBe(true);
  });

  it("delete unregisters nothing and sends nothing", async () => {
    const outs = await outsOf(inputs());
    const calls = emu.log.length;
    await provider.delete(outs.namespace, outs);
    expect(emu.log.length).toBe(calls);
    expect(emu.providers.get("Microsoft.PowerPlatform")).toBe("Registered");
    expect(logs.join("\n")).toMatch(/stay registered in subscription .*other stacks may use it/);
  });

  it("check refuses an endpoint that is not Azure Resource Manager, so no token goes elsewhere", async () => {
    const result = await provider.check(inputs(), inputs({ armUrl: "https://management.example.com" }));
    expect(result.failures).toEqual([{ property: "armUrl", reason: expect.stringMatching(/is not an Azure Resource Manager host \(known: management\.azure\.com/) }]);
    expect((await provider.check(inputs(), inputs({ armUrl: "https://management.usgovcloudapi.net" }))).failures).toBeUndefined();
    expect((await provider.check(inputs(), inputs({ namespace: "PowerPlatform", subscriptionId: "sub" }))).failures?.map((f) => f.property)).toEqual(["subscriptionId", "namespace"]);
  });
});
