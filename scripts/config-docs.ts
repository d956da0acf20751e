/**
 * `npm run docs:config [-- --check]`
 *
 * Writes docs/configuration.md from Pulumi.yaml (the keys, their types, defaults and descriptions,
 * grouped under the project file's own `# Group` comments) and config.ts (which keys hold secrets),
 * then the structured keys Pulumi.yaml cannot declare (it has no object type) from their field
 * tables (stores.ts STORE_FIELDS).
 * Nobody edits that file by hand: change Pulumi.yaml and run this. `--check` exits 1 when the
 * committed file is stale; tests/unit/docs.test.ts fails in that case too.
 */
import * as fs from "fs";
import * as path from "path";
import { isMap, isScalar, parseDocument } from "yaml";
import { CONFIG_SCHEMA, PROJECT } from "../config";
import { ROOT, type DeclaredKey } from "../plan/stack-config";
import { STORES_KEY, STORE_FIELDS } from "../stores";

export const CONFIGURATION_DOC = path.join(ROOT, "docs", "configuration.md");

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

if (require.main === module) {
  const current = renderConfigurationDoc();
  const committed = fs.existsSync(CONFIGURATION_DOC) ? fs.readFileSync(CONFIGURATION_DOC, "utf8") : "";
  if (process.argv.includes("--check")) {
    if (committed !== current) {
      console.error("docs/configuration.md is out of date with Pulumi.yaml: run 'npm run docs:config' and commit the result.");
      process.exitCode = 1;
    }
  } else if (committed !== current) {
    fs.mkdirSync(path.dirname(CONFIGURATION_DOC), { recursive: true });
    fs.writeFileSync(CONFIGURATION_DOC, current);
    console.log("wrote docs/configuration.md");
  }
}
