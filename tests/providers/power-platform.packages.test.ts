/**
 * PowerPlatformManagedEnvironment and PowerPlatformApplicationPackage (the IOM app) against the
 * emulators: the governance configuration set once and kept, the package installed through its
 * polled operation, already installed = no call, a failed install, 409 and 429, and deletes that
 * change nothing.
 */
import {
  createPowerPlatformApplicationPackageDynamicProvider,
  createPowerPlatformManagedEnvironmentDynamicProvider,
  MANAGED_ENVIRONMENT_SETTINGS,
  type PowerPlatformApplicationPackageInputs,
  type PowerPlatformApplicationPackageOutputs,
  type PowerPlatformManagedEnvironmentOutputs,
} from "../../dynamic-providers/power-platform";
import { captureConsolePerTest } from "../support/console";
import { iomPackage, PowerPlatformAppPackagesEmulator, startAppPackagesEmulator } from "../../emulators/power-platform-app-packages";
import { PowerPlatformEnvironmentsEmulator, startEnvironmentsEmulator } from "../../emulators/power-platform-environments";

const tuning = { client: { retryBaseMs: 2, retryMaxMs: 20, maxRetryAfterMs: 2000 }, maxPollIntervalMs: 5 };
const managed = createPowerPlatformManagedEnvironmentDynamicProvider(tuning);
const packages = createPowerPlatformApplicationPackageDynamicProvider(tuning);
const ENV = "7a3c9f1e-2d4b-4e6a-8c0d-1f2e3a4b5c6d";
const IOM = "msdyn_IntelligentOrderManagementAnchor";
let bap: PowerPlatformEnvironmentsEmulator;
let apps: PowerPlatformAppPackagesEmulator;
const logs = captureConsolePerTest();

beforeEach(async () => {
  process.env.POWER_PLATFORM_ACCESS_TOKEN = "bap-token";
  process.env.POWER_PLATFORM_API_ACCESS_TOKEN = "pp-api-token";
  [bap, apps] = await Promise.all([startEnvironmentsEmulator(), startAppPackagesEmulator()]);
  bap.addDataverseEnvironment({ id: ENV, domainName: "iom-retail-test-weu", displayName: "iom-retail-test-weu" });
  apps.offer(ENV);
});
afterEach(() => Promise.all([bap.stop(), apps.stop()]));

describe("Managed Environment", () => {
  it("sets the governance configuration at protection level Standard, as Terraform sends it, and waits", async () => {
    const { id, outs } = await managed.create({ environmentId: ENV, bapUrl: bap.url });
    expect(outs).toMatchObject({ environmentId: ENV, protectionLevel: "Standard" });
    expect(bap.env(ENV)!.protectionLevel).toBe("Standard");
    expect(bap.env(ENV)!.governanceSettings).toEqual(MANAGED_ENVIRONMENT_SETTINGS.settings);
    expect(bap.count("GET", "/lifecycleOperations/")).toBe(3);
    expect((await managed.diff(id, outs as PowerPlatformManagedEnvironmentOutputs, { environmentId: ENV, bapUrl: bap.url })).changes).toBe(false);
  });

  it("already managed: no governance call; busy (409) is retried once the environment says it is not managed yet", async () => {
    bap.env(ENV)!.protectionLevel = "Standard";
    await managed.create({ environmentId: ENV, bapUrl: bap.url });
    expect(bap.count("POST", "/governanceConfiguration")).toBe(0);

    bap.env(ENV)!.protectionLevel = "Basic";
    bap.envFault({ kind: "busy", times: 1 });
    await managed.create({ environmentId: ENV, bapUrl: bap.url });
    expect(bap.log.filter((l) => l.path.endsWith("/governanceConfiguration")).map((l) => l.status)).toEqual([409, 202]);
  });

  it("turned off in the admin center: refresh shows it, update turns it on again; delete leaves it managed", async () => {
    const { id, outs } = await managed.create({ environmentId: ENV, bapUrl: bap.url });
    bap.env(ENV)!.protectionLevel = "Basic";
    const read = await managed.read(id, outs as PowerPlatformManagedEnvironmentOutputs);
    expect(read.props!.protectionLevel).toBe("Basic");
    expect((await managed.diff(id, read.props!, { environmentId: ENV, bapUrl: bap.url })).changes).toBe(true);
    await managed.update(id, read.props!, { environmentId: ENV, bapUrl: bap.url });
    expect(bap.env(ENV)!.protectionLevel).toBe("Standard");
    const calls = bap.log.length;
    await managed.delete(id, outs as PowerPlatformManagedEnvironmentOutputs);
    expect(bap.log.length).toBe(calls);
    expect(bap.env(ENV)!.protectionLevel).toBe("Standard");
    expect(logs.join("\n")).toMatch(/stays a Managed Environment/);
  });
});

describe("application package (the IOM app)", () => {
  const inputs = (extra: Partial<PowerPlatformApplicationPackageInputs> = {}): PowerPlatformApplicationPackageInputs => ({ environmentId: ENV, uniqueName: IOM, bapUrl: bap.url, powerPlatformApiUrl: apps.url, ...extra });

  it("installs it, polls the operation, and outputs version, state and the Dataverse it is in", async () => {
    const { id, outs } = await packages.create(inputs());
    expect(outs).toMatchObject({ version: "9.2.24031.1", state: "Installed", instanceUrl: "https://iom-retail-test-weu.crm4.dynamics.com", name: "Dynamics 365 Intelligent Order Management" });
    expect(apps.package(ENV, IOM)!.state).toBe("Installed");
    expect(apps.count("POST", `/applicationPackages/${IOM}/install`)).toBe(1);
    expect(apps.count("GET", "/operations/")).toBe(3);
    expect((await packages.diff(id, outs as PowerPlatformApplicationPackageOutputs, inputs())).changes).toBe(false);
    // the tokens stay out of what the state keeps
    expect(JSON.stringify(outs)).not.toMatch(/bap-token|pp-api-token/);
  });

  it("the 200 answer the REST reference documents (the operation id in the body) is followed too", async () => {
    apps.answerInstallWith200 = true;
    const { outs } = await packages.create(inputs());
    expect((outs as PowerPlatformApplicationPackageOutputs).state).toBe("Installed");
    expect(apps.count("GET", "/operations/")).toBe(3);
  });

  it("already installed: no install call", async () => {
    apps.offer(ENV, [iomPackage("Installed")]);
    const { outs } = await packages.create(inputs());
    expect((outs as PowerPlatformApplicationPackageOutputs).state).toBe("Installed");
    expect(apps.count("POST", "/install")).toBe(0);
    expect(logs.join("\n")).toMatch(/already installed .*nothing to do/);
  });

  it("a failed install fails with the service's message; the next up installs again", async () => {
    apps.fault({ kind: "installFails", times: 1, message: "Solution msdyn_IOMCore failed to import." });
    await expect(packages.create(inputs())).rejects.toThrow(/installing application package msdyn_IntelligentOrderManagementAnchor .*failed: Solution msdyn_IOMCore failed to import/);
    expect(apps.package(ENV, IOM)!.state).toBe("InstallFailed");
    const { outs } = await packages.create(inputs());
    expect((outs as PowerPlatformApplicationPackageOutputs).state).toBe("Installed");
    expect(logs.join("\n")).toMatch(/last install attempt reported 'Solution msdyn_IOMCore failed to import\.'; installing again/);
  });

  it("409 (another operation on the environment) and 429 are waited out", async () => {
    apps.fault({ kind: "conflict", times: 2 });
    apps.fault({ kind: "429", times: 1, match: (m, p) => m === "GET" && p.endsWith("/applicationPackages") });
    await packages.create(inputs());
    expect(apps.log.filter((l) => l.path.endsWith("/install")).map((l) => l.status)).toEqual([409, 409, 202]);
    expect(apps.log[0].status).toBe(429);
  });

  it("not offered to the environment (no entitlement, wrong name): refused before any install, naming the key", async () => {
    await expect(packages.create(inputs({ uniqueName: "msdyn_NotAnApp" }))).rejects.toThrow(/msdyn_NotAnApp is not offered to environment .*IOM: an Intelligent Order Management licence.*check iomApplicationPackage/);
    expect(apps.count("POST", "/install")).toBe(0);
  });

  it("no Dataverse: refused before the package list is read", async () => {
    bap.env(ENV)!.dataverse = undefined;
    await expect(packages.create(inputs())).rejects.toThrow(/has no Dataverse/);
    expect(apps.log).toEqual([]);
  });

  it("refresh reports a package no longer installed; delete uninstalls nothing and says so", async () => {
    const { id, outs } = await packages.create(inputs());
    apps.package(ENV, IOM)!.state = "None";
    const read = await packages.read(id, outs as PowerPlatformApplicationPackageOutputs);
    expect(read.props!.state).toBe("None");
    expect((await packages.diff(id, read.props!, inputs())).changes).toBe(true);
    const calls = apps.log.length + bap.log.length;
    await packages.delete(id, outs as PowerPlatformApplicationPackageOutputs);
    expect(apps.log.length + bap.log.length).toBe(calls);
    expect(logs.join("\n")).toMatch(/stays installed .*the Power Platform API has no uninstall/);
  });

  it("a token for the BAP audience is refused by the Power Platform API (each API gets its own)", async () => {
    process.env.POWER_PLATFORM_API_ACCESS_TOKEN = "bap-token";
    await expect(packages.create(inputs())).rejects.toThrow(/the Power Platform API refused the request \(HTTP 401\): .*Power Platform administrator role, or, for a service principal, registration as a Power Platform management application .*POWER_PLATFORM_API_ACCESS_TOKEN/);
  });
});
