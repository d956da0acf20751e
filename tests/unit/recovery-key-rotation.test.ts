/**
 * The gateway recovery key across rotation windows: by default it keeps its value (the cluster
 * keeps using its key until an operator changes it on the gateway) while its vault secret's expiry
 * follows the window; `gatewayRecoveryKeyRotation: true` renews it each window. The admin password
 * is renewed in every window either way.
 */
import { ConfigError, parseStackConfig } from "../../config";
import { ROTATION_CLOCK_ENV, rotationWindow } from "../../rotation";
import { capturePlan, reveal, runProgram, type ProgramRun } from "../support/program";
import { rawStackConfig, type ConfigChanges } from "../support/stack";

type Obj = Record<string, unknown>;
const obj = (v: unknown) => (v ?? {}) as Obj;

// Two 90-day windows: from 2025-12-08 and from 2026-03-08.
const CLOCKS = ["2026-01-20T00:00:00Z", "2026-03-20T00:00:00Z"];
const expiryOf = (clock: string) => rotationWindow(90, new Date(clock)).endsAtEpochSeconds;

/** The prod stack (a two-VM gateway) with `changes`, once per clock. */
async function runInBothWindows(changes: ConfigChanges): Promise<ProgramRun[]> {
  const previous = process.env[ROTATION_CLOCK_ENV];
  const runs: ProgramRun[] = [];
  try {
    for (const clock of CLOCKS) {
      process.env[ROTATION_CLOCK_ENV] = clock;
      runs.push(await runProgram("prod", changes));
    }
  } finally {
    if (previous === undefined) delete process.env[ROTATION_CLOCK_ENV];
    else process.env[ROTATION_CLOCK_ENV] = previous;
  }
  return runs;
}

const byName = (run: ProgramRun, name: string) => {
  const found = run.resources.find((r) => r.name === name);
  if (!found) throw new Error(`no resource named ${name}`);
  return found;
};
const vaultSecret = (run: ProgramRun, key: string) => reveal(byName(run, `vault-secret-${key}`).inputs.properties) as Obj;

/** The generated secret `password` has the window as its keeper, so a new value in the vault, which expires with the new window. */
function expectRenewedEachWindow(runs: ProgramRun[], password: string, secret: string): void {
  const [before, after] = runs.map((run) => byName(run, password).inputs.keepers);
  expect([before, after]).toEqual([{ rotationWindow: "2025-12-08" }, { rotationWindow: "2026-03-08" }]);
  const [secretBefore, secretAfter] = runs.map((run) => vaultSecret(run, secret));
  expect(secretAfter.value).not.toBe(secretBefore.value);
  expect(obj(secretAfter.attributes).expires).toBe(expiryOf(CLOCKS[1]));
}

describe("by default (gatewayRecoveryKeyRotation unset)", () => {
  let runs: ProgramRun[] = [];
  beforeAll(async () => { runs = await runInBothWindows({}); }, 240000);

  test("the recovery key's inputs carry no window, so a new window neither replaces it nor changes its value", () => {
    const [before, after] = runs.map((run) => byName(run, "gateway-recovery-key").inputs);
    expect(before.keepers).toBeUndefined();
    expect(after).toEqual(before);
    const [valueBefore, valueAfter] = runs.map((run) => vaultSecret(run, "gatewayRecoveryKey").value);
    expect(typeof valueBefore).toBe("string");
    expect(valueAfter).toBe(valueBefore);
  });

  test("the recovery key's vault secret still expires with each window", () => {
    const [before, after] = runs.map((run) => obj(vaultSecret(run, "gatewayRecoveryKey").attributes).expires);
    expect([before, after]).toEqual(CLOCKS.map(expiryOf));
  });

  test("the admin password is still renewed in the new window, in the vault and with the new expiry", () => {
    expectRenewedEachWindow(runs, "gateway-admin-password", "gatewayAdminPassword");
  });

  test("pulumi up keeps the keepers a deployed key has in state (ignoreChanges), so dropping the window keeper replaces nothing", async () => {
    const plan = await capturePlan("prod");
    const key = plan.resources.find((r) => r.name === "gateway-recovery-key");
    expect(key?.ignoreChanges).toEqual(["keepers"]);
    expect(plan.resources.find((r) => r.name === "gateway-admin-password")?.ignoreChanges).toBeUndefined();
  }, 120000);
});

describe("with gatewayRecoveryKeyRotation: true", () => {
  let runs: ProgramRun[] = [];
  beforeAll(async () => { runs = await runInBothWindows({ set: { gatewayRecoveryKeyRotation: true } }); }, 240000);

  test("the recovery key gets the window as a keeper, so a new value each window, in the vault with the new expiry", () => {
    expectRenewedEachWindow(runs, "gateway-recovery-key", "gatewayRecoveryKey");
  });

  test("its keepers are not ignored, so the window keeper replaces the key deployed without one", async () => {
    const plan = await capturePlan("prod", { set: { gatewayRecoveryKeyRotation: true } });
    expect(plan.resources.find((r) => r.name === "gateway-recovery-key")?.ignoreChanges).toBeUndefined();
  }, 120000);

  test("the admin password is renewed as well", () => {
    const [before, after] = runs.map((run) => vaultSecret(run, "gatewayAdminPassword").value);
    expect(after).not.toBe(before);
  });
});

test("gatewayRecoveryKeyRotation on a stack without a gateway is refused, naming the key", () => {
  const { raw, secretKeys } = rawStackConfig("prod", { set: { connectivity: "powerPlatformVnet", gatewayRecoveryKeyRotation: true } });
  expect(() => parseStackConfig("prod", raw, secretKeys)).toThrow(ConfigError);
  expect(() => parseStackConfig("prod", raw, secretKeys)).toThrow(/gatewayRecoveryKeyRotation: is only used when connectivity is 'dataGateway' or 'both'/);
});
