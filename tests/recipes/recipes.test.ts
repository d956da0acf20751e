/**
 * The README's "How to change things", performed: on a copy of the repository (node_modules linked,
 * not copied) a new stack, config key, policy rule and mapping kind are added by editing only the
 * files each recipe names, then the recipes' own commands run (`npm run docs:config`,
 * `npm run plan -- --all --write`) and the checks that judge them (the type-check and the tests a
 * forgotten step would fail). Every file that ends up changed must be one a recipe names. So a
 * recipe that misses a file fails here, and so does one whose steps no longer work.
 *
 * Run by `.ci/run` (`npm run test:recipes`), beside the other checks: it costs a type-check, a
 * plan of every stack and a few test files, too much for `npm test`.
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { parseDocument, type YAMLMap, type YAMLSeq } from "yaml";
import { ROOT } from "../support/stack";

const run = promisify(execFile);
const NOT_COPIED = new Set(["node_modules", ".git", "coverage", "bin"]);
const NOT_COPIED_PATHS = new Set([path.join(".ci", "node")]);

/** The files a README recipe names (backticked paths; `<x>` stands for any name, `*` for any part). */
function filesNamed(title: string): RegExp[] {
  const section = fs.readFileSync(path.join(ROOT, "README.md"), "utf8").split(/^## How to change things$/m)[1]?.split(/^## /m)[0] ?? "";
  const recipe = section.split(`**${title}**`)[1]?.split(/^\*\*/m)[0];
  if (!recipe) throw new Error(`README.md has no recipe **${title}** under "How to change things"`);
  return [...recipe.matchAll(/`([\w.<>*/-]+\.(?:ts|ya?ml|json|csv|md))`/g)].map(([, file]) =>
    new RegExp(`^${file.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/<[^>]+>/g, "[^/]+").replace(/\*/g, "[^/]*")}$`));
}

/** Every file under `dir` (relative paths), without what is not copied. */
function filesUnder(dir: string, rel = ""): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(rel, entry.name);
    if (NOT_COPIED.has(entry.name) || NOT_COPIED_PATHS.has(file)) return [];
    return entry.isDirectory() ? filesUnder(dir, file) : [file];
  });
}

class Copy {
  readonly root = fs.mkdtempSync(path.join(os.tmpdir(), "iom-recipes-"));

  constructor() {
    for (const file of filesUnder(ROOT)) {
      fs.mkdirSync(path.dirname(path.join(this.root, file)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, file), path.join(this.root, file));
    }
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(this.root, "node_modules"), "dir");
  }

  /** A recipe's hand-made change: only to a file the recipe names. */
  change(recipe: string, file: string, edit: (text: string) => string): void {
    if (!filesNamed(recipe).some((named) => named.test(file))) throw new Error(`recipe "${recipe}" changes ${file}, which README.md does not name in it`);
    const at = path.join(this.root, file);
    fs.mkdirSync(path.dirname(at), { recursive: true });
    const before = fs.existsSync(at) ? fs.readFileSync(at, "utf8") : "";
    const after = edit(before);
    if (after === before) throw new Error(`recipe "${recipe}": the edit of ${file} changed nothing`);
    fs.writeFileSync(at, after);
  }

  /** A command the recipes name, run by Node in the copy (paths relative to it); its output when it fails. */
  async run(...args: string[]): Promise<string> {
    try {
      const { stdout } = await run(process.execPath, args, { cwd: this.root, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, FORCE_COLOR: "0" } });
      return stdout;
    } catch (err) {
      const { stdout = "", stderr = "", message } = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`node ${args.join(" ")} failed in the copy:\n${message}\n${stdout.slice(-6000)}\n${stderr.slice(-6000)}`);
    }
  }

  /** Files that differ from the repository's. */
  changedFiles(): string[] {
    return filesUnder(this.root).filter((file) => {
      const original = path.join(ROOT, file);
      return !fs.existsSync(original) || !fs.readFileSync(original).equals(fs.readFileSync(path.join(this.root, file)));
    });
  }

  remove(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** `text` with `addition` put after the first match of `anchor`; says which anchor went missing. */
function after(anchor: string | RegExp, addition: string): (text: string) => string {
  return (text) => {
    const match = typeof anchor === "string" ? { index: text.indexOf(anchor), length: anchor.length } : (() => { const m = anchor.exec(text); return { index: m?.index ?? -1, length: m?.[0].length ?? 0 }; })();
    if (match.index < 0) throw new Error(`the recipe test looks for ${String(anchor)} and the file no longer has it: update the README recipe and this test together`);
    return text.slice(0, match.index + match.length) + addition + text.slice(match.index + match.length);
  };
}

const STACK = "staging";
const KEY = "keyVaultTemplateDeployment";
const RULE = "key-vault-not-for-vm-deployment";

function addStack(copy: Copy): void {
  const recipe = "A stack";
  copy.change(recipe, `Pulumi.${STACK}.yaml`, () => fs.readFileSync(path.join(ROOT, "Pulumi.test.yaml"), "utf8")
    .replace(/environment: test$/m, "environment: stg").replace(/iom-retail-test/g, "iom-retail-stg").replace(/iom-test/g, "iom-stg")
    .replace(/10\.21\./g, "10.23.").replace(/10\.121\./g, "10.123."));
  for (const csv of fs.readdirSync(path.join(ROOT, "mappings", "test"))) {
    copy.change(recipe, `mappings/${STACK}/${csv}`, () => fs.readFileSync(path.join(ROOT, "mappings", "test", csv), "utf8"));
  }
  copy.change(recipe, ".github/workflows/pull-request.yml", (text) => {
    const doc = parseDocument(text);
    (doc.getIn(["jobs", "preview", "strategy", "matrix", "stack"]) as YAMLSeq).add(STACK);
    return doc.toString();
  });
  copy.change(recipe, ".github/workflows/deploy.yml", (text) => {
    const doc = parseDocument(text);
    (doc.get("jobs") as YAMLMap).set(STACK, doc.createNode({ needs: "prod", uses: "./.github/workflows/pulumi-up.yml", with: { stack: STACK }, secrets: "inherit" }));
    return doc.toString();
  });
}

function addConfigKey(copy: Copy): void {
  const recipe = "A config key";
  copy.change(recipe, "Pulumi.yaml", after(/^ {2}keyVaultSoftDeleteDays:\n( {4}.*\n)+/m,
    `  ${KEY}:\n    type: boolean\n    default: false\n    description: Lets ARM template deployments read the vault's secrets.\n`));
  copy.change(recipe, "config/schema.ts", (text) => [
    after("export const CONFIG_SCHEMA = {\n", `  ${KEY}: { type: "boolean", schema: z.boolean() },\n`),
    after(/export interface StackConfig \{[^]*?\n {2}keyVault: \{\n/, "    templateDeployment: boolean;\n"),
  ].reduce((t, edit) => edit(t), text));
  copy.change(recipe, "config/build.ts", after(/function build\([^]*?\n {4}keyVault: \{\n/, `      templateDeployment: v.${KEY},\n`));
  copy.change(recipe, "components/keyVault.ts", (text) => [
    after(/export interface KeyVaultArgs[^{]*\{\n/, "  /** ARM template deployments may read secrets (enabledForTemplateDeployment). */\n  templateDeployment: boolean;\n"),
    (t: string) => t.replace("enabledForTemplateDeployment: false,", "enabledForTemplateDeployment: args.templateDeployment,"),
  ].reduce((t, edit) => edit(t), text));
  copy.change(recipe, "index.ts", after(/new KeyVault\("vault", \{\n/, "  templateDeployment: config.keyVault.templateDeployment,\n"));
  copy.change(recipe, "tests/unit/config.test.ts", after(/const badConfigs: [^\n]*\n/,
    `  ["vault template deployment as yes/no", {}, "${KEY}", /true or false, got 'yes'/, { ${KEY}: "yes" }],\n`));
  // No committed stack sets it: tests/unit/stacks.test.ts holds every stack's vault to false.
}

function addPolicyRule(copy: Copy): void {
  const recipe = "A policy rule";
  copy.change(recipe, "policy/rules.ts", after("export const RESOURCE_RULES: ResourceRule[] = [\n", `  {
    name: "${RULE}",
    description: "Key Vaults do not hand secrets to virtual machine deployments (properties.enabledForDeployment).",
    types: [T.vault],
    check: ({ props }) => whenKnown(props.properties, (v) => expectValue("properties.enabledForDeployment", v.enabledForDeployment, false)),
  },
`));
  copy.change(recipe, "tests/unit/policy.test.ts", after(/const cases: [^\n]*\n/,
    `  ["${RULE}", "azure-native:keyvault:Vault", { ...rbacVault, properties: { ...(rbacVault.properties as Props), enabledForDeployment: false } },
    { ...rbacVault, properties: { ...(rbacVault.properties as Props), enabledForDeployment: true } }, /enabledForDeployment must be false/],\n`));
}

const KIND = "carriers";

function addMappingKind(copy: Copy): void {
  const recipe = "A mapping kind";
  copy.change(recipe, "dynamic-providers/dataverse/kinds.ts", (text) => [
    (t: string) => t.replace(/(export const MAPPING_KINDS = \[[^\]]*)\] as const;/, `$1, "${KIND}"] as const;`),
    after("export const KINDS: Record<MappingKind, KindSpec> = {\n", `  ${KIND}: {
    targetTable: "msdyn_carrier",
    keyColumns: { carrierName: "msdyn_name" },
    displayWords: ["carrier"],
    excludeWords: [],
    accountScoped: false,
  },
`),
  ].reduce((t, edit) => edit(t), text));
  copy.change(recipe, "Pulumi.yaml", after(/^ {2}dataverseWarehousesSchema:\n( {4}.*\n)+/m,
    "  dataverseCarriersSchema:\n    type: string\n    default: \"\"\n    description: Override of the discovered carrier mapping table, in the same form as dataverseAccountsSchema.\n"));
  copy.change(recipe, "emulators/dataverse-schema.ts", (text) => [
    after("export const EMULATOR_TABLES: TableDef[] = [\n", `  table("msdyn_carrier", "msdyn_carriers", "Carrier", "msdyn_name", []),
  mappingTable("zq1_carmap", "zq1_carmaps", "IOM Carrier Mapping", "msdyn_carrier", "zq1_car", "zq1_Car", "Carrier", true),
`),
    after("export const EMULATOR_MAPPING_TABLE = {\n", `  ${KIND}: { table: "zq1_carmap", target: "zq1_car" },\n`),
  ].reduce((t, edit) => edit(t), text));
  copy.change(recipe, "emulators/dataverse-fixtures.ts", after(/\n( *)emu\.insert\("msdyn_warehouse", [^\n]*\n/, `  emu.insert("msdyn_carrier", { msdyn_name: "Contoso Freight" });\n`));
  copy.change(recipe, "tests/providers/dataverse.kinds.test.ts", (text) => [
    (t: string) => t.replace(/expect\(\[\.\.\.MAPPING_KINDS\]\.sort\(\)\)\.toEqual\(\[([^\]]*)\]\)/, `expect([...MAPPING_KINDS].sort()).toEqual([$1, "${KIND}"].sort())`),
    after(/\n {6}warehouses: "msdyn_warehouse",\n/, `      ${KIND}: "msdyn_carrier",\n`),
    after(/\n {4}\["warehouses", "msdyn_name", [^\n]*\n/, `    ["${KIND}", "msdyn_name", { "carrier=CF": "Contoso Freight" }, "zq1_carmap"],\n`),
  ].reduce((t, edit) => edit(t), text));
  copy.change(recipe, "docs/dataverse.md", after(/\n\| Unit groups \| [^\n]*\n/, "| Carriers | `carriers.csv` | `carrierName` | `msdyn_carrier`: `msdyn_name` | no |\n"));
}

/**
 * The copy's type-check and the repository's (`npm run typecheck`, which `.ci/run` leaves to this
 * test) as one TypeScript program: most of a type-check is reading @pulumi/azure-native's
 * declarations (680k lines), which both trees share through the linked node_modules, so the two
 * cost 23 s of CPU together against 22 s each. Every file is a module, so neither tree sees the
 * other's declarations. The config lives outside the copy, which must hold only recipe changes.
 */
async function typeCheckWithRepository(copy: Copy): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iom-recipes-tsc-"));
  const trees = [copy.root, ROOT];
  fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({
    extends: path.join(copy.root, "tsconfig.json"),
    compilerOptions: { typeRoots: [path.join(ROOT, "node_modules", "@types")] },
    include: trees.map((tree) => path.join(tree, "**", "*.ts")),
    exclude: trees.flatMap((tree) => ["node_modules", "bin", ".ci"].map((folder) => path.join(tree, folder))),
  }));
  try {
    await copy.run("node_modules/typescript/bin/tsc", "--noEmit", "-p", path.join(dir, "tsconfig.json"));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const RECIPES: [string, (copy: Copy) => void][] = [["A stack", addStack], ["A config key", addConfigKey], ["A policy rule", addPolicyRule], ["A mapping kind", addMappingKind]];

test("the stack, config key, policy rule and mapping kind recipes, done as the README says, pass the checks and touch only the files it names", async () => {
  const copy = new Copy();
  try {
    for (const [, perform] of RECIPES) perform(copy);
    // The recipes' own commands, in their order: generated docs first, then the plans (which also
    // judge the new rule and the new stack's config, and serialize the providers).
    await copy.run("-r", "./scripts/swc-register.js", "scripts/config-docs.ts");
    await copy.run("-r", "./scripts/swc-register.js", "plan/cli.ts", "--all", "--write");
    expect(fs.existsSync(path.join(copy.root, "plan", "snapshots", `${STACK}.json`))).toBe(true);
    // The checks a forgotten step fails: types (StackConfig, the component's args; the repository's
    // own type-check in the same program), the generated
    // docs, the key's declaration and bad value, every stack's config and plan against the rules
    // (new case included), the workflows. None of these test files runs the program (the plan did),
    // so Jest starts no program server.
    await Promise.all([
      typeCheckWithRepository(copy),
      copy.run("node_modules/jest/bin/jest.js", "--ci", "--silent", "--globalSetup", "./tests/recipes/no-program-server.js", "--globalTeardown", "./tests/recipes/no-program-server.js",
        "tests/unit/config.test.ts", "tests/unit/project-file.test.ts", "tests/unit/docs.test.ts", "tests/unit/policy.test.ts", "tests/unit/workflows.test.ts",
        "tests/providers/dataverse.kinds.test.ts"),
    ]);
    const named = RECIPES.flatMap(([title]) => filesNamed(title));
    const changed = copy.changedFiles();
    expect(changed.filter((file) => !named.some((pattern) => pattern.test(file)))).toEqual([]);
    // What the commands wrote on their own, each named by a recipe too.
    expect(changed).toEqual(expect.arrayContaining(["docs/configuration.md", "docs/review-flow.md", `plan/snapshots/${STACK}.json`]));
  } finally {
    copy.remove();
  }
}, 600_000);
