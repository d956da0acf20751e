/**
 * Discovery of IOM's provider tables from the environment's metadata.
 *
 * Microsoft documents these tables by logical name only (IOM docs, "alm" page: Provider
 * `msdyn_iomprovider`, Provider Definition `msdyn_iomproviderdefinition`, Provider Parameter
 * `msdyn_iomproviderparameter`, Provider Definition Parameter `msdyn_iomproviderdefinitionparameter`).
 * Their columns are not published, so every column is found at run time:
 *
 * - lookups by their target table (the documented logical names), through `ManyToOneRelationships`,
 *   which also gives the navigation property `@odata.bind` needs;
 * - a parameter definition's label: its "Display Name" column if the table has exactly one, else the
 *   table's primary name column (the form shows the parameter by that label);
 * - a parameter's value: the one text column of `msdyn_iomproviderparameter` whose display name
 *   mentions "value";
 * - a provider's activation status: its `Status`-typed column (statuscode), else a column displayed
 *   "Status" / "Status Reason"; optional.
 *
 * Every pick can be overridden with a flat `key=logicalname;...` string (OVERRIDE_KEYS); anything
 * missing or ambiguous fails with the candidates and the key to set.
 */
import { SchemaError, englishLabel, parseFlatOverride, readTableMetadata, type DataverseClient, type TableMetadata } from "../dataverse";

/** The documented logical names (IOM "alm" page). */
export const IOM_TABLES = {
  provider: "msdyn_iomprovider",
  definition: "msdyn_iomproviderdefinition",
  parameter: "msdyn_iomproviderparameter",
  definitionParameter: "msdyn_iomproviderdefinitionparameter",
} as const;

export const IOM_PROVIDER_OVERRIDE_KEYS = [
  "providerName",
  "providerDefinition",
  "providerStatus",
  "definitionName",
  "definitionParameterName",
  "definitionParameterDefinition",
  "parameterProvider",
  "parameterDefinitionParameter",
  "parameterValue",
] as const;
export type IomProviderOverrideKey = (typeof IOM_PROVIDER_OVERRIDE_KEYS)[number];
export type IomProviderSchemaOverride = Partial<Record<IomProviderOverrideKey, string>>;

export interface LookupColumn {
  /** Read as `_<attribute>_value`. */
  attribute: string;
  /** Written as `<nav>@odata.bind`. */
  nav: string;
}

export interface TableColumns {
  logicalName: string;
  entitySet: string;
  primaryId: string;
}

export interface IomProviderSchema {
  provider: TableColumns & { name: string; definition: LookupColumn; status?: string };
  definition: TableColumns & { name: string };
  definitionParameter: TableColumns & { label: string; name: string; definition: LookupColumn };
  parameter: TableColumns & { provider: LookupColumn; definitionParameter: LookupColumn; value: string };
}

/** Parse `providerName=x;parameterValue=y` (`,` also separates). */
export function parseIomProviderSchemaOverride(s: string | undefined): IomProviderSchemaOverride {
  return parseFlatOverride(s, "provider schema override", IOM_PROVIDER_OVERRIDE_KEYS);
}

/** Lower case, letters and digits only: "Inventory Visibility OrganizationId" == "... Organization ID". */
export const normalizeName = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]+/g, "");
const words = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, " ").trim();

function columns(def: TableMetadata): TableColumns {
  return { logicalName: def.LogicalName, entitySet: def.EntitySetName, primaryId: def.PrimaryIdAttribute };
}

/** Pick one column: the override if given (checked to exist), else the single candidate. */
function pick(def: TableMetadata, what: string, key: IomProviderOverrideKey, o: IomProviderSchemaOverride, candidates: string[], problems: string[]): string {
  const forced = o[key];
  if (forced) {
    if (!(def.Attributes ?? []).some((a) => a.LogicalName === forced)) problems.push(`${def.LogicalName}: override ${key}=${forced} is not one of its columns`);
    return forced;
  }
  const unique = [...new Set(candidates)];
  if (unique.length === 1) return unique[0];
  const listing = (def.Attributes ?? []).map((a) => `${a.LogicalName} ("${englishLabel(a.DisplayName)}", ${a.AttributeType})`).join(", ");
  problems.push(
    unique.length === 0
      ? `${def.LogicalName}: no column for the ${what}; set ${key}=<logical name> (columns: ${listing})`
      : `${def.LogicalName}: ${unique.length} columns could be the ${what} (${unique.join(", ")}); set ${key}=<logical name>`,
  );
  return "";
}

function lookupTo(def: TableMetadata, target: string, what: string, key: IomProviderOverrideKey, o: IomProviderSchemaOverride, problems: string[]): LookupColumn {
  const rels = def.ManyToOneRelationships ?? [];
  const attribute = pick(def, what, key, o, rels.filter((r) => r.ReferencedEntity === target).map((r) => r.ReferencingAttribute), problems);
  const rel = rels.find((r) => r.ReferencingAttribute === attribute);
  if (attribute && !rel) problems.push(`${def.LogicalName}.${attribute} (${what}) has no many-to-one relationship in metadata`);
  return { attribute, nav: rel?.ReferencingEntityNavigationPropertyName ?? "" };
}

const isText = (t: string) => t === "String" || t === "Memo";

/** Read the four tables' metadata and resolve every column used. Throws SchemaError listing every problem. */
export async function discoverIomProviderSchema(client: DataverseClient, o: IomProviderSchemaOverride = {}): Promise<IomProviderSchema> {
  let defs: TableMetadata[];
  try {
    defs = await Promise.all([IOM_TABLES.provider, IOM_TABLES.definition, IOM_TABLES.definitionParameter, IOM_TABLES.parameter].map((t) => readTableMetadata(client, t)));
  } catch (e) {
    const status = (e as { status?: number }).status;
    if (status === 404) {
      throw new SchemaError(`IOM's provider tables (${Object.values(IOM_TABLES).join(", ")}) are not in this environment: is Intelligent Order Management installed?`);
    }
    throw e;
  }
  const [prov, definition, defParam, param] = defs;
  const problems: string[] = [];
  const attrs = (d: TableMetadata) => d.Attributes ?? [];

  const providerName = o.providerName ?? prov.PrimaryNameAttribute ?? "";
  if (!providerName) problems.push(`${prov.LogicalName} has no primary name column; set providerName=<logical name>`);
  const statusTyped = attrs(prov).filter((a) => a.AttributeType === "Status").map((a) => a.LogicalName);
  const statusLabelled = attrs(prov).filter((a) => /^status( reason)?$/.test(words(englishLabel(a.DisplayName)))).map((a) => a.LogicalName);
  const status = o.providerStatus ?? (statusTyped.length === 1 ? statusTyped[0] : statusLabelled.length === 1 ? statusLabelled[0] : undefined);

  const definitionName = o.definitionName ?? definition.PrimaryNameAttribute ?? "";
  if (!definitionName) problems.push(`${definition.LogicalName} has no primary name column; set definitionName=<logical name>`);

  const displayNamed = attrs(defParam).filter((a) => isText(a.AttributeType) && words(englishLabel(a.DisplayName)) === "display name").map((a) => a.LogicalName);
  const paramName = defParam.PrimaryNameAttribute ?? "";
  const label = o.definitionParameterName ?? (displayNamed.length === 1 ? displayNamed[0] : paramName);
  if (!label) problems.push(`${defParam.LogicalName}: no column holds the parameter's name; set definitionParameterName=<logical name>`);

  const valueColumn = pick(
    param,
    "parameter value",
    "parameterValue",
    o,
    attrs(param).filter((a) => isText(a.AttributeType) && a.LogicalName !== param.PrimaryNameAttribute && words(englishLabel(a.DisplayName)).split(" ").includes("value")).map((a) => a.LogicalName),
    problems,
  );

  const schema: IomProviderSchema = {
    provider: { ...columns(prov), name: providerName, definition: lookupTo(prov, IOM_TABLES.definition, "provider's definition", "providerDefinition", o, problems), status },
    definition: { ...columns(definition), name: definitionName },
    definitionParameter: {
      ...columns(defParam),
      label,
      name: paramName || label,
      definition: lookupTo(defParam, IOM_TABLES.definition, "parameter definition's provider definition", "definitionParameterDefinition", o, problems),
    },
    parameter: {
      ...columns(param),
      provider: lookupTo(param, IOM_TABLES.provider, "parameter's provider", "parameterProvider", o, problems),
      definitionParameter: lookupTo(param, IOM_TABLES.definitionParameter, "parameter's definition", "parameterDefinitionParameter", o, problems),
      value: valueColumn,
    },
  };
  if (problems.length) throw new SchemaError(`IOM provider tables: ${problems.join("; ")}. Set iomProviderSchema to override (see docs/iom-provider-setup.md).`);
  return schema;
}
