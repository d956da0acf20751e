/**
 * IomProviderParameters and PowerPlatformPolicyLink behind Pulumi's own dynamic-provider host
 * (`@pulumi/pulumi/cmd/dynamic-provider`), driven over gRPC as the engine drives it: the serialized
 * provider travels as `__provider` (so this also proves the closures serialize and run in a fresh
 * Node process), results go through protobuf Structs, and what Create/Read/Update return is what
 * the engine would store as the resource's state.
 */
import { TOKEN } from "../../emulators/dataverse-harness";
import { IV_PARAMS, SeededIom, startIomEnvironment } from "../../emulators/iom-provider-tables";
import { ENV_ID, POLICY_ARM_ID, POLICY_SYSTEM_ID, PowerPlatformAdminEmulator, startAdminEmulator } from "../../emulators/power-platform-admin";
import { serializedProvider } from "../support/program";
import { hostCall, propsOf, startProviderHost, struct, type ProviderHost } from "../support/provider-host";

/* eslint-disable @typescript-eslint/no-require-imports */
const provproto = require("@pulumi/pulumi/proto/provider_pb") as typeof import("@pulumi/pulumi/proto/provider_pb");
/* eslint-enable @typescript-eslint/no-require-imports */

const DIFF = provproto.DiffResponse.DiffChanges;
/** The stack's fingerprint key, as index.ts makes one (32 random bytes, base64). */
const FINGERPRINT_KEY = Buffer.alloc(32, 5).toString("base64");
type Obj = Record<string, unknown>;

let host: ProviderHost;
const providerText: Record<string, string> = {};

const call = <Res>(method: string, req: unknown) => hostCall<Res>(host, method, req);

beforeAll(async () => {
  [providerText.params, providerText.link] = (await Promise.all([serializedProvider("iomProviderParametersDynamicProvider"), serializedProvider("powerPlatformPolicyLinkDynamicProvider")])).map((p) => p.text);
  host = await startProviderHost({ DATAVERSE_ACCESS_TOKEN: TOKEN, DATAVERSE_SYNC_RETRY_BASE_MS: "2", POWER_PLATFORM_ACCESS_TOKEN: "bap-token", POWER_PLATFORM_MAX_POLL_MS: "20", POWER_PLATFORM_RETRY_BASE_MS: "2" });
}, 60_000);

afterAll(() => host?.stop());

describe("IomProviderParameters through the dynamic-provider host", () => {
  const URN = "urn:pulumi:dev::iom-bigcommerce::pulumi-nodejs:dynamic/iom:IomProviderParameters::iom-inventory-visibility-parameters";
  let env: SeededIom;
  beforeEach(async () => (env = await startIomEnvironment({ token: TOKEN })));
  afterEach(() => env.stop());

  it("check, create, diff (none), diff + update (one value), read (drift), delete (values stay)", async () => {
    const params = { [IV_PARAMS[0]]: "https://st1.blob.core.windows.net/drop", [IV_PARAMS[1]]: "https://st1.blob.core.windows.net/errors", [IV_PARAMS[2]]: "6f1d3c1e-2b7a-4c55-9a0e-5d2f8b3c4a10" };
    const news = (p: Obj) => ({ environmentUrl: env.url, providerName: "Inventory Visibility", parameters: p, secretParameters: {}, schemaOverride: "", fingerprintKey: FINGERPRINT_KEY, __provider: providerText.params });

    const check = await call<InstanceType<typeof provproto.CheckResponse>>("check", new provproto.CheckRequest().setUrn(URN).setOlds(struct({})).setNews(struct(news(params))));
    expect(check.res!.getFailuresList()).toHaveLength(0);

    const created = await call<InstanceType<typeof provproto.CreateResponse>>("create", new provproto.CreateRequest().setUrn(URN).setProperties(struct(news(params))));
    expect(created.err).toBeUndefined();
    const id = created.res!.getId();
    const state = propsOf(created.res);
    expect(state).toMatchObject({ providerLabel: "Inventory Visibility", activationStatus: "Inactive", drift: [] });
    expect(env.value(env.ivProviderId, IV_PARAMS[0])).toBe(params[IV_PARAMS[0]]);

    const same = await call<InstanceType<typeof provproto.DiffResponse>>("diff", new provproto.DiffRequest().setId(id).setUrn(URN).setOlds(struct(state)).setNews(struct(news(params))));
    expect(same.res!.getChanges()).toBe(DIFF.DIFF_NONE);

    const changedParams = { ...params, [IV_PARAMS[1]]: "https://st1.blob.core.windows.net/errors-v2" };
    const diff = await call<InstanceType<typeof provproto.DiffResponse>>("diff", new provproto.DiffRequest().setId(id).setUrn(URN).setOlds(struct(state)).setNews(struct(news(changedParams))));
    expect(diff.res!.getChanges()).toBe(DIFF.DIFF_SOME);
    expect(diff.res!.getReplacesList()).toEqual([]);
    env.emu.resetStats();
    const updated = await call<InstanceType<typeof provproto.UpdateResponse>>("update", new provproto.UpdateRequest().setId(id).setUrn(URN).setOlds(struct(state)).setNews(struct(news(changedParams))));
    expect(updated.err).toBeUndefined();
    expect(env.emu.stats.byMethod.PATCH).toBe(1);
    const state2 = propsOf(updated.res);
    expect(state2.written).toEqual([IV_PARAMS[1]]);

    env.setValue(env.ivProviderId, IV_PARAMS[2], "edited-in-portal");
    const read = await call<InstanceType<typeof provproto.ReadResponse>>("read", new provproto.ReadRequest().setId(id).setUrn(URN).setProperties(struct(state2)));
    expect(read.err).toBeUndefined();
    expect((propsOf(read.res).drift as Obj[]).map((d) => d.name)).toEqual([IV_PARAMS[2]]);
    const refreshedInputs = read.res!.getInputs()!.toJavaScript() as { parameters: Obj; __provider: string };
    expect(refreshedInputs.parameters[IV_PARAMS[2]]).toBe("edited-in-portal");
    expect(refreshedInputs.__provider).toBe(providerText.params);

    env.emu.resetStats();
    const del = await call("delete", new provproto.DeleteRequest().setId(id).setUrn(URN).setProperties(struct(propsOf(read.res))));
    expect(del.err).toBeUndefined();
    expect(env.emu.stats.requests).toBe(0);
    expect(env.value(env.ivProviderId, IV_PARAMS[1])).toBe("https://st1.blob.core.windows.net/errors-v2");
  }, 30_000);

  it("a secret parameter: the state the host returns never holds it, nor the fingerprint key, and refresh still sees it changed", async () => {
    const secret = "s3cr3t-api-key-value";
    const news = { environmentUrl: env.url, providerName: "BigCommerce", parameters: { "Store Hash": "abc123" }, secretParameters: { "API Key": secret }, schemaOverride: "", fingerprintKey: FINGERPRINT_KEY, __provider: providerText.params };
    const created = await call<InstanceType<typeof provproto.CreateResponse>>("create", new provproto.CreateRequest().setUrn(URN).setProperties(struct(news)));
    expect(created.err).toBeUndefined();
    expect(env.value(env.bcProviderId, "API Key")).toBe(secret);
    const stored = propsOf(created.res);
    expect(JSON.stringify({ ...stored, __provider: undefined })).not.toContain(secret);
    expect(JSON.stringify(stored)).not.toContain(FINGERPRINT_KEY);
    const same = await call<InstanceType<typeof provproto.DiffResponse>>("diff", new provproto.DiffRequest().setId(created.res!.getId()).setUrn(URN).setOlds(struct(stored)).setNews(struct(news)));
    expect(same.res!.getChanges()).toBe(DIFF.DIFF_NONE);
    // Read gets the state only (no key): the row's version tells it the secret changed.
    env.setValue(env.bcProviderId, "API Key", "typed-in-the-portal");
    const read = await call<InstanceType<typeof provproto.ReadResponse>>("read", new provproto.ReadRequest().setId(created.res!.getId()).setUrn(URN).setProperties(struct(stored)));
    expect((propsOf(read.res).drift as Obj[]).map((d) => d.name)).toEqual(["API Key"]);
    expect(JSON.stringify([propsOf(read.res), read.res!.getInputs()!.toJavaScript()])).not.toMatch(/typed-in-the-portal|s3cr3t-api-key-value/);
  }, 30_000);
});

describe("PowerPlatformPolicyLink through the dynamic-provider host", () => {
  const URN = "urn:pulumi:test::iom-bigcommerce::pulumi-nodejs:dynamic/powerplatform:PowerPlatformPolicyLink::powerplatform-policy-link";
  let emu: PowerPlatformAdminEmulator;
  beforeEach(async () => (emu = await startAdminEmulator()));
  afterEach(() => emu.stop());

  it("create links, diff sees no change, read reports an unlink, update relinks, delete unlinks", async () => {
    const news = { environmentId: ENV_ID, policySystemId: POLICY_SYSTEM_ID, policyArmId: POLICY_ARM_ID, policyLocation: "europe", bapUrl: emu.url, __provider: providerText.link };
    const check = await call<InstanceType<typeof provproto.CheckResponse>>("check", new provproto.CheckRequest().setUrn(URN).setOlds(struct({})).setNews(struct(news)));
    expect(check.res!.getFailuresList()).toHaveLength(0);

    const created = await call<InstanceType<typeof provproto.CreateResponse>>("create", new provproto.CreateRequest().setUrn(URN).setProperties(struct(news)));
    expect(created.err).toBeUndefined();
    const id = created.res!.getId();
    const state = propsOf(created.res);
    expect(state).toMatchObject({ linked: true, linkStatus: "Linked" });
    expect(JSON.stringify(state)).not.toContain("bap-token");
    expect(emu.environments.get(ENV_ID)!.vnets?.systemId).toBe(POLICY_SYSTEM_ID);

    const same = await call<InstanceType<typeof provproto.DiffResponse>>("diff", new provproto.DiffRequest().setId(id).setUrn(URN).setOlds(struct(state)).setNews(struct(news)));
    expect(same.res!.getChanges()).toBe(DIFF.DIFF_NONE);

    emu.environments.get(ENV_ID)!.vnets = undefined;
    const read = await call<InstanceType<typeof provproto.ReadResponse>>("read", new provproto.ReadRequest().setId(id).setUrn(URN).setProperties(struct(state)));
    const refreshed = propsOf(read.res);
    expect(refreshed.linked).toBe(false);
    const diff = await call<InstanceType<typeof provproto.DiffResponse>>("diff", new provproto.DiffRequest().setId(id).setUrn(URN).setOlds(struct(refreshed)).setNews(struct(news)));
    expect(diff.res!.getChanges()).toBe(DIFF.DIFF_SOME);
    const updated = await call<InstanceType<typeof provproto.UpdateResponse>>("update", new provproto.UpdateRequest().setId(id).setUrn(URN).setOlds(struct(refreshed)).setNews(struct(news)));
    expect(propsOf(updated.res).linked).toBe(true);

    const del = await call("delete", new provproto.DeleteRequest().setId(id).setUrn(URN).setProperties(struct(propsOf(updated.res))));
    expect(del.err).toBeUndefined();
    expect(emu.environments.get(ENV_ID)!.vnets).toBeUndefined();
    expect(emu.count("POST", "/unlink")).toBe(1);
  }, 30_000);

  it("a prerequisite error reaches the engine with its message", async () => {
    emu.environments.get(ENV_ID)!.protectionLevel = "Basic";
    const news = { environmentId: ENV_ID, policySystemId: POLICY_SYSTEM_ID, policyArmId: POLICY_ARM_ID, policyLocation: "europe", bapUrl: emu.url, __provider: providerText.link };
    const created = await call("create", new provproto.CreateRequest().setUrn(URN).setProperties(struct(news)));
    expect(created.err?.details ?? created.err?.message).toMatch(/not a Managed Environment/);
  }, 30_000);
});
