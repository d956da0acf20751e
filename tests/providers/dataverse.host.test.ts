/**
 * The provider behind Pulumi's own dynamic-provider host (`@pulumi/pulumi/cmd/dynamic-provider`),
 * driven over gRPC the way the engine drives it: the serialized provider travels as `__provider`,
 * results go through protobuf Structs, a failed create with partial state comes back as
 * ErrorResourceInitFailed. No Pulumi CLI needed.
 */
import * as grpc from "@grpc/grpc-js";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { Harness, TOKEN, productRows, remoteState, startHarness } from "../../emulators/dataverse-harness";
import { serializedProvider } from "../support/program";
import { startProviderHost, type ProviderHost } from "../support/provider-host";

/* eslint-disable @typescript-eslint/no-require-imports */
const provproto = require("@pulumi/pulumi/proto/provider_pb") as typeof import("@pulumi/pulumi/proto/provider_pb");
const statusproto = require("@pulumi/pulumi/proto/status_pb") as {
  Status: { deserializeBinary(b: Uint8Array): { getMessage(): string; getDetailsList(): { unpack<T>(fn: (b: Uint8Array) => T, name: string): T | null }[] } };
};
/* eslint-enable @typescript-eslint/no-require-imports */

const URN = "urn:pulumi:dev::proj::pulumi-nodejs:dynamic/dataverse:IomMappingSet::products";

let providerText: string;
let host: ProviderHost;
let h: Harness;

type Obj = Record<string, unknown>;

function call<Req, Res>(method: string, req: Req): Promise<{ res?: Res; err?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    (host.client as unknown as Record<string, (r: Req, cb: (e: grpc.ServiceError | null, r: Res) => void) => void>)[method](req, (err, res) => resolve(err ? { err } : { res }));
  });
}

const struct = (o: Obj) => Struct.fromJavaScript(o as Parameters<typeof Struct.fromJavaScript>[0]);

beforeAll(async () => {
  providerText = (await serializedProvider("iomMappingSetDynamicProvider")).text;
  host = await startProviderHost({ DATAVERSE_ACCESS_TOKEN: TOKEN, DATAVERSE_SYNC_RETRY_BASE_MS: "2", DATAVERSE_SYNC_MAX_RETRIES: "1" });
}, 60_000);

afterAll(() => host?.stop());

beforeEach(async () => {
  h = await startHarness();
});
afterEach(() => h.stop());

function inputs(rows = productRows(10), extra: Obj = {}): Obj {
  return { ...h.inputs(rows), ...extra, __provider: providerText };
}

describe("through Pulumi's dynamic-provider host over gRPC", () => {
  it("check, create, diff, update, read (refresh) and delete as the engine calls them", async () => {
    const news = inputs();
    const check = await call<unknown, InstanceType<typeof provproto.CheckResponse>>("check", new provproto.CheckRequest().setUrn(URN).setOlds(struct({})).setNews(struct(news)));
    expect(check.err).toBeUndefined();
    expect(check.res!.getFailuresList()).toHaveLength(0);

    const created = await call<unknown, InstanceType<typeof provproto.CreateResponse>>("create", new provproto.CreateRequest().setUrn(URN).setProperties(struct(news)));
    expect(created.err).toBeUndefined();
    const id = created.res!.getId();
    const state = created.res!.getProperties()!.toJavaScript() as Obj;
    expect(id).toMatch(/^iom-products-mappings-/);
    expect(state).toMatchObject({ rowCount: 10, ownedCount: 10, kind: "products" });
    expect(state.rows).toBeUndefined(); // outputs do not repeat the row map
    expect(JSON.stringify(state)).not.toMatch(new RegExp(TOKEN));
    expect(remoteState(h)).toEqual(productRows(10));

    const same = await call<unknown, InstanceType<typeof provproto.DiffResponse>>("diff", new provproto.DiffRequest().setId(id).setUrn(URN).setOlds(struct(state)).setNews(struct(news)));
    expect(same.res!.getChanges()).toBe(provproto.DiffResponse.DiffChanges.DIFF_NONE);

    const changedRows = { ...productRows(9), "sku=S1": "P-000020" };
    const changed = inputs(changedRows);
    const diff = await call<unknown, InstanceType<typeof provproto.DiffResponse>>("diff", new provproto.DiffRequest().setId(id).setUrn(URN).setOlds(struct(state)).setNews(struct(changed)));
    expect(diff.res!.getChanges()).toBe(provproto.DiffResponse.DiffChanges.DIFF_SOME);
    expect(diff.res!.getReplacesList()).toEqual([]);

    const replace = await call<unknown, InstanceType<typeof provproto.DiffResponse>>("diff", new provproto.DiffRequest().setId(id).setUrn(URN).setOlds(struct(state)).setNews(struct(inputs(changedRows, { providerName: "Shopify" }))));
    expect(replace.res!.getReplacesList()).toEqual(["providerName"]);

    const updated = await call<unknown, InstanceType<typeof provproto.UpdateResponse>>("update", new provproto.UpdateRequest().setId(id).setUrn(URN).setOlds(struct(state)).setNews(struct(changed)));
    expect(updated.err).toBeUndefined();
    const state2 = updated.res!.getProperties()!.toJavaScript() as Obj;
    expect(remoteState(h)).toEqual(changedRows);

    // Out-of-band delete, then refresh: drift in the outputs, actual rows as the new inputs.
    const victim = h.mappingRows().find((r) => r.zq1_extval === "S2")!;
    h.emu.table("zq1_prodmap").rows.delete(victim.zq1_prodmapid!);
    const read = await call<unknown, InstanceType<typeof provproto.ReadResponse>>("read", new provproto.ReadRequest().setId(id).setUrn(URN).setProperties(struct(state2)));
    expect(read.err).toBeUndefined();
    expect((read.res!.getProperties()!.toJavaScript() as Obj).drift).toMatchObject({ missing: 1, changed: 0 });
    const refreshedInputs = read.res!.getInputs()!.toJavaScript() as { rows: Obj; __provider: string };
    expect(Object.keys(refreshedInputs.rows)).not.toContain("sku=S2");
    expect(refreshedInputs.__provider).toBe(providerText);

    const del = await call<unknown, unknown>("delete", new provproto.DeleteRequest().setId(id).setUrn(URN).setProperties(struct(read.res!.getProperties()!.toJavaScript() as Obj)));
    expect(del.err).toBeUndefined();
    expect(h.mappingRows()).toHaveLength(0);
  }, 30_000);

  it("a create that fails part-way returns ErrorResourceInitFailed with the partial state", async () => {
    await h.stop();
    h = await startHarness({}, {}, 3000);
    let writes = 0;
    h.emu.fault("5xx", 1000, (r) => r.method === "POST" && ++writes > 1);
    const news = inputs(productRows(3000));
    const created = await call<unknown, unknown>("create", new provproto.CreateRequest().setUrn(URN).setProperties(struct(news)));
    expect(created.err).toBeDefined();
    const bin = created.err!.metadata.get("grpc-status-details-bin")[0] as Buffer;
    const status = statusproto.Status.deserializeBinary(new Uint8Array(bin));
    expect(status.getMessage()).toMatch(/sync stopped: .*HTTP 503/);
    const init = status.getDetailsList()[0].unpack(provproto.ErrorResourceInitFailed.deserializeBinary, "pulumirpc.ErrorResourceInitFailed")!;
    expect(init.getId()).toMatch(/^iom-products-mappings-/);
    // The partial state holds what was really written (the first write request's rows).
    expect((init.getProperties()!.toJavaScript() as Obj).rowCount).toBe(h.mappingRows().length);
    expect(h.mappingRows().length).toBeGreaterThan(0);
  }, 30_000);
});
