/**
 * The program server: one process that runs index.ts under mocks, captures offline plans and
 * serializes the dynamic providers for every Jest worker, started by tests/support/global-setup.ts
 * for the length of one `jest` run. Its client is tests/support/program.ts.
 *
 * Under Jest, every test file loads its own @pulumi/pulumi and @pulumi/azure-native, and a program
 * run costs about 2.5 times what it costs in plain Node (Jest's module sandbox, and the async hooks
 * jest-circus keeps on). Here the SDK is loaded once, runs cost what `npm run plan`'s cost, and
 * what several test files ask for (the committed config of a stack, a provider's text) is made
 * once.
 *
 * Protocol: POST / with a JSON ProgramRequest; the answer is `{ result }` or `{ error }`. Requests
 * are handled one at a time: a run reads the rotation clock from the environment.
 * IOM_PROGRAM_SERVER_STATS=<file> writes what the server did (requests, work, CPU) there on exit.
 */
import * as fs from "fs";
import * as http from "http";
import { captureStackPlan } from "../../plan/capture";
import { skipProviderSerialization } from "../../plan/harness";
import { serializeDefaultProvider } from "../../plan/provider-serialization";
import { listStacks } from "../../stack-config";
import { ROTATION_CLOCK_ENV } from "../../rotation";
import { UNDEFINED_MARKER, type ProgramAnswer, type ProgramRequest } from "./program";
import { runProgramWithMocks } from "./program-runs";

// Runs carry a placeholder for their providers' text (the unit tests check the wiring); the
// serialization and host tests ask for the real text, made with the SDK's serializer kept here.
const { serialize } = skipProviderSerialization();

const stats = { requests: 0, computed: 0 };
const answers = new Map<string, Promise<ProgramAnswer>>();
let queue: Promise<unknown> = Promise.resolve();

async function answer(request: ProgramRequest): Promise<ProgramAnswer> {
  try {
    if (request.kind === "serialize") return { result: await serializeDefaultProvider(request.provider, serialize) };
    if (request.rotationClock === undefined) delete process.env[ROTATION_CLOCK_ENV];
    else process.env[ROTATION_CLOCK_ENV] = request.rotationClock;
    const result = request.kind === "plan"
      ? await captureStackPlan(request.stack, request.changes)
      : await runProgramWithMocks(request.stack, request.changes);
    return { result };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    return { error: { message: error.message, declaredResources: (error as Error & { declaredResources?: number }).declaredResources } };
  }
}

/** The answer to `request`, computed once per distinct request unless it asks for a fresh one. */
function answerOnce(request: ProgramRequest): Promise<ProgramAnswer> {
  stats.requests++;
  const { fresh, ...identity } = request;
  const key = JSON.stringify(identity);
  const known = answers.get(key);
  if (known && !fresh) return known;
  stats.computed++;
  const next = queue.then(() => answer(request));
  queue = next;
  answers.set(key, next);
  return next;
}

const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (chunk: Buffer) => { body += chunk.toString(); });
  req.on("end", () => {
    let request: ProgramRequest;
    try {
      request = JSON.parse(body) as ProgramRequest;
    } catch {
      res.writeHead(400).end("not JSON");
      return;
    }
    answerOnce(request).then((a) => {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(a, (_key, value: unknown) => (value === undefined ? UNDEFINED_MARKER : value)));
    }, (err: Error) => {
      res.writeHead(500).end(err.stack ?? err.message);
    });
  });
});

server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the program server has no TCP port");
  process.stdout.write(`listening ${address.port}\n`);
  // Loads the SDK and the program now, while Jest starts its workers.
  void answerOnce({ kind: "run", stack: listStacks()[0], changes: {} });
});

function exit(): void {
  const statsFile = process.env.IOM_PROGRAM_SERVER_STATS;
  if (statsFile) {
    const cpu = process.cpuUsage();
    fs.writeFileSync(statsFile, `${stats.requests} requests, ${stats.computed} computed, ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU in ${process.uptime().toFixed(1)} s\n`);
  }
  process.exit(0);
}
// Jest's globalSetup holds our stdin: when Jest ends, however it ends, so does this server.
process.stdin.on("end", exit);
process.on("SIGTERM", exit);
process.stdin.resume();
