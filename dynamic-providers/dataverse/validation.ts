/**
 * Parsing and validation of mapping CSVs. Pure (no network); runs in the program before any call,
 * so `pulumi preview` fails early with every problem of every file, each with file and line.
 *
 * File: `<dir>/<kind>.csv`, UTF-8 (a BOM is accepted), header row then one mapping per line:
 *
 *   externalFieldName,externalFieldValue,<key column>[,mappingGroup][,account]
 *
 * where <key column> is one of the kind's key columns (kinds.ts: `accountNumber` or `accountName`,
 * `priceListName`, `unitName`, `productNumber` or `productName`, `warehouseName`, `isoCurrencyCode` or
 * `currencyName`, `unitGroupName`). `mappingGroup` is optional, per row; empty means the stack's
 * default group. `account` (products, price lists and units only, whose IOM forms have an optional
 * Account) scopes a row to one customer account, by account number or else name; empty means a
 * generic mapping. An account-specific and a generic mapping of the same external value coexist.
 */
import * as fs from "fs";
import * as path from "path";
import { parse } from "csv-parse/sync";
import { DEFAULT_MAPPING_GROUP, KINDS, MAPPING_KINDS, MappingKind, isMappingKind } from "./kinds";
import { MappingRow, matchKey } from "./rows";

export interface Problem {
  file: string;
  line: number; // 1-based; 0 = the file as a whole
  message: string;
}

export interface ParsedMappingFile {
  file: string;
  kind: MappingKind;
  /** Target table column the key column names (e.g. `productnumber`). */
  targetKeyColumn: string;
  rows: MappingRow[];
}

export class MappingValidationError extends Error {
  constructor(public readonly problems: Problem[]) {
    super(
      `${problems.length} problem(s) in mapping files:\n` +
        problems.map((p) => `  ${p.file}${p.line ? `:${p.line}` : ""}: ${p.message}`).join("\n"),
    );
    this.name = "MappingValidationError";
  }
}

const FIELD = "externalFieldName";
const VALUE = "externalFieldValue";
const GROUP = "mappingGroup";
const ACCOUNT = "account";

/** Check bytes are UTF-8; report each offending line. */
function checkEncoding(file: string, buf: Buffer, problems: Problem[]): string | undefined {
  if ((buf[0] === 0xff && buf[1] === 0xfe) || (buf[0] === 0xfe && buf[1] === 0xff)) {
    problems.push({ file, line: 1, message: "file is UTF-16; save it as UTF-8" });
    return undefined;
  }
  const decoder = new TextDecoder("utf-8", { fatal: true });
  try {
    return decoder.decode(buf);
  } catch {
    let line = 1;
    let start = 0;
    for (let i = 0; i <= buf.length; i++) {
      if (i === buf.length || buf[i] === 0x0a) {
        try {
          decoder.decode(buf.subarray(start, i));
        } catch {
          problems.push({ file, line, message: "invalid UTF-8 byte sequence (bad encoding; save the file as UTF-8)" });
        }
        line++;
        start = i + 1;
      }
    }
    return undefined;
  }
}

/**
 * Validate one file's content. `file` is only used in messages; `kind` is taken from the file name
 * unless given.
 */
export function validateMappingCsv(
  file: string,
  content: Buffer | string,
  defaultGroup: string = DEFAULT_MAPPING_GROUP,
  kindOverride?: string,
): { result?: ParsedMappingFile; problems: Problem[] } {
  const problems: Problem[] = [];
  const kindName = kindOverride ?? path.basename(file).replace(/\.csv$/i, "");
  if (!isMappingKind(kindName)) {
    problems.push({ file, line: 0, message: `unknown mapping kind "${kindName}" (expected one of ${MAPPING_KINDS.join(", ")})` });
    return { problems };
  }
  const kind: MappingKind = kindName;
  const buf = typeof content === "string" ? Buffer.from(content, "utf8") : content;
  const text = checkEncoding(file, buf, problems);
  if (text === undefined) return { problems };
  if (text.includes("\u0000")) {
    const line = text.slice(0, text.indexOf("\u0000")).split("\n").length;
    problems.push({ file, line, message: "NUL character (binary file or bad encoding)" });
    return { problems };
  }
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      trim: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (e) {
    const err = e as { message: string; lines?: number };
    problems.push({ file, line: err.lines ?? 0, message: `CSV syntax: ${err.message}` });
    return { problems };
  }
  if (records.length === 0) {
    problems.push({ file, line: 1, message: "empty file: expected a header row" });
    return { problems };
  }
  const header = records[0].record;
  const headerLine = records[0].info.lines;
  const spec = KINDS[kind];
  const keyHeaders = Object.keys(spec.keyColumns);
  const allowed = new Set([FIELD, VALUE, GROUP, ...(spec.accountScoped ? [ACCOUNT] : []), ...keyHeaders]);
  const seenHeader = new Map<string, number>();
  header.forEach((h, i) => {
    if (h === ACCOUNT && !spec.accountScoped) {
      const scoped = MAPPING_KINDS.filter((k) => KINDS[k].accountScoped);
      problems.push({ file, line: headerLine, message: `column "${ACCOUNT}" is only for ${scoped.join(", ")} (IOM's ${kind} mapping has no Account)` });
    } else if (!allowed.has(h)) problems.push({ file, line: headerLine, message: `unexpected column "${h}" (allowed: ${[...allowed].join(", ")})` });
    if (seenHeader.has(h)) problems.push({ file, line: headerLine, message: `column "${h}" appears twice` });
    seenHeader.set(h, i);
  });
  for (const req of [FIELD, VALUE]) {
    if (!seenHeader.has(req)) problems.push({ file, line: headerLine, message: `missing column "${req}"` });
  }
  const presentKeys = keyHeaders.filter((k) => seenHeader.has(k));
  if (presentKeys.length === 0) {
    problems.push({ file, line: headerLine, message: `missing key column: one of ${keyHeaders.join(", ")}` });
  } else if (presentKeys.length > 1) {
    problems.push({ file, line: headerLine, message: `use only one key column, not ${presentKeys.join(" and ")}` });
  }
  if (problems.length > 0) return { problems };

  const keyHeader = presentKeys[0];
  const col = (name: string) => seenHeader.get(name);
  const entries: RowEntry[] = [];
  for (const { record, info } of records.slice(1)) {
    const line = info.lines;
    if (record.length !== header.length) {
      problems.push({ file, line, message: `expected ${header.length} columns, found ${record.length}` });
      continue;
    }
    const get = (name: string) => {
      const i = col(name);
      return i === undefined ? "" : record[i];
    };
    entries.push({ line, field: get(FIELD), value: get(VALUE), target: get(keyHeader), group: get(GROUP), account: get(ACCOUNT) });
  }
  const rows = checkRows(file, entries, defaultGroup, keyHeader, problems);
  if (problems.length > 0) return { problems };
  return { result: { file, kind, targetKeyColumn: spec.keyColumns[keyHeader], rows }, problems };
}

export interface RowEntry {
  line: number;
  field: string;
  value: string;
  target: string;
  /** Empty: the default group. */
  group: string;
  /** Empty or absent: a generic (not account-specific) mapping. */
  account?: string;
}

/** The per-row rules shared by CSV files and rows given in code. */
export function checkRows(file: string, entries: RowEntry[], defaultGroup: string, keyName: string, problems: Problem[]): MappingRow[] {
  const seen = new Map<string, { line: number; target: string }>();
  const rows: MappingRow[] = [];
  for (const e of entries) {
    const { line, field, value, target } = e;
    const group = e.group || defaultGroup;
    const account = e.account ?? "";
    let bad = false;
    for (const [name, v] of [[FIELD, field], [VALUE, value], [keyName, target]] as const) {
      if (v === "") {
        problems.push({ file, line, message: `empty ${name}` });
        bad = true;
      }
    }
    if (field.includes("=")) {
      problems.push({ file, line, message: `${FIELD} must not contain "=" (${JSON.stringify(field)})` });
      bad = true;
    }
    if (field.startsWith("[") || field.startsWith("{")) {
      problems.push({ file, line, message: `${FIELD} must not start with "${field[0]}"` });
      bad = true;
    }
    if (account.includes("}")) {
      problems.push({ file, line, message: `${ACCOUNT} must not contain "}"` });
      bad = true;
    }
    if (group.includes("]")) {
      problems.push({ file, line, message: `${GROUP} must not contain "]"` });
      bad = true;
    }
    for (const v of [field, value, target, group, account]) {
      // eslint-disable-next-line no-control-regex
      if (/[\u0000-\u001f\u007f]/.test(v)) {
        problems.push({ file, line, message: `control character in ${JSON.stringify(v)}` });
        bad = true;
        break;
      }
    }
    if (bad) continue;
    // Identity ignores case, as Dataverse compares text (rows.ts matchKey).
    const key = matchKey(group, field, value, account);
    const prev = seen.get(key);
    const where = `in "${group}"${account ? ` for account "${account}"` : ""}`;
    if (prev) {
      if (prev.target.toLowerCase() === target.toLowerCase()) {
        problems.push({ file, line, message: `duplicate mapping ${field}=${value} ${where} (first on line ${prev.line})` });
      } else {
        problems.push({
          file,
          line,
          message: `${field}=${value} ${where} is mapped to two targets: "${prev.target}" (line ${prev.line}) and "${target}"`,
        });
      }
      continue;
    }
    seen.set(key, { line, target });
    const row: MappingRow = { group, field, value, target };
    if (account) row.account = account;
    rows.push(row);
  }
  return rows;
}

/** Validate one file from disk; throws MappingValidationError with every problem. */
export function loadMappingFile(file: string, defaultGroup: string = DEFAULT_MAPPING_GROUP, kind?: string): ParsedMappingFile {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new MappingValidationError([{ file, line: 0, message: `cannot read: ${(e as Error).message}` }]);
  }
  const { result, problems } = validateMappingCsv(file, buf, defaultGroup, kind);
  if (!result) throw new MappingValidationError(problems);
  return result;
}

/**
 * Validate every `*.csv` in a stack's mapping directory at once (unknown kinds included) and
 * return the parsed files by kind. Throws one MappingValidationError listing all problems.
 */
export function loadMappingDir(dir: string, defaultGroup: string = DEFAULT_MAPPING_GROUP): Partial<Record<MappingKind, ParsedMappingFile>> {
  const problems: Problem[] = [];
  const out: Partial<Record<MappingKind, ParsedMappingFile>> = {};
  let entries: string[];
  try {
    entries = fs.readdirSync(dir).sort();
  } catch (e) {
    throw new MappingValidationError([{ file: dir, line: 0, message: `cannot read directory: ${(e as Error).message}` }]);
  }
  for (const name of entries) {
    const file = path.join(dir, name);
    if (!fs.statSync(file).isFile()) continue;
    if (!/\.csv$/i.test(name)) {
      problems.push({ file, line: 0, message: "not a .csv file (expected <kind>.csv)" });
      continue;
    }
    const { result, problems: p } = validateMappingCsv(file, fs.readFileSync(file), defaultGroup);
    problems.push(...p);
    if (result) out[result.kind] = result;
  }
  if (problems.length > 0) throw new MappingValidationError(problems);
  return out;
}
