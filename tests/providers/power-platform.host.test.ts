/**
 * The Power Platform environment, its Managed Environment and the IOM app behind Pulumi's own
 * dynamic-provider host (`@pulumi/pulumi/cmd/dynamic-provider`), driven over gRPC as the engine
 * drives it, against the emulators: the serialized providers travel as `__provider` (so they
 * serialize and run in a fresh Node process), and what Create/Read/Update return is what the engine
 * would keep as state.
 */
import { PowerPlatformAppPackagesEmulator, startAppPackagesEmulator } from "../../emulators/power-platform-app-packages";
import { PowerPlatformEnvironmentsEmulator, startEnvironmentsEmulator } from "../../emulators/power-platform-environments";
import { serializedProvider } from "../support/program";
import { DEV_ENVIRONMENT } from "../support/power-platform";
import { hostCall, propsOf, startProviderHost, struct, type ProviderHost } from "../support/provider-host";

/* eslint-disable @typescript-eslint/no-require-imports */
const provproto = require("@pulumi/pulumi/proto/provider_pb") as typeof import("@pulumi/pulumi/proto/provider_pb");
/* eslint-enable @typescript-eslint/no-require-imports */

const DIFF = provproto.DiffResponse.DiffChanges;
type Obj = Record<string, unknown>;
const URN = (type: string, name: string) => `urn:pulumi:dev::iom-bigcommerce::pulumi-nodejs:dynamic/powerplatform:${type}::${name}`;

let host: ProviderHost;
let bap: PowerPlatformEnvironmentsEmulator;
let apps: PowerPlatformAppPackagesEmulator;
const text: Record<string, string> = {};

const call = <Res>(method: string, req: unknown) => hostCall<Res>(host, method, req);

beforeAll(async () => {
  const names = ["powerPlatformEnvironmentDynamicProvider", "powerPlatformManagedEnvironmentDynamicProvider", "powerPlatformApplicationPackageDynamicProvider"];
  const serialized = await Promise.all(names.map((n) => serializedProvider(n)));
  [text.environment, text.managed, text.app] = serialized.map((p) => p.text);
  host = await startProviderHost({ POWER_PLATFORM_ACCESS_TOKEN: "bap-token", POWER_PLATFORM_API_ACCESS_TOKEN: "pp-api-token", POWER_PLATFORM_MAX_POLL_MS: "5", POWER_PLATFORM_RETRY_BASE_MS: "2" });
}, 60_000);
afterAll(() => host?.stop());

beforeEach(async () => {
  [bap, apps] = await Promise.all([startEnvironmentsEmulator(), startAppPackagesEmulator()]);
});
afterEach(() => Promise.all([bap.stop(), apps.stop()]));

describe("PowerPlatformEnvironment through the dynamic-provider host", () => {
  const urn = URN("Environment", "powerplatform-environment");
  const news = (extra: Obj = {}) => ({
    mode: "create",
    ...DEV_ENVIRONMENT,
    deleteOnDestroy: true,
    bapUrl: bap.url,
    __provider: text.environment,
    ...extra,
  });

  it("create -> diff (no change) -> update (display name) -> delete", async () => {
    const check = await call<InstanceType<typeof provproto.CheckResponse>>("check", new provproto.CheckRequest().setUrn(urn).setOlds(struct({})).setNews(struct(news())));
    expect(check.res!.getFailuresList()).toHaveLength(0);
    expect(bap.count("POST", "/validateEnvironmentDetails")).toBe(1); // the preview asked whether the domain is free

    const created = await call<InstanceType<typeof provproto.CreateResponse>>("create", new provproto.CreateRequest().setUrn(urn).setProperties(struct(news())));
    expect(created.err).toBeUndefined();
    const id = created.res!.getId();
    const state = propsOf(created.res);
    expect(state).toMatchObject({ environmentId: id, instanceUrl: "https://iom-retail-dev-weu.crm4.dynamics.com", organizationId: bap.env(id)!.dataverse!.organizationId, domainName: "iom-retail-dev-weu", version: "9.2.24031.00206" });
    expect(state.__provider).toBe(text.environment);
    expect(JSON.stringify(state)).not.toContain("bap-token");

    const same = await call<InstanceType<typeof provproto.DiffResponse>>("diff", new provproto.DiffRequest().setId(id).setUrn(urn).setOlds(struct(state)).setNews(struct(news())));
    expect(same.res!.getChanges()).toBe(DIFF.DIFF_NONE);

    const renamed = news({ displayName: "IOM retail dev" });
    const diff = await call<InstanceType<typeof provproto.DiffResponse>>("diff", new provproto.DiffRequest().setId(id).setUrn(urn).setOlds(struct(state)).setNews(struct(renamed)));
    expect(diff.res!.getChanges()).toBe(DIFF.DIFF_SOME);
    expect(diff.res!.getReplacesList()).toEqual([]); // in place, never a replacement
    const updated = await call<InstanceType<typeof provproto.UpdateResponse>>("update", new provproto.UpdateRequest().setId(id).setUrn(urn).setOlds(struct(state)).setNews(struct(renamed)));
    expect(updated.err).toBeUndefined();
    expect(propsOf(updated.res)).toMatchObject({ displayName: "IOM retail dev", environmentId: id, instanceUrl: state.instanceUrl });
    expect(bap.env(id)!.displayName).toBe("IOM retail dev");

    const del = await call("delete", new provproto.DeleteRequest().setId(id).setUrn(urn).setProperties(struct(propsOf(updated.res))));
    expect(del.err).toBeUndefined();
    expect(bap.env(id)).toBeUndefined();
  }, 30_000);

  it("a domain another environment has fails the preview's check; a location change reaches the engine as an error", async () => {
    bap.foreignDomains.add("iom-retail-dev-weu");
    const check = await call<InstanceType<typeof provproto.CheckResponse>>("check", new provproto.CheckRequest().setUrn(urn).setOlds(struct({})).setNews(struct(news())));
    const failures = check.res!.getFailuresList().map((f) => [f.getProperty(), f.getReason()]);
    expect(failures).toEqual([["domainName", expect.stringMatching(/'iom-retail-dev-weu' cannot be used in 'europe': HTTP 400 InvalidDomainName/)]]);

    bap.foreignDomains.clear();
    const created = await call<InstanceType<typeof provproto.CreateResponse>>("create", new provproto.CreateRequest().setUrn(urn).setProperties(struct(news())));
    const diff = await call("diff", new provproto.DiffRequest().setId(created.res!.getId()).setUrn(urn).setOlds(struct(propsOf(created.res))).setNews(struct(news({ location: "unitedstates" }))));
    expect(diff.err?.details ?? diff.err?.message).toMatch(/location: cannot change .*cannot move to another geography/);
  }, 30_000);

  it("kept on destroy by default: delete makes no call", async () => {
    const created = await call<InstanceType<typeof provproto.CreateResponse>>("create", new provproto.CreateRequest().setUrn(urn).setProperties(struct(news({ deleteOnDestroy: false }))));
    const id = created.res!.getId();
    const del = await call("delete", new provproto.DeleteRequest().setId(id).setUrn(urn).setProperties(struct(propsOf(created.res))));
    expect(del.err).toBeUndefined();
    expect(bap.env(id)).toBeDefined();
    expect(bap.count("DELETE", "/environments/")).toBe(0);
  }, 30_000);
});

describe("environment -> Managed Environment -> IOM app through the host", () => {
  it("each takes the id from the one before; the app outputs the Dataverse the mappings then use", async () => {
    const env = await call<InstanceType<typeof provproto.CreateResponse>>("create", new provproto.CreateRequest().setUrn(URN("Environment", "powerplatform-environment")).setProperties(struct({
      mode: "create", displayName: "iom-retail-test-weu", description: "", sku: "Sandbox", location: "europe", languageCode: 1033, currencyCode: "EUR",
      domainName: "iom-retail-test-weu", securityGroupId: "", templates: ["D365_CDSSampleApp"], deleteOnDestroy: false, bapUrl: bap.url, __provider: text.environment,
    })));
    const environmentId = String(propsOf(env.res).environmentId);
    apps.offer(environmentId);

    const managed = await call<InstanceType<typeof provproto.CreateResponse>>("create", new provproto.CreateRequest().setUrn(URN("ManagedEnvironment", "powerplatform-managed-environment")).setProperties(struct({ environmentId, bapUrl: bap.url, __provider: text.managed })));
    expect(managed.err).toBeUndefined();
    expect(propsOf(managed.res)).toMatchObject({ environmentId, protectionLevel: "Standard" });

    const app = await call<InstanceType<typeof provproto.CreateResponse>>("create", new provproto.CreateRequest().setUrn(URN("ApplicationPackage", "iom-app")).setProperties(struct({
      environmentId: propsOf(managed.res).environmentId, uniqueName: "msdyn_IntelligentOrderManagementAnchor", bapUrl: bap.url, powerPlatformApiUrl: apps.url, __provider: text.app,
    })));
    expect(app.err).toBeUndefined();
    expect(propsOf(app.res)).toMatchObject({ state: "Installed", version: "9.2.24031.1", instanceUrl: propsOf(env.res).instanceUrl });
    expect(JSON.stringify(propsOf(app.res))).not.toMatch(/bap-token|pp-api-token/);

    // destroy, in the engine's order: nothing is uninstalled, the environment stays managed
    for (const [type, name, res, provider] of [["ApplicationPackage", "iom-app", app, text.app], ["ManagedEnvironment", "powerplatform-managed-environment", managed, text.managed]] as const) {
      const del = await call("delete", new provproto.DeleteRequest().setId(res.res!.getId()).setUrn(URN(type, name)).setProperties(struct({ ...propsOf(res.res), __provider: provider })));
      expect(del.err).toBeUndefined();
    }
    expect(apps.package(environmentId, "msdyn_IntelligentOrderManagementAnchor")!.state).toBe("Installed");
    expect(bap.env(environmentId)!.protectionLevel).toBe("Standard");
  }, 30_000);
});
