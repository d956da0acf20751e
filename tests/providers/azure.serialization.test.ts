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
import { serializedProvider } from "../support/program";

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
    expect(text).toMatch(/require\("axios"\)/);
  });

  it("registers a fresh subscription's feature and provider from the serialized text, and delete leaves them registered", async () => {
    const file = path.join(dir, "provider.js");
    fs.writeFileSync(file, text);
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ["-e", CHILD, file, emu.url, SUBSCRIPTION], {
        cwd: ROOT, timeout: 20_000,
        env: { PATH: process.env.PATH ?? "", AZURE_RESOURCE_MANAGER_ACCESS_TOKEN: emu.token, AZURE_REGISTRATION_POLL_MS: "5" },
      }, (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)));
    });
    // The provider's progress lines go to stdout too (pulumi.log without an engine); the result is the marked line.
    const result = JSON.parse(stdout.split("\n").find((l) => l.startsWith("RESULT "))?.slice("RESULT ".length) ?? "null") as { checked: { failures?: unknown[] }; created: { outs: Record<string, unknown> }; unchanged: { changes: boolean } };
    expect(result.checked.failures ?? []).toEqual([]);
    expect(result.created.outs).toMatchObject({ registrationState: "Registered", featureStates: { enterprisePoliciesPreview: "Registered" } });
    expect(result.unchanged.changes).toBe(false);
    expect(emu.providers.get("Microsoft.PowerPlatform")).toBe("Registered");
    expect(emu.log.filter((l) => l.method === "DELETE")).toEqual([]);
    expect(stdout).toMatch(/resource provider Microsoft\.PowerPlatform: registration requested/);
    expect(stdout).toMatch(/stay registered in subscription/);
    expect(stdout).not.toContain(emu.token);
  });
});
