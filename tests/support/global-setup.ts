/**
 * Jest's globalSetup: starts the program server (tests/support/program-server.ts) for this run and
 * leaves its address in the environment the workers inherit. global-teardown.ts stops it.
 */
import { spawn, type ChildProcess } from "child_process";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..", "..");

/** The environment variable the workers find the program server's address in. */
export const PROGRAM_SERVER_ENV = "IOM_TEST_PROGRAM_SERVER";

/** Where global-teardown.ts finds the server (globalSetup and globalTeardown share this realm). */
export const SERVER_HANDLE = Symbol.for("iom.programServer");

export default async function globalSetup(): Promise<void> {
  // A program run allocates 40-50 MB, much of it alive until the run ends: a young generation
  // that holds a whole run (64 MB semi-spaces), collected between runs (plan/harness.ts,
  // collectYoungGeneration), spends a tenth of a run in GC; V8's default one spent half.
  // (Jest's workers, which mostly load modules, got slower with a large young generation.)
  // TypeScript through scripts/swc-register.js, as `npm run plan` runs the same harness.
  const server = spawn(process.execPath, ["--expose-gc", "--min-semi-space-size=64", "--max-semi-space-size=64", "-r", path.join(ROOT, "scripts", "swc-register.js"), path.join(__dirname, "program-server.ts")], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "inherit"],
  });
  (globalThis as Record<symbol, ChildProcess>)[SERVER_HANDLE] = server;
  const port = await new Promise<string>((resolve, reject) => {
    let out = "";
    server.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /^listening (\d+)$/m.exec(out);
      if (match) resolve(match[1]);
    });
    server.on("error", reject);
    server.on("exit", (code) => reject(new Error(`the program server exited (${code}) before listening`)));
  });
  process.env[PROGRAM_SERVER_ENV] = `http://127.0.0.1:${port}/`;
}
