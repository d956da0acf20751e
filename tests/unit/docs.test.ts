/**
 * The documentation a newcomer reads first: a short README, docs/ beside it, no link to a file or
 * section that does not exist, docs/configuration.md generated from Pulumi.yaml and the policy table
 * from policy/rules.ts.
 */
import * as fs from "fs";
import * as path from "path";
import { GENERATED_DOCS, renderConfigurationDoc, renderPolicyTable, withPolicyTable } from "../../scripts/config-docs";
import { DEFAULT_REQUIRED_SCOPES } from "../../dynamic-providers/bigcommerce/logic";
import { KINDS, MAPPING_KINDS } from "../../dynamic-providers/dataverse/kinds";
import { RESOURCE_RULES, STACK_RULES } from "../../policy/rules";
import { ROOT } from "../support/stack";

const docs = fs.readdirSync(path.join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => path.join("docs", f));
const MARKDOWN = ["README.md", "dynamic-providers/README.md", ...docs];

/** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

function anchorsOf(file: string): Set<string> {
  const text = fs.readFileSync(file, "utf8").replace(/^```[\s\S]*?^```/gm, "");
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])));
}

/** Relative links of a markdown file, outside code blocks, with the line they are on. */
function relativeLinks(file: string): { line: number; target: string }[] {
  const lines = fs.readFileSync(path.join(ROOT, file), "utf8").split("\n");
  let inCode = false;
  return lines.flatMap((text, i) => {
    if (text.startsWith("```")) inCode = !inCode;
    if (inCode) return [];
    return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
      .map((m) => m[1])
      .filter((target) => !/^[a-z]+:/i.test(target))
      .map((target) => ({ line: i + 1, target }));
  });
}

test("the README is at most 200 lines", () => {
  expect(fs.readFileSync(path.join(ROOT, "README.md"), "utf8").split("\n").length).toBeLessThanOrEqual(200);
});

test.each(GENERATED_DOCS.map((d) => [path.relative(ROOT, d.file), d] as const))("%s is what `npm run docs:config` generates", (_name, doc) => {
  const committed = fs.readFileSync(doc.file, "utf8");
  expect(committed).toBe(doc.render(committed));
});

test("the policy table has one row per rule of policy/rules.ts, and generating it keeps the text around it", () => {
  const rows = renderPolicyTable().split("\n").slice(2).map((row) => /^\| `([^`]+)`/.exec(row)?.[1]);
  expect(rows).toEqual([...RESOURCE_RULES, ...STACK_RULES].map((r) => r.name));
  const page = "before\n<!-- policy table: generated from policy/rules.ts by `npm run docs:config`; edit the rules, not this table -->\nstale\n<!-- end of policy table -->\nafter\n";
  const generated = withPolicyTable(page);
  expect(generated.startsWith("before\n<!-- policy table")).toBe(true);
  expect(generated.endsWith("<!-- end of policy table -->\nafter\n")).toBe(true);
  expect(generated).not.toContain("stale");
  expect(() => withPolicyTable("no markers")).toThrow(/lost its policy table markers/);
});

test("the generated reference lists every declared key once, with type and default", () => {
  const text = renderConfigurationDoc("config:\n  # Group one: a note\n  a:\n    type: string\n    description: first\n  # Group two\n  b:\n    type: integer\n    default: 7\n    description: second\n");
  expect(text).toContain("## Group one\n\nA note\n\n| Key | Type | Default | Meaning |\n|---|---|---|---|\n| `a` | string | required | first |\n");
  expect(text).toContain("## Group two\n\n| Key | Type | Default | Meaning |\n|---|---|---|---|\n| `b` | integer | `7` | second |\n");
});

test.each(MARKDOWN)("every relative link in %s points to an existing file and heading", (file) => {
  const broken = relativeLinks(file).filter(({ target }) => {
    const [filePart, anchor] = target.split("#");
    const resolved = filePart === "" ? path.join(ROOT, file) : path.resolve(path.dirname(path.join(ROOT, file)), filePart);
    if (!fs.existsSync(resolved)) return true;
    return anchor !== undefined && resolved.endsWith(".md") && !anchorsOf(resolved).has(anchor);
  });
  expect(broken.map(({ line, target }) => `${file}:${line}: ${target}`)).toEqual([]);
});

test("every docs/*.md a source file mentions exists", () => {
  const sources = (dir: string): string[] => fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) return ["node_modules", ".git", "bin"].includes(entry.name) ? [] : sources(rel);
    return /\.(ts|js|mjs|ps1|ya?ml)$/.test(entry.name) ? [rel] : [];
  });
  const missing = sources(".").flatMap((file) =>
    [...fs.readFileSync(path.join(ROOT, file), "utf8").matchAll(/\bdocs\/[\w.-]+\.md\b/g)]
      .filter((m) => !fs.existsSync(path.join(ROOT, m[0])))
      .map((m) => `${file}: ${m[0]}`));
  expect(missing).toEqual([]);
});

test("docs/bigcommerce.md lists exactly the scopes the check requires by default", () => {
  const section = fs.readFileSync(path.join(ROOT, "docs", "bigcommerce.md"), "utf8").split("## The scopes IOM's BigCommerce provider needs")[1].split(/^#/m)[0];
  const listed = [...section.matchAll(/^\| `([a-z0-9_]+)`/gm)].map((m) => m[1]);
  expect(new Set(listed)).toEqual(new Set(DEFAULT_REQUIRED_SCOPES));
});

test("docs/dataverse.md's files table has a row per mapping kind, with its file and target table", () => {
  const section = fs.readFileSync(path.join(ROOT, "docs", "dataverse.md"), "utf8").split("## Kinds and files")[1].split(/^#/m)[0];
  const rows = [...section.matchAll(/^\| [^|]+ \| `([a-z]+)\.csv` \|[^|]+\| `([a-z_]+)`/gm)].map((m): [string, string] => [m[1], m[2]]);
  expect(new Map(rows)).toEqual(new Map(MAPPING_KINDS.map((kind) => [kind, KINDS[kind].targetTable])));
});
