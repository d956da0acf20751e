/**
 * The AzureProviderRegistration provider serialized as pulumi.dynamic.Resource does it (in the
 * program server, which has loaded the program as `pulumi up` has), loaded and run in a plain Node
 * child process as the dynamic-provider host does it (`require-from-string(text).handler()`), against
 * the ARM emulator: a fresh subscription registered, then delete, which leaves it registered.
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ArmEmulator, SUBSCRIPTION, startArmEmulator } from "../../emulators/azure-resource-manager";
import { serializedProvider, unresolvableRequires } from "../support/program";

const ROOT = path.resolve(__dirname, "../..");

// Runs in the child: plain JavaScript, no ts-node, no jest.
const CHILD = `
const fs = require("fs");
const requireFromString = require("require-from-string");
const [file, armUrl, subscriptionId] = process.argv.slice(1);
(async () => {
  const provider = requireFromString(fs.readFileSync(file, "utf8")).handler();
  const news = { subscriptionId, namespace: "Microsoft.PowerPlatform", features: ["enterprisePoliciesPreview"], mode: "register", armUrl };
  const checked = await provider.check({}, news);
  const created = await provider.create(checked.inputs);
  const unchanged = await provider.diff(created.id, created.outs, checked.inputs);
  await provider.delete(created.id, created.outs);
  process.stdout.write("\\nRESULT " + JSON.stringify({ checked, created, unchanged }) + "\\n");
})().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(3); });
`;

// Runs in the child: mode check on a provider that is not registered, which must fail with the provider's named error.
const CHILD_REFUSED = `
const fs = require("fs");
const requireFromString = require("require-from-string");
const [file, armUrl, subscriptionId] = process.argv.slice(1);
(async () => {
  const provider = requireFromString(fs.readFileSync(file, "utf8")).handler();
  const news = { subscriptionId, namespace: "Microsoft.Network", features: [], mode: "check", armUrl };
  try {
    await provider.create(news);
    process.stdout.write("\\nRESULT " + JSON.stringify({ created: true }) + "\\n");
  } catch (e) {
    process.stdout.write("\\nRESULT " + JSON.stringify({ name: e.name, message: e.message }) + "\\n");
  }
})().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(3); });
`;

describe("AzureProviderRegistration serialized as Pulumi does it", () => {
  let emu: ArmEmulator;
  let dir: string;
  let text: string;

  beforeAll(async () => {
    emu = await startArmEmulator();
    emu.providers.set("Microsoft.PowerPlatform", "NotRegistered");
    emu.features.set("Microsoft.PowerPlatform/enterprisePoliciesPreview", { state: "NotRegistered" });
    emu.pollsToRegister = 1;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "arm-provider-"));
    text = (await serializedProvider("azureProviderRegistrationDynamicProvider")).text;
  });
  afterAll(async () => {
    await emu.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("is self-contained: packages are required by name, no local file, no token", () => {
    expect(text).toContain("exports.handler");
    expect(text).not.toMatch(/require\(["'](\.|\/)/);
    expect(text).not.toContain("dynamic-providers/azure");
    // The modules it loads are looked up by name in the host process, where only Node's own and the runtime dependencies are installed.
    expect(text).toMatch(/require\("@?[a-z]/);
    expect(unresolvableRequires(text)).toEqual([]);
  });

  const runChild = (script: string): Promise<string> => {
    const file = path.join(dir, "provider.js");
    fs.writeFileSync(file, text);
    return new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ["-e", script, file, emu.url, SUBSCRIPTION], {
        cwd: ROOT, timeout: 20_000,
        env: { PATH: process.env.PATH ?? "", AZURE_RESOURCE_MANAGER_ACCESS_TOKEN: emu.token, AZURE_REGISTRATION_POLL_MS: "5" },
      }, (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)));
    });
  };
  const resultOf = (stdout: string): unknown => JSON.parse(stdout.split("\n").find((l) => l.startsWith("RESULT "))?.slice("RESULT ".length) ?? "null");

  it("registers a fresh subscription's feature and provider from the serialized text, and delete leaves them registered", async () => {
    const stdout = await runChild(CHILD);
    // The provider's progress lines go to stdout too (pulumi.log without an engine); the result is the marked line.
    const result = resultOf(stdout) as { checked: { failures?: unknown[] }; created: { outs: Record<string, unknown> }; unchanged: { changes: boolean } };
    expect(result.checked.failures ?? []).toEqual([]);
    expect(result.created.outs).toMatchObject({ registrationState: "Registered", featureStates: { enterprisePoliciesPreview: "Registered" } });
    expect(result.unchanged.changes).toBe(false);
    expect(emu.providers.get("Microsoft.PowerPlatform")).toBe("Registered");
    expect(emu.log.filter((l) => l.method === "DELETE")).toEqual([]);
    expect(stdout).toMatch(/resource provider Microsoft\.PowerPlatform: registration requested/);
    expect(stdout).toMatch(/stay registered in subscription/);
    expect(stdout).not.toContain(emu.token);
  });

  // The provider's errors are subclasses of common.ts ProviderError: the rebuilt class keeps its name
  // and message (not `instanceof Error`: the serializer's rebuilt Error subclasses never were, see
  // dataverse/provider.ts partialFailure, so callers go by the name).
  it("fails a check-mode registration with the provider's named error, rebuilt from the serialized text", async () => {
    emu.providers.set("Microsoft.Network", "NotRegistered");
    const result = resultOf(await runChild(CHILD_REFUSED)) as { name?: string; message?: string };
    expect(result.name).toBe("RegistrationError");
    expect(result.message).toMatch(/lacks what this stack needs[\s\S]*resource provider Microsoft\.Network is 'NotRegistered': az provider register --namespace Microsoft\.Network/);
  });
});
