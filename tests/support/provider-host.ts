/**
 * Pulumi's own dynamic-provider host (`@pulumi/pulumi/cmd/dynamic-provider`, the process the engine
 * starts for dynamic resources), started with a given environment and driven over gRPC as the
 * engine drives it. The host tests (tests/providers/*.host.test.ts) hand it `__provider` text;
 * hostCalls() makes the engine's calls to it.
 */
import { spawn } from "child_process";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import * as provrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";

const ROOT = path.resolve(__dirname, "..", "..");
const HOST = path.join(ROOT, "node_modules/@pulumi/pulumi/cmd/dynamic-provider/index.js");

export interface ProviderHost {
  client: provrpc.ResourceProviderClient;
  stop(): void;
}

/** Starts the host with only `env` (and PATH) in its environment, and connects once it prints its port. */
export async function startProviderHost(env: Record<string, string> = {}): Promise<ProviderHost> {
  // The engine address is only stored by the host; nothing connects to it in these calls.
  const host = spawn(process.execPath, [HOST, "127.0.0.1:1"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "", ...env } });
  const port = await new Promise<string>((resolve, reject) => {
    let out = "";
    host.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n")[0].trim();
      if (out.includes("\n") && /^\d+$/.test(line)) resolve(line);
    });
    host.on("exit", (code) => reject(new Error(`dynamic-provider host exited with ${code}`)));
  });
  const client = new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return {
    client,
    stop() {
      client.close();
      host.kill();
    },
  };
}

type Props = Record<string, unknown>;

function unary<Res>(invoke: (cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    invoke((err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** The engine's calls to the host, each for the resource `urn`, with plain-object properties. */
export interface HostCalls {
  /** The stack config the engine hands the provider (fully qualified keys). */
  configure(config: Props): Promise<void>;
  check(urn: string, news: Props, olds?: Props): Promise<{ inputs: Props; failures: { property: string; reason: string }[] }>;
  create(urn: string, properties: Props): Promise<{ id: string; properties: Props }>;
  read(urn: string, id: string, properties: Props): Promise<Props>;
}

export function hostCalls(client: provrpc.ResourceProviderClient): HostCalls {
  const struct = (o: Props) => Struct.fromJavaScript(o as Record<string, never>);
  return {
    async configure(config) {
      await unary<provproto.ConfigureResponse>((cb) => client.configure(new provproto.ConfigureRequest().setArgs(struct(config)), cb));
    },
    async check(urn, news, olds = {}) {
      const res = await unary<provproto.CheckResponse>((cb) => client.check(new provproto.CheckRequest().setUrn(urn).setOlds(struct(olds)).setNews(struct(news)), cb));
      return { inputs: (res.getInputs()?.toJavaScript() ?? {}) as Props, failures: res.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })) };
    },
    async create(urn, properties) {
      const res = await unary<provproto.CreateResponse>((cb) => client.create(new provproto.CreateRequest().setUrn(urn).setProperties(struct(properties)), cb));
      return { id: res.getId(), properties: (res.getProperties()?.toJavaScript() ?? {}) as Props };
    },
    async read(urn, id, properties) {
      const res = await unary<provproto.ReadResponse>((cb) => client.read(new provproto.ReadRequest().setId(id).setUrn(urn).setProperties(struct(properties)), cb));
      return (res.getProperties()?.toJavaScript() ?? {}) as Props;
    },
  };
}

type Obj = Record<string, unknown>;

/**
 * One gRPC call to the host by method name with a request built by the test, answered as
 * `{res}` or `{err}` (never thrown), so a test can assert on a refused call as on a result.
 */
export function hostCall<Res>(host: ProviderHost, method: string, req: unknown): Promise<{ res?: Res; err?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    (host.client as unknown as Record<string, (r: unknown, cb: (e: grpc.ServiceError | null, r: Res) => void) => void>)[method](req, (err, res) => resolve(err ? { err } : { res }));
  });
}

/** Plain properties as the protobuf Struct the engine sends. */
export const struct = (o: Obj): Struct => Struct.fromJavaScript(o as Parameters<typeof Struct.fromJavaScript>[0]);

/** The properties of a Create/Read/Update answer as plain data. */
export const propsOf = (r: { getProperties(): Struct | undefined } | undefined): Obj => r!.getProperties()!.toJavaScript() as Obj;
