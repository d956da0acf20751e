/**
 * Discovery of IOM's mapping tables from the environment's metadata.
 *
 * IOM's mapping tables and columns are not published, so nothing here names them. For a kind, the
 * mapping table is the table whose display name mentions "mapping" and the kind ("IOM Product
 * Mapping") and which has two text columns displayed "External Field Name" / "External Field Value"
 * and a lookup to the kind's standard target table (`product`, ...). Columns that IOM versions differ
 * on are used when present and skipped when not: a lookup displayed "Mapping Group" (absent from the
 * 2021 forms), a lookup to the provider table (displayed "Provider" or pointing at the documented
 * `msdyn_iomprovider`), and for the kinds whose form has one, an optional Account lookup. Lookup
 * columns are found through `ManyToOneRelationships`, which also gives the navigation property
 * `@odata.bind` needs; a polymorphic lookup (AttributeType `Customer`: account or contact) has one
 * relationship per referenced table, and the one for the kind's target table is used.
 *
 * Labels: the English label (`LocalizedLabels`, LanguageCode 1033), else any localized label, else
 * the logical and schema names. Never `UserLocalizedLabel`: it comes in the caller's language, which
 * for an application user is the org's base language. Exact and whole-word matches rank above
 * substrings, so a look-alike column ("External Field Value (Normalized)") does not make a table
 * ambiguous.
 *
 * Each piece can be overridden per stack with a flat string (`table=...;fieldName=...;...`); anything
 * ambiguous or missing fails with the candidates found and the override key to set.
 */
import type { DataverseClient } from "./client";
import { ACCOUNT_KEY_COLUMNS, ACCOUNT_TABLE, KINDS, MappingKind, schemaOverrideConfigKey } from "./kinds";
import { rangesForCount } from "./partition";
import type { RemoteRow } from "./plan";

export interface LookupSchema {
  /** Lookup attribute on the mapping table (read as `_<attribute>_value`). */
  attribute: string;
  /** Navigation property for `@odata.bind` and `$expand` (the one for `table` when polymorphic). */
  nav: string;
  table: string;
  entitySet: string;
  primaryId: string;
  /** Column used to resolve rows of that table by name / business key. */
  keyColumn: string;
}

export interface MappingSchema {
  table: string;
  entitySet: string;
  primaryId: string;
  fieldName: string;
  fieldValue: string;
  /** Absent when the table has no Mapping Group column (IOM's 2021 forms) or the override says `none`. */
  group?: LookupSchema;
  /** Absent when the table has no provider column or the override says `none`. */
  provider?: LookupSchema;
  /** The optional Account of product, price list and unit mappings; absent when the table has none. */
  account?: LookupSchema;
  target: LookupSchema;
  /**
   * The most characters the external field name and value columns take (their MaxLength), when
   * the metadata says; a longer value is refused before anything is written. Absent in states
   * written before it was read.
   */
  maxLength?: { fieldName?: number; fieldValue?: number };
}

export const OVERRIDE_KEYS = ["table", "fieldName", "fieldValue", "group", "provider", "account", "target", "targetTable", "targetKey", "groupName", "providerName"] as const;
export type OverrideKey = (typeof OVERRIDE_KEYS)[number];
export type SchemaOverride = Partial<Record<OverrideKey, string>>;
/** Override keys that may say `none`: the optional columns. */
const OPTIONAL_COLUMNS: readonly OverrideKey[] = ["group", "provider", "account"];
export const NONE = "none";

export class SchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.message = message; // see SyncError: needed in the serialized provider
    this.name = "SchemaError";
  }
}

/**
 * Parse `table=x;fieldName=y;...` (also accepts `,` as separator). Keys: table, fieldName,
 * fieldValue, group, provider, account, target (logical names of the mapping table and its columns;
 * group, provider and account also take `none`), targetTable, targetKey (the table a kind points at
 * and its business-key column), groupName, providerName (the name column of the mapping-group and
 * provider tables).
 */
export function parseSchemaOverride(s: string | undefined): SchemaOverride {
  return parseFlatOverride(s, "schema override", OVERRIDE_KEYS, OPTIONAL_COLUMNS);
}

/**
 * Parse a flat override `key=logicalname;...` (`,` also separates) whose keys are `keys`; `label`
 * starts every error message. With `noneAllowed`, the value `none` is accepted for those keys only
 * (an optional column to skip); without it, `none` is an ordinary logical name.
 */
export function parseFlatOverride<K extends string>(s: string | undefined, label: string, keys: readonly K[], noneAllowed?: readonly K[]): Partial<Record<K, string>> {
  const out: Partial<Record<K, string>> = {};
  if (!s || !s.trim()) return out;
  for (const part of s.split(/[;,]/)) {
    if (!part.trim()) continue;
    const eq = part.indexOf("=");
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (eq <= 0 || !v) throw new SchemaError(`${label}: "${part.trim()}" is not key=value`);
    if (!(keys as readonly string[]).includes(k)) throw new SchemaError(`${label}: unknown key "${k}" (known: ${keys.join(", ")})`);
    if (!/^[a-z_][a-z0-9_]*$/.test(v)) throw new SchemaError(`${label}: "${v}" is not a logical name`);
    if (noneAllowed && v === NONE && !noneAllowed.includes(k as K)) throw new SchemaError(`${label}: only ${noneAllowed.join(", ")} can be "none", not ${k}`);
    out[k as K] = v;
  }
  return out;
}

interface LocalizedLabel {
  Label?: string | null;
  LanguageCode?: number;
}

interface Label {
  UserLocalizedLabel?: LocalizedLabel | null;
  LocalizedLabels?: LocalizedLabel[];
}

interface AttributeDef {
  LogicalName: string;
  SchemaName?: string;
  AttributeType: string;
  DisplayName?: Label;
}

interface RelationshipDef {
  ReferencingAttribute: string;
  ReferencedEntity: string;
  ReferencingEntityNavigationPropertyName: string;
}

interface EntityDef {
  LogicalName: string;
  SchemaName?: string;
  EntitySetName: string;
  PrimaryIdAttribute: string;
  PrimaryNameAttribute?: string | null;
  DisplayName?: Label;
  Attributes?: AttributeDef[];
  ManyToOneRelationships?: RelationshipDef[];
}

const ENGLISH = 1033;

/** The English label, else any localized label, else "". Never UserLocalizedLabel (caller's language). */
export function englishLabel(l?: Label | null): string {
  const labels = (l?.LocalizedLabels ?? []).filter((x) => typeof x.Label === "string" && x.Label.trim() !== "");
  return (labels.find((x) => x.LanguageCode === ENGLISH) ?? labels[0])?.Label ?? "";
}

const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, " ").trim();
const compact = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");

interface Named {
  LogicalName: string;
  SchemaName?: string;
  DisplayName?: Label;
}

const describe = (d: Named) => {
  const l = englishLabel(d.DisplayName);
  return l ? `${d.LogicalName} ("${l}")` : d.LogicalName;
};

/**
 * How well a table or column matches one of the phrases: 4 exact label, 3 label contains the phrase
 * as whole words, 2 label contains it as a substring, 1 logical or schema name contains it (for
 * labels in another language only); 0 no match.
 */
export function matchScore(d: Named, phrases: string[]): number {
  const label = norm(englishLabel(d.DisplayName));
  const names = [d.LogicalName, d.SchemaName ?? ""].map(compact);
  let best = 0;
  for (const p of phrases.map(norm)) {
    if (label === p) return 4;
    if (label && ` ${label} `.includes(` ${p} `)) best = Math.max(best, 3);
    else if (label.includes(p)) best = Math.max(best, 2);
    else if (names.some((n) => n.includes(compact(p)))) best = Math.max(best, 1);
  }
  return best;
}

/** The candidates with the best positive score. */
function best<T extends Named>(items: T[], score: (x: T) => number): T[] {
  let top = 0;
  let out: T[] = [];
  for (const x of items) {
    const s = score(x);
    if (s <= 0) continue;
    if (s > top) {
      top = s;
      out = [x];
    } else if (s === top) out.push(x);
  }
  return out;
}

function tableWords(def: EntityDef): string[] {
  return norm(`${englishLabel(def.DisplayName)} ${def.LogicalName} ${def.SchemaName ?? ""}`).split(" ");
}

function tableMatches(def: EntityDef, kind: MappingKind): boolean {
  const spec = KINDS[kind];
  const words = tableWords(def);
  const text = compact(`${englishLabel(def.DisplayName)} ${def.LogicalName} ${def.SchemaName ?? ""}`);
  const has = (w: string) => words.includes(w) || words.includes(`${w}s`);
  // Logical names have no word boundaries (cr7f3_productmapping): accept the words run together there.
  const inName = (w: string) => compact(def.LogicalName).includes(w) || compact(def.SchemaName ?? "").includes(w);
  return (
    text.includes("mapping") &&
    spec.displayWords.every((w) => has(w) || inName(spec.displayWords.join(""))) &&
    !spec.excludeWords.some((w) => words.includes(w) || (!englishLabel(def.DisplayName) && inName(w)))
  );
}

type Role = "fieldName" | "fieldValue" | "group" | "provider" | "account" | "target";

interface Evaluation {
  def: EntityDef;
  picks: Partial<Record<Role, string>>;
  problems: string[];
  /** Optional columns not found (reported as info, not an error). */
  skipped: Role[];
  /** Sum of the column match scores, to rank complete candidates. */
  score: number;
}

const PHRASES: Record<"fieldName" | "fieldValue" | "group" | "provider" | "account", string[]> = {
  fieldName: ["External Field Name", "External Name"],
  fieldValue: ["External Field Value", "External Value"],
  group: ["Mapping Group"],
  provider: ["IOM Provider", "Provider"],
  account: ["Account"],
};
const IOM_PROVIDER_TABLE = "msdyn_iomprovider";

function evaluate(def: EntityDef, kind: MappingKind, o: SchemaOverride): Evaluation {
  const attrs = def.Attributes ?? [];
  const rels = def.ManyToOneRelationships ?? [];
  const targetTable = o.targetTable ?? KINDS[kind].targetTable;
  const configKey = schemaOverrideConfigKey(kind);
  const ev: Evaluation = { def, picks: {}, problems: [], skipped: [], score: 0 };
  const refs = (a: string) => rels.filter((r) => r.ReferencingAttribute === a).map((r) => r.ReferencedEntity);
  const strings = attrs.filter((a) => a.AttributeType === "String" || a.AttributeType === "Memo");
  const lookups = attrs.filter((a) => (a.AttributeType === "Lookup" || a.AttributeType === "Customer") && refs(a.LogicalName).length > 0);
  const pick = (role: Role, candidates: AttributeDef[], score: (a: AttributeDef) => number, optional: boolean) => {
    const forced = o[role];
    if (forced === NONE) return;
    if (forced) {
      if (!attrs.some((a) => a.LogicalName === forced)) ev.problems.push(`${role}: override ${role}=${forced} is not a column of ${def.LogicalName}`);
      else ev.picks[role] = forced;
      return;
    }
    const top = best(candidates, score);
    if (top.length === 1) {
      ev.picks[role] = top[0].LogicalName;
      ev.score += score(top[0]);
    } else if (top.length === 0) {
      if (optional) ev.skipped.push(role);
      else ev.problems.push(`${role}: no matching column`);
    } else {
      ev.problems.push(`${role}: ambiguous between ${top.map(describe).join(", ")}; set ${role}=<logical name> in ${configKey}`);
    }
  };
  pick("fieldName", strings, (a) => matchScore(a, PHRASES.fieldName), false);
  pick("fieldValue", strings, (a) => matchScore(a, PHRASES.fieldValue), false);
  // The target: a lookup whose relationships include the kind's target table. Several (a mapping
  // table with two product lookups): the best label match for the target table's own words wins.
  const toTarget = lookups.filter((a) => refs(a.LogicalName).includes(targetTable));
  if (toTarget.length === 0 && !o.target) {
    const seen = lookups.map((a) => `${a.LogicalName} -> ${refs(a.LogicalName).join("/")}`).join(", ");
    ev.problems.push(`target: no lookup to ${targetTable} (lookups: ${seen || "none"}); set targetTable=<table> (and targetKey=<column>) or target=<column> in ${configKey}`);
  } else {
    pick("target", toTarget, (a) => 1 + matchScore(a, [...KINDS[kind].displayWords, "customer", targetTable]), false);
  }
  const others = lookups.filter((a) => a.LogicalName !== ev.picks.target);
  pick("group", others, (a) => matchScore(a, PHRASES.group), true);
  pick("provider", others, (a) => (refs(a.LogicalName).includes(IOM_PROVIDER_TABLE) ? 5 : matchScore(a, PHRASES.provider) >= 3 ? 3 : 0), true);
  if (KINDS[kind].accountScoped) {
    pick("account", others.filter((a) => refs(a.LogicalName).includes(ACCOUNT_TABLE)), (a) => 1 + matchScore(a, PHRASES.account), true);
  }
  return ev;
}

const DEF_SELECT = "$select=LogicalName,SchemaName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,DisplayName";

async function entity(client: DataverseClient, logicalName: string, expand: boolean): Promise<EntityDef> {
  const q = expand
    ? `${DEF_SELECT}&$expand=Attributes($select=LogicalName,SchemaName,AttributeType,DisplayName),ManyToOneRelationships($select=ReferencingAttribute,ReferencedEntity,ReferencingEntityNavigationPropertyName)`
    : DEF_SELECT;
  return client.getJson<EntityDef>(`EntityDefinitions(LogicalName='${logicalName}')?${q}`);
}

/** What discovery decided beyond the schema itself, for the log. */
export interface DiscoveryNotes {
  skipped: string[];
}

/** Find the mapping table and columns for a kind. Throws SchemaError with the candidates found. */
export async function discoverSchema(client: DataverseClient, kind: MappingKind, targetKeyColumn: string, override: SchemaOverride = {}, notes?: DiscoveryNotes): Promise<MappingSchema> {
  const configKey = schemaOverrideConfigKey(kind);
  let candidates: string[];
  let mappingLike: EntityDef[] = [];
  if (override.table) {
    candidates = [override.table];
  } else {
    const all = await client.getJson<{ value: EntityDef[] }>(`EntityDefinitions?${DEF_SELECT}`);
    mappingLike = all.value.filter((d) => compact(`${englishLabel(d.DisplayName)} ${d.LogicalName} ${d.SchemaName ?? ""}`).includes("mapping"));
    candidates = mappingLike.filter((d) => tableMatches(d, kind)).map((d) => d.LogicalName);
  }
  if (candidates.length === 0) {
    throw new SchemaError(
      `no IOM mapping table found for ${kind}: no table's display name mentions "mapping" and ${KINDS[kind].displayWords.join(" ")}. ` +
        `Tables mentioning "mapping": ${mappingLike.map(describe).join(", ") || "none"}. ` +
        `Is Intelligent Order Management installed? Otherwise set table=<logical name> in ${configKey}.`,
    );
  }
  const evals = await Promise.all(candidates.map(async (c) => evaluate(await entity(client, c, true), kind, override)));
  const complete = evals.filter((e) => e.problems.length === 0);
  // Several complete tables: the one whose columns match best (exact labels) wins; a tie is an error.
  const top = complete.filter((e) => e.score === Math.max(...complete.map((x) => x.score)));
  if (top.length !== 1) {
    const detail = evals.map((e) => `${describe(e.def)}${e.problems.length ? `: ${e.problems.join("; ")}` : ": matches"}`).join(" | ");
    throw new SchemaError(
      top.length === 0
        ? `no table has the columns of an IOM ${kind} mapping. Candidates: ${detail}. Set ${configKey} (table=...;fieldName=...;fieldValue=...;group=...;provider=...;target=...).`
        : `more than one table looks like the IOM ${kind} mapping: ${detail}. Set table=<logical name> in ${configKey}.`,
    );
  }
  const { def, picks, skipped } = top[0];
  notes?.skipped.push(...skipped.map((r) => `${def.LogicalName} has no ${r === "group" ? "Mapping Group" : r} column; rows are not scoped by it`));
  const rels = def.ManyToOneRelationships ?? [];
  const lookup = async (attribute: string, referenced: string | undefined, keyColumn: string | undefined, what: string): Promise<LookupSchema> => {
    const all = rels.filter((r) => r.ReferencingAttribute === attribute);
    const rel = referenced ? all.find((r) => r.ReferencedEntity === referenced) : all.length === 1 ? all[0] : (all.find((r) => r.ReferencedEntity === IOM_PROVIDER_TABLE) ?? undefined);
    if (!rel) {
      throw new SchemaError(
        `${def.LogicalName}.${attribute} (${what}) has no many-to-one relationship${referenced ? ` to ${referenced}` : ""} in metadata (found: ${all.map((r) => r.ReferencedEntity).join(", ") || "none"})`,
      );
    }
    const t = await entity(client, rel.ReferencedEntity, false);
    const key = keyColumn ?? t.PrimaryNameAttribute;
    if (!key) throw new SchemaError(`${t.LogicalName} has no primary name column; set ${what}Name=<column> in ${configKey}`);
    return { attribute, nav: rel.ReferencingEntityNavigationPropertyName, table: t.LogicalName, entitySet: t.EntitySetName, primaryId: t.PrimaryIdAttribute, keyColumn: key };
  };
  const targetTable = override.targetTable ?? KINDS[kind].targetTable;
  // With another target table, the CSV's key column means "its name" unless targetKey says otherwise.
  const targetKey = override.targetKey ?? (override.targetTable ? undefined : targetKeyColumn);
  const typeOf = (a: string) => (def.Attributes ?? []).find((x) => x.LogicalName === a)?.AttributeType;
  const [group, provider, account, target, maxLength] = await Promise.all([
    picks.group ? lookup(picks.group, undefined, override.groupName, "group") : undefined,
    picks.provider ? lookup(picks.provider, undefined, override.providerName, "provider") : undefined,
    picks.account ? lookup(picks.account, ACCOUNT_TABLE, ACCOUNT_KEY_COLUMNS[0], "account") : undefined,
    lookup(picks.target!, targetTable, targetKey, "target"),
    readMaxLengths(client, def.LogicalName, { fieldName: picks.fieldName!, fieldValue: picks.fieldValue! }, [typeOf(picks.fieldName!), typeOf(picks.fieldValue!)]),
  ]);
  const schema: MappingSchema = { table: def.LogicalName, entitySet: def.EntitySetName, primaryId: def.PrimaryIdAttribute, fieldName: picks.fieldName!, fieldValue: picks.fieldValue!, target, maxLength };
  if (group) schema.group = group;
  if (provider) schema.provider = provider;
  if (account) schema.account = account;
  return schema;
}

/**
 * MaxLength of the mapping table's text columns. It is a property of StringAttributeMetadata (and
 * MemoAttributeMetadata), not of AttributeMetadata, so the `$expand=Attributes` discovery reads
 * cannot select it: the Web API needs the collection cast to the type ("Query table definitions
 * using the Web API", Querying EntityMetadata attributes):
 * `EntityDefinitions(LogicalName='t')/Attributes/Microsoft.Dynamics.CRM.StringAttributeMetadata?$select=LogicalName,MaxLength`.
 * One request per type in use; `types` (AttributeType of each column) when known, else String then Memo.
 */
export async function readMaxLengths<K extends string>(client: DataverseClient, table: string, columns: Record<K, string>, types: (string | undefined)[] = []): Promise<Partial<Record<K, number>>> {
  const out: Partial<Record<K, number>> = {};
  const wanted = new Map(Object.entries(columns).map(([role, col]) => [col as string, role as K]));
  const casts = types.length && types.every((t) => t === "String" || t === "Memo") ? [...new Set(types)] : ["String", "Memo"];
  for (const type of casts) {
    if (wanted.size === 0) break;
    const r = await client.getJson<{ value?: { LogicalName: string; MaxLength?: number | null }[] }>(
      `EntityDefinitions(LogicalName='${table}')/Attributes/Microsoft.Dynamics.CRM.${type}AttributeMetadata?$select=LogicalName,MaxLength`,
    );
    for (const a of r.value ?? []) {
      const role = wanted.get(a.LogicalName);
      if (role === undefined) continue;
      if (typeof a.MaxLength === "number" && a.MaxLength > 0) out[role] = a.MaxLength;
      wanted.delete(a.LogicalName);
    }
  }
  return out;
}

/** The query listing the mapping rows in scope: this provider's (when the table has a provider column) with a target. */
export function remoteRowsQuery(s: MappingSchema, providerId: string): string {
  const filter = [s.provider ? `_${s.provider.attribute}_value eq ${providerId}` : "", `_${s.target.attribute}_value ne null`].filter(Boolean).join(" and ");
  const expand = [
    s.group ? `${s.group.nav}($select=${s.group.keyColumn})` : "",
    `${s.target.nav}($select=${s.target.keyColumn})`,
    s.account ? `${s.account.nav}($select=${ACCOUNT_KEY_COLUMNS.join(",")})` : "",
  ].filter(Boolean);
  return `${s.entitySet}?$select=${s.primaryId},${s.fieldName},${s.fieldValue}&$filter=${encodeURIComponent(filter)}&$expand=${expand.join(",")}`;
}

/** How remote rows are named: the default group for tables without one, accounts as the CSVs name them. */
export interface RemoteScope {
  defaultGroup: string;
  /** Lower-cased account labels the desired (and previously applied) rows use. */
  accountLabels?: Set<string>;
}

/** One row of remoteRowsQuery's result as the plan sees it. */
export function toRemoteRow(s: MappingSchema, r: Record<string, unknown>, scope: RemoteScope): RemoteRow {
  return remoteRowReader(s, scope)(r);
}

/**
 * toRemoteRow as a closure made once per read (a call of a module-level function per row costs
 * more than the row in the serialized provider: rows.ts rowCodec).
 */
export function remoteRowReader(s: MappingSchema, scope: RemoteScope): (r: Record<string, unknown>) => RemoteRow {
  const str = (v: unknown) => (typeof v === "string" ? v : null);
  const sub = (v: unknown, col: string) => (v && typeof v === "object" ? str((v as Record<string, unknown>)[col]) : null);
  const accountColumns = ACCOUNT_KEY_COLUMNS;
  return (r) => {
    const row: RemoteRow = {
      id: String(r[s.primaryId]).toLowerCase(),
      field: str(r[s.fieldName]),
      value: str(r[s.fieldValue]),
      group: s.group ? sub(r[s.group.nav], s.group.keyColumn) : scope.defaultGroup,
      target: sub(r[s.target.nav], s.target.keyColumn),
    };
    if (s.account) {
      // An account is named by number or by name in the CSVs: use whichever form the rows use.
      const acc = r[s.account.nav];
      const forms = accountColumns.map((c) => sub(acc, c)).filter((x): x is string => !!x);
      row.account = forms.find((f) => scope.accountLabels?.has(f.toLowerCase())) ?? forms[0] ?? "";
    }
    return row;
  };
}

export const odataString = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * How long a `$filter` of `or`ed terms may grow, URL-encoded: the Web API's 32 KB URL limit
 * (Microsoft: "Compose HTTP requests and handle errors", Maximum URL length) less 2.7 KB for the
 * origin, path and other query options (a mapping read's $select and scope are under 1 KB); and at
 * most 500 terms, well under SQL Server's 2,100 parameters per query that a filter's values
 * become. Half the limit, as before, made a 1% change of 200,000 rows 18 reads, not 9: two rounds
 * at a dop hint of 12.
 */
export const MAX_FILTER_CHARS = 30_000;
export const MAX_FILTER_TERMS = 500;

function quotesIn(s: string): number {
  let n = 0;
  for (let i = s.indexOf("'"); i >= 0; i = s.indexOf("'", i + 1)) n++;
  return n;
}

/**
 * Filter terms `or`ed into as few filters as those limits allow (a read of 2,000 rows by id is 5
 * requests, not 20 of 100 ids: fewer rounds of requests at the service's parallelism).
 */
export function orFilters(terms: string[]): string[] {
  const filters: string[] = [];
  let [from, chars] = [0, 0];
  for (let i = 0; i < terms.length; i++) {
    // As sent: encodeURIComponent keeps a quote, the WHATWG URL parser (../http.ts requestUrl) encodes it in a
    // query (%27): OData string literals are quoted, so a key term is some 8 characters longer.
    const size = encodeURIComponent(terms[i]).length + 2 * quotesIn(terms[i]) + 8; // "%20or%20"
    if (i > from && (chars + size > MAX_FILTER_CHARS || i - from >= MAX_FILTER_TERMS)) {
      filters.push(terms.slice(from, i).join(" or "));
      [from, chars] = [i, 0];
    }
    chars += size;
  }
  if (from < terms.length) filters.push(terms.slice(from).join(" or "));
  return filters;
}

/**
 * Resolve names / business keys to ids in bulk. Few names: `$filter` with `or`, chunked within
 * the URL limit (orFilters), chunks in parallel. Many: one paged scan of the table (cheaper than thousands of
 * filters). Returns lower-cased key → id; keys matching several rows map to `null` (ambiguous).
 */
export async function resolveKeys(client: DataverseClient, l: Pick<LookupSchema, "entitySet" | "primaryId" | "keyColumn">, keys: string[]): Promise<Map<string, string | null>> {
  const wanted = new Set(keys.map((k) => k.toLowerCase()));
  const found = new Map<string, string | null>();
  const add = (rows: Record<string, unknown>[]) => {
    for (const r of rows) {
      const k = typeof r[l.keyColumn] === "string" ? (r[l.keyColumn] as string).toLowerCase() : undefined;
      if (k === undefined || !wanted.has(k)) continue;
      const id = String(r[l.primaryId]);
      found.set(k, found.has(k) && found.get(k) !== id ? null : id);
    }
  };
  const select = `$select=${l.primaryId},${l.keyColumn}`;
  if (wanted.size > 2000) {
    // At least wanted.size rows exist when every key resolves: read them in parallel key ranges.
    await client.forEachPagePartitioned<Record<string, unknown>>(`${l.entitySet}?${select}`, l.primaryId, rangesForCount(wanted.size, client.pageSize, client.concurrency), add);
    return found;
  }
  const filters = orFilters([...new Set(keys)].map((k) => `${l.keyColumn} eq ${odataString(k)}`));
  await Promise.all(filters.map(async (f) => add(await client.getAll<Record<string, unknown>>(`${l.entitySet}?${select}&$filter=${encodeURIComponent(f)}`))));
  return found;
}

/**
 * Resolve account labels (account number, else name) to ids: one bulk pass by number, one by name
 * for the rest. Lower-cased label → id, or null when ambiguous.
 */
export async function resolveAccounts(client: DataverseClient, l: Pick<LookupSchema, "entitySet" | "primaryId">, labels: string[]): Promise<Map<string, string | null>> {
  const byNumber = await resolveKeys(client, { ...l, keyColumn: ACCOUNT_KEY_COLUMNS[0] }, labels);
  const rest = labels.filter((x) => !byNumber.has(x.toLowerCase()));
  if (rest.length === 0) return byNumber;
  const byName = await resolveKeys(client, { ...l, keyColumn: ACCOUNT_KEY_COLUMNS[1] }, rest);
  for (const [k, v] of byName) byNumber.set(k, v);
  return byNumber;
}

// ---- shared with other discoverers (IOM provider tables) -------------------------------------------

/** A table's metadata as `EntityDefinitions(LogicalName='x')` returns it, with attributes and lookups. */
export type TableMetadata = EntityDef;

/** Read one table's metadata (attributes and many-to-one relationships) through the shared client. */
export function readTableMetadata(client: DataverseClient, logicalName: string): Promise<TableMetadata> {
  return entity(client, logicalName, true);
}
