/**
 * PowerPlatformEnvironment against the environment-lifecycle emulator: create with the domain check
 * and the polled lifecycle operation, diff, in-place updates (display name, description, security
 * group, SKU through modifySku), refused changes (location, domain), adopt mode, delete (kept by
 * default), and the service's 409 OperationNotStartable, 409 no-capacity, 500, 429 and failed
 * operations.
 */
import { createPowerPlatformEnvironmentDynamicProvider, type PowerPlatformEnvironmentInputs, type PowerPlatformEnvironmentOutputs } from "../../dynamic-providers/power-platform";
import type { DetailedDiffResult } from "../../dynamic-providers/common";
import { captureConsolePerTest } from "../support/console";
import { DEV_ENVIRONMENT } from "../support/power-platform";
import { PowerPlatformEnvironmentsEmulator, startEnvironmentsEmulator } from "../../emulators/power-platform-environments";

const provider = createPowerPlatformEnvironmentDynamicProvider({ client: { retryBaseMs: 2, retryMaxMs: 20, maxRetryAfterMs: 2000 }, maxPollIntervalMs: 5 });
let emu: PowerPlatformEnvironmentsEmulator;
const logs = captureConsolePerTest();

const create = (extra: Partial<PowerPlatformEnvironmentInputs> = {}): PowerPlatformEnvironmentInputs => ({
  mode: "create",
  environmentId: "",
  ...DEV_ENVIRONMENT,
  deleteOnDestroy: false,
  expectedInstanceUrl: "",
  expectedOrganizationId: "",
  bapUrl: emu.url,
  ...extra,
});

const createdBody = () => emu.log.find((l) => l.method === "POST" && l.path.endsWith("/environments") && l.status === 202);
const posts = () => emu.count("POST", "/Microsoft.BusinessAppPlatform/environments") - emu.count("POST", "/governanceConfiguration");

beforeEach(async () => {
  process.env.POWER_PLATFORM_ACCESS_TOKEN = "bap-token";
  emu = await startEnvironmentsEmulator();
});
afterEach(() => emu.stop());

describe("create", () => {
  it("checks the domain, creates, polls the lifecycle operation, waits for the Dataverse and outputs its ids", async () => {
    emu.dataverseHiddenReads = 2;
    const { id, outs } = await provider.create(create());
    const o = outs as PowerPlatformEnvironmentOutputs;
    const env = emu.env(id)!;
    expect(o).toMatchObject({
      environmentId: id,
      instanceUrl: "https://iom-retail-dev-weu.crm4.dynamics.com", // no trailing slash: the mappings' form
      organizationId: env.dataverse!.organizationId,
      domainName: "iom-retail-dev-weu",
      version: "9.2.24031.00206",
      displayName: "iom-retail-dev-weu",
      sku: "Sandbox",
    });
    expect(emu.count("POST", "/validateEnvironmentDetails")).toBe(1);
    // the lifecycle operation was polled until it finished (NotStarted, Running, Succeeded)
    expect(emu.count("GET", "/lifecycleOperations/")).toBe(3);
    // the environment was read until its Dataverse showed (two reads without, one with)
    expect(emu.count("GET", `/scopes/admin/environments/${id}`)).toBe(3);
    // what the create request carried: D365 templates, language, currency, domain, no security group
    expect(env.dataverse).toMatchObject({ templates: ["D365_CDSSampleApp"], baseLanguage: 1033, currency: "EUR", domainName: "iom-retail-dev-weu", securityGroupId: "" });
    expect(createdBody()).toBeDefined();
    expect(JSON.stringify(o)).not.toContain("bap-token");
  });

  it("a taken domain stops the create before it is sent, naming the key", async () => {
    emu.foreignDomains.add("iom-retail-dev-weu");
    await expect(provider.create(create())).rejects.toThrow(/domain name 'iom-retail-dev-weu' cannot be used in 'europe' \(HTTP 400 InvalidDomainName: .*\).*set powerPlatformDomainName/);
    expect(posts()).toBe(0);
  });

  it("the domain of an environment an interrupted run of this stack created: taken over, not created twice", async () => {
    const left = emu.addDataverseEnvironment({ id: "0f0e0d0c-0b0a-4909-8807-060504030201", domainName: "iom-retail-dev-weu", displayName: "iom-retail-dev-weu" });
    const { id } = await provider.create(create());
    expect(id).toBe(left.id);
    expect(posts()).toBe(0);
    // someone else's environment with that domain is not
    emu.env(left.id)!.displayName = "Contoso sales";
    await expect(provider.create(create())).rejects.toThrow(/cannot be used/);
  });

  it("409 OperationNotStartable: waits and sends the create again", async () => {
    emu.envFault({ kind: "busy", times: 2 });
    const { id } = await provider.create(create());
    expect(emu.env(id)).toBeDefined();
    expect(emu.log.filter((l) => l.path.endsWith("/environments") && l.method === "POST").map((l) => l.status)).toEqual([409, 409, 202]);
  });

  it("409 with another code (no capacity) is final and sent once", async () => {
    emu.envFault({ kind: "createNoCapacity", times: 5 });
    await expect(provider.create(create())).rejects.toThrow(/did not start: HTTP 409 InsufficientCapacity_StorageDriven: .*1 GB of database capacity/);
    expect(posts()).toBe(1);
  });

  it("500 is final and never resent (it may have created the environment), and says where to look", async () => {
    emu.envFault({ kind: "create500", times: 5 });
    await expect(provider.create(create())).rejects.toThrow(/HTTP 500 .*may have created the environment anyway: look for domain 'iom-retail-dev-weu'/);
    expect(posts()).toBe(1);
  });

  it("429 is waited out as Retry-After says", async () => {
    emu.fault({ kind: "429", times: 2, match: (m, p) => m === "POST" && p.endsWith("/environments") });
    const { id } = await provider.create(create());
    expect(emu.env(id)).toBeDefined();
    expect(emu.log.filter((l) => l.path.endsWith("/environments") && l.method === "POST").map((l) => l.status)).toEqual([429, 429, 202]);
  });

  it("a failed lifecycle operation fails the create with its message", async () => {
    emu.envFault({ kind: "createFails", times: 1 });
    await expect(provider.create(create())).rejects.toThrow(/creating Power Platform environment 'iom-retail-dev-weu' .*failed: The environment could not be provisioned/);
  });

  it("created but its Dataverse not readable in time: the error carries the id, so the engine keeps it in the state", async () => {
    // Reads 50 ms apart, given up after 600 ms: the lifecycle operation (three polls) finishes well inside it.
    process.env.POWER_PLATFORM_OPERATION_TIMEOUT_MS = "600";
    const patient = createPowerPlatformEnvironmentDynamicProvider({ client: { retryBaseMs: 2, retryMaxMs: 20 }, maxPollIntervalMs: 50 });
    emu.dataverseHiddenReads = 1000;
    try {
      const error = (await patient.create(create()).then(() => undefined, (e: unknown) => e)) as Error & { id: string; properties: Record<string, unknown>; reasons: string[] };
      expect(error.message).toMatch(/(Dataverse is still not readable|this operation's deadline).*is kept in the stack's state/);
      expect(emu.env(error.id)).toBeDefined();
      expect(error.properties).toMatchObject({ environmentId: error.id, domainName: "iom-retail-dev-weu", instanceUrl: "" });
      // the next `up` sees an unfinished environment and completes it
      emu.env(error.id)!.dataverseHiddenReads = 0;
      const olds = error.properties as unknown as PowerPlatformEnvironmentOutputs;
      expect((await provider.diff(error.id, olds, create())).changes).toBe(true);
      const finished = (await provider.update(error.id, olds, create())).outs as PowerPlatformEnvironmentOutputs;
      expect(finished.instanceUrl).toBe("https://iom-retail-dev-weu.crm4.dynamics.com");
    } finally {
      delete process.env.POWER_PLATFORM_OPERATION_TIMEOUT_MS;
    }
  });
});

describe("check (the preview)", () => {
  it("a taken domain and an unlicensed or unknown template are definite answers: failures naming the property", async () => {
    emu.foreignDomains.add("iom-retail-dev-weu");
    const { failures } = await provider.check({} as PowerPlatformEnvironmentInputs, create({ templates: ["D365_Sales", "D365_Nope"] }));
    expect(failures).toEqual(expect.arrayContaining([
      { property: "domainName", reason: expect.stringMatching(/'iom-retail-dev-weu' cannot be used in 'europe': HTTP 400 InvalidDomainName.*set powerPlatformDomainName/) },
      { property: "templates", reason: expect.stringMatching(/'D365_Sales' \(Sales Enterprise\) cannot be used by this identity: You do not have the required Dynamics 365 licenses/) },
      { property: "templates", reason: expect.stringMatching(/'D365_Nope' is not a template of 'europe' \(available: D365_CDSSampleApp, D365_Sales\)/) },
    ]));
    expect(posts()).toBe(0);
  });

  it("no answer (service unreachable) only warns; a free domain passes", async () => {
    const unreachable = await provider.check({} as PowerPlatformEnvironmentInputs, create({ bapUrl: "http://127.0.0.1:9" }));
    expect(unreachable.failures ?? []).toEqual([]);
    expect(logs.join("\n")).toMatch(/could not ask the Power Platform admin API whether domain 'iom-retail-dev-weu' is free/);
    expect((await provider.check({} as PowerPlatformEnvironmentInputs, create())).failures ?? []).toEqual([]);
  });

  it("a created environment's location or domain cannot change: refused with the reason, never replaced", async () => {
    const olds = create();
    for (const [property, change] of [["location", { location: "unitedstates" }], ["domainName", { domainName: "iom-retail-dev2" }], ["currencyCode", { currencyCode: "USD" }]] as const) {
      const { failures } = await provider.check(olds, create(change));
      expect(failures).toEqual([{ property, reason: expect.stringMatching(/cannot change from .*never replaces the environment silently/) }]);
    }
    // no service call for an environment that exists already
    expect(emu.log).toEqual([]);
  });

  it("bad inputs fail without a call", async () => {
    const { failures } = await provider.check({} as PowerPlatformEnvironmentInputs, create({ sku: "Free", domainName: "IOM_Dev", currencyCode: "eur", templates: [] }));
    expect(failures!.map((f) => f.property).sort()).toEqual(["currencyCode", "domainName", "sku", "templates"]);
    expect(emu.log).toEqual([]);
  });
});

describe("diff and update", () => {
  let id: string;
  let outs: PowerPlatformEnvironmentOutputs;
  beforeEach(async () => {
    const created = await provider.create(create());
    id = created.id;
    outs = created.outs as PowerPlatformEnvironmentOutputs;
  });

  it("no change: no diff", async () => {
    expect(await provider.diff(id, outs, create())).toMatchObject({ changes: false, replaces: [] });
  });

  it("display name, description and security group change in place through one PATCH", async () => {
    const news = create({ displayName: "IOM retail dev", description: "IOM dev", securityGroupId: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee" });
    const diff = (await provider.diff(id, outs, news)) as DetailedDiffResult;
    expect(diff).toMatchObject({ changes: true, replaces: [] });
    expect(Object.keys(diff.detailedDiff!).sort()).toEqual(["description", "displayName", "securityGroupId"]);
    const updated = (await provider.update(id, outs, news)).outs as PowerPlatformEnvironmentOutputs;
    expect(updated).toMatchObject({ environmentId: id, displayName: "IOM retail dev", description: "IOM dev", securityGroupId: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", instanceUrl: outs.instanceUrl });
    expect(emu.count("PATCH", `/environments/${id}`)).toBe(1);
    expect(emu.count("POST", "/modifySku")).toBe(0);
    expect((await provider.diff(id, updated, news)).changes).toBe(false);
  });

  it("a display name the service did not take is sent once more", async () => {
    emu.envFault({ kind: "displayNameLag", times: 1 });
    const updated = (await provider.update(id, outs, create({ displayName: "IOM retail dev" }))).outs as PowerPlatformEnvironmentOutputs;
    expect(updated.displayName).toBe("IOM retail dev");
    expect(emu.count("PATCH", `/environments/${id}`)).toBe(2);
  });

  it("a SKU change goes through modifySku, not PATCH; 409 OperationNotStartable is waited out", async () => {
    emu.envFault({ kind: "busy", times: 1 });
    const updated = (await provider.update(id, outs, create({ sku: "Production" }))).outs as PowerPlatformEnvironmentOutputs;
    expect(updated.sku).toBe("Production");
    expect(emu.env(id)!.sku).toBe("Production");
    expect(emu.log.filter((l) => l.path.endsWith("/modifySku")).map((l) => l.status)).toEqual([409, 202]);
    expect(emu.count("PATCH", `/environments/${id}`)).toBe(0);
  });

  it("a change of location or domain is refused with an explanation, never a replacement", async () => {
    await expect(provider.diff(id, outs, create({ location: "unitedstates" }))).rejects.toThrow(/location: cannot change from "europe" to "unitedstates": a Power Platform environment cannot move to another geography/);
    await expect(provider.diff(id, outs, create({ domainName: "other" }))).rejects.toThrow(/domainName: cannot change .*its URL/);
    await expect(provider.update(id, outs, create({ domainName: "other" }))).rejects.toThrow(/domainName: cannot change/);
    expect(emu.count("PATCH", "/environments/")).toBe(0);
  });

  it("refresh shows a display name changed in the admin center; the next diff puts it back", async () => {
    emu.env(id)!.displayName = "renamed by hand";
    const read = await provider.read(id, outs);
    expect(read.props!.displayName).toBe("renamed by hand");
    expect(((await provider.diff(id, read.props!, create())) as DetailedDiffResult).detailedDiff).toEqual({ displayName: { kind: "UPDATE", inputDiff: true } });
  });

  it("refresh of an environment deleted outside Pulumi: gone from the state (empty id)", async () => {
    emu.environments.delete(id);
    expect((await provider.read(id, outs)).id).toBe("");
  });

  it("delete keeps the environment by default and says so; with deleteOnDestroy it deletes and waits", async () => {
    await provider.delete(id, outs);
    expect(emu.count("DELETE", "/environments/")).toBe(0);
    expect(emu.env(id)).toBeDefined();
    expect(logs.join("\n")).toMatch(new RegExp(`environment ${id} .* was left in the tenant: powerPlatformEnvironmentDeleteOnDestroy is false`));

    emu.envFault({ kind: "busy", times: 1 });
    await provider.delete(id, { ...outs, deleteOnDestroy: true });
    // [TF] a 409 without a body is a transient conflict: retried
    expect(emu.log.filter((l) => l.method === "DELETE").map((l) => l.status)).toEqual([409, 202]);
    expect(emu.env(id)).toBeUndefined();
  });
});

describe("adopt", () => {
  const ID = "9e4b1c7a-3f6d-4a28-b5e0-6c1d8f2a7b94";
  const adopt = (extra: Partial<PowerPlatformEnvironmentInputs> = {}) => ({ ...create(), mode: "adopt" as const, environmentId: ID, ...extra });
  beforeEach(() => emu.addDataverseEnvironment({ id: ID, domainName: "iom-retail-prod", displayName: "IOM prod", sku: "Production" }));

  it("reads the environment and outputs the same ids; nothing but GET is sent, delete sends nothing", async () => {
    const env = emu.env(ID)!;
    const { id, outs } = await provider.create(adopt({ expectedInstanceUrl: "https://iom-retail-prod.crm4.dynamics.com", expectedOrganizationId: env.dataverse!.organizationId.toUpperCase() }));
    expect(id).toBe(ID);
    expect(outs).toMatchObject({ environmentId: ID, instanceUrl: "https://iom-retail-prod.crm4.dynamics.com", organizationId: env.dataverse!.organizationId, domainName: "iom-retail-prod", displayName: "IOM prod", sku: "Production" });
    await provider.delete(id, outs as PowerPlatformEnvironmentOutputs);
    expect(emu.log.every((l) => l.method === "GET")).toBe(true);
    expect(emu.env(ID)).toBeDefined();
  });

  it("config that names another environment's Dataverse is refused, naming the keys", async () => {
    await expect(provider.create(adopt({ expectedInstanceUrl: "https://iom-retail-test.crm4.dynamics.com", expectedOrganizationId: "0b8e7a52-93d4-4f0e-8c71-2a6de4f9b3c7" })))
      .rejects.toThrow(/not the one this stack's config describes: its Dataverse is https:\/\/iom-retail-prod\.crm4\.dynamics\.com, but dataverseEnvironmentUrl says .*; its organization id is .*, but organizationId says 0b8e7a52/);
  });

  it("an unknown id is refused naming powerPlatformEnvironmentId; switching an adopted environment to create is refused", async () => {
    await expect(provider.create(adopt({ environmentId: "11111111-2222-4333-8444-555555555555" }))).rejects.toThrow(/was not found .*check powerPlatformEnvironmentId/);
    const { outs } = await provider.create(adopt());
    await expect(provider.diff(ID, outs as PowerPlatformEnvironmentOutputs, create())).rejects.toThrow(/cannot switch an adopted environment to create mode/);
  });

  it("another adopted id is a replacement that neither creates nor deletes anything", async () => {
    const { outs } = await provider.create(adopt());
    expect(await provider.diff(ID, outs as PowerPlatformEnvironmentOutputs, adopt({ environmentId: "11111111-2222-4333-8444-555555555555" }))).toMatchObject({ changes: true, replaces: ["environmentId"] });
  });
});
