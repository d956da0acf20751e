/**
 * Azure hardening a scanner finds on the plans: encryption at host on the gateway VMs, an expiry on
 * every Key Vault secret, the admin password renewed per rotation window without replacing a VM, and
 * shared-key access to the drop account only as a flagged exception.
 */
import * as fs from "fs";
import * as path from "path";
import type { StackPlan } from "../../plan/capture";
import { ConfigError, parseStackConfig } from "../../config";
import { planViolations } from "../../plan/cli";
import { ROTATION_CLOCK_ENV, rotationClock, rotationWindow } from "../../rotation";
import { capturePlan as capture, isSecretValue, plainOccurrences, reveal, runProgram, type ProgramRun } from "../support/program";
import { listStacks, rawStackConfig, ROOT } from "../support/stack";

const STACKS = listStacks();

type Obj = Record<string, unknown>;
const obj = (v: unknown) => (v ?? {}) as Obj;

const committed = (stack: string) => JSON.parse(fs.readFileSync(path.join(ROOT, "plan", "snapshots", `${stack}.json`), "utf8")) as StackPlan;

describe("rotation windows", () => {
  test("are cut from the epoch in whole periods, so every run in a window agrees", () => {
    const w = rotationWindow(90, new Date("2026-01-01T00:00:00Z"));
    expect(w).toMatchObject({ id: "2025-12-08", startsAt: new Date("2025-12-08T00:00:00Z"), endsAt: new Date("2026-03-08T00:00:00Z") });
    expect(w.endsAtEpochSeconds).toBe(Date.parse("2026-03-08T00:00:00Z") / 1000);
    expect(rotationWindow(90, new Date("2026-03-07T23:59:59Z")).id).toBe(w.id);
    expect(rotationWindow(90, new Date("2026-03-08T00:00:00Z")).id).toBe("2026-03-08");
    expect(() => rotationWindow(0, new Date())).toThrow(/whole number of days/);
  });

  test("the clock is the current time unless pinned, and a bad pin is an error", () => {
    expect(Math.abs(rotationClock({}).getTime() - Date.now())).toBeLessThan(5000);
    expect(rotationClock({ [ROTATION_CLOCK_ENV]: "2026-03-01T00:00:00Z" }).toISOString()).toBe("2026-03-01T00:00:00.000Z");
    expect(() => rotationClock({ [ROTATION_CLOCK_ENV]: "next tuesday" })).toThrow(/not an ISO 8601 date/);
  });
});

describe("the hardening keys", () => {
  test("default to the hardened setting in every committed stack", () => {
    for (const stack of STACKS) {
      const config = parseStackConfig(stack, rawStackConfig(stack).raw);
      expect({ stack, encryptionAtHost: config.gateway?.encryptionAtHost, sharedKeyAccess: config.storage.sharedKeyAccess, days: config.keyVault.secretRotationDays })
        .toEqual({ stack, encryptionAtHost: true, sharedKeyAccess: false, days: 90 });
    }
  });

  test("a rotation period out of range is refused, naming the key", () => {
    const { raw, secretKeys } = rawStackConfig("dev", { set: { keyVaultSecretRotationDays: 3 } });
    expect(() => parseStackConfig("dev", raw, secretKeys)).toThrow(ConfigError);
    expect(() => parseStackConfig("dev", raw, secretKeys)).toThrow(/iom-bigcommerce:keyVaultSecretRotationDays: must be at least 7/);
  });
});

describe("every Key Vault secret expires", () => {
  test.each(STACKS)("in the committed %s plan, at the end of the plan clock's rotation window", (stack) => {
    const secrets = committed(stack).resources.filter((r) => r.type === "azure-native:keyvault:Secret");
    expect(secrets.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(obj(obj(secret.inputs.properties).attributes).expires).toBe(rotationWindow(90, new Date("2026-01-01T00:00:00Z")).endsAtEpochSeconds);
      expect(obj(secret.inputs.properties).value).toBe("[secret]");
    }
  });

  test("a secret without an expiry is caught by the offline plan's policy", () => {
    const plan = committed("dev");
    const secret = plan.resources.find((r) => r.type === "azure-native:keyvault:Secret");
    delete obj(obj(secret?.inputs.properties).attributes).expires;
    expect(planViolations(plan).map((v) => `${v.policy} ${v.resource}`)).toEqual([`key-vault-secret-expiry ${secret?.name}`]);
  });
});

describe("a rotation renews the generated secrets and replaces no VM", () => {
  const runs: ProgramRun[] = [];
  beforeAll(async () => {
    const previous = process.env[ROTATION_CLOCK_ENV];
    try {
      for (const clock of ["2026-01-20T00:00:00Z", "2026-03-20T00:00:00Z"]) { // 90-day windows from 2025-12-08 and 2026-03-08
        process.env[ROTATION_CLOCK_ENV] = clock;
        runs.push(await runProgram("prod"));
      }
    } finally {
      if (previous === undefined) delete process.env[ROTATION_CLOCK_ENV];
      else process.env[ROTATION_CLOCK_ENV] = previous;
    }
  }, 240000);

  const byName = (run: ProgramRun, name: string) => run.resources.find((r) => r.name === name) as ProgramRun["resources"][number];

  test("the admin password gets new keepers, so a new value; the recovery key keeps its value by default", () => {
    expect(byName(runs[0], "gateway-admin-password").inputs.keepers).toEqual({ rotationWindow: "2025-12-08" });
    expect(byName(runs[1], "gateway-admin-password").inputs.keepers).toEqual({ rotationWindow: "2026-03-08" });
    // gatewayRecoveryKeyRotation defaults to false: the cluster keeps its key (tests/unit/recovery-key-rotation.test.ts).
    expect(byName(runs[1], "gateway-recovery-key").inputs).toEqual(byName(runs[0], "gateway-recovery-key").inputs);
    expect(runs[0].generatedSecrets).not.toEqual(runs[1].generatedSecrets);
  });

  test("the vault holds the new admin password, the same recovery key, both with the new window's expiry", () => {
    for (const key of ["gatewayAdminPassword", "gatewayRecoveryKey"]) {
      const [before, after] = runs.map((run) => reveal(byName(run, `vault-secret-${key}`).inputs.properties) as Obj);
      if (key === "gatewayAdminPassword") expect(before.value).not.toBe(after.value);
      else expect(before.value).toBe(after.value);
      expect(obj(after.attributes).expires).toBe(Date.parse("2026-06-06T00:00:00Z") / 1000);
    }
  });

  test("each VM's inputs differ only in the admin password, which pulumi up ignores on an existing VM", async () => {
    for (const vmName of ["gateway-vm-01", "gateway-vm-02"]) {
      const [before, after] = runs.map((run) => reveal(byName(run, vmName).inputs) as Obj);
      expect(obj(before.osProfile).adminPassword).not.toBe(obj(after.osProfile).adminPassword);
      const withoutPassword = (i: Obj) => ({ ...i, osProfile: { ...obj(i.osProfile), adminPassword: "<rotated>" } });
      expect(withoutPassword(after)).toEqual(withoutPassword(before));
    }
    const plan = await capture("prod");
    for (const vm of plan.resources.filter((r) => r.type === "azure-native:compute:VirtualMachine")) {
      expect(vm.ignoreChanges).toEqual(["osProfile.adminPassword"]);
    }
  }, 120000);

  test("the VM access extension sets the new password on the running VM, carried only as a secret", () => {
    for (const node of ["01", "02"]) {
      const [before, after] = runs.map((run) => byName(run, `gateway-vm-${node}-admin-password`));
      expect(after.inputs).toMatchObject({ publisher: "Microsoft.Compute", type: "VMAccessAgent", settings: { username: "iomgwadmin" } });
      expect([before.inputs.forceUpdateTag, after.inputs.forceUpdateTag]).toEqual(["2025-12-08", "2026-03-08"]);
      expect(isSecretValue(after.inputs.protectedSettings)).toBe(true);
      const password = obj(reveal(byName(runs[1], `gateway-vm-${node}`).inputs.osProfile)).adminPassword as string;
      expect(reveal(after.inputs.protectedSettings)).toEqual({ password });
      expect(plainOccurrences(after.inputs, [password])).toEqual([]);
    }
  });
});

describe("switches the policy flags", () => {
  test("encryption at host off and shared keys on each show up as a violation in the offline plan", async () => {
    expect(planViolations(committed("prod"))).toEqual([]);
    const plan = await capture("prod", { set: { gatewayEncryptionAtHost: false, storageSharedKeyAccess: true } });
    const violations = planViolations(plan);
    expect(violations.map((v) => `${v.policy} ${v.resource}`).sort()).toEqual([
      "storage-no-shared-key-or-public-blobs drop-account",
      "vm-encryption-at-host gateway-vm-01",
      "vm-encryption-at-host gateway-vm-02",
    ]);
    expect(violations.find((v) => v.policy === "vm-encryption-at-host")?.message).toBe("securityProfile.encryptionAtHost must be true (is false)");
  }, 120000);
});
