/**
 * The layers ESLint guards (eslint.config.mjs, no-restricted-imports; docs/architecture.md): product
 * code (the doctor included) never imports tests/, bench/, the offline plan or the test doubles
 * (emulators/); bench/ and emulators/ never import tests/; a dynamic provider reaches another only
 * through its index.ts; the policy pack imports nothing outside policy/ but its own dependencies.
 * `npm run lint` applies them to the tree; these prove each rule fires, and where it must not.
 */
import { execFileSync } from "child_process";
import { ROOT } from "../support/stack";

const CASES: Record<string, string[]> = {
  "index.ts": ["./tests/support/stack", "./bench/mappings", "./plan/harness", "./emulators/bigcommerce", "./naming", "./components/network", "./stack-config"],
  "components/network.ts": ["../emulators/bigcommerce", "../plan/capture", "../naming"],
  "config/schema.ts": ["../tests/support/stack", "../plan/harness", "../emulators/dataverse", "../stack-config", "../naming"],
  "dynamic-providers/dataverse/sync.ts": ["../../emulators/dataverse", "./plan", "../common"],
  "doctor/target.ts": ["../plan/harness", "../tests/support/stack", "../emulators/bigcommerce", "../stack-config", "../config", "../dynamic-providers/common"],
  "bench/mappings.ts": ["../tests/support/stack", "../emulators/dataverse-harness", "../plan/provider-serialization", "../dynamic-providers/dataverse/sync"],
  "emulators/dataverse-harness.ts": ["../tests/support/console", "../bench/mappings", "./dataverse", "../dynamic-providers/dataverse/provider"],
  "dynamic-providers/iom-provider/provider.ts": ["../dataverse/client", "../dataverse", "../dataverse/index", "../common", "./discovery"],
  "policy/rules.ts": ["../naming", "../config", "axios", "./naming", "@pulumi/policy", "@pulumi/pulumi/runtime"],
};

// ESLint loads its flat config with a dynamic import, which Jest's module sandbox cannot do: one
// plain Node process lints every case, as `npm run lint` would lint a file with these imports.
const LINT = `
const { ESLint } = require("eslint");
const cases = JSON.parse(process.argv[1]);
(async () => {
  const eslint = new ESLint({ cwd: process.cwd() });
  const found = {};
  for (const [file, imports] of Object.entries(cases)) {
    const code = imports.map((from, i) => "import * as m" + i + ' from "' + from + '";').join("\\n") + "\\nexport const all = [" + imports.map((_, i) => "m" + i).join(", ") + "];\\n";
    const [result] = await eslint.lintText(code, { filePath: file });
    found[file] = result.messages.filter((m) => m.ruleId === "no-restricted-imports").map((m) => imports[m.line - 1]);
  }
  process.stdout.write(JSON.stringify(found));
})();`;

let restricted: Record<string, string[]>;
beforeAll(() => {
  restricted = JSON.parse(execFileSync(process.execPath, ["-e", LINT, JSON.stringify(CASES)], { cwd: ROOT, encoding: "utf8" })) as Record<string, string[]>;
}, 60_000);

test("product code does not import tests/, bench/, plan/ or emulators/", () => {
  expect(restricted["index.ts"]).toEqual(["./tests/support/stack", "./bench/mappings", "./plan/harness", "./emulators/bigcommerce"]);
  expect(restricted["components/network.ts"]).toEqual(["../emulators/bigcommerce", "../plan/capture"]);
  expect(restricted["config/schema.ts"]).toEqual(["../tests/support/stack", "../plan/harness", "../emulators/dataverse"]);
  expect(restricted["dynamic-providers/dataverse/sync.ts"]).toEqual(["../../emulators/dataverse"]);
  expect(restricted["doctor/target.ts"]).toEqual(["../plan/harness", "../tests/support/stack", "../emulators/bigcommerce"]);
});

test("bench/ reuses the test doubles but not the tests; the test doubles stand without tests/ and bench/", () => {
  expect(restricted["bench/mappings.ts"]).toEqual(["../tests/support/stack"]);
  expect(restricted["emulators/dataverse-harness.ts"]).toEqual(["../tests/support/console", "../bench/mappings"]);
});

test("a dynamic provider reaches another one only through its index.ts", () => {
  expect(restricted["dynamic-providers/iom-provider/provider.ts"]).toEqual(["../dataverse/client"]);
});

test("the policy pack stands alone", () => {
  expect(restricted["policy/rules.ts"]).toEqual(["../naming", "../config", "axios"]);
});
