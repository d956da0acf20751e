/**
 * `npm run function-length [-- --max 150] [--all] [--check] [paths...]`
 *
 * Lists the functions longer than `--max` lines (default 150), longest first, measured with the
 * TypeScript compiler's parser: every function declaration, function expression, arrow function,
 * method, accessor and constructor, from its first line to its last, closures included (a factory
 * that returns 400 lines of nested functions counts 400). Scans the product code (every .ts file
 * outside node_modules, tests/, bench/ and emulators/) unless `--all` or paths are given. `--check` exits 1 when
 * any function is over the limit, for CI.
 */
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";
import { ROOT } from "../stack-config";

export interface LongFunction {
  file: string;
  line: number;
  name: string;
  lines: number;
}

const SKIPPED_DIRS = ["node_modules", "bin", ".git"];
const NON_PRODUCT_DIRS = ["tests", "bench", "emulators"];

/** The .ts files under `dir` (relative to ROOT), skipping build output and, unless `all`, tests and benchmarks. */
export function typeScriptFiles(dir: string, all: boolean): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (SKIPPED_DIRS.includes(entry.name) || entry.name.startsWith(".") || (!all && dir === "." && NON_PRODUCT_DIRS.includes(entry.name))) continue;
      out.push(...typeScriptFiles(rel, all));
    } else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) {
      out.push(path.normalize(rel));
    }
  }
  return out.sort();
}

/** A readable name: the declaration's own, else what it is assigned to (`const f = () => ...`, `{ f: () => ... }`). */
function nameOf(node: ts.FunctionLikeDeclaration, source: ts.SourceFile): string {
  if (ts.isConstructorDeclaration(node)) return "constructor";
  if (node.name) return node.name.getText(source);
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) return parent.name.getText(source);
  if (ts.isCallExpression(parent)) return `(argument of ${parent.expression.getText(source).slice(0, 40)})`;
  return "(anonymous)";
}

/** Every function-like node of `file` longer than `max` lines. */
export function longFunctions(file: string, max: number): LongFunction[] {
  const text = fs.readFileSync(path.join(ROOT, file), "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: LongFunction[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const fn = node as ts.FunctionLikeDeclaration;
      const first = source.getLineAndCharacterOfPosition(fn.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(fn.getEnd()).line;
      const lines = last - first + 1;
      if (lines > max) found.push({ file, line: first + 1, name: nameOf(fn, source), lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function main(argv: string[]): number {
  const maxAt = argv.indexOf("--max");
  const max = maxAt >= 0 ? Number(argv[maxAt + 1]) : 150;
  if (!Number.isInteger(max) || max < 1) {
    process.stderr.write("--max takes a whole number of lines\n");
    return 2;
  }
  const all = argv.includes("--all");
  const paths = argv.filter((a, i) => !a.startsWith("--") && !(maxAt >= 0 && i === maxAt + 1));
  const files = paths.length ? paths.flatMap((p) => (fs.statSync(path.join(ROOT, p)).isDirectory() ? typeScriptFiles(p, true) : [path.normalize(p)])) : typeScriptFiles(".", all);
  const long = files.flatMap((f) => longFunctions(f, max)).sort((a, b) => b.lines - a.lines);
  for (const f of long) process.stdout.write(`${String(f.lines).padStart(5)}  ${f.file}:${f.line}  ${f.name}\n`);
  process.stdout.write(`${long.length} function(s) over ${max} lines in ${files.length} file(s)\n`);
  return argv.includes("--check") && long.length > 0 ? 1 : 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
