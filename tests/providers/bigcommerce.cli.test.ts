// The `npm run check:bigcommerce` CLI: table, JSON, exit codes, and the token kept out of output.

import { execFile } from "child_process";
import * as path from "path";
import { main } from "../../dynamic-providers/bigcommerce/cli";
import { IOM_SCOPES, startBigCommerceEmulator, type BigCommerceEmulator } from "../../emulators/bigcommerce";
import { DEFAULT_CHECK_REQUESTS } from "../support/bigcommerce";

const ROOT = path.resolve(__dirname, "../..");
const TOKEN = "clitoken0123456789abcdefghijklm";
const ORDERS_ONLY = "clitokenorders0123456789abcdefg";

async function run(argv: string[], env: Record<string, string | undefined>): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, env, { out: (t) => (out += `${t}\n`), err: (t) => (err += `${t}\n`) });
  return { code, out, err };
}

describe("check:bigcommerce CLI", () => {
  let emu: BigCommerceEmulator;
  beforeAll(async () => {
    emu = await startBigCommerceEmulator({
      tokens: [
        { token: TOKEN, storeHash: "abc123", scopes: IOM_SCOPES },
        { token: ORDERS_ONLY, storeHash: "abc123", scopes: ["store_v2_orders_read_only"] },
      ],
    });
  });
  afterAll(() => emu.close());

  it("exit 0 with a per-scope table, store information and rate-limit headroom", async () => {
    const r = await run(["--store-hash", "abc123", "--api-base-url", emu.url], { BIGCOMMERCE_ACCESS_TOKEN: TOKEN });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/SCOPE\s+REQUEST\s+STATUS\s+VERDICT/);
    expect(r.out).toMatch(/Token and store hash: ok \(proven by GET \/v2\/store\)/);
    expect(r.out).toMatch(/store_v2_orders_read_only \(with the write\)\s+GET \/v2\/orders\?limit=1\s+200\s+ok/);
    expect(r.out).toMatch(/store_v2_orders\s+PUT \/v2\/orders\/0\s+404\s+ok/);
    expect(r.out).toMatch(/Store: Contoso Outdoor \(id 1001234, hash abc123\), domain contoso-outdoor.example, plan Plus, status live/);
    expect(r.out).toMatch(/Rate limit: \d+ of 150 requests left in a 30000 ms window/);
    expect(r.out).toMatch(/Result: OK/);
    expect(r.out + r.err).not.toContain(TOKEN);
  });

  it("exit 1 with the missing scopes marked and the one error message", async () => {
    const r = await run(["--store-hash", "abc123", "--api-base-url", emu.url, "--scopes", "orders,products,customers"], { BIGCOMMERCE_ACCESS_TOKEN: ORDERS_ONLY });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/store_v2_products_read_only\s+GET \/v3\/catalog\/products\?limit=1\s+403\s+missing scope/);
    expect(r.out).toMatch(/store_v2_orders_read_only\s+GET \/v2\/orders\?limit=1\s+200\s+ok/);
    expect(r.out).toMatch(/create a new API account/);
    expect(r.out + r.err).not.toContain(ORDERS_ONLY);
  });

  it("exit 1 for a wrong token", async () => {
    const r = await run(["--store-hash", "abc123", "--api-base-url", emu.url], { BIGCOMMERCE_ACCESS_TOKEN: "wrongtoken0123456789abcdefghijk" });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/token rejected \(401\)/);
    expect(r.out).not.toContain("wrongtoken0123456789abcdefghijk");
  });

  it("--json prints the report as JSON, without the token", async () => {
    const r = await run(["--store-hash", "abc123", "--api-base-url", emu.url, "--json"], { BIGCOMMERCE_ACCESS_TOKEN: TOKEN });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out) as { ok: boolean; scopesVerified: string[]; store: { name: string }; stats: { requests: number } };
    expect(report).toMatchObject({ ok: true, store: { name: "Contoso Outdoor" }, stats: { requests: DEFAULT_CHECK_REQUESTS } });
    expect(r.out).not.toContain(TOKEN);
  });

  it.each([
    [[], { BIGCOMMERCE_ACCESS_TOKEN: TOKEN }, /--store-hash is required/],
    [["--store-hash", "abc123"], {}, /BIGCOMMERCE_ACCESS_TOKEN is required/],
    [["--store-hash", "abc123", "--token=secret"], { BIGCOMMERCE_ACCESS_TOKEN: TOKEN }, /never a flag/],
    [["--store-hash", "abc123", "--scopes", "orders,bogus"], { BIGCOMMERCE_ACCESS_TOKEN: TOKEN }, /--scopes unknown scope 'bogus'/],
    [["--store-hash", "abc123", "--frobnicate"], { BIGCOMMERCE_ACCESS_TOKEN: TOKEN }, /Unknown option '--frobnicate'/],
    [["--store-hash", "abc123", "--timeout-ms", "soon"], { BIGCOMMERCE_ACCESS_TOKEN: TOKEN }, /--timeout-ms/],
  ] as [string[], Record<string, string>, RegExp][])("exit 2 on a usage error: %j", async (argv, env, message) => {
    const r = await run(argv, env);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err).toMatch(/Usage:/);
    expect(r.out + r.err).not.toContain(TOKEN);
  });

  it("works as documented through npm run, exit codes included", async () => {
    const exec = (args: string[], token: string): Promise<{ code: number; stdout: string }> =>
      new Promise((resolve) => {
        execFile(
          "npm",
          ["run", "--silent", "check:bigcommerce", "--", ...args],
          { cwd: ROOT, env: { ...process.env, BIGCOMMERCE_ACCESS_TOKEN: token }, timeout: 30_000 },
          (error, stdout) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout }),
        );
      });
    const [ok, bad] = await Promise.all([
      exec(["--store-hash", "abc123", "--api-base-url", emu.url], TOKEN),
      exec(["--store-hash", "abc123", "--api-base-url", emu.url], ORDERS_ONLY),
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/Result: OK/);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/missing scope store_v2_information_read_only/);
    expect(ok.stdout + bad.stdout).not.toContain(TOKEN);
  });
});
