/**
 * Reads PowerShell the way a test can without Windows: tree-sitter's PowerShell grammar
 * (npm tree-sitter-powershell, its wasm build loaded by web-tree-sitter, so no native build and no
 * download). Used to syntax-check scripts and to check what a script hands to native programs.
 */
import * as fs from "fs";
import { Language, Parser, type Node, type Tree } from "web-tree-sitter";

let parser: Promise<Parser> | undefined;

export function powerShellParser(): Promise<Parser> {
  parser ??= (async () => {
    await Parser.init();
    // The bytes, not a path: given a path, the loader imports fs dynamically, which Jest's VM refuses.
    const language = await Language.load(fs.readFileSync(require.resolve("tree-sitter-powershell/tree-sitter-powershell.wasm")));
    const p = new Parser();
    p.setLanguage(language);
    return p;
  })();
  return parser;
}

export async function parsePowerShell(source: string): Promise<Tree> {
  const tree = (await powerShellParser()).parse(source);
  if (!tree) throw new Error("the PowerShell parser returned no tree");
  return tree;
}

export function walk(node: Node, visit: (n: Node) => void): void {
  visit(node);
  for (const child of node.namedChildren) if (child) walk(child, visit);
}

function find(node: Node, type: string): Node[] {
  const found: Node[] = [];
  walk(node, (n) => { if (n.type === type) found.push(n); });
  return found;
}

/** Where the grammar could not parse the source (error or missing nodes), as `label:line:column ...`. */
export function syntaxProblems(tree: Tree, label: string): string[] {
  const problems: string[] = [];
  const visit = (n: Node) => {
    if (n.isError || n.isMissing) {
      problems.push(`${label}:${n.startPosition.row + 1}:${n.startPosition.column + 1}: ${n.isMissing ? `missing ${n.type}` : `cannot parse '${n.text.slice(0, 40)}'`}`);
    }
    for (const child of n.children) if (child) visit(child);
  };
  visit(tree.rootNode);
  return problems;
}

/** Scripts embedded as verbatim here-strings (@'...'@), which the setup writes to disk and runs. */
export function embeddedScripts(tree: Tree): { body: string; line: number }[] {
  return find(tree.rootNode, "verbatim_here_string_characters").map((n) => ({
    body: n.text.replace(/^@'\r?\n/, "").replace(/\r?\n'@$/, ""),
    line: n.startPosition.row + 2,
  }));
}

/** Nodes that only wrap one expression; `core` looks through them. */
const WRAPPERS = new Set([
  "pipeline", "pipeline_chain", "logical_expression", "bitwise_expression", "comparison_expression", "additive_expression",
  "multiplicative_expression", "format_expression", "range_expression", "array_literal_expression", "unary_expression",
  "logical_argument_expression", "bitwise_argument_expression", "comparison_argument_expression", "additive_argument_expression",
  "multiplicative_argument_expression", "format_argument_expression", "range_argument_expression", "argument_expression",
]);

export function core(node: Node): Node {
  let n = node;
  while (WRAPPERS.has(n.type) && n.namedChildCount === 1 && n.namedChildren[0]) n = n.namedChildren[0];
  return n;
}

const variableName = (n: Node) => n.text.replace(/^\$/, "").replace(/^\{|\}$/g, "").toLowerCase();

/** Every `$name = <value>` in the tree, by lower-cased variable name. */
export function assignments(tree: Tree): Map<string, Node[]> {
  const result = new Map<string, Node[]>();
  for (const a of find(tree.rootNode, "assignment_expression")) {
    const target = core(a.namedChildren[0]?.namedChildren[0] ?? a);
    const value = a.childForFieldName("value");
    if (target.type !== "variable" || !value) continue;
    const name = variableName(target);
    result.set(name, [...(result.get(name) ?? []), core(value)]);
  }
  return result;
}

export interface ScriptParameter {
  name: string;
  mandatory: boolean;
  allowsEmpty: boolean;
  defaultValue?: string;
}

/** The script's own param block (not functions' parameters). */
export function scriptParameters(tree: Tree): ScriptParameter[] {
  const block = tree.rootNode.namedChildren.find((n) => n?.type === "param_block");
  if (!block) return [];
  return find(block, "script_parameter").map((p) => {
    const attributes = p.namedChildren.find((n) => n?.type === "attribute_list")?.text ?? "";
    const variable = p.namedChildren.find((n) => n?.type === "variable");
    const def = p.namedChildren.find((n) => n?.type === "script_parameter_default");
    return {
      name: variable ? variableName(variable) : "?",
      mandatory: /Mandatory\s*=\s*\$true/i.test(attributes) || /Mandatory\s*[,)]/i.test(attributes),
      allowsEmpty: /AllowEmptyString|AllowNull/i.test(attributes),
      defaultValue: def?.text,
    };
  });
}

/** Literal text of a string node without quotes and without its `$var` / `$(...)` parts. */
function literalText(stringNode: Node): string {
  const raw = stringNode.text.replace(/^@?["']|["']@?$/g, "");
  return stringNode.type === "verbatim_string_characters" || raw === stringNode.text
    ? raw
    : raw.replace(/\$\([^)]*\)|\$\{[^}]*\}|\$[\w:]+/g, "");
}

/** Calls whose result is never an empty string when they succeed. */
const NEVER_EMPTY_CALLS = [/^Join-Path\b/i, /^\[Convert\]::ToBase64String\(/i];

export interface NativeCall {
  program: string;
  line: number;
  /** Each argument's text, with a reason when it can be empty. */
  args: { text: string; mayBeEmpty?: string }[];
  /** Parameter tokens (-Name) in order. */
  parameters: string[];
}

const NATIVE = /^(pwsh|powershell|msiexec|cmd|[\w.-]+\.exe)$/i;

/**
 * The native program a command starts, or undefined: by name (pwsh, powershell, msiexec, cmd,
 * *.exe), through `&` with a variable assigned an .exe path, or through Start-Process.
 */
export function nativeProgram(command: Node, assigned: Map<string, Node[]>): string | undefined {
  const nameNode = command.childForFieldName("command_name");
  if (!nameNode) return undefined;
  if (nameNode.type === "command_name_expr") {
    const v = find(nameNode, "variable")[0];
    const target = v ? (assigned.get(variableName(v)) ?? []).map((x) => x.text) : [];
    return target.some((t) => /\.exe["']?$/i.test(t)) ? `${v?.text} (${target.join(", ")})` : undefined;
  }
  if (NATIVE.test(nameNode.text)) return nameNode.text;
  if (/^Start-Process$/i.test(nameNode.text)) {
    const items = (command.childForFieldName("command_elements")?.namedChildren ?? [])
      .filter((e): e is Node => !!e && e.type !== "command_argument_sep" && e.type !== "redirection");
    const filePathAt = items.findIndex((e) => /^-FilePath$/i.test(e.text));
    const exe = filePathAt >= 0 ? items[filePathAt + 1] : items.find((e) => e.type !== "command_parameter");
    return exe ? `Start-Process ${exe.text}` : undefined;
  }
  return undefined;
}

/**
 * Every call of a native program: by name (pwsh, powershell, msiexec, cmd, *.exe), through `&` with
 * a variable assigned an .exe path, or through Start-Process. Windows PowerShell 5.1 drops an
 * empty-string argument to such a program, so each argument is classified: a literal, a mandatory
 * parameter (PowerShell refuses an empty one), or a variable assigned only values that cannot be
 * empty; anything else may be empty.
 */
export function nativeCalls(tree: Tree): NativeCall[] {
  const assigned = assignments(tree);
  const params = new Map(scriptParameters(tree).map((p) => [p.name, p]));

  const emptyReason = (arg: Node, seen = new Set<string>()): string | undefined => {
    const n = core(arg);
    switch (n.type) {
      case "generic_token":
        return undefined;
      case "string_literal": {
        const s = n.namedChildren[0] ?? n;
        if (literalText(s).trim() !== "") return undefined;
        const vars = find(n, "variable");
        if (vars.length === 0) return `${n.text} is an empty string`;
        const reasons = vars.map((v) => emptyReason(v, seen)).filter(Boolean);
        return reasons.length === vars.length ? `${n.text} holds nothing but ${vars.map((v) => v.text).join(", ")}, which may be empty` : undefined;
      }
      case "variable": {
        const name = variableName(n);
        if (seen.has(name)) return undefined;
        seen.add(name);
        const param = params.get(name);
        if (param) {
          return param.mandatory && !param.allowsEmpty ? undefined
            : `$${name} is an optional script parameter${param.defaultValue ? ` (default ${param.defaultValue})` : ""}`;
        }
        const values = assigned.get(name) ?? [];
        if (values.length === 0) return `$${name} is never assigned in this script`;
        for (const value of values) {
          if (value.type === "string_literal" && emptyReason(value, seen) === undefined) continue;
          if (NEVER_EMPTY_CALLS.some((re) => re.test(value.text))) continue;
          return `$${name} is assigned '${value.text.slice(0, 60)}', which may be empty`;
        }
        return undefined;
      }
      default:
        return `cannot tell whether '${n.text.slice(0, 60)}' is empty`;
    }
  };

  const calls: NativeCall[] = [];
  for (const command of find(tree.rootNode, "command")) {
    const nameNode = command.childForFieldName("command_name");
    const elements = command.childForFieldName("command_elements");
    if (!nameNode) continue;
    const items = (elements?.namedChildren ?? []).filter((e): e is Node => !!e && e.type !== "command_argument_sep" && e.type !== "redirection");
    const program = nativeProgram(command, assigned);
    if (!program) continue;
    let args = items;
    if (/^Start-Process$/i.test(nameNode.text)) {
      const listAt = items.findIndex((e) => /^-ArgumentList$/i.test(e.text));
      args = listAt >= 0 && items[listAt + 1] ? [items[listAt + 1]] : [];
    }
    calls.push({
      program,
      line: command.startPosition.row + 1,
      parameters: args.filter((e) => e.type === "command_parameter").map((e) => e.text),
      args: args.filter((e) => e.type !== "command_parameter").map((e) => ({ text: e.text, mayBeEmpty: emptyReason(e) })),
    });
  }
  return calls;
}

/** Entries of a hashtable literal assigned to `$name`, keys and values as their literal text. */
export function hashtableLiteral(tree: Tree, name: string): Record<string, string> {
  const values = assignments(tree).get(name.toLowerCase()) ?? [];
  const table = values.map((v) => find(v, "hash_literal_expression")[0]).find(Boolean);
  if (!table) throw new Error(`no hashtable literal is assigned to $${name}`);
  const strip = (t: string) => t.trim().replace(/^["']|["']$/g, "");
  return Object.fromEntries(find(table, "hash_entry").map((e) => {
    const key = e.namedChildren.find((c) => c?.type === "key_expression");
    const value = e.namedChildren.find((c) => c?.type !== "key_expression");
    return [strip(key?.text ?? ""), strip(value?.text ?? "")];
  }));
}

/** Conditions of the `if` statements enclosing a node, innermost first. */
export function enclosingConditions(node: Node): string[] {
  const conditions: string[] = [];
  for (let n = node.parent; n; n = n.parent) {
    if (n.type === "if_statement" || n.type === "elseif_clause") {
      const condition = n.childForFieldName("condition");
      if (condition && !(condition.startIndex <= node.startIndex && node.endIndex <= condition.endIndex)) conditions.push(condition.text);
    }
  }
  return conditions;
}

/** Every command named `name` (case-insensitive). */
export function commandsNamed(tree: Tree, name: string): Node[] {
  return find(tree.rootNode, "command").filter((c) => c.childForFieldName("command_name")?.text.toLowerCase() === name.toLowerCase());
}

/** Member names read from `$variable.<Name>`. */
export function membersRead(tree: Tree, variable: string): string[] {
  return [...new Set(find(tree.rootNode, "member_access")
    .filter((m) => m.namedChildren[0]?.type === "variable" && variableName(m.namedChildren[0]) === variable.toLowerCase())
    .map((m) => m.namedChildren[1]?.text ?? ""))].sort();
}
