/**
 * `npm run docs:config [-- --check]`
 *
 * Writes the documentation generated from code, which nobody edits by hand:
 * - docs/configuration.md from Pulumi.yaml (the keys, their types, defaults and descriptions,
 *   grouped under the project file's own `# Group` comments) and config/schema.ts (which keys hold
 *   secrets): change Pulumi.yaml and run this;
 * - the policy table in docs/review-flow.md, between its `policy table` markers, from
 *   policy/rules.ts: change a rule's description there and run this.
 * - the structured keys Pulumi.yaml cannot declare (it has no object type), in docs/configuration.md,
 *   from their field tables (stores.ts STORE_FIELDS).
 * `--check` exits 1 when a committed text is stale; tests/unit/docs.test.ts fails in that case too.
 */
import * as fs from "fs";
import * as path from "path";
import { isMap, isScalar, parseDocument } from "yaml";
import { CONFIG_SCHEMA, PROJECT } from "../config";
import { ROOT, type DeclaredKey } from "../stack-config";
import { RESOURCE_RULES, STACK_RULES } from "../policy/rules";
import { STORES_KEY, STORE_FIELDS } from "../stores";

export const CONFIGURATION_DOC = path.join(ROOT, "docs", "configuration.md");
export const REVIEW_FLOW_DOC = path.join(ROOT, "docs", "review-flow.md");

interface Group {
  title: string;
  note?: string;
  keys: [string, DeclaredKey][];
}

/** The `config:` block of Pulumi.yaml in file order, split at its `# Group` comments. */
function groupsOf(projectFile: string): Group[] {
  const config = parseDocument(projectFile).get("config");
  if (!isMap(config)) throw new Error("Pulumi.yaml has no config block");
  const groups: Group[] = [];
  for (const item of config.items) {
    if (!isScalar(item.key)) continue;
    // The comment above the first key belongs to the map itself.
    const comment = (item.key.commentBefore ?? (groups.length === 0 ? config.commentBefore : undefined))?.trim();
    if (comment || groups.length === 0) {
      const [title, ...rest] = (comment ?? "Settings").split(":");
      groups.push({ title: title.trim(), note: rest.join(":").trim() || undefined, keys: [] });
    }
    groups[groups.length - 1].keys.push([String(item.key.value), (item.value as { toJSON(): DeclaredKey }).toJSON()]);
  }
  return groups;
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\s*\n\s*/g, " ");

function row(key: string, decl: DeclaredKey): string {
  const secret = decl.secret || "secret" in (CONFIG_SCHEMA[key as keyof typeof CONFIG_SCHEMA] ?? {});
  const type = secret ? `${decl.type} (secret)` : decl.type;
  const shownDefault = decl.default === undefined ? "required" : `\`${JSON.stringify(decl.default)}\``;
  return `| \`${key}\` | ${type} | ${shownDefault} | ${cell(decl.description ?? "")} |`;
}

/** The text of docs/configuration.md for the given Pulumi.yaml text. */
export function renderConfigurationDoc(projectFile = fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")): string {
  const lines = [
    "# Configuration reference",
    "",
    "<!-- Generated from Pulumi.yaml by `npm run docs:config`; edit Pulumi.yaml, not this file. -->",
    "",
    `Every key lives in the \`${PROJECT}:\` namespace and is declared in \`Pulumi.yaml\` (the CLI applies`,
    "the defaults). Lists are set in the stack file as YAML sequences or with",
    "`pulumi config set --path 'key[0]' value`. Keys typed *(secret)* must be set with",
    "`pulumi config set --secret`: they are optional, and the CLI refuses a plain-text default for a key",
    "the project file marks secret, so the program itself refuses a plain value for them.",
    "A bad value stops the program before anything is declared, with every problem listed at once.",
  ];
  for (const group of groupsOf(projectFile)) {
    lines.push("", `## ${group.title}`, "");
    if (group.note) lines.push(`${group.note.charAt(0).toUpperCase()}${group.note.slice(1)}`, "");
    lines.push("| Key | Type | Default | Meaning |", "|---|---|---|---|");
    for (const [key, decl] of group.keys) lines.push(row(key, decl));
  }
  lines.push(
    "",
    "## Structured keys",
    "",
    "Not declared in `Pulumi.yaml`: a project file's config types are string, integer, boolean and array,",
    "with no object. They are set with `--path` (or as YAML in the stack file); the program validates them",
    "like every other key.",
    "",
    `### \`${STORES_KEY}\``,
    "",
    "A list of BigCommerce stores, each its own IOM provider instance with its own API check, Key Vault",
    "secret, provider parameters and mapping sets ([Adding a store](bigcommerce.md#adding-a-store)). The",
    "single-store keys above are the shorthand for the store named `default`. Its fields:",
    "",
    "| Field | Type | Default | Meaning |",
    "|---|---|---|---|",
    ...STORE_FIELDS.map((f) => `| \`${f.field}\` | ${f.type} | ${f.default} | ${cell(f.description)} |`),
    "",
    "```bash",
    `pulumi config set --path '${STORES_KEY}[0].name' outdoor`,
    `pulumi config set --path '${STORES_KEY}[0].providerName' 'BigCommerce Outdoor'`,
    `pulumi config set --path '${STORES_KEY}[0].storeHash' abc123`,
    `pulumi config set --secret --path '${STORES_KEY}[0].accessToken' <token>`,
    "```",
  );
  return `${lines.join("\n")}\n`;
}

/** How a rule's reach reads in the table: the resource types it checks, or the whole stack. */
function reach(types: string[] | undefined): string {
  if (types === undefined) return "the whole stack";
  const short = types.map((t) => `\`${t.replace(/^azure-native:/, "")}\``);
  return short.length <= 3 ? short.join(", ") : `${short.length} resource types`;
}

/** The policy table of docs/review-flow.md: every rule of policy/rules.ts, in the order the pack runs them. */
export function renderPolicyTable(): string {
  const rules = [...RESOURCE_RULES.map((r) => ({ ...r, types: r.types as string[] | undefined })), ...STACK_RULES.map((r) => ({ ...r, types: undefined }))];
  return [
    "| Policy | Checks | Requires |",
    "|---|---|---|",
    ...rules.map((rule) => `| \`${rule.name}\` | ${reach(rule.types)} | ${cell(rule.description)} |`),
  ].join("\n");
}

const POLICY_TABLE_START = "<!-- policy table: generated from policy/rules.ts by `npm run docs:config`; edit the rules, not this table -->";
const POLICY_TABLE_END = "<!-- end of policy table -->";

/** `text` (docs/review-flow.md) with the part between the policy table markers generated afresh. */
export function withPolicyTable(text: string): string {
  const start = text.indexOf(POLICY_TABLE_START);
  const end = text.indexOf(POLICY_TABLE_END);
  if (start < 0 || end < start) throw new Error(`docs/review-flow.md has lost its policy table markers: put back ${POLICY_TABLE_START} and ${POLICY_TABLE_END}`);
  return `${text.slice(0, start + POLICY_TABLE_START.length)}\n${renderPolicyTable()}\n${text.slice(end)}`;
}

/** Every generated text: the file, and its content made from the committed one. */
export const GENERATED_DOCS: { file: string; render(committed: string): string }[] = [
  { file: CONFIGURATION_DOC, render: () => renderConfigurationDoc() },
  { file: REVIEW_FLOW_DOC, render: withPolicyTable },
];

if (require.main === module) {
  const check = process.argv.includes("--check");
  for (const { file, render } of GENERATED_DOCS) {
    const name = path.relative(ROOT, file);
    const committed = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
    const current = render(committed);
    if (committed === current) continue;
    if (check) {
      console.error(`${name} is out of date with the code it is generated from: run 'npm run docs:config' and commit the result.`);
      process.exitCode = 1;
    } else {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, current);
      console.log(`wrote ${name}`);
    }
  }
}
