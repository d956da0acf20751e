// The provider object is serialized the way pulumi.dynamic.Resource does it
// (`serializeFunction(() => provider, { allowSecrets: true })`, in the program server, which has
// loaded the program as `pulumi up` has), and the text is loaded and run
// in a plain Node child process the way the dynamic-provider host does it
// (`require-from-string(text).handler()`), against the emulator. Jest's module registry is not
// involved on the running side.

import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DEFAULT_REQUIRED_SCOPES } from "../../dynamic-providers/bigcommerce/logic";
import { IOM_SCOPES, startBigCommerceEmulator, type BigCommerceEmulator } from "../../emulators/bigcommerce";
import { FINGERPRINT_KEY } from "../support/bigcommerce";
import { serializedProvider, unresolvableRequires } from "../support/program";

const ROOT = path.resolve(__dirname, "../..");
const GOOD = "goodtoken0123456789abcdefghijkl";
const ROTATED = "rotatedtoken0123456789abcdefghi";
const ORDERS_ONLY = "ordersonly0123456789abcdefghijk";

// Runs in the child: plain JavaScript, no ts-node, no jest.
const CHILD = `
const fs = require("fs");
const requireFromString = require("require-from-string");
const [file, baseUrl] = process.argv.slice(1);
const text = fs.readFileSync(file, "utf8");
(async () => {
  const provider = requireFromString(text).handler();
  const config = { "iom-bigcommerce:bigcommerceAccessToken": ${JSON.stringify(GOOD)} };
  await provider.configure({ config: { get: (k) => config[k.includes(":") ? k : "iom-bigcommerce:" + k], require: (k) => config[k] } });
  const news = { storeHash: "abc123", accessToken: ${JSON.stringify(GOOD)}, apiBaseUrl: baseUrl, fingerprintKey: ${JSON.stringify(FINGERPRINT_KEY)} };
  const checked = await provider.check({}, news);
  const created = await provider.create(checked.inputs);
  const unchanged = await provider.diff(created.id, created.outs, checked.inputs);
  const rotated = await provider.diff(created.id, created.outs, { ...checked.inputs, accessToken: ${JSON.stringify(ROTATED)} });
  const read = await provider.read(created.id, created.outs);
  const badCheck = await provider.check({}, { ...news, accessToken: ${JSON.stringify(ORDERS_ONLY)} });
  let createError = "";
  try { await provider.create({ ...checked.inputs, accessToken: ${JSON.stringify(ORDERS_ONLY)} }); } catch (e) { createError = e.message; }
  process.stdout.write(JSON.stringify({ checked, created, unchanged, rotated, read, badCheck, createError }));
})().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(3); });
`;

interface ChildResult {
  checked: { inputs: Record<string, unknown>; failures: { property: string; reason: string }[] };
  created: { id: string; outs: Record<string, unknown> };
  unchanged: { changes: boolean };
  rotated: { changes: boolean; replaces: string[] };
  read: { id: string; props: Record<string, unknown> };
  badCheck: { failures: { property: string; reason: string }[] };
  createError: string;
}

function runChild(file: string, baseUrl: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["-e", CHILD, file, baseUrl],
      // The host runs in the program's directory: packages resolve from its node_modules.
      { cwd: ROOT, timeout: 20_000, env: { PATH: process.env.PATH ?? "" } },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve({ stdout, stderr })),
    );
  });
}

describe("BigCommerce provider serialized as Pulumi does it", () => {
  let emulator: BigCommerceEmulator;
  let dir: string;
  let text: string;

  beforeAll(async () => {
    emulator = await startBigCommerceEmulator({
      tokens: [
        { token: GOOD, storeHash: "abc123", scopes: IOM_SCOPES },
        { token: ORDERS_ONLY, storeHash: "abc123", scopes: ["store_v2_orders_read_only"] },
      ],
    });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "bc-provider-"));
    text = (await serializedProvider("bigCommerceApiCheckDynamicProvider")).text;
  });

  afterAll(async () => {
    await emulator.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("is self-contained: no local file is required at run time and nothing secret is captured", () => {
    expect(text).toContain("exports.handler");
    expect(text).not.toMatch(/require\(["'](\.|\/)/); // no relative or absolute local require
    expect(text).not.toContain("dynamic-providers/bigcommerce");
    expect(text).not.toContain(GOOD);
    // The modules it loads are looked up by name in the host process, where only Node's own and the runtime dependencies are installed.
    expect(text).toMatch(/require\("@?[a-z]/);
    expect(unresolvableRequires(text)).toEqual([]);
  });

  it("runs check, create, diff and read from the serialized text in a plain Node process", async () => {
    const file = path.join(dir, "provider.js");
    fs.writeFileSync(file, text);
    const { stdout } = await runChild(file, emulator.url);
    const result = JSON.parse(stdout) as ChildResult;

    expect(result.checked.failures).toEqual([]);
    expect(result.created.id).toBe("abc123");
    expect(result.created.outs).toMatchObject({
      storeName: "Contoso Outdoor",
      status: "live",
      storeId: 1001234,
    });
    expect(new Set(result.created.outs.scopesVerified as string[])).toEqual(new Set(DEFAULT_REQUIRED_SCOPES));
    expect(result.unchanged.changes).toBe(false);
    expect(result.rotated.changes).toBe(true);
    expect(result.rotated.replaces).toEqual([]);
    // read took the token from the stack config handed to configure and probed again.
    expect(result.read.props.checkedAt).not.toBe(result.created.outs.checkedAt);
    expect(result.badCheck.failures.map((f) => f.property)).toContain("requiredScopes");
    expect(result.createError).toMatch(/missing scope store_v2_information_read_only/);
    expect(result.createError).toMatch(/missing scope store_v2_customers_read_only/);

    // Nothing the serialized provider returned carries a token. (check hands the inputs back to
    // the engine, token included, as it must: the engine stores them as secret inputs.)
    const returned = JSON.stringify({
      ...result,
      checked: { failures: result.checked.failures },
      badCheck: { failures: result.badCheck.failures },
    });
    for (const token of [GOOD, ROTATED, ORDERS_ONLY]) expect(returned).not.toContain(token);
  });
});
