/**
 * The BigCommerce stores of a stack: one IOM provider instance per store, each with its own API
 * check, Key Vault secret, provider parameters and mapping sets (docs/bigcommerce.md, "Adding a store").
 *
 * Stores come from the structured key `bigcommerceStores` (a list; Pulumi.yaml has no object type,
 * so the key is not declared there and docs/configuration.md documents it from STORE_FIELDS below)
 * and from the single-store keys (`bigcommerceStoreHash`, `bigcommerceAccessToken`, ...), which are
 * the shorthand for the store named `default`. The `default` store keeps the resource names a
 * single-store stack always had and reads `mappings/<stack>/*.csv`, so an existing stack plans no
 * replacement; every other store reads `mappings/<stack>/<name>/*.csv`.
 *
 * A token inside a structured value: `pulumi config set --secret --path 'bigcommerceStores[1].accessToken'`
 * encrypts that one leaf in Pulumi.<stack>.yaml, and the CLI then hands the program the whole key as
 * one decrypted secret value (it marks a structured key secret when any leaf in it is). So the program
 * can refuse a list whose tokens were all set in plain text, but cannot see a plain token beside an
 * encrypted one; tests/unit/project-file.test.ts refuses plain tokens in the committed stack files.
 *
 * Everything here but loadMappingSources is pure; config/build.ts calls the parsing, index.ts the rest.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import type { ConfigProblem } from "./config";
import { DEFAULT_TOKEN_CONFIG_KEY, normalizeScopes, normalizeStoreStatuses, storeHashProblem } from "./dynamic-providers/bigcommerce/logic";
import { MappingValidationError, loadMappingDir, type ParsedMappingFile, type Problem } from "./dynamic-providers/dataverse/validation";
import type { MappingKind } from "./dynamic-providers/dataverse/kinds";
import { normalizeName } from "./dynamic-providers/iom-provider/discovery";

/** The structured config key holding the list of stores. */
export const STORES_KEY = "bigcommerceStores";
/** The store the single-store keys describe; it keeps the single-store resource names. */
export const DEFAULT_STORE = "default";
/**
 * What the store hash parameter of IOM's BigCommerce provider is searched by when
 * `bigcommerceStoreHashParameter` is empty: Microsoft's setup page says "Go to the Parameters tab and
 * add the BigCommerce store hash" (IOM docs, set-up-bigcommerce-provider.md) without the label.
 * IomProviderParameters matches a label exactly first, then the one label that contains it.
 */
export const STORE_HASH_PARAMETER_SEARCH = "Store Hash";

/** The flat keys of this block (declared in Pulumi.yaml; config/schema.ts merges them into CONFIG_SCHEMA). */
export const STORES_SCHEMA = {
  bigcommerceMaxStores: { type: "integer", schema: z.number().int().min(1, "must be at least 1").max(50, "must be at most 50") },
  bigcommerceStoreHashParameter: { type: "string", schema: z.string() },
} as const;

/** One field of a `bigcommerceStores` entry, for docs/configuration.md (scripts/config-docs.ts). */
export interface StoreField {
  field: string;
  type: string;
  default: string;
  description: string;
}

/** The fields of a `bigcommerceStores` entry, as docs/configuration.md lists them. */
export const STORE_FIELDS: readonly StoreField[] = [
  { field: "name", type: "string", default: "required", description: "Short name of the store: lowercase letters, digits and hyphens, up to 24, starting with a letter. Used in resource names, outputs and its mappings folder; `default` is the store of the single-store keys (same resources, `mappings/<stack>/*.csv`)." },
  { field: "providerName", type: "string", default: "required (`default`: dataverseProviderName)", description: "The IOM provider instance of this store as IOM lists it (Providers > Installed): one BigCommerce instance per store, added from IOM's catalog. Its parameters and mapping sets are scoped to it." },
  { field: "storeHash", type: "string", default: "required", description: "The store hash (from the API path stores/<hash>/v3); unique across stores." },
  { field: "accessToken", type: "string (secret)", default: "required", description: "The store's API account token. Set it with --secret --path 'bigcommerceStores[N].accessToken' (the program refuses a list whose tokens are all plain text); stored in Key Vault and proven by the store's API check. A token shared by two stores is warned about." },
  { field: "requiredScopes", type: "array", default: "what IOM needs", description: "OAuth scopes the store's API check proves; the default and the short forms are bigcommerceRequiredScopes's." },
  { field: "acceptedStoreStatuses", type: "array", default: "live, prelaunch, pre-launch, trial", description: "Store statuses the store's API check accepts, as for bigcommerceAcceptedStoreStatuses (needs the information scope)." },
  { field: "expectedStoreName", type: "string", default: "none", description: "When set, the store's name must equal it." },
  { field: "mappingsDir", type: "string", default: "`<dataverseMappingsDir>/<name>`", description: "Folder of the store's mapping CSVs, relative to the project (not for `default`, whose files are the stack's own folder)." },
];

/** A BigCommerce store as the program declares it. */
export interface StoreConfig {
  name: string;
  /** Where it is configured, for messages: `bigcommerceStores[1]`, or `bigcommerceStoreHash` for the single-store keys. */
  origin: string;
  /** The IOM provider instance the store's parameters and mappings belong to. */
  providerName: string;
  storeHash: string;
  accessToken: pulumi.Output<string>;
  /** Absent: the check's defaults. */
  requiredScopes?: string[];
  expectedStoreName?: string;
  acceptedStoreStatuses?: string[];
  /** Folder of its mapping CSVs (the stack's own folder for `default`). */
  mappingsDir: string;
  /** Set explicitly in config: the folder must exist. */
  mappingsDirConfigured: boolean;
  /** Unqualified config key holding its token, which `pulumi refresh` reads (BigCommerceApiCheck.accessTokenConfigKey). */
  accessTokenConfigKey: string;
}

/** Names of a store's resources: the `default` store keeps the single-store names, so existing stacks plan no replacement. */
export function storeResourceNames(store: Pick<StoreConfig, "name" | "providerName">) {
  const single = store.name === DEFAULT_STORE;
  return {
    check: single ? "bigcommerce-api-check" : `bigcommerce-api-check-${store.name}`,
    /** The KeyVault component's key for the secret (its child is `vault-secret-<key>`), also the keyVaultSecretNames output's key. */
    vaultSecretKey: single ? DEFAULT_TOKEN_CONFIG_KEY : `${DEFAULT_TOKEN_CONFIG_KEY}-${store.name}`,
    vaultSecretName: single ? "bigcommerce-access-token" : `bigcommerce-access-token-${store.name}`,
    /** The name `iomProviderParameters` entries for the same provider already give their resource. */
    parameters: `iom-provider-parameters-${providerSlug(store.providerName)}`,
  };
}

/** The mapping set of one kind of a store (`default`: the stack's own folder, the single-store names). */
export const mappingSetName = (store: string, kind: MappingKind): string => (store === DEFAULT_STORE ? `iom-mappings-${kind}` : `iom-mappings-${store}-${kind}`);

/** An IOM provider's name as a resource-name part: "Inventory Visibility" -> "inventory-visibility". */
export const providerSlug = (name: string): string => name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");

// ---- parsing (config/build.ts) ------------------------------------------------------------------

const STORE_NAME = /^[a-z](?:[a-z0-9-]{0,22}[a-z0-9])?$/;
const insideProject = (v: string) => !path.isAbsolute(v) && !v.split(/[\\/]/).includes("..");
const scopes = z.array(z.string()).superRefine((list, ctx) => {
  for (const message of normalizeScopes(list).problems) ctx.addIssue({ code: "custom", message });
});
const statuses = z.array(z.string()).superRefine((list, ctx) => {
  for (const message of normalizeStoreStatuses(list).problems) ctx.addIssue({ code: "custom", message });
});
const STORE_ENTRY = z.strictObject({
  name: z.string().regex(STORE_NAME, "must be 1-24 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen"),
  providerName: z.string().trim().min(1, "must name the store's IOM provider instance").optional(),
  storeHash: z.string().superRefine((v, ctx) => {
    const problem = storeHashProblem(v);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }),
  accessToken: z.string().min(1, "is required: the store's API account token, set with --secret --path"),
  requiredScopes: scopes.optional(),
  acceptedStoreStatuses: statuses.optional(),
  expectedStoreName: z.string().optional(),
  mappingsDir: z.string().min(1).refine(insideProject, "must be a folder inside the project").optional(),
});
type StoreEntry = z.infer<typeof STORE_ENTRY>;

/** The entries of `bigcommerceStores` that parse, and a problem for every one that does not. */
export interface ParsedStoreEntries {
  entries: { index: number; entry: StoreEntry }[];
  problems: ConfigProblem[];
}

const at = (index: number, field?: string) => `${STORES_KEY}[${index}]${field ? `.${field}` : ""}`;
const setTokenCommand = (index: number) => `pulumi config set --secret --path '${at(index, "accessToken")}' <token>`;

/**
 * Reads the raw `bigcommerceStores` value (JSON text, as the CLI hands a structured key to the
 * program) and validates each entry. `secret`: whether the CLI marked the key secret, which it does
 * when any leaf in it was set with --secret.
 */
export function parseStoreEntries(text: string | undefined, secret: boolean): ParsedStoreEntries {
  const problems: ConfigProblem[] = [];
  if (text === undefined || text === "") return { entries: [], problems };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (!Array.isArray(value)) {
    problems.push({ key: STORES_KEY, message: `must be a list of stores (in Pulumi.<stack>.yaml a YAML sequence; on the command line --path '${STORES_KEY}[0].name' <name>)` });
    return { entries: [], problems };
  }
  const entries: ParsedStoreEntries["entries"] = [];
  value.forEach((raw: unknown, index) => {
    const result = STORE_ENTRY.safeParse(raw);
    if (!result.success) {
      for (const issue of result.error.issues) {
        const [field, ...rest] = issue.path.map(String);
        problems.push({ key: at(index, field), message: `${rest.length ? `[${rest.join(".")}] ` : ""}${issue.message}` });
      }
    }
    const token = (raw as { accessToken?: unknown } | null)?.accessToken;
    if (!secret && typeof token === "string" && token !== "") {
      problems.push({ key: at(index, "accessToken"), message: `holds a secret but was set in plain text: set it with '${setTokenCommand(index)}'` });
    }
    if (result.success) entries.push({ index, entry: result.data });
  });
  return { entries, problems };
}

/** The single-store keys and the settings every store shares, as config/ has validated them. */
export interface StoreDefaults {
  /** bigcommerceStoreHash etc.; storeHash "" means the single-store keys describe no store. */
  single: { storeHash: string; accessToken: string; requiredScopes: string[]; expectedStoreName: string; acceptedStoreStatuses: string[] };
  /** dataverseProviderName: the provider of `mappings/<stack>/*.csv` and of the `default` store. */
  defaultProviderName: string;
  /** The stack's own mappings folder (dataverseMappingsDir, or mappings/<stack>). */
  stackMappingsDir: string;
  /** Whether the stack names a Dataverse environment (parameters and mappings need one). */
  dataverse: boolean;
  inventoryVisibilityProvider: string;
  maxStores: number;
  storeHashParameter: string;
  /** iomProviderParameters and iomProviderSecretParameters entries, with their key and index. */
  parameterEntries: { key: string; index: number; provider: string; parameter: string }[];
}

export interface StoresResult {
  stores: StoreConfig[];
  problems: ConfigProblem[];
  warnings: ConfigProblem[];
}

/** Is this parameter entry the store hash, which the program sets from the store? */
function setsStoreHash(parameter: string, storeHashParameter: string): boolean {
  const n = normalizeName(parameter);
  return storeHashParameter ? n === normalizeName(storeHashParameter) : n.includes(normalizeName(STORE_HASH_PARAMETER_SEARCH));
}

/** Every store of the stack (the single-store keys' first), with the rules between them. */
export function buildStores(parsed: ParsedStoreEntries, d: StoreDefaults): StoresResult {
  const problems: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  type Candidate = { store: StoreConfig; token: string; keyOf: (field: "name" | "providerName" | "storeHash" | "accessToken") => string };
  const candidates: Candidate[] = [];
  if (d.single.storeHash) {
    const flat = { name: "bigcommerceStoreHash", providerName: "dataverseProviderName", storeHash: "bigcommerceStoreHash", accessToken: "bigcommerceAccessToken" } as const;
    candidates.push({
      token: d.single.accessToken,
      keyOf: (field) => flat[field],
      store: {
        name: DEFAULT_STORE,
        origin: "bigcommerceStoreHash",
        providerName: d.defaultProviderName,
        storeHash: d.single.storeHash,
        accessToken: pulumi.secret(d.single.accessToken),
        requiredScopes: d.single.requiredScopes.length > 0 ? d.single.requiredScopes : undefined,
        expectedStoreName: d.single.expectedStoreName || undefined,
        acceptedStoreStatuses: d.single.acceptedStoreStatuses.length > 0 ? d.single.acceptedStoreStatuses : undefined,
        mappingsDir: d.stackMappingsDir,
        mappingsDirConfigured: false,
        accessTokenConfigKey: DEFAULT_TOKEN_CONFIG_KEY,
      },
    });
  }
  for (const { index, entry } of parsed.entries) {
    const single = entry.name === DEFAULT_STORE;
    if (single && entry.mappingsDir !== undefined) {
      problems.push({ key: at(index, "mappingsDir"), message: "is not used by the store named 'default': its mappings are the stack's own folder (dataverseMappingsDir, default mappings/<stack>)" });
    }
    if (!single && entry.providerName === undefined) {
      problems.push({ key: at(index, "providerName"), message: "is required: the IOM provider instance of this store (add one BigCommerce instance per store from IOM's catalog)" });
      continue;
    }
    if (!d.dataverse && entry.mappingsDir !== undefined) problems.push({ key: at(index, "mappingsDir"), message: "is only used with a Dataverse (create mode, or dataverseEnvironmentUrl)" });
    const required = normalizeScopes(entry.requiredScopes ?? []).scopes;
    if ((entry.acceptedStoreStatuses ?? []).length > 0 && required.length > 0 && !required.includes("store_v2_information_read_only")) {
      problems.push({ key: at(index, "acceptedStoreStatuses"), message: "needs store_v2_information_read_only (information) in requiredScopes: GET /v2/store returns the status" });
    }
    candidates.push({
      token: entry.accessToken,
      keyOf: (field) => at(index, field),
      store: {
        name: entry.name,
        origin: at(index),
        providerName: entry.providerName ?? d.defaultProviderName,
        storeHash: entry.storeHash,
        accessToken: pulumi.secret(entry.accessToken),
        requiredScopes: entry.requiredScopes?.length ? entry.requiredScopes : undefined,
        expectedStoreName: entry.expectedStoreName || undefined,
        acceptedStoreStatuses: entry.acceptedStoreStatuses?.length ? entry.acceptedStoreStatuses : undefined,
        mappingsDir: single ? d.stackMappingsDir : (entry.mappingsDir ?? path.join(d.stackMappingsDir, entry.name)).replace(/[\\/]+$/, ""),
        mappingsDirConfigured: !single && entry.mappingsDir !== undefined,
        accessTokenConfigKey: STORES_KEY,
      },
    });
  }

  if (candidates.length > d.maxStores) {
    problems.push({ key: STORES_KEY, message: `configures ${candidates.length} stores${d.single.storeHash ? " (with the single-store keys' one)" : ""}, more than bigcommerceMaxStores (${d.maxStores}): raise bigcommerceMaxStores or split the stores across IOM environments` });
  }
  // Each later store that repeats an earlier one names both.
  const firstBy = new Map<string, Candidate>();
  const once = (field: "name" | "providerName" | "storeHash", c: Candidate, normalized: string, message: (firstKey: string) => string) => {
    const first = firstBy.get(`${field}:${normalized}`);
    if (first) problems.push({ key: c.keyOf(field), message: message(first.keyOf(field)) });
    else firstBy.set(`${field}:${normalized}`, c);
  };
  for (const c of candidates) {
    const s = c.store;
    once("name", c, s.name, (first) => s.name === DEFAULT_STORE
      ? "is 'default', the store of the single-store keys (bigcommerceStoreHash, bigcommerceAccessToken), which are set too: keep one of the two"
      : `is '${s.name}', as is ${first}: store names are unique`);
    once("storeHash", c, s.storeHash.toLowerCase(), (first) => `is '${s.storeHash}', as is ${first}: one entry per BigCommerce store`);
    once("providerName", c, normalizeName(s.providerName), (first) =>
      `names the IOM provider instance '${s.providerName}', as does ${first}: each store needs its own instance (Providers > Catalog > BigCommerce, once per store)`);
    if (d.dataverse && normalizeName(s.providerName) === normalizeName(d.inventoryVisibilityProvider)) {
      problems.push({ key: c.keyOf("providerName"), message: "is the Inventory Visibility provider (iomInventoryVisibilityProvider); name the store's BigCommerce provider instance" });
    }
  }
  // A token is issued per API account of one store: the same one twice means shared credentials.
  candidates.forEach((c, i) => {
    const earlier = candidates.slice(0, i).find((o) => o.token === c.token);
    if (earlier) {
      warnings.push({
        key: c.keyOf("accessToken"),
        message: `is the same access token as ${earlier.keyOf("accessToken")} (store '${earlier.store.name}'): BigCommerce issues one token per API account of one store, so the two stores share credentials; create a store-level API account for each store`,
      });
    }
  });
  // The store hash parameter is the program's to set: an entry for a store's provider may not set it too.
  for (const e of d.parameterEntries) {
    const owner = candidates.find((c) => normalizeName(c.store.providerName) === normalizeName(e.provider));
    if (owner && d.dataverse && setsStoreHash(e.parameter, d.storeHashParameter)) {
      problems.push({ key: e.key, message: `entry ${e.index} sets '${e.parameter}' of store '${owner.store.name}''s provider, which the program sets from its storeHash; remove it` });
    }
  }
  if (!d.dataverse && d.storeHashParameter !== "") problems.push({ key: "bigcommerceStoreHashParameter", message: "is only used with a Dataverse (create mode, or dataverseEnvironmentUrl): the store's IOM provider parameters" });
  return { stores: problems.length ? [] : candidates.map((c) => c.store), problems, warnings };
}

// ---- mapping folders (index.ts, before anything is declared) -------------------------------------

/** One folder of mapping CSVs and the IOM provider instance its sets are scoped to. */
export interface MappingSource {
  /** The store it belongs to; `default` for the stack's own folder, also without a `default` store. */
  store: string;
  providerName: string;
  dir: string;
  files: Partial<Record<MappingKind, ParsedMappingFile>>;
}

/**
 * The stack's own folder (`mappings/<stack>/*.csv`, the `default` store's, or dataverseProviderName's
 * without one) and every other store's folder, each validated; then the folders themselves: a
 * subfolder of the stack's folder that no store reads, a configured folder that does not exist, the
 * stack's own files scoped to a provider instance a store also names. Throws one
 * MappingValidationError listing every problem of every folder and file.
 */
export function loadMappingSources(args: { stackDir: string; defaultProviderName: string; mappingGroup: string; stores: readonly StoreConfig[]; maxFileBytes?: number }): MappingSource[] {
  const problems: Problem[] = [];
  const load = (dir: string): MappingSource["files"] => {
    try {
      return loadMappingDir(dir, args.mappingGroup, { maxFileBytes: args.maxFileBytes });
    } catch (e) {
      if (!(e instanceof MappingValidationError)) throw e;
      problems.push(...e.problems);
      return {};
    }
  };
  const single = args.stores.find((s) => s.name === DEFAULT_STORE);
  const own: MappingSource = { store: DEFAULT_STORE, providerName: single?.providerName ?? args.defaultProviderName, dir: args.stackDir, files: load(args.stackDir) };
  const sources: MappingSource[] = [own];
  const others = args.stores.filter((s) => s.name !== DEFAULT_STORE);
  const same = (a: string, b: string) => path.resolve(a) === path.resolve(b);
  for (const store of others) {
    const key = `${store.origin}.mappingsDir`;
    if (same(store.mappingsDir, args.stackDir)) {
      problems.push({ file: store.mappingsDir, line: 0, message: `${key}: is the stack's own folder, whose files belong to ${single ? "store 'default'" : "dataverseProviderName"}; give store '${store.name}' a folder of its own` });
      continue;
    }
    const clash = others.find((o) => o !== store && same(o.mappingsDir, store.mappingsDir));
    if (clash && others.indexOf(clash) < others.indexOf(store)) {
      problems.push({ file: store.mappingsDir, line: 0, message: `${key}: store '${store.name}' and store '${clash.name}' read the same folder; each store needs its own` });
      continue;
    }
    if (!fs.existsSync(store.mappingsDir)) {
      if (store.mappingsDirConfigured) problems.push({ file: store.mappingsDir, line: 0, message: `${key}: the folder does not exist` });
      sources.push({ store: store.name, providerName: store.providerName, dir: store.mappingsDir, files: {} });
      continue;
    }
    sources.push({ store: store.name, providerName: store.providerName, dir: store.mappingsDir, files: load(store.mappingsDir) });
  }
  // A subfolder of the stack's folder is a store's folder: one no store reads is a mistake.
  const subfolders = fs.existsSync(args.stackDir) ? fs.readdirSync(args.stackDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort() : [];
  for (const name of subfolders) {
    const dir = path.join(args.stackDir, name);
    if (others.some((s) => same(s.mappingsDir, dir))) continue;
    const named = others.find((s) => s.name === name);
    problems.push({
      file: dir,
      line: 0,
      message: named
        ? `${STORES_KEY}: a mappings folder for store '${name}', which reads ${named.mappingsDir} instead (${named.origin}.mappingsDir); move the files or remove the folder`
        : `${STORES_KEY}: a mappings folder for store '${name}', which is not configured (stores: ${others.map((s) => s.name).join(", ") || "none besides the single-store keys'"}); add the store to ${STORES_KEY} or remove the folder`,
    });
  }
  // The stack's own files belong to one provider instance; a store naming the same one would sync it twice.
  if (!single && Object.keys(own.files).length > 0) {
    const twice = others.find((s) => normalizeName(s.providerName) === normalizeName(own.providerName));
    if (twice) {
      problems.push({
        file: args.stackDir,
        line: 0,
        message: `${twice.origin}.providerName: store '${twice.name}' names '${twice.providerName}', the provider of the stack's own mapping files (dataverseProviderName): name that store 'default' to make these files its own, or move them into its folder`,
      });
    }
  }
  if (problems.length) throw new MappingValidationError(problems);
  return sources;
}
