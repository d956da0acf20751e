/**
 * Jest's setupFilesAfterEnv (jest.config.js): turns the Debugger off, after each test file, in the
 * inspector sessions the file opened. The SDK's closure serializer (what `pulumi.dynamic.Resource` and
 * plan/provider-serialization.ts call) opens one with the Debugger enabled and never closes it
 * (@pulumi/pulumi/runtime/closure/v8Hooks.js), and while a Debugger is on, V8 keeps no compiled
 * scripts: every later test file in that worker compiled @pulumi/pulumi, gRPC, zod and the rest
 * from source again (Node 22 reuses them otherwise), and reported each script to the session.
 * `inspector` is Node's own module, the same object in every test file of a worker. The sessions
 * stay connected: a disconnected one kept the worker from exiting.
 */
import * as inspector from "inspector";

const opened = new Set<inspector.Session>();
const connect = inspector.Session.prototype.connect;
inspector.Session.prototype.connect = function connectTracked(this: inspector.Session): void {
  opened.add(this);
  connect.call(this);
};

afterAll(() => {
  inspector.Session.prototype.connect = connect;
  for (const session of opened) session.post("Debugger.disable");
  opened.clear();
});
