// Drives Pulumi's own dynamic-provider host (`@pulumi/pulumi/cmd/dynamic-provider`, the process the
// engine starts for dynamic resources) over gRPC, as the engine does: Configure, Check, Create,
// Diff, Update, Read. The provider travels as `__provider` text serialized the way
// pulumi.dynamic.Resource does it (by the program server, tests/support/program.ts). What
// Create/Update/Read return here is exactly what the engine would store as the resource's outputs,
// so this is where "no token in the state" is proven.

import * as grpc from "@grpc/grpc-js";
import * as provrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { IOM_SCOPES, startBigCommerceEmulator, type BigCommerceEmulator } from "../../emulators/bigcommerce";
import { FINGERPRINT_KEY } from "../support/bigcommerce";
import { serializedProvider } from "../support/program";
import { startProviderHost, type ProviderHost } from "../support/provider-host";

const URN = "urn:pulumi:dev::iom-bigcommerce::pulumi-nodejs:dynamic/bigcommerce:ApiCheck::bigcommerce-check";
const GOOD = "hosttoken0123456789abcdefghijkl";
const INFO_ONLY = "hostinfoonly0123456789abcdefghi";
const ONE_PROBE = "hostoneprobe0123456789abcdefghi";
const CONFIG_KEY = "iom-bigcommerce:bigcommerceAccessToken";

type Props = Record<string, unknown>;

function unary<Res>(invoke: (cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    invoke((err, res) => (err ? reject(err) : resolve(res)));
  });
}

describe("BigCommerceApiCheck through Pulumi's dynamic-provider host", () => {
  let emu: BigCommerceEmulator;
  let host: ProviderHost;
  let client: provrpc.ResourceProviderClient;
  let providerText: string;

  beforeAll(async () => {
    emu = await startBigCommerceEmulator({
      tokens: [
        { token: GOOD, storeHash: "abc123", scopes: IOM_SCOPES },
        { token: INFO_ONLY, storeHash: "abc123", scopes: ["store_v2_information_read_only"] },
        { token: ONE_PROBE, storeHash: "abc123", scopes: IOM_SCOPES },
      ],
    });
    providerText = (await serializedProvider("bigCommerceApiCheckDynamicProvider")).text;

    host = await startProviderHost();
    client = host.client;

    const configure = new provproto.ConfigureRequest();
    configure.setArgs(Struct.fromJavaScript({ [CONFIG_KEY]: GOOD }));
    await unary<provproto.ConfigureResponse>((cb) => client.configure(configure, cb));
  }, 20_000);

  afterAll(async () => {
    host?.stop();
    await emu.close();
  });

  const inputs = (over: Props = {}): Props => ({
    storeHash: "abc123",
    accessToken: GOOD,
    apiBaseUrl: emu.url,
    accessTokenConfigKey: CONFIG_KEY,
    fingerprintKey: FINGERPRINT_KEY,
    __provider: providerText,
    ...over,
  });

  const check = async (news: Props) => {
    const req = new provproto.CheckRequest();
    req.setUrn(URN);
    req.setOlds(Struct.fromJavaScript({}));
    req.setNews(Struct.fromJavaScript(news as Record<string, never>));
    const res = await unary<provproto.CheckResponse>((cb) => client.check(req, cb));
    return { inputs: res.getInputs()?.toJavaScript() ?? {}, failures: res.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })) };
  };
  const create = async (props: Props) => {
    const req = new provproto.CreateRequest();
    req.setUrn(URN);
    req.setProperties(Struct.fromJavaScript(props as Record<string, never>));
    const res = await unary<provproto.CreateResponse>((cb) => client.create(req, cb));
    return { id: res.getId(), properties: res.getProperties()?.toJavaScript() ?? {} };
  };
  const diff = async (olds: Props, news: Props) => {
    const req = new provproto.DiffRequest();
    req.setId("abc123");
    req.setUrn(URN);
    req.setOlds(Struct.fromJavaScript(olds as Record<string, never>));
    req.setNews(Struct.fromJavaScript(news as Record<string, never>));
    const res = await unary<provproto.DiffResponse>((cb) => client.diff(req, cb));
    return { changes: res.getChanges(), replaces: res.getReplacesList() };
  };
  const update = async (olds: Props, news: Props) => {
    const req = new provproto.UpdateRequest();
    req.setId("abc123");
    req.setUrn(URN);
    req.setOlds(Struct.fromJavaScript(olds as Record<string, never>));
    req.setNews(Struct.fromJavaScript(news as Record<string, never>));
    const res = await unary<provproto.UpdateResponse>((cb) => client.update(req, cb));
    return res.getProperties()?.toJavaScript() ?? {};
  };
  const read = async (props: Props) => {
    const req = new provproto.ReadRequest();
    req.setId("abc123");
    req.setUrn(URN);
    req.setProperties(Struct.fromJavaScript(props as Record<string, never>));
    const res = await unary<provproto.ReadResponse>((cb) => client.read(req, cb));
    return res.getProperties()?.toJavaScript() ?? {};
  };

  /** What would land in the state, without the provider text (which the next test inspects). */
  const withoutProvider = (p: Props): Props => Object.fromEntries(Object.entries(p).filter(([k]) => k !== "__provider"));

  it("check, create, diff, update and read: outputs as the engine would store them, with no token", async () => {
    const checked = await check(inputs());
    expect(checked.failures).toEqual([]);
    const created = await create(checked.inputs as Props);
    expect(created.id).toBe("abc123");
    const state = withoutProvider(created.properties as Props);
    expect(state).toMatchObject({ storeName: "Contoso Outdoor", status: "live", storeId: 1001234, tokenFingerprint: expect.stringMatching(/^hmac-sha256:[0-9a-f]{32}$/) });
    expect(Object.keys(state)).not.toContain("accessToken");

    const same = await diff(created.properties as Props, checked.inputs as Props);
    expect(same.changes).toBe(provproto.DiffResponse.DiffChanges.DIFF_NONE);
    const rotated = await diff(created.properties as Props, { ...(checked.inputs as Props), accessToken: INFO_ONLY });
    expect(rotated).toEqual({ changes: provproto.DiffResponse.DiffChanges.DIFF_SOME, replaces: [] });
    const moved = await diff(created.properties as Props, { ...(checked.inputs as Props), storeHash: "xyz789" });
    expect(moved.replaces).toEqual(["storeHash"]);

    const updated = await update(created.properties as Props, { ...(checked.inputs as Props), expectedStoreName: "Contoso Outdoor" });
    expect(updated).toMatchObject({ expectedStoreName: "Contoso Outdoor", storeName: "Contoso Outdoor" });

    // read gets only the stored outputs; the token comes from the config handed to Configure.
    emu.resetLog();
    const refreshed = await read(created.properties as Props);
    expect(emu.requests.length).toBe(5);
    expect(refreshed.__provider).toBe(providerText);

    const everything = JSON.stringify([state, withoutProvider(updated as Props), withoutProvider(refreshed as Props), same, rotated]);
    for (const t of [GOOD, INFO_ONLY, FINGERPRINT_KEY]) expect(everything).not.toContain(t);
  });

  it("a wrong key fails check (so the preview shows it) and create, with the reason and no token", async () => {
    const checked = await check(inputs({ accessToken: INFO_ONLY }));
    expect(checked.failures.map((f) => f.property)).toEqual(["requiredScopes", "requiredScopes", "requiredScopes", "requiredScopes"]);
    expect(checked.failures[0].reason).toMatch(/missing scope store_v2_orders \(Orders: modify\)/);
    await expect(create(inputs({ accessToken: INFO_ONLY }))).rejects.toThrow(/missing scope store_v2_orders \(Orders: modify\)[^]*create a new API account/);
    try {
      await create(inputs({ accessToken: INFO_ONLY }));
    } catch (e) {
      expect(String((e as Error).message)).not.toContain(INFO_ONLY);
    }
  });

  it("an `up` probes once: Check then Create with the same inputs reuse the check, across separate RPCs of the host", async () => {
    emu.resetLog();
    const checked = await check(inputs({ accessToken: ONE_PROBE }));
    expect(checked.failures).toEqual([]);
    const created = await create(checked.inputs as Props);
    expect(created.properties).toMatchObject({ storeName: "Contoso Outdoor", scopesVerified: expect.arrayContaining(["store_v2_orders"]) });
    // One request per default scope, plus the Orders read-only GET next to the write probe, once.
    expect(emu.requests.map((r) => `${r.method} ${r.url.replace(/^\/stores\/abc123/, "")}`).sort()).toEqual([
      "GET /v2/orders?limit=1",
      "GET /v2/store",
      "GET /v3/catalog/products?limit=1",
      "GET /v3/customers?limit=1",
      "PUT /v2/orders/0",
    ]);
    // A later `up` that changes a setting: Check then Update, again one probe.
    emu.resetLog();
    const rechecked = await check(inputs({ accessToken: ONE_PROBE, expectedStoreName: "Contoso Outdoor" }));
    await update(created.properties as Props, rechecked.inputs as Props);
    expect(emu.requests).toHaveLength(5);
    expect(emu.dataChanges()).toBe(0);
  });

  it("refresh (read) reveals a revoked token", async () => {
    const created = await create(inputs());
    emu.revokeToken(GOOD);
    try {
      await expect(read(created.properties as Props)).rejects.toThrow(/token rejected \(401\)/);
    } finally {
      emu.addToken({ token: GOOD, storeHash: "abc123", scopes: IOM_SCOPES });
    }
  });
});
