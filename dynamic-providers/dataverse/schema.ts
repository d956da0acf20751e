/**
 * Discovery of IOM's mapping tables from the environment's metadata.
 *
 * IOM's mapping tables and columns are not published, so nothing here names them. For a kind, the
 * mapping table is the table whose display name mentions "mapping" and the kind ("IOM Product
 * Mapping") and which has: two text columns displayed "External Field Name" / "External Field
 * Value", a lookup displayed "Mapping Group", a lookup to a provider table (displayed "Provider"
 * or pointing at the documented `msdyn_iomprovider`), and a lookup to the kind's standard target
 * table (`product`, ...). Lookup columns are found through `ManyToOneRelationships`, which also
 * gives the navigation property `@odata.bind` needs.
 *
 * Each piece can be overridden per stack with a flat string (`table=...;fieldName=...;...`), so an
 * environment whose labels differ (another language, a customised form) still works; anything
 * ambiguous or missing fails with the candidates found and the override key to set.
 */
import type { DataverseClient } from "./client";
import { KINDS, MappingKind } from "./kinds";
import { rangesForCount } from "./partition";

export interface LookupSchema {
  /** Lookup attribute on the mapping table (read as `_<attribute>_value`). */
  attribute: string;
  /** Navigation property for `@odata.bind` and `$expand`. */
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
  group: LookupSchema;
  provider: LookupSchema;
  target: LookupSchema;
}

export const OVERRIDE_KEYS = ["table", "fieldName", "fieldValue", "group", "provider", "target", "groupName", "providerName"] as const;
export type OverrideKey = (typeof OVERRIDE_KEYS)[number];
export type SchemaOverride = Partial<Record<OverrideKey, string>>;

export class SchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.message = message; // see SyncError: needed in the serialized provider
    this.name = "SchemaError";
  }
}

/**
 * Parse `table=x;fieldName=y;...` (also accepts `,` as separator). Keys: table, fieldName,
 * fieldValue, group, provider, target (logical names of the mapping table and its columns),
 * groupName, providerName (the name column of the mapping-group and provider tables).
 */
export function parseSchemaOverride(s: string | undefined): SchemaOverride {
  const out: SchemaOverride = {};
  if (!s || !s.trim()) return out;
  for (const part of s.split(/[;,]/)) {
    if (!part.trim()) continue;
    const eq = part.indexOf("=");
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (eq <= 0 || !v) throw new SchemaError(`schema override: "${part.trim()}" is not key=value`);
    if (!(OVERRIDE_KEYS as readonly string[]).includes(k)) throw new SchemaError(`schema override: unknown key "${k}" (known: ${OVERRIDE_KEYS.join(", ")})`);
    if (!/^[a-z_][a-z0-9_]*$/.test(v)) throw new SchemaError(`schema override: "${v}" is not a logical name`);
    out[k as OverrideKey] = v;
  }
  return out;
}

interface Label {
  UserLocalizedLabel?: { Label?: string } | null;
  LocalizedLabels?: { Label?: string }[];
}

interface EntityDef {
  LogicalName: string;
  EntitySetName: string;
  PrimaryIdAttribute: string;
  PrimaryNameAttribute?: string | null;
  DisplayName?: Label;
  Attributes?: { LogicalName: string; AttributeType: string; DisplayName?: Label }[];
  ManyToOneRelationships?: { ReferencingAttribute: string; ReferencedEntity: string; ReferencingEntityNavigationPropertyName: string }[];
}

const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, " ").trim();
const labelOf = (l?: Label) => l?.UserLocalizedLabel?.Label ?? l?.LocalizedLabels?.[0]?.Label ?? "";

function tableMatches(def: EntityDef, kind: MappingKind): boolean {
  const words = norm(`${labelOf(def.DisplayName)} ${def.LogicalName}`).split(" ");
  const text = words.join(" ");
  const spec = KINDS[kind];
  return text.includes("mapping") && spec.displayWords.every((w) => words.includes(w)) && !spec.excludeWords.some((w) => words.includes(w));
}

interface Evaluation {
  def: EntityDef;
  picks: Partial<Record<"fieldName" | "fieldValue" | "group" | "provider" | "target", string>>;
  problems: string[];
}

function evaluate(def: EntityDef, kind: MappingKind, o: SchemaOverride): Evaluation {
  const attrs = def.Attributes ?? [];
  const rels = def.ManyToOneRelationships ?? [];
  const targetTable = KINDS[kind].targetTable;
  const problems: string[] = [];
  const picks: Evaluation["picks"] = {};
  const pick = (what: keyof Evaluation["picks"], overrideKey: OverrideKey, candidates: string[]) => {
    const forced = o[overrideKey];
    if (forced) {
      if (!attrs.some((a) => a.LogicalName === forced)) problems.push(`${what}: override ${overrideKey}=${forced} is not a column of ${def.LogicalName}`);
      else picks[what] = forced;
      return;
    }
    if (candidates.length === 1) picks[what] = candidates[0];
    else if (candidates.length === 0) problems.push(`${what}: no matching column`);
    else problems.push(`${what}: ambiguous (${candidates.join(", ")}); set ${overrideKey}=<logical name>`);
  };
  const strings = attrs.filter((a) => a.AttributeType === "String" || a.AttributeType === "Memo");
  const lookups = attrs.filter((a) => a.AttributeType === "Lookup" || a.AttributeType === "Customer");
  const lookupTo = (a: string) => rels.filter((r) => r.ReferencingAttribute === a).map((r) => r.ReferencedEntity);
  pick("fieldName", "fieldName", strings.filter((a) => /external field name|external name/.test(norm(labelOf(a.DisplayName)))).map((a) => a.LogicalName));
  pick("fieldValue", "fieldValue", strings.filter((a) => /external field value|external value/.test(norm(labelOf(a.DisplayName)))).map((a) => a.LogicalName));
  pick("group", "group", lookups.filter((a) => /mapping group/.test(norm(labelOf(a.DisplayName)))).map((a) => a.LogicalName));
  pick(
    "provider",
    "provider",
    lookups
      .filter((a) => lookupTo(a.LogicalName).includes("msdyn_iomprovider") || /(^| )provider$/.test(norm(labelOf(a.DisplayName))))
      .map((a) => a.LogicalName),
  );
  pick("target", "target", lookups.filter((a) => lookupTo(a.LogicalName).includes(targetTable)).map((a) => a.LogicalName));
  return { def, picks, problems };
}

const DEF_SELECT = "$select=LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,DisplayName";

async function entity(client: DataverseClient, logicalName: string, expand: boolean): Promise<EntityDef> {
  const q = expand
    ? `${DEF_SELECT}&$expand=Attributes($select=LogicalName,AttributeType,DisplayName),ManyToOneRelationships($select=ReferencingAttribute,ReferencedEntity,ReferencingEntityNavigationPropertyName)`
    : DEF_SELECT;
  return client.getJson<EntityDef>(`EntityDefinitions(LogicalName='${logicalName}')?${q}`);
}

/** Find the mapping table and columns for a kind. Throws SchemaError with the candidates found. */
export async function discoverSchema(client: DataverseClient, kind: MappingKind, targetKeyColumn: string, override: SchemaOverride = {}): Promise<MappingSchema> {
  let candidates: string[];
  let mappingLike: EntityDef[] = [];
  if (override.table) {
    candidates = [override.table];
  } else {
    const all = await client.getJson<{ value: EntityDef[] }>(`EntityDefinitions?${DEF_SELECT}`);
    mappingLike = all.value.filter((d) => norm(`${labelOf(d.DisplayName)} ${d.LogicalName}`).includes("mapping"));
    candidates = mappingLike.filter((d) => tableMatches(d, kind)).map((d) => d.LogicalName);
  }
  const describe = (d: EntityDef) => `${d.LogicalName} ("${labelOf(d.DisplayName)}")`;
  if (candidates.length === 0) {
    throw new SchemaError(
      `no IOM mapping table found for ${kind}: no table's display name mentions "mapping" and ${KINDS[kind].displayWords.join(" ")}. ` +
        `Tables mentioning "mapping": ${mappingLike.map(describe).join(", ") || "none"}. ` +
        `Is Intelligent Order Management installed? Otherwise set the schema override table=<logical name>.`,
    );
  }
  const evals = await Promise.all(candidates.map(async (c) => evaluate(await entity(client, c, true), kind, override)));
  const ok = evals.filter((e) => e.problems.length === 0);
  if (ok.length !== 1) {
    const detail = evals.map((e) => `${describe(e.def)}${e.problems.length ? `: ${e.problems.join("; ")}` : ": matches"}`).join(" | ");
    throw new SchemaError(
      ok.length === 0
        ? `no table has the columns of an IOM ${kind} mapping. Candidates: ${detail}. Set the schema override (table=...;fieldName=...;fieldValue=...;group=...;provider=...;target=...).`
        : `more than one table looks like the IOM ${kind} mapping: ${detail}. Set the schema override table=<logical name>.`,
    );
  }
  const { def, picks } = ok[0];
  const rels = def.ManyToOneRelationships ?? [];
  const lookup = async (attribute: string, keyColumn: string | undefined, what: string): Promise<LookupSchema> => {
    const rel = rels.find((r) => r.ReferencingAttribute === attribute);
    if (!rel) throw new SchemaError(`${def.LogicalName}.${attribute} (${what}) has no many-to-one relationship in metadata`);
    const t = await entity(client, rel.ReferencedEntity, false);
    const key = keyColumn ?? t.PrimaryNameAttribute;
    if (!key) throw new SchemaError(`${t.LogicalName} has no primary name column; set the schema override ${what}Name=<column>`);
    return { attribute, nav: rel.ReferencingEntityNavigationPropertyName, table: t.LogicalName, entitySet: t.EntitySetName, primaryId: t.PrimaryIdAttribute, keyColumn: key };
  };
  const [group, provider, target] = await Promise.all([
    lookup(picks.group!, override.groupName, "group"),
    lookup(picks.provider!, override.providerName, "provider"),
    lookup(picks.target!, targetKeyColumn, "target"),
  ]);
  return {
    table: def.LogicalName,
    entitySet: def.EntitySetName,
    primaryId: def.PrimaryIdAttribute,
    fieldName: picks.fieldName!,
    fieldValue: picks.fieldValue!,
    group,
    provider,
    target,
  };
}

const odataString = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * Resolve names / business keys to ids in bulk. Few names: `$filter` with `or`, chunked to keep
 * URLs short, chunks in parallel. Many: one paged scan of the table (cheaper than thousands of
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
  const list = [...new Set(keys)];
  const chunks: string[][] = [];
  let cur: string[] = [];
  let len = 0;
  for (const k of list) {
    const piece = `${l.keyColumn} eq ${odataString(k)}`;
    if (cur.length > 0 && (len + piece.length > 6000 || cur.length >= 100)) {
      chunks.push(cur);
      cur = [];
      len = 0;
    }
    cur.push(piece);
    len += piece.length + 4;
  }
  if (cur.length) chunks.push(cur);
  await Promise.all(
    chunks.map(async (c) => add(await client.getAll<Record<string, unknown>>(`${l.entitySet}?${select}&$filter=${encodeURIComponent(c.join(" or "))}`))),
  );
  return found;
}
