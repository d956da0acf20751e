/**
 * Pulumi's own dynamic-provider host (`@pulumi/pulumi/cmd/dynamic-provider`, the process the engine
 * starts for dynamic resources), started with a given environment and driven over gRPC as the
 * engine drives it. The host tests (tests/providers/*.host.test.ts) hand it `__provider` text.
 */
import { spawn } from "child_process";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import * as provrpc from "@pulumi/pulumi/proto/provider_grpc_pb";

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
