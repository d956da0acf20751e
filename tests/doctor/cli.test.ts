/**
 * `npm run doctor` end to end against the emulators (harness.ts): a healthy dev stack prints a
 * healthy table and exits 0; each failure case of the issue exits 1 and names its cause; usage and
 * configuration errors exit 2 before anything is called; `--json` has the published shape and the
 * same content; no token ever reaches the output.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { main } from "../../doctor/cli";
import type { DoctorReport } from "../../doctor/report";
import { startDoctorWorld, TOKENS, useEnv, validateReport, type DoctorWorld } from "./harness";

const ROOT = path.resolve(__dirname, "../..");

async function run(argv: string[], env: Record<string, string | undefined> = process.env) {
  const out: string[] = [];
  const err: string[] = [];
  // No Pulumi CLI here: the doctor must take outputs from --outputs.
  const pulumi = () => ({ ok: false as const, missing: true, stderr: "" });
  const code = await main(argv, env, { out: (t) => out.push(t), err: (t) => err.push(t) }, { pulumi, now: () => world.now });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

let world: DoctorWorld;
let restoreEnv: () => void;

async function freshWorld(): Promise<void> {
  restoreEnv?.();
  await world?.stop();
  world = await startDoctorWorld("dev");
  restoreEnv = useEnv(world.env);
}

afterAll(async () => {
  restoreEnv?.();
  await world?.stop();
});

describe("a healthy dev stack", () => {
  beforeAll(freshWorld);

  test("prints a table of healthy lines and exits 0", async () => {
    const r = await run(["dev", "--outputs", world.outputsFile]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Healthy: \d+ ok, 0 failing, 0 warnings, 2 not used by this stack \(exit 0\)\.$/m);
    for (const check of [
      /^✓ {2}Dataverse: 127\.0\.0\.1:\d+ +signed in/m,
      /^✓ {2}Dataverse: Intelligent Order Management +installed: Dynamics 365 Intelligent Order Management 1\.0\.1\.0/m,
      /^✓ {2}IOM provider: Inventory Visibility +3 parameters as the stack wants; Activated$/m,
      /^✓ {2}Provider flow: BigCommerce \/ BigCommerce Order Puller\n +on; 3 runs in the last 24 h, 0 failed$/m,
      /^✓ {2}Gateway: gw-iom-retail-dev-weu \/ vmiomdevgw01\n +online, version 3000\.250\.5$/m,
      /^✓ {2}File Drop: d365iomfiledropdevweu +3 files in the last 24 h/m,
      /^✓ {2}File Drop: d365iomerrorfiledevweu +no error file in the last 24 h$/m,
      /^✓ {2}Key Vault: kv-iom-dev-q7x2 +3 secrets, none expires within 7 days/m,
      /^- {2}BigCommerce +not configured/m,
      /^- {2}Policy link +this stack has no Power Platform VNet support/m,
    ]) expect(r.out).toMatch(check);
  });

  test("--json gives the same lines for machines, in the published shape", async () => {
    const [table, json] = await Promise.all([run(["dev", "--outputs", world.outputsFile]), run(["dev", "--outputs", world.outputsFile, "--json"])]);
    const report = JSON.parse(json.out) as DoctorReport;
    expect(validateReport(report)).toBe(true);
    expect(report).toMatchObject({ schema: "iom-doctor/v1", stack: "dev", status: "healthy", exitCode: 0, settings: { lookbackHours: 24, secretExpiryDays: 7 } });
    for (const c of report.checks) expect(table.out).toContain(c.summary.split(" ").slice(0, 4).join(" "));
    expect(report.checks.map((c) => c.id)).toEqual(expect.arrayContaining(["dataverse.signin", "dataverse.iom", "iom.provider", "flows.flow", "gateway.cluster", "gateway.member", "filedrop.fresh", "filedrop.errors", "keyvault.expiry"]));
  });

  test("--hours narrows the window the runs and files are counted in", async () => {
    const r = await run(["dev", "--outputs", world.outputsFile, "--hours", "1", "--json"]);
    const report = JSON.parse(r.out) as DoctorReport;
    expect(report.settings.lookbackHours).toBe(1);
    expect(report.checks.find((c) => c.id === "filedrop.fresh")).toMatchObject({ status: "ok", details: { files: 1 } });
    expect(report.checks.find((c) => c.subject === "BigCommerce / BigCommerce Order Puller")).toMatchObject({ details: { runs: 1 } });
  });
});

describe("each failure case exits 1 and names its cause", () => {
  beforeEach(freshWorld);

  test.each([
    ["a provider flow turned off", (w: DoctorWorld) => w.breakIt.flowOff(), /^✗ {2}Provider flow: Inventory Visibility \/ Inventory Visibility File Drop Writer\n +off\n +fix: turn it on/m],
    ["failed runs with BigCommerce 429 errors", (w: DoctorWorld) => w.breakIt.bigCommerce429(), /^✗ {2}Provider flow: BigCommerce \/ BigCommerce Order Puller\n +on; 5 runs in the last 24 h, 2 failed; latest failure .* 15 min ago: TooManyRequests: Rate limit is exceeded\..* fix: rate limited \(HTTP 429\)/],
    ["a gateway member offline", (w: DoctorWorld) => w.breakIt.gatewayMemberOffline(), /^✗ {2}Gateway: gw-iom-retail-dev-weu \/ vmiomdevgw01\n +offline: GatewayNotReachable: The gateway is either offline/m],
    ["no file dropped for a day", (w: DoctorWorld) => w.breakIt.noFileForADay(), /^✗ {2}File Drop: d365iomfiledropdevweu +no file dropped in the last 24 h/m],
    ["a secret expiring in 3 days", (w: DoctorWorld) => w.breakIt.secretExpiresIn3Days(), /^✗ {2}Key Vault: kv-iom-dev-q7x2 \/ gateway-vm-admin-password\n +expires .*, in 3 days/m],
  ])("%s", async (_name, breakIt, cause) => {
    breakIt(world);
    const r = await run(["dev", "--outputs", world.outputsFile]);
    expect(r.code).toBe(1);
    // Wrapped lines joined, so the cause reads as one sentence.
    expect(r.out.replace(/\n {20,}/g, " ")).toMatch(new RegExp(cause.source.replace(/\\n \+/g, " "), "m"));
    // Only the broken link fails.
    expect(r.out).toMatch(/^UNHEALTHY: \d+ ok, 1 failing, /m);
  });

  test("a URL in a run's error loses its query (a signature or key may be in it)", async () => {
    world.breakIt.bigCommerce429();
    const r = await run(["dev", "--outputs", world.outputsFile, "--json"]);
    expect(r.out).toContain("https://api.bigcommerce.com/stores/abc123/v2/orders?…");
    expect(r.out).not.toContain("SECRETSIG");
  });
});

describe("usage and configuration errors exit 2 before any call", () => {
  beforeAll(freshWorld);

  test.each([
    ["no stack", [], /name the stack/],
    ["two stacks", ["dev", "prod"], /one stack at a time/],
    ["an unknown stack", ["staging", "--outputs", "x.json"], /unknown stack 'staging' \(stacks: dev, prod, test/],
    ["an unknown flag", ["dev", "--fast"], /Unknown option '--fast'/],
    ["a bad --hours", ["dev", "--hours", "0", "--outputs", "x.json"], /--hours must be a whole number from 1 to 168, got '0'/],
    ["no outputs and no Pulumi CLI", ["dev"], /no outputs: the Pulumi CLI is not installed; pass --outputs <file>/],
    ["an outputs file that does not exist", ["dev", "--outputs", "/nonexistent/outputs.json"], /cannot read --outputs \/nonexistent\/outputs\.json: ENOENT/],
  ])("%s", async (_name, argv, message) => {
    const before = world.fabric.log.length + world.logs.log.length + world.arm.log.length + world.dataverse.emu.requestLog.length;
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(world.fabric.log.length + world.logs.log.length + world.arm.log.length + world.dataverse.emu.requestLog.length).toBe(before);
  });

  test("an outputs file that is not JSON, and an endpoint over plain http to another host, say so; --json still prints a document", async () => {
    const bad = path.join(os.tmpdir(), `doctor-bad-${process.pid}.json`);
    fs.writeFileSync(bad, "not json");
    const notJson = await run(["dev", "--outputs", bad, "--json"]);
    fs.rmSync(bad);
    expect(notJson.code).toBe(2);
    expect(notJson.err).toMatch(/is not JSON .*pulumi stack output --json > <file>/);
    expect(validateReport(JSON.parse(notJson.out))).toBe(true);
    const http = await run(["dev", "--outputs", world.outputsFile], { ...process.env, IOM_DOCTOR_ARM_URL: "http://management.example.org" });
    expect(http.code).toBe(2);
    expect(http.err).toMatch(/IOM_DOCTOR_ARM_URL: must be an https URL/);
  });
});

test("an IOM_DOCTOR_BIGCOMMERCE_API_URL that is not BigCommerce's host (or this machine) is a usage error: no store token goes there", async () => {
  await freshWorld();
  const r = await run(["dev", "--outputs", world.outputsFile], { ...process.env, IOM_DOCTOR_BIGCOMMERCE_API_URL: "https://api.bigcommerce.com.attacker.example" });
  expect(r.code).toBe(2);
  expect(r.err).toMatch(/IOM_DOCTOR_BIGCOMMERCE_API_URL: must be https:\/\/api\.bigcommerce\.com, BigCommerce's API host/);
});

describe("secrets", () => {
  beforeAll(freshWorld);

  test("no token appears in the output, even when a service echoes it", async () => {
    // Dataverse refuses a token and its answer quotes it back: the doctor still never prints it.
    world.dataverse.emu.setOptions({ unprovisionedTokens: [TOKENS.dataverse], token: "another-token" });
    const r = await run(["dev", "--outputs", world.outputsFile, "--json"]);
    expect(r.code).toBe(1);
    for (const t of Object.values(TOKENS)) {
      expect(r.out).not.toContain(t);
      expect(r.err).not.toContain(t);
    }
    expect(JSON.parse(r.out).checks.find((c: { id: string }) => c.id === "dataverse.signin")).toMatchObject({ status: "fail", summary: expect.stringMatching(/refused .*HTTP 403/) });
  });

  test("no secret value from the vault reaches the doctor (the management plane never sends one)", () => {
    expect(world.arm.log.length).toBeGreaterThan(0);
    for (const l of world.arm.log) expect(l.body).not.toMatch(/never-shown|"value":\s*"/);
  });
});

describe("through npm run, in its own process", () => {
  beforeAll(freshWorld);

  // One process only: each loads the Pulumi SDK and the Azure clients (seconds of CPU); the exit
  // codes of the other cases are main()'s return value, which the script hands to process.exitCode.
  test("npm run doctor -- dev --outputs <file> prints the healthy table and exits 0", async () => {
    const child = spawn("npm", ["run", "--silent", "doctor", "--", "dev", "--outputs", world.outputsFile], { cwd: ROOT, env: { ...process.env, ...world.env } });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(out).toMatch(/^✓ {2}IOM provider: Inventory Visibility +3 parameters as the stack wants; Activated$/m);
    expect(out).toMatch(/^Healthy: .*\(exit 0\)\.$/m);
    expect(code).toBe(0);
  }, 60_000);
});
