/**
 * Parsing and validation of mapping CSVs. Pure apart from reading the files; runs in the program
 * before any call, so `pulumi preview` fails early with every problem of every file, each with file
 * and line.
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
 *
 * Bounded: a file is read in 1 MB chunks and parsed in one pass, each record turned into its entry
 * of the resource's row map as it is read (no list of records, no second parse); a file above the
 * size limit is refused before it is read; symbolic links are refused without being followed (their
 * target's content never reaches a message); at most MAX_PROBLEMS problems are kept, the rest counted
 * per file; values quoted in messages are cut at 80 characters.
 *
 * Why not csv-parse (used before): on this project's 2-core machine it took 7.4 s to parse a
 * 200,000-row file (4.3 MB) with a callback per record, and has no synchronous chunked API; the
 * subset of RFC 4180 a mapping file needs (commas, double quotes with "" escapes, CRLF or LF,
 * fields trimmed) is the parser below.
 */
import * as fs from "fs";
import * as path from "path";
import { isUtf8 } from "buffer";
import { DEFAULT_MAPPING_GROUP, KINDS, MAPPING_KINDS, MappingKind, isMappingKind } from "./kinds";
import { RowMap, rowCodec } from "./rows";

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
  /** The rows as the resource takes them: key (rows.ts encodeKey) → target business key. */
  rows: RowMap;
  /**
   * Line of each row with a value longer than LONG_VALUE characters, by key: the provider names it
   * when the mapping table's column turns out shorter (MaxLength is only known from the service).
   */
  longRowLines: Record<string, number>;
}

/** What bounds reading a mapping file. */
export interface MappingFileLimits {
  /** Largest file accepted, in bytes. Default DEFAULT_MAX_FILE_BYTES. */
  maxFileBytes?: number;
}

/** 25 MB: about 500,000 rows of typical width (docs/dataverse.md, "Limits"). Config: dataverseMappingFileMaxMB. */
export const DEFAULT_MAX_FILE_BYTES = 25 * 1024 * 1024;
/** Problems kept (and shown) per validation; the rest are counted per file. */
export const MAX_PROBLEMS = 100;
/**
 * Rows with a part longer than this carry their line into the resource (longRowLines). Dataverse's
 * default maximum length of a new text column is 100 characters; a mapping table column shorter
 * than that is reported by key and file, without the line.
 */
export const LONG_VALUE = 100;
/** Bytes read at a time. */
const CHUNK = 1 << 20;

/** Problems, capped at MAX_PROBLEMS; the ones beyond are counted per file. */
export interface ProblemList {
  readonly list: Problem[];
  readonly omitted: Record<string, number>;
  add(file: string, line: number, message: string): void;
  readonly count: number;
}

export function problemList(cap = MAX_PROBLEMS): ProblemList {
  const list: Problem[] = [];
  const omitted: Record<string, number> = {};
  let count = 0;
  return {
    list,
    omitted,
    add(file, line, message) {
      count++;
      if (list.length < cap) list.push({ file, line, message });
      else omitted[file] = (omitted[file] ?? 0) + 1;
    },
    get count() {
      return count;
    },
  };
}

export class MappingValidationError extends Error {
  constructor(
    public readonly problems: Problem[],
    /** Problems not listed, per file (the list is capped at MAX_PROBLEMS). */
    public readonly omitted: Record<string, number> = {},
  ) {
    const more = Object.entries(omitted).map(([file, n]) => `  ${file}: ... and ${n.toLocaleString("en-US")} more problem(s)`);
    const total = problems.length + Object.values(omitted).reduce((a, b) => a + b, 0);
    super(`${total.toLocaleString("en-US")} problem(s) in mapping files:\n` + [...problems.map((p) => `  ${p.file}${p.line ? `:${p.line}` : ""}: ${p.message}`), ...more].join("\n"));
    this.name = "MappingValidationError";
  }
}

const FIELD = "externalFieldName";
const VALUE = "externalFieldValue";
const GROUP = "mappingGroup";
const ACCOUNT = "account";

/** A value as messages quote it: JSON, cut at 80 characters (a message must stay readable and bounded). */
export function quoted(s: string): string {
  return s.length <= 80 ? JSON.stringify(s) : `${JSON.stringify(s.slice(0, 80))}... (${s.length.toLocaleString("en-US")} characters)`;
}

// Zero-width and direction-control characters: invisible, so two keys that look equal differ (or a
// key is displayed reordered, "Trojan Source", CVE-2021-42574). Unicode: U+00AD soft hyphen,
// U+180E, U+200B-U+200F, U+202A-U+202E, U+2060-U+2064, U+2066-U+2069, U+FEFF.
const INVISIBLE = /[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const PLAIN_ASCII = /^[\x20-\x7e]*$/;

/**
 * What is wrong with one text value of a row (control, invisible characters, not NFC), or
 * undefined. Printable ASCII (nearly every value) is checked with one regular expression.
 */
export function textProblem(name: string, v: string): string | undefined {
  return textChecker()(name, v);
}

/**
 * textProblem as a closure made when called, for a loop over many rows: in the serialized
 * provider a module function's closure is rebuilt on every call (rows.ts rowCodec says why), and
 * check calls this three times per row.
 */
export function textChecker(): (name: string, v: string) => string | undefined {
  const [plainAscii, control, invisible] = [PLAIN_ASCII, CONTROL, INVISIBLE];
  const quote = quoted;
  return (name, v) => {
    if (plainAscii.test(v)) return undefined;
    if (control.test(v)) return `control character in ${name} ${quote(v)}`;
    const inv = invisible.exec(v);
    if (inv) {
      const code = inv[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
      return `${name} ${quote(v)} contains the invisible character U+${code} at position ${inv.index + 1}: it makes the key differ from one that looks the same; remove it`;
    }
    if (v.normalize("NFC") !== v) return `${name} ${quote(v)} is not in Unicode NFC form (a letter and a combining accent where NFC has one character): Dataverse compares it as a different key from the same text typed as usual; save the file NFC-normalized`;
    return undefined;
  };
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

/** The rows checked so far: the row map being built, and what detects duplicates. */
export interface RowChecker {
  add(e: RowEntry): void;
  readonly rows: RowMap;
  readonly longRowLines: Record<string, number>;
}

/**
 * The per-row rules shared by CSV files and rows given in code, one row at a time: each good row
 * goes straight into the row map (no row objects kept).
 */
export function rowChecker(file: string, defaultGroup: string, keyName: string, problems: ProblemList): RowChecker {
  const rows: RowMap = {};
  const longRowLines: Record<string, number> = {};
  const { encodeKey, matchKey } = rowCodec();
  // Identity (rows.ts matchKey) → row number; the key and line of row i are keys[i] and lines[i].
  const seen = new Map<string, number>();
  const keys: string[] = [];
  const lines: number[] = [];
  const add = (e: RowEntry): void => {
    const { line, field, value, target } = e;
    const group = e.group || defaultGroup;
    const account = e.account ?? "";
    const before = problems.count;
    for (const [name, v] of [[FIELD, field], [VALUE, value], [keyName, target]] as const) {
      if (v === "") problems.add(file, line, `empty ${name}`);
    }
    if (field.includes("=")) problems.add(file, line, `${FIELD} must not contain "=" (${quoted(field)})`);
    if (field.startsWith("[") || field.startsWith("{")) problems.add(file, line, `${FIELD} must not start with "${field[0]}"`);
    if (account.includes("}")) problems.add(file, line, `${ACCOUNT} must not contain "}"`);
    if (group.includes("]")) problems.add(file, line, `${GROUP} must not contain "]"`);
    for (const [name, v] of [[FIELD, field], [VALUE, value], [keyName, target], [GROUP, group], [ACCOUNT, account]] as const) {
      const p = textProblem(name, v);
      if (p) {
        problems.add(file, line, p);
        break;
      }
    }
    if (problems.count > before) return;
    // Identity ignores case, as Dataverse compares text (rows.ts matchKey).
    const id = matchKey(group, field, value, account);
    const prev = seen.get(id);
    if (prev !== undefined) {
      const where = `in "${group}"${account ? ` for account "${account}"` : ""}`;
      const prevTarget = rows[keys[prev]];
      if (prevTarget.toLowerCase() === target.toLowerCase()) problems.add(file, line, `duplicate mapping ${field}=${quoted(value).slice(1, -1)} ${where} (first on line ${lines[prev]})`);
      else problems.add(file, line, `${field}=${quoted(value).slice(1, -1)} ${where} is mapped to two targets: "${prevTarget}" (line ${lines[prev]}) and "${target}"`);
      return;
    }
    const key = encodeKey(group, field, value, defaultGroup, account);
    seen.set(id, keys.length);
    keys.push(key);
    lines.push(line);
    rows[key] = target;
    if (field.length > LONG_VALUE || value.length > LONG_VALUE) longRowLines[key] = line;
  };
  return { add, rows, longRowLines };
}

// ---- CSV, in chunks -----------------------------------------------------------------------------

/** A CSV syntax error: message and the line it is on. */
interface CsvSyntaxError {
  line: number;
  message: string;
}

/**
 * A CSV reader fed text in chunks: calls onRecord with the trimmed fields and the line a record
 * starts on; empty (or blank) lines are skipped. Only an unfinished record is carried over to the
 * next chunk. Returns a syntax error, which ends the file, or undefined.
 */
function csvReader(onRecord: (fields: string[], line: number) => void): { push(text: string, final: boolean): CsvSyntaxError | undefined } {
  let carry = "";
  let line = 1;
  const countLines = (s: string, from: number, to: number): number => {
    let n = 0;
    for (let i = s.indexOf("\n", from); i >= 0 && i < to; i = s.indexOf("\n", i + 1)) n++;
    return n;
  };
  /** A record with quotes, from `pos`; its end, or "more" when the text ends inside it. */
  const quotedRecord = (s: string, pos: number, final: boolean): { end: number; fields: string[]; lines: number } | "more" | CsvSyntaxError => {
    const fields: string[] = [];
    let p = pos;
    let lines = 0;
    for (;;) {
      while (s[p] === " " || s[p] === "\t") p++;
      if (s[p] === '"') {
        const opened = line + lines;
        let value = "";
        p++;
        for (;;) {
          const q = s.indexOf('"', p);
          if (q < 0 || q + 1 >= s.length) {
            if (!final) return "more";
            if (q < 0) return { line: opened, message: `Quote Not Closed: the file ends inside a quoted field that opens on line ${opened}` };
          }
          lines += countLines(s, p, q);
          value += s.slice(p, q);
          if (s[q + 1] === '"') {
            value += '"';
            p = q + 2;
            continue;
          }
          p = q + 1;
          break;
        }
        while (s[p] === " " || s[p] === "\t") p++;
        if (p >= s.length) {
          if (!final) return "more";
          fields.push(value);
          return { end: p, fields, lines };
        }
        if (s[p] === ",") {
          fields.push(value);
          p++;
          continue;
        }
        if (s[p] === "\n" || (s[p] === "\r" && s[p + 1] === "\n")) {
          fields.push(value);
          return { end: s[p] === "\r" ? p + 2 : p + 1, fields, lines: lines + 1 };
        }
        if (s[p] === "\r" && p + 1 >= s.length && !final) return "more";
        return { line: line + lines, message: `Invalid Closing Quote: ${quoted(s[p])} follows a closing quote instead of a comma or the end of the line` };
      }
      let comma = s.indexOf(",", p);
      let nl = s.indexOf("\n", p);
      if (nl < 0) {
        if (!final) return "more";
        nl = s.length;
      }
      if (comma < 0) comma = Infinity;
      const end = Math.min(comma, nl);
      const field = s.slice(p, end).trim();
      if (field.includes('"')) return { line: line + lines, message: `Invalid Opening Quote: a quote inside the unquoted field ${quoted(field)} (quote the whole field and double the quotes in it)` };
      fields.push(field);
      if (end === comma) {
        p = comma + 1;
        continue;
      }
      return { end: nl + 1, fields, lines: lines + 1 };
    }
  };
  return {
    push(text, final) {
      const s = carry ? carry + text : text;
      carry = "";
      let pos = 0;
      while (pos < s.length) {
        let nl = s.indexOf("\n", pos);
        if (nl < 0 && !final) break;
        if (nl < 0) nl = s.length;
        const raw = s.slice(pos, nl > pos && s.charCodeAt(nl - 1) === 13 ? nl - 1 : nl);
        if (!raw.includes('"')) {
          if (raw.trim() !== "") {
            const fields = raw.split(",");
            for (let i = 0; i < fields.length; i++) fields[i] = fields[i].trim();
            onRecord(fields, line);
          }
          line++;
          pos = nl + 1;
          continue;
        }
        const r = quotedRecord(s, pos, final);
        if (r === "more") break;
        if ("message" in r) return r;
        onRecord(r.fields, line);
        line += r.lines;
        pos = r.end;
      }
      if (pos < s.length) carry = s.slice(pos);
      return undefined;
    },
  };
}

/** Where a kind's header names its columns, or the problems with it. */
function readHeader(file: string, kind: MappingKind, header: string[], line: number, problems: ProblemList): { col: Map<string, number>; keyHeader: string } | undefined {
  const before = problems.count;
  const spec = KINDS[kind];
  const keyHeaders = Object.keys(spec.keyColumns);
  const allowed = new Set([FIELD, VALUE, GROUP, ...(spec.accountScoped ? [ACCOUNT] : []), ...keyHeaders]);
  const col = new Map<string, number>();
  header.forEach((h, i) => {
    if (h === ACCOUNT && !spec.accountScoped) {
      const scoped = MAPPING_KINDS.filter((k) => KINDS[k].accountScoped);
      problems.add(file, line, `column "${ACCOUNT}" is only for ${scoped.join(", ")} (IOM's ${kind} mapping has no Account)`);
    } else if (!allowed.has(h)) problems.add(file, line, `unexpected column ${quoted(h)} (allowed: ${[...allowed].join(", ")})`);
    if (col.has(h)) problems.add(file, line, `column ${quoted(h)} appears twice`);
    col.set(h, i);
  });
  for (const req of [FIELD, VALUE]) if (!col.has(req)) problems.add(file, line, `missing column "${req}"`);
  const presentKeys = keyHeaders.filter((k) => col.has(k));
  if (presentKeys.length === 0) problems.add(file, line, `missing key column: one of ${keyHeaders.join(", ")}`);
  else if (presentKeys.length > 1) problems.add(file, line, `use only one key column, not ${presentKeys.join(" and ")}`);
  return problems.count > before ? undefined : { col, keyHeader: presentKeys[0] };
}

/**
 * One file's validation fed chunk by chunk (bytes): UTF-8 check, CSV, header, rows. `finish()`
 * returns the parsed file, or undefined when it had problems (in `problems`).
 */
function fileValidator(file: string, kind: MappingKind, defaultGroup: string, problems: ProblemList) {
  const before = problems.count;
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let header: { col: Map<string, number>; keyHeader: string; width: number } | undefined;
  let headerBad = false;
  let checker: RowChecker | undefined;
  let stopped: "encoding" | "done" | undefined;
  let first = true;
  let firstText = true;
  let linesSoFar = 1;
  const reader = csvReader((fields, line) => {
    if (headerBad) return;
    if (!header) {
      const h = readHeader(file, kind, fields, line, problems);
      if (!h) {
        headerBad = true;
        return;
      }
      header = { ...h, width: fields.length };
      checker = rowChecker(file, defaultGroup, h.keyHeader, problems);
      return;
    }
    if (fields.length !== header.width) {
      problems.add(file, line, `expected ${header.width} columns, found ${fields.length}`);
      return;
    }
    const get = (name: string) => {
      const i = header!.col.get(name);
      return i === undefined ? "" : fields[i];
    };
    checker!.add({ line, field: get(FIELD), value: get(VALUE), target: get(header.keyHeader), group: get(GROUP), account: get(ACCOUNT) });
  });
  const text = (t: string, final: boolean) => {
    const nul = t.indexOf("\u0000");
    if (nul >= 0) {
      problems.add(file, linesSoFar + (t.slice(0, nul).match(/\n/g)?.length ?? 0), "NUL character (binary file or bad encoding)");
      stopped = "done";
      return;
    }
    linesSoFar += t.match(/\n/g)?.length ?? 0;
    const err = reader.push(t, final);
    if (err) {
      problems.add(file, err.line, `CSV syntax: ${err.message}`);
      stopped = "done";
    }
  };
  return {
    /** False once the rest of the file cannot change the outcome (bad encoding, syntax, NUL). */
    get wantsMore() {
      return stopped === undefined;
    },
    get badEncoding() {
      return stopped === "encoding";
    },
    push(bytes: Buffer): void {
      if (stopped) return;
      if (first) {
        first = false;
        if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
          problems.add(file, 1, "file is UTF-16; save it as UTF-8");
          stopped = "done";
          return;
        }
      }
      let t: string;
      try {
        t = decoder.decode(bytes, { stream: true });
      } catch {
        stopped = "encoding";
        return;
      }
      if (firstText && t.length > 0) {
        firstText = false;
        if (t.charCodeAt(0) === 0xfeff) t = t.slice(1); // a BOM
      }
      text(t, false);
    },
    finish(): ParsedMappingFile | undefined {
      if (!stopped) {
        try {
          text(decoder.decode(), true);
        } catch {
          stopped = "encoding";
        }
      }
      if (stopped === "encoding") return undefined;
      if (!header && !headerBad && problems.count === before) problems.add(file, 1, "empty file: expected a header row");
      if (problems.count > before || !header || !checker) return undefined;
      return { file, kind, targetKeyColumn: KINDS[kind].keyColumns[header.keyHeader], rows: checker.rows, longRowLines: checker.longRowLines };
    },
  };
}

/** Each line of `chunks` that is not valid UTF-8 (only called once decoding failed). */
function reportBadUtf8(file: string, chunks: Iterable<Buffer>, problems: ProblemList): void {
  let line = 1;
  let tail = Buffer.alloc(0);
  const check = (b: Buffer) => {
    if (!isUtf8(b)) problems.add(file, line, "invalid UTF-8 byte sequence (bad encoding; save the file as UTF-8)");
    line++;
  };
  for (const chunk of chunks) {
    const b = tail.length ? Buffer.concat([tail, chunk]) : chunk;
    let start = 0;
    for (let nl = b.indexOf(10); nl >= 0; nl = b.indexOf(10, start)) {
      check(b.subarray(start, nl));
      start = nl + 1;
    }
    tail = Buffer.from(b.subarray(start));
  }
  if (tail.length) check(tail);
}

function kindOf(file: string, kindOverride: string | undefined, problems: ProblemList): MappingKind | undefined {
  const kindName = kindOverride ?? path.basename(file).replace(/\.csv$/i, "");
  if (isMappingKind(kindName)) return kindName;
  problems.add(file, 0, `unknown mapping kind ${quoted(kindName)} (expected one of ${MAPPING_KINDS.join(", ")})`);
  return undefined;
}

/** Validate content already in memory (tests, rows from elsewhere) into `problems`. */
function validateContent(file: string, content: Buffer | string, defaultGroup: string, kindOverride: string | undefined, problems: ProblemList): ParsedMappingFile | undefined {
  const kind = kindOf(file, kindOverride, problems);
  if (!kind) return undefined;
  const buf = typeof content === "string" ? Buffer.from(content, "utf8") : content;
  const v = fileValidator(file, kind, defaultGroup, problems);
  for (let i = 0; i < buf.length && v.wantsMore; i += CHUNK) v.push(buf.subarray(i, i + CHUNK));
  const result = v.finish();
  if (v.badEncoding) reportBadUtf8(file, [buf], problems);
  return result;
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
  const problems = problemList();
  const result = validateContent(file, content, defaultGroup, kindOverride, problems);
  return { result, problems: problems.list };
}

/** Chunks of an open file from its start. */
function* fileChunks(fd: number): Generator<Buffer> {
  const buf = Buffer.allocUnsafe(CHUNK);
  for (let pos = 0; ; ) {
    const n = fs.readSync(fd, buf, 0, CHUNK, pos);
    if (n === 0) return;
    pos += n;
    yield buf.subarray(0, n);
  }
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/**
 * Open a mapping file for reading, or say why not: a symbolic link is refused without being
 * followed (O_NOFOLLOW, so it cannot be swapped in between the check and the open), anything but a
 * regular file too, and a file above the size limit before a byte of it is read.
 */
function openMappingFile(file: string, limits: MappingFileLimits, problems: ProblemList): number | undefined {
  const max = limits.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  let fd: number;
  try {
    if (fs.lstatSync(file).isSymbolicLink()) {
      problems.add(file, 0, "is a symbolic link: a mapping file must be a regular file in the stack's mapping folder (links are not followed)");
      return undefined;
    }
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    problems.add(file, 0, code === "ELOOP" ? "is a symbolic link: a mapping file must be a regular file (links are not followed)" : `cannot read (${code ?? (e as Error).message})`);
    return undefined;
  }
  const st = fs.fstatSync(fd);
  let problem: string | undefined;
  if (!st.isFile()) problem = "is not a regular file";
  else if (st.size > max) problem = `is ${mb(st.size)}, above the ${mb(max)} a mapping file may have (dataverseMappingFileMaxMB); raise that limit if the stack really keeps this many mappings`;
  if (problem) {
    fs.closeSync(fd);
    problems.add(file, 0, problem);
    return undefined;
  }
  return fd;
}

function loadInto(file: string, defaultGroup: string, kindOverride: string | undefined, limits: MappingFileLimits, problems: ProblemList): ParsedMappingFile | undefined {
  const kind = kindOf(file, kindOverride, problems);
  if (!kind) return undefined;
  const fd = openMappingFile(file, limits, problems);
  if (fd === undefined) return undefined;
  try {
    const v = fileValidator(file, kind, defaultGroup, problems);
    for (const chunk of fileChunks(fd)) {
      v.push(chunk);
      if (!v.wantsMore) break;
    }
    const result = v.finish();
    if (v.badEncoding) reportBadUtf8(file, fileChunks(fd), problems);
    return result;
  } finally {
    fs.closeSync(fd);
  }
}

/** Validate one file from disk; throws MappingValidationError with every problem. */
export function loadMappingFile(file: string, defaultGroup: string = DEFAULT_MAPPING_GROUP, kind?: string, limits: MappingFileLimits = {}): ParsedMappingFile {
  const problems = problemList();
  const result = loadInto(file, defaultGroup, kind, limits, problems);
  if (!result) throw new MappingValidationError(problems.list, problems.omitted);
  return result;
}

/**
 * A stack's mapping folder must be a real folder: not a symbolic link, and, given relative to the
 * project, not leading out of it through one.
 */
function folderProblem(dir: string): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch (e) {
    return `cannot read directory: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  if (st.isSymbolicLink()) return "is a symbolic link: the mapping folder must be a real folder inside the project";
  if (!st.isDirectory()) return "is not a directory";
  if (!path.isAbsolute(dir)) {
    const root = fs.realpathSync(process.cwd());
    const real = fs.realpathSync(dir);
    if (real !== root && !real.startsWith(root + path.sep)) return "leads outside the project through a symbolic link";
  }
  return undefined;
}

/**
 * Validate every `*.csv` in a stack's mapping directory at once (unknown kinds included) and
 * return the parsed files by kind. Throws one MappingValidationError listing the problems (at most
 * MAX_PROBLEMS, and how many more per file).
 */
export function loadMappingDir(dir: string, defaultGroup: string = DEFAULT_MAPPING_GROUP, limits: MappingFileLimits = {}): Partial<Record<MappingKind, ParsedMappingFile>> {
  const problems = problemList();
  const out: Partial<Record<MappingKind, ParsedMappingFile>> = {};
  const bad = folderProblem(dir);
  if (bad) throw new MappingValidationError([{ file: dir, line: 0, message: bad }]);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) continue;
    if (!/\.csv$/i.test(entry.name)) {
      problems.add(file, 0, entry.isSymbolicLink() ? "is a symbolic link (links are not followed), and not a .csv file" : "not a .csv file (expected <kind>.csv)");
      continue;
    }
    const result = loadInto(file, defaultGroup, undefined, limits, problems);
    if (result) out[result.kind] = result;
  }
  if (problems.count > 0) throw new MappingValidationError(problems.list, problems.omitted);
  return out;
}
