/**
 * No two stacks share an environment, an address range or a globally unique name
 * (plan/stack-isolation.ts): the committed stacks pass, a stack copied from test the way the README
 * used to say is refused with the shared keys named, `npm run plan` refuses it too, and the README's
 * steps list every key a new stack must change.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";
import { ENVIRONMENT_KEYS, checkStackIsolation, describeSharedValues, loadStackSettings, sharedValues } from "../../plan/stack-isolation";
import { listStacks, loadProject, loadStackFile, ROOT, type ConfigChanges } from "../support/stack";

const committed = () => listStacks().map((s) => loadStackSettings(s));

/**
 * What the README's "A stack" steps named before this check existed: copy Pulumi.test.yaml and
 * change `environment`, the address plan (the VNet, its subnets and the failover range) and the sizing.
 */
const UAT_AS_THE_README_USED_TO_SAY: ConfigChanges = {
  set: {
    environment: "uat",
    vnetAddressSpace: "10.23.0.0/24",
    privateEndpointSubnetPrefix: "10.23.0.0/27",
    gatewaySubnetPrefix: "10.23.0.32/27",
    powerPlatformSubnetPrefix: "10.23.0.64/26",
    powerPlatformFailoverAddressSpace: "10.123.0.0/26",
    gatewayVmSize: "Standard_D2s_v5",
    gatewayOsDiskType: "StandardSSD_LRS",
    storageSku: "Standard_LRS",
  },
};

test("the committed stacks share no environment, address range or unique name", () => {
  expect(sharedValues(committed())).toEqual([]);
  expect(() => checkStackIsolation(listStacks())).not.toThrow();
});

test("a stack copied from test as the README used to say is refused, naming the shared keys and both stacks", () => {
  // test creates its environment now, so a copy of it gets an environment of its own; prod adopts one
  // by its ids, as every stack did when the README said to copy a stack file.
  const uat = loadStackSettings("prod", UAT_AS_THE_README_USED_TO_SAY, "uat");
  const shared = sharedValues([...committed(), uat]);
  expect(shared.map((s) => [s.keys, s.stacks])).toEqual([
    [["dataverseEnvironmentUrl"], ["prod", "uat"]],
    [["organizationId"], ["prod", "uat"]],
    [["powerPlatformEnvironmentId"], ["prod", "uat"]],
  ]);
  const text = describeSharedValues(shared);
  expect(text).toContain("Stacks prod, uat share 3 values that must belong to one stack only:");
  expect(text).toContain("dataverseEnvironmentUrl: prod and uat both name the Dataverse URL 'https://iom-retail-prod.crm4.dynamics.com'");
  expect(text).toContain("organizationId: prod and uat both name the Dataverse organization id '3c2a9f64-5e1b-4d87-b0c3-7f9e1a2d6b58'");
  expect(text).toContain("powerPlatformEnvironmentId: prod and uat both name the Power Platform environment id");
});

test("values compare as the services treat them: a URL with or without its trailing slash, a GUID in any case", () => {
  const uat = loadStackSettings("prod", {
    set: {
      ...UAT_AS_THE_README_USED_TO_SAY.set,
      powerPlatformEnvironmentMode: "adopt",
      powerPlatformEnvironmentTemplates: [],
      dataverseEnvironmentUrl: "https://iom-retail-prod.crm4.dynamics.com/",
      organizationId: "3C2A9F64-5E1B-4D87-B0C3-7F9E1A2D6B58",
      powerPlatformEnvironmentId: "7a0c3e51-2b4d-4c6f-9e8a-1d2b3c4e5f60",
    },
  }, "uat");
  expect(sharedValues([...committed(), uat]).map((s) => s.keys[0])).toEqual(["dataverseEnvironmentUrl", "organizationId"]);
});

test("address ranges may not overlap across stacks, a failover range included", () => {
  const uat = loadStackSettings("test", {
    set: {
      ...UAT_AS_THE_README_USED_TO_SAY.set,
      powerPlatformEnvironmentMode: "adopt",
      powerPlatformEnvironmentTemplates: [],
      dataverseEnvironmentUrl: "https://iom-retail-uat.crm4.dynamics.com",
      organizationId: "4d1c7b92-6a3e-4f10-b2c8-9e5d0a7f3b21",
      powerPlatformEnvironmentId: "7a0c3e51-2b4d-4c6f-9e8a-1d2b3c4e5f60",
      powerPlatformFailoverAddressSpace: "10.22.1.0/26", // prod's delegated subnet, inside prod's VNet
      vnetAddressSpace: "10.121.0.0/24", // test's failover range
      privateEndpointSubnetPrefix: "10.121.0.0/27",
      gatewaySubnetPrefix: "10.121.0.32/27",
      powerPlatformSubnetPrefix: "10.121.0.64/26",
    },
  }, "uat");
  expect(sharedValues([...committed(), uat]).map((s) => s.message)).toEqual([
    "vnetAddressSpace of prod (10.22.0.0/23) overlaps powerPlatformFailoverAddressSpace of uat (10.22.1.0/26)",
    "powerPlatformFailoverAddressSpace of test (10.121.0.0/26) overlaps vnetAddressSpace of uat (10.121.0.0/24)",
  ]);
});

test("two stacks with the same naming keys derive the same globally unique names", () => {
  const copy = loadStackSettings("test", {
    set: {
      ...UAT_AS_THE_README_USED_TO_SAY.set,
      environment: "test", // left as it was
      powerPlatformEnvironmentMode: "adopt",
      powerPlatformEnvironmentTemplates: [],
      dataverseEnvironmentUrl: "https://iom-retail-uat.crm4.dynamics.com",
      organizationId: "4d1c7b92-6a3e-4f10-b2c8-9e5d0a7f3b21",
      powerPlatformEnvironmentId: "7a0c3e51-2b4d-4c6f-9e8a-1d2b3c4e5f60",
    },
  }, "uat");
  const [clash] = sharedValues([...committed(), copy]);
  expect(clash.stacks).toEqual(["test", "uat"]);
  expect(clash.message).toBe(
    "test and uat derive the same storage account name 'stiomretailtestweu<random>', Key Vault name 'kv-iomretailtestweu<random>', " +
      "resource group name 'rg-iom-retail-test-weu', gateway cluster name 'gw-iom-retail-test-weu': change environment, businessUnit or regionCode/location",
  );
});

test("`npm run plan` refuses to plan when a stack shares a value, naming the keys and the stacks", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stacks-"));
  for (const stack of listStacks()) fs.copyFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), path.join(dir, `Pulumi.${stack}.yaml`));
  const uat = { ...loadStackFile("prod") };
  for (const [key, value] of Object.entries(UAT_AS_THE_README_USED_TO_SAY.set ?? {})) uat[`iom-bigcommerce:${key}`] = value;
  fs.writeFileSync(path.join(dir, "Pulumi.uat.yaml"), stringify({ config: uat }));
  const all = spawnSync(process.execPath, ["-r", path.join(ROOT, "scripts", "swc-register.js"), path.join(ROOT, "plan", "cli.ts"), "--all"], {
    cwd: ROOT, encoding: "utf8", timeout: 60_000, env: { ...process.env, IOM_STACK_FILES_DIR: dir },
  });
  expect(all.status).toBe(2);
  expect(all.stdout).toBe("");
  expect(all.stderr).toContain("Stacks prod, uat share 3 values that must belong to one stack only:");
  for (const key of ["dataverseEnvironmentUrl", "organizationId", "powerPlatformEnvironmentId"]) expect(all.stderr).toContain(`  - ${key}: prod and uat`);
}, 60_000);

test("the README's steps for a new stack name every key that must change", () => {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const steps = /\*\*A stack\*\*\n([\s\S]*?)\n\n/.exec(readme)?.[1] ?? "";
  const named = new Set([...steps.matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1]));
  const declared = new Set(Object.keys(loadProject().config));
  const mustChange = [
    ...ENVIRONMENT_KEYS.map((k) => k.key).filter((k) => declared.has(k)),
    "vnetAddressSpace", "powerPlatformFailoverAddressSpace", "environment",
  ];
  expect(mustChange.filter((k) => !named.has(k))).toEqual([]);
});
