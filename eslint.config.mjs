import js from "@eslint/js";
import tseslint from "typescript-eslint";

// Layers (docs/architecture.md). Product code is what `pulumi up` and `npm run doctor` load; the
// test doubles (emulators/), tests/, bench/ and the offline plan (plan/) build on it, never the other
// way round. bench/ reuses the test doubles but not the tests; the test doubles stand without the
// tests. Import strings are matched, so a pattern names a folder with the slash after it
// (dynamic-providers/dataverse/plan.ts is a file).
/** A rule against importing any of these top-level folders, from wherever the importer sits. */
const importsOf = (folders, message) => ({ regex: `^(\\./|(\\.\\./)+)(${folders.join("|")})/`, message });
const NOT_FROM_TESTS_BENCH_OR_PLAN = importsOf(
  ["tests", "bench", "plan", "emulators"],
  "Product code (what `pulumi up` and the doctor load) must not import tests/, bench/, the offline plan (plan/) or the test doubles (emulators/).",
);
const NOT_FROM_TESTS = importsOf(["tests"], "bench/ and the test doubles (emulators/) must not import tests/: move what both need into emulators/.");
const NOT_FROM_BENCH = importsOf(["bench"], "The test doubles (emulators/) must not import bench/.");
// dynamic-providers/common.ts is shared by all; another provider's files only through its index.ts.
const OTHER_PROVIDER_INTERNALS = {
  regex: "^\\.\\./(?!common$)[\\w-]+/(?!index$)[\\w.-]+",
  message: "A dynamic provider imports another one only through its index.ts (`../<provider>`), never its files.",
};
// `pulumi preview --policy-pack policy` loads policy/ as its own package (policy/package.json).
const OUTSIDE_THE_POLICY_PACK = [
  { regex: "^\\.\\./", message: "The policy pack stands alone: nothing outside policy/ (move what it needs into policy/)." },
  { regex: "^(?!\\.|@pulumi/(policy|pulumi)(/|$))", message: "The policy pack uses only the dependencies of policy/package.json." },
];

export default tseslint.config(
  { ignores: ["node_modules/**", "bin/**", "coverage/**", ".ci/node/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { require: "readonly", module: "writable", process: "readonly", __dirname: "readonly", console: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "error",
    },
  },
  {
    files: ["*.ts", "components/**/*.ts", "mappings/**/*.ts", "config/**/*.ts", "stores/**/*.ts", "doctor/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [NOT_FROM_TESTS_BENCH_OR_PLAN] }] },
  },
  {
    files: ["dynamic-providers/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [NOT_FROM_TESTS_BENCH_OR_PLAN, OTHER_PROVIDER_INTERNALS] }] },
  },
  {
    files: ["bench/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [NOT_FROM_TESTS] }] },
  },
  {
    files: ["emulators/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [NOT_FROM_TESTS, NOT_FROM_BENCH] }] },
  },
  {
    files: ["policy/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: OUTSIDE_THE_POLICY_PACK }] },
  },
);
