/**
 * Loads a reviewed Azure Monitor workbook definition (components/workbooks/*.workbook.json) and fills
 * in what only the stack knows: the values of its declared parameters and the resource its queries
 * run against. The definition itself is never built as a string in code.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";

export const WORKBOOK_DIR = path.join(__dirname, "workbooks");

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

export interface WorkbookDefinition {
  version: string;
  items: Obj[];
  fallbackResourceIds?: string[];
  [key: string]: unknown;
}

/** Every parameter a workbook declares (items of type 9, KqlParameterItem), by name. */
export function workbookParameters(definition: WorkbookDefinition): Map<string, Obj> {
  const found = new Map<string, Obj>();
  for (const item of definition.items) {
    if (item.type !== 9 || !isObj(item.content) || !Array.isArray(item.content.parameters)) continue;
    for (const parameter of item.content.parameters) {
      if (isObj(parameter) && typeof parameter.name === "string") found.set(parameter.name, parameter);
    }
  }
  return found;
}

/** `{Name}` placeholders the workbook's queries use (workbook parameter syntax). */
export function queryPlaceholders(definition: WorkbookDefinition): Set<string> {
  const names = new Set<string>();
  for (const item of definition.items) {
    if (item.type !== 3 || !isObj(item.content) || typeof item.content.query !== "string") continue;
    for (const match of item.content.query.matchAll(/\{([A-Za-z][A-Za-z0-9_]*)(:[a-z]+)?\}/g)) names.add(match[1]);
  }
  return names;
}

/** Parses and checks a definition; every problem is reported at once with the file's name. */
export function readWorkbook(file: string): WorkbookDefinition {
  const where = path.relative(path.join(__dirname, ".."), file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`${where}: not a readable JSON workbook definition: ${(err as Error).message}`);
  }
  const problems: string[] = [];
  if (!isObj(parsed)) throw new Error(`${where}: a workbook definition is a JSON object`);
  if (parsed.version !== "Notebook/1.0") problems.push(`version must be "Notebook/1.0" (is ${JSON.stringify(parsed.version)})`);
  if (!Array.isArray(parsed.items) || parsed.items.length === 0) problems.push("items must be a non-empty list");
  else {
    parsed.items.forEach((item: unknown, index: number) => {
      if (!isObj(item) || typeof item.type !== "number" || !isObj(item.content)) problems.push(`items[${index}] needs a numeric type and a content object`);
      else if (item.type === 3 && (typeof item.content.query !== "string" || item.content.query.trim() === "")) problems.push(`items[${index}] is a query without a query`);
    });
  }
  if (problems.length === 0) {
    const definition = parsed as WorkbookDefinition;
    const declared = workbookParameters(definition);
    for (const used of queryPlaceholders(definition)) {
      if (!declared.has(used)) problems.push(`a query uses {${used}} but no parameter of that name is declared`);
    }
  }
  if (problems.length > 0) throw new Error(`${where}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  return parsed as WorkbookDefinition;
}

/**
 * A stack's workbook: `values` become the declared parameters' values (each must be declared). Call
 * it before declaring resources, so a broken definition stops the run first.
 */
export function prepareWorkbook(file: string, values: Record<string, string>): WorkbookDefinition {
  const definition = readWorkbook(file);
  const declared = workbookParameters(definition);
  const unknown = Object.keys(values).filter((name) => !declared.has(name));
  if (unknown.length > 0) {
    throw new Error(`${path.relative(path.join(__dirname, ".."), file)}: declares no parameter ${unknown.map((n) => `'${n}'`).join(", ")}`);
  }
  for (const [name, value] of Object.entries(values)) {
    (declared.get(name) as Obj).value = value;
  }
  return definition;
}

/** The serialized form the Workbook resource takes, its queries running against `resourceId` (the workspace). */
export function serializeWorkbook(definition: WorkbookDefinition, resourceId: string): string {
  return JSON.stringify({ ...definition, fallbackResourceIds: [resourceId] });
}

/** A workbook's name must be a GUID; derived from a stable key so it never changes between runs. */
export function stableGuid(key: string): string {
  const hex = createHash("sha256").update(key).digest("hex");
  // RFC 4122 layout with version 5 and the variant bits set, like a name-based UUID.
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
