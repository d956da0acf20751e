/**
 * Reading and writing one IOM provider's parameters through the shared Dataverse client.
 *
 * - The provider instance is found by name: its exact name first, then the same name ignoring case
 *   and punctuation, then its catalog definition's name, then a partial match (iomProviderMatches);
 *   several at the most precise level are an error listing each by its exact name; none means it
 *   was never added from IOM's catalog, which gets an error naming that step.
 * - Parameters are matched by their definition's label (see discovery.ts), compared with letters
 *   and digits only, so "Inventory Visibility OrganizationId" (the guide's form) and "Inventory
 *   Visibility Organization ID" (Microsoft's setup page) are the same parameter; as for providers,
 *   an exact match first, else the one label that contains the name ("Store Hash" finds a label
 *   such as "BigCommerce Store Hash": Microsoft's setup page names the value, not the label).
 * - Only the named parameters of that one provider are read or written, and only values that differ
 *   from what Dataverse holds are written (PATCH of the value column, `If-Match: *` so a row deleted
 *   meanwhile is not re-created by the upsert). A named parameter without a row gets one, with a
 *   client-chosen id so a retried create cannot duplicate it.
 * - Dataverse stores an empty string as null; both read back as "".
 */
import { randomUUID, scryptSync } from "crypto";
import { redactSecrets } from "../http";
import { SchemaError, type DataverseClient } from "../dataverse";
import { normalizeName, type IomProviderSchema } from "./discovery";

export interface IomProviderRow {
  id: string;
  name: string;
  definitionId: string | null;
  definitionName: string;
  /** Activation status as Dataverse labels it (formatted value), else the raw code; null when no status column was found. */
  activationStatus: string | null;
}

export interface ParameterState {
  /** Definition-parameter id. */
  definitionParameterId: string;
  /** Parameter row id, when the provider has a row for it. */
  rowId?: string;
  /**
   * The row's `@odata.etag`: Dataverse gives each row one and changes it with every update of the
   * row (the version `If-Match` compares, Web API "conditional operations"). A refresh compares it
   * for secret parameters, whose values the state cannot compare without the fingerprint key.
   */
  version?: string;
  label: string;
  value: string;
}

const FORMATTED = "@OData.Community.Display.V1.FormattedValue";
const str = (v: unknown) => (v === null || v === undefined ? "" : String(v));

/**
 * The fingerprint states written before issue 17 hold: scrypt with a salt stored next to it, so the
 * state alone let anyone test guesses (a 4-digit secret fell in 155 s). Only read, to compare such a
 * state once while it is rewritten with keyed fingerprints (provider.ts); never written again.
 */
export function legacyScryptFingerprint(value: string, salt: string): string {
  return `${LEGACY_SCRYPT_PREFIX}${scryptSync(value, salt, 24, { N: 16384, r: 8, p: 1 }).toString("base64")}`;
}

export const LEGACY_SCRYPT_PREFIX = "scrypt:";

/** Find the provider instance by name. Throws SchemaError naming the catalog step when it is missing. */
export async function findIomProvider(client: DataverseClient, s: IomProviderSchema, wanted: string): Promise<IomProviderRow> {
  const p = s.provider;
  const select = [p.primaryId, p.name, `_${p.definition.attribute}_value`, ...(p.status ? [p.status] : [])].join(",");
  const [providers, definitions] = await Promise.all([
    client.getAll<Record<string, unknown>>(`${p.entitySet}?$select=${select}`),
    client.getAll<Record<string, unknown>>(`${s.definition.entitySet}?$select=${s.definition.primaryId},${s.definition.name}`),
  ]);
  const defName = new Map(definitions.map((d) => [str(d[s.definition.primaryId]), str(d[s.definition.name])]));
  const rows: IomProviderRow[] = providers.map((r) => {
    const definitionId = r[`_${p.definition.attribute}_value`] ? str(r[`_${p.definition.attribute}_value`]) : null;
    return {
      id: str(r[p.primaryId]),
      name: str(r[p.name]),
      definitionId,
      definitionName: definitionId ? (defName.get(definitionId) ?? "") : "",
      activationStatus: p.status ? (r[`${p.status}${FORMATTED}`] !== undefined ? str(r[`${p.status}${FORMATTED}`]) : r[p.status] === null || r[p.status] === undefined ? null : str(r[p.status])) : null,
    };
  });
  const hits = iomProviderMatches(rows, wanted);
  if (hits.length === 1) return hits[0];
  if (hits.length > 1) {
    const sameName = new Set(hits.map((r) => r.name)).size < hits.length;
    throw new SchemaError(
      `more than one IOM provider matches "${wanted}". Candidates, by their exact names: ${hits.map(describeProvider).join(", ")}. ` +
        (sameName
          ? "Two of them have the same name: rename one in Intelligent Order Management (Providers > Installed), then name the other exactly."
          : "Set the provider name to one of these exactly (an exact name wins over every other match)."),
    );
  }
  const w = normalizeName(wanted);
  // The tile: its name contains the wanted one ("Inventory Visibility" -> "Dynamics 365 Inventory
  // Visibility"), or a further instance's name contains it ("BigCommerce Outdoor" -> "BigCommerce").
  const tiles = definitions.map((d) => str(d[s.definition.name])).filter((n) => normalizeName(n) && (normalizeName(n).includes(w) || w.includes(normalizeName(n))));
  throw new SchemaError(
    `IOM provider "${wanted}" has not been added from IOM's catalog in this environment. ` +
      `In Intelligent Order Management go to Providers > Library (Catalog), ${tiles.length ? `select the "${tiles[0]}" tile` : `select the provider's tile`}, accept the terms` +
      // One instance per store (IOM allows several instances of a provider): the new one is found by its name.
      `${tiles.length && rows.some((r) => r.definitionName === tiles[0]) ? `, and name the new instance "${wanted}" (one instance per store or source)` : ""}, then run 'pulumi up' again. ` +
      `Providers installed: ${rows.map(describeProvider).join(", ") || "none"}.`,
  );
}

/** A provider instance as an error lists it: its exact name, its catalog definition, its id. */
function describeProvider(r: IomProviderRow): string {
  return `"${r.name}"${r.definitionName && r.definitionName !== r.name ? ` (from "${r.definitionName}")` : ""} [id ${r.id}]`;
}

/**
 * The provider instances `wanted` names, from the most precise kind of match that has any: the
 * instance's exact name; its name by letters and digits (case and punctuation ignored); its catalog
 * definition's name, the same two ways; a name or definition name that contains it. So "Inventory
 * Visibility" selects that instance even next to "Inventory Visibility (Test)", and the catalog
 * tile's name still finds the one instance made from it.
 */
export function iomProviderMatches(rows: readonly IomProviderRow[], wanted: string): IomProviderRow[] {
  const exact = wanted.trim();
  const w = normalizeName(wanted);
  const tiers: ((r: IomProviderRow) => boolean)[] = [
    (r) => r.name.trim() === exact,
    (r) => normalizeName(r.name) === w,
    (r) => r.definitionName.trim() === exact,
    (r) => normalizeName(r.definitionName) === w,
    (r) => w !== "" && (normalizeName(r.name).includes(w) || normalizeName(r.definitionName).includes(w)),
  ];
  for (const tier of tiers) {
    const hits = rows.filter(tier);
    if (hits.length > 0) return hits;
  }
  return [];
}

/** The provider's parameter definitions and current values, for the named parameters only. */
export async function readParameters(client: DataverseClient, s: IomProviderSchema, provider: IomProviderRow, names: string[]): Promise<Map<string, ParameterState>> {
  if (!provider.definitionId) throw new SchemaError(`IOM provider "${provider.name}" has no provider definition; re-add it from the catalog`);
  const dp = s.definitionParameter;
  const pp = s.parameter;
  const [defs, values] = await Promise.all([
    client.getAll<Record<string, unknown>>(`${dp.entitySet}?$select=${[...new Set([dp.primaryId, dp.label, dp.name])].join(",")}&$filter=${encodeURIComponent(`_${dp.definition.attribute}_value eq ${provider.definitionId}`)}`),
    client.getAll<Record<string, unknown>>(`${pp.entitySet}?$select=${pp.primaryId},_${pp.definitionParameter.attribute}_value,${pp.value}&$filter=${encodeURIComponent(`_${pp.provider.attribute}_value eq ${provider.id}`)}`),
  ]);
  const byDefinition = new Map(values.map((v) => [str(v[`_${pp.definitionParameter.attribute}_value`]), v]));
  const out = new Map<string, ParameterState>();
  const unknown: string[] = [];
  for (const name of names) {
    const n = normalizeName(name);
    let matches = defs.filter((d) => normalizeName(str(d[dp.label])) === n || normalizeName(str(d[dp.name])) === n);
    if (matches.length === 0) matches = defs.filter((d) => normalizeName(str(d[dp.label])).includes(n) || normalizeName(str(d[dp.name])).includes(n));
    if (matches.length !== 1) {
      unknown.push(matches.length === 0 ? `"${name}"` : `"${name}" (matches ${matches.length} parameters)`);
      continue;
    }
    const d = matches[0];
    const id = str(d[dp.primaryId]);
    const row = byDefinition.get(id);
    const version = row && typeof row["@odata.etag"] === "string" ? row["@odata.etag"] : undefined;
    out.set(name, { definitionParameterId: id, rowId: row ? str(row[pp.primaryId]) : undefined, version, label: str(d[dp.label]), value: row ? str(row[pp.value]) : "" });
  }
  if (unknown.length) {
    throw new SchemaError(
      `IOM provider "${provider.name}" has no parameter ${unknown.join(", ")}. Its parameters: ${defs.map((d) => `"${str(d[dp.label])}"`).sort().join(", ") || "none"}.`,
    );
  }
  return out;
}

/** Write the values that differ from Dataverse. Returns the names written. */
export async function writeParameters(
  client: DataverseClient,
  s: IomProviderSchema,
  provider: IomProviderRow,
  current: Map<string, ParameterState>,
  desired: Record<string, string>,
): Promise<string[]> {
  const pp = s.parameter;
  const written: string[] = [];
  const failures: string[] = [];
  // A provider has a handful of parameters: one request each, a few at a time.
  await Promise.all(
    Object.entries(desired).map(async ([name, value]) => {
      const cur = current.get(name)!;
      if (cur.value === value) return;
      const column = { [pp.value]: value === "" ? null : value };
      const r = cur.rowId
        ? await client.request("PATCH", `${pp.entitySet}(${cur.rowId})`, { body: column, headers: { "If-Match": "*" } })
        : await client.request("POST", pp.entitySet, {
            body: {
              [pp.primaryId]: randomUUID(),
              ...column,
              [`${pp.provider.nav}@odata.bind`]: `/${s.provider.entitySet}(${provider.id})`,
              [`${pp.definitionParameter.nav}@odata.bind`]: `/${s.definitionParameter.entitySet}(${cur.definitionParameterId})`,
            },
          });
      if (r.status >= 200 && r.status < 300) written.push(name);
      else {
        const e = (r.data as { error?: { code?: string; message?: string } } | undefined)?.error;
        // The service's message is quoted: anything token-shaped in it is removed (../http.ts).
        failures.push(`"${name}": HTTP ${r.status}${e?.code ? ` ${e.code}` : ""}${e?.message ? `: ${redactSecrets(e.message)}` : ""}`);
      }
    }),
  );
  if (failures.length) {
    throw new Error(`IOM provider "${provider.name}": ${failures.length} parameter(s) not written (${failures.join("; ")}); written: ${written.join(", ") || "none"}`);
  }
  return written.sort();
}
