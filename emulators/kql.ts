/**
 * A small interpreter of the Kusto Query Language (KQL) for the Log Analytics emulator: the part of
 * the language the doctor's queries use, evaluated as the KQL reference describes each piece, so a
 * query that would not run on Azure Monitor does not run here either. Anything outside it is a
 * syntax error (the service's answer to a query it cannot parse), never silently ignored.
 *
 * Supported (KQL reference, "Tabular operators" and "Scalar functions"):
 * - a table name, then `| where <predicate>`, `| extend Name = <expr>, ...`,
 *   `| summarize <aggregation>, ... [by Column, ...]`, `| project Column, ...`;
 * - `and`, `or`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `in (...)`, `!in (...)` (`==` and `in` on
 *   strings are case-sensitive; `=~` is not supported);
 * - string literals in "..." (JSON escapes) or '...', numbers, timespans (`24h`, `30m`, `7d`);
 * - `ago(timespan)`, `now()`, `tostring(x)`, `tolower(x)`, `split(s, sep)` with `[index]`,
 *   `parse_url(s)` with `.Path`, `.Host`, `.Scheme`, `.Port`, `.Fragment`;
 * - aggregations `count()`, `countif(p)`, `min(x)`, `max(x)`, `maxif(x, p)`, named `Name = agg(...)`
 *   (an unnamed one is called `count_`, `countif_`, `max_<column>`... as KQL names them).
 */

export type Value = string | number | boolean | Date | null | Value[] | { [k: string]: Value };
export type Row = Record<string, Value>;
export interface Column {
  name: string;
  type: "string" | "long" | "real" | "datetime" | "bool" | "dynamic" | "timespan";
}
export interface Result {
  columns: Column[];
  rows: Value[][];
}

export class KqlSyntaxError extends Error {}

type Tok = { kind: "str" | "num" | "span" | "id" | "op"; text: string; value?: Value };

const SPAN_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  const re = /\s+|"((?:[^"\\]|\\.)*)"|'([^']*)'|(\d+(?:\.\d+)?)(ms|d|h|m|s)?\b|([A-Za-z_][A-Za-z0-9_]*)|(==|!=|>=|<=|!in\b|[|()[\],.=<>])/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < src.length) {
    re.lastIndex = at;
    m = re.exec(src);
    if (!m || m.index !== at) throw new KqlSyntaxError(`Query could not be parsed at '${src.slice(at, at + 10)}'`);
    at = re.lastIndex;
    if (m[1] !== undefined) toks.push({ kind: "str", text: m[0], value: JSON.parse(`"${m[1]}"`) as string });
    else if (m[2] !== undefined) toks.push({ kind: "str", text: m[0], value: m[2] });
    else if (m[3] !== undefined) toks.push(m[4] ? { kind: "span", text: m[0], value: Number(m[3]) * SPAN_MS[m[4]] } : { kind: "num", text: m[0], value: Number(m[3]) });
    else if (m[5] !== undefined) toks.push({ kind: "id", text: m[5] });
    else if (m[6] !== undefined) toks.push({ kind: "op", text: m[6] });
  }
  return toks;
}

type Expr = (row: Row) => Value;
interface AggState {
  add(row: Row): void;
  value(): Value;
  /** A value of the aggregated expression, for the column's type when no row passed a predicate. */
  sample(): Value;
}
interface Agg {
  name: string;
  /** Counts are long; min/max take their expression's type. */
  counts: boolean;
  init: () => AggState;
}

function typeOf(v: Value): Column["type"] {
  if (v instanceof Date) return "datetime";
  if (typeof v === "number") return Number.isInteger(v) ? "long" : "real";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "string") return "string";
  return "dynamic";
}

function compare(a: Value, b: Value): number {
  const x = a instanceof Date ? a.getTime() : a;
  const y = b instanceof Date ? b.getTime() : b;
  if (typeof x === "number" && typeof y === "number") return x - y;
  return String(x) < String(y) ? -1 : String(x) > String(y) ? 1 : 0;
}

function parseUrl(s: Value): Value {
  try {
    const u = new URL(String(s));
    return { Scheme: u.protocol.replace(/:$/, ""), Host: u.hostname, Port: u.port, Path: u.pathname, Fragment: u.hash.replace(/^#/, "") };
  } catch {
    return {};
  }
}

export function runKql(query: string, tables: Record<string, Row[]>, now: Date): Result {
  const toks = tokenize(query);
  let i = 0;
  const peek = (text?: string) => (text === undefined ? toks[i] : toks[i]?.text === text ? toks[i] : undefined);
  const fail = (what: string): never => {
    throw new KqlSyntaxError(`Query could not be parsed at '${toks[i]?.text ?? "<end>"}': ${what}`);
  };
  const expect = (text: string) => (toks[i]?.text === text ? toks[i++] : fail(`expected '${text}'`));
  const ident = () => (toks[i]?.kind === "id" ? toks[i++].text : fail("expected a name"));

  const args = (): Expr[] => {
    expect("(");
    const out: Expr[] = [];
    if (!peek(")")) {
      out.push(expr());
      while (peek(",")) {
        i++;
        out.push(expr());
      }
    }
    expect(")");
    return out;
  };
  const call = (name: string): Expr => {
    const a = args();
    const n = (k: number) => {
      if (a.length !== k) fail(`${name}() takes ${k} argument(s)`);
    };
    switch (name) {
      case "ago":
        n(1);
        return (r) => new Date(now.getTime() - Number(a[0](r)));
      case "now":
        n(0);
        return () => new Date(now.getTime());
      case "tostring":
        n(1);
        return (r) => {
          const v = a[0](r);
          return v === null ? "" : v instanceof Date ? v.toISOString() : typeof v === "object" ? JSON.stringify(v) : String(v);
        };
      case "tolower":
        n(1);
        return (r) => String(a[0](r) ?? "").toLowerCase();
      case "split":
        n(2);
        return (r) => String(a[0](r) ?? "").split(String(a[1](r)));
      case "parse_url":
        n(1);
        return (r) => parseUrl(a[0](r));
      default:
        return fail(`unknown function '${name}'`);
    }
  };
  const primary = (): Expr => {
    const t = toks[i];
    if (!t) return fail("unexpected end");
    if (t.kind === "str" || t.kind === "num" || t.kind === "span") {
      i++;
      const v = t.value!;
      return () => v;
    }
    if (t.text === "(") {
      i++;
      const e = expr();
      expect(")");
      return e;
    }
    if (t.kind === "id") {
      i++;
      if (peek("(")) return call(t.text);
      if (t.text === "true" || t.text === "false") return () => t.text === "true";
      return (r) => (t.text in r ? r[t.text] : fail(`'${t.text}' is not a column`));
    }
    return fail("unexpected token");
  };
  const postfix = (): Expr => {
    let e = primary();
    for (;;) {
      if (peek("[")) {
        i++;
        const index = expr();
        expect("]");
        const base = e;
        e = (r) => {
          const v = base(r);
          const k = index(r);
          return Array.isArray(v) ? (v[Number(k)] ?? null) : v && typeof v === "object" && !(v instanceof Date) ? ((v as Record<string, Value>)[String(k)] ?? null) : null;
        };
      } else if (peek(".")) {
        i++;
        const key = ident();
        const base = e;
        e = (r) => {
          const v = base(r);
          return v && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date) ? ((v as Record<string, Value>)[key] ?? null) : null;
        };
      } else return e;
    }
  };
  const comparison = (): Expr => {
    const left = postfix();
    const op = toks[i]?.text;
    if (op === "in" || op === "!in") {
      i++;
      const list = args();
      return (r) => {
        const v = left(r);
        const hit = list.some((x) => compare(x(r), v) === 0 && typeof x(r) === typeof v);
        return op === "in" ? hit : !hit;
      };
    }
    if (op && ["==", "!=", "<", "<=", ">", ">="].includes(op)) {
      i++;
      const right = postfix();
      return (r) => {
        const c = compare(left(r), right(r));
        return op === "==" ? c === 0 : op === "!=" ? c !== 0 : op === "<" ? c < 0 : op === "<=" ? c <= 0 : op === ">" ? c > 0 : c >= 0;
      };
    }
    return left;
  };
  const and = (): Expr => {
    const terms = [comparison()];
    while (peek("and")) {
      i++;
      terms.push(comparison());
    }
    return terms.length === 1 ? terms[0] : (r) => terms.every((t) => t(r) === true);
  };
  function expr(): Expr {
    const terms = [and()];
    while (peek("or")) {
      i++;
      terms.push(and());
    }
    return terms.length === 1 ? terms[0] : (r) => terms.some((t) => t(r) === true);
  }

  const aggregation = (): Agg => {
    let name: string | undefined;
    if (toks[i]?.kind === "id" && toks[i + 1]?.text === "=") {
      name = ident();
      i++;
    }
    const fn = ident();
    const a = args();
    switch (fn) {
      case "count":
        if (a.length) fail("count() takes no argument");
        return { name: name ?? "count_", counts: true, init: () => { let n = 0; return { add: () => void n++, value: () => n, sample: () => n }; } };
      case "countif":
        if (a.length !== 1) fail("countif() takes one predicate");
        return { name: name ?? "countif_", counts: true, init: () => { let n = 0; return { add: (r) => void (a[0](r) === true && n++), value: () => n, sample: () => n }; } };
      case "max":
      case "min":
      case "maxif": {
        if (a.length !== (fn === "maxif" ? 2 : 1)) fail(`${fn}() takes ${fn === "maxif" ? 2 : 1} argument(s)`);
        // KQL would name it max_<column>; here a name is required, which the doctor always gives.
        if (!name) fail(`name the aggregation (Name = ${fn}(...))`);
        const sign = fn === "min" ? -1 : 1;
        return {
          name: name!,
          counts: false,
          init: () => {
            let best: Value = null;
            let sample: Value = null;
            return {
              add: (r) => {
                const v = a[0](r);
                if (sample === null) sample = v;
                if (fn === "maxif" && a[1](r) !== true) return;
                if (v !== null && (best === null || sign * compare(v, best) > 0)) best = v;
              },
              value: () => best,
              sample: () => sample,
            };
          },
        };
      }
      default:
        return fail(`unknown aggregation '${fn}'`);
    }
  };

  const source = ident();
  let rows: Row[] = (tables[source] ?? fail(`'${source}' is not a table`)).map((r) => ({ ...r }));
  let columns: Column[] | undefined;
  while (i < toks.length) {
    expect("|");
    const op = ident();
    if (op === "where") {
      const p = expr();
      rows = rows.filter((r) => p(r) === true);
    } else if (op === "extend") {
      do {
        if (peek(",")) i++;
        const name = ident();
        expect("=");
        const e = expr();
        rows = rows.map((r) => ({ ...r, [name]: e(r) }));
      } while (peek(","));
    } else if (op === "project") {
      const names = [ident()];
      while (peek(",")) {
        i++;
        names.push(ident());
      }
      rows = rows.map((r) => Object.fromEntries(names.map((n) => [n, n in r ? r[n] : fail(`'${n}' is not a column`)])));
    } else if (op === "summarize") {
      const aggs = [aggregation()];
      while (peek(",")) {
        i++;
        aggs.push(aggregation());
      }
      const keys: string[] = [];
      if (peek("by")) {
        i++;
        keys.push(ident());
        while (peek(",")) {
          i++;
          keys.push(ident());
        }
      }
      const groups = new Map<string, { key: Row; states: AggState[] }>();
      // Without `by`, summarize returns one row even over no input (count() = 0).
      if (!keys.length) groups.set(JSON.stringify({}), { key: {}, states: aggs.map((a) => a.init()) });
      for (const r of rows) {
        const key = Object.fromEntries(keys.map((k) => [k, k in r ? r[k] : fail(`'${k}' is not a column`)]));
        const id = JSON.stringify(key);
        if (!groups.has(id)) groups.set(id, { key, states: aggs.map((a) => a.init()) });
        groups.get(id)!.states.forEach((s) => s.add(r));
      }
      const list = [...groups.values()];
      rows = list.map((g) => ({ ...g.key, ...Object.fromEntries(aggs.map((a, k) => [a.name, g.states[k].value()])) }));
      columns = [
        ...keys.map((k) => ({ name: k, type: typeOf(rows.find((r) => r[k] !== null)?.[k] ?? "") })),
        ...aggs.map((a, k) => ({ name: a.name, type: a.counts ? ("long" as const) : typeOf(list.map((g) => g.states[k].sample()).find((v) => v !== null) ?? null) })),
      ];
    } else {
      fail(`unknown operator '${op}'`);
    }
  }
  const cols = columns ?? Object.keys(rows[0] ?? tables[source][0] ?? {}).map((name) => ({ name, type: typeOf(rows.find((r) => r[name] !== null)?.[name] ?? "") }));
  return { columns: cols, rows: rows.map((r) => cols.map((c) => r[c.name] ?? null)) };
}
