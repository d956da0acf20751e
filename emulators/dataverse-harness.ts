/** Test harness: an emulator, seeded, and the provider driven the way the engine drives it. */
import { DataverseEmulator, EmulatorOptions, Row } from "./dataverse";
import { EMULATOR_MAPPING_TABLE } from "./dataverse-schema";
import { Seeded, seedEmulator } from "./dataverse-fixtures";
import { createIomMappingSetDynamicProvider, IomMappingSetInputs, IomMappingSetOutputs } from "../dynamic-providers/dataverse/provider";
import type { ClientOptions } from "../dynamic-providers/dataverse/client";
import type { MappingKind } from "../dynamic-providers/dataverse/kinds";
import type { RowMap } from "../dynamic-providers/dataverse/rows";
import { encodeApplied } from "../dynamic-providers/dataverse/sync";

export const TOKEN = "emulator-token";

/** Fast retries for tests: no real-second sleeps anywhere. */
export const FAST: Partial<ClientOptions> = { retryBaseMs: 2, retryMaxMs: 20, maxRetryAfterMs: 2000 };

/**
 * The provider's inputs for the product mappings of the emulator at `url`, as the program builds
 * them: the rows packed, as IomMappingSet sends them.
 */
export function productMappingInputs(url: string, rows: RowMap, extra: Partial<IomMappingSetInputs> = {}): IomMappingSetInputs {
  return {
    environmentUrl: url,
    kind: "products",
    // Typed as the provider's decoded inputs (SyncInputs.rows); check and clean() take either shape.
    rows: encodeApplied(rows) as unknown as RowMap,
    targetKeyColumn: "productnumber",
    mappingGroup: "Default Mapping Group",
    providerName: "BigCommerce",
    adoptExisting: false,
    schemaOverride: "",
    ownerSeed: "test-owner-seed",
    ...extra,
  };
}

export interface Harness {
  emu: DataverseEmulator;
  seeded: Seeded;
  provider: ReturnType<typeof createIomMappingSetDynamicProvider>;
  inputs(rows: RowMap, extra?: Partial<IomMappingSetInputs>): IomMappingSetInputs;
  mappingRows(kind?: MappingKind): Row[];
  stop(): Promise<void>;
}

export async function startHarness(opts: EmulatorOptions = {}, client: Partial<ClientOptions> = {}, products = 50): Promise<Harness> {
  process.env.DATAVERSE_ACCESS_TOKEN = TOKEN;
  const emu = new DataverseEmulator({ token: TOKEN, ...opts });
  const url = await emu.start();
  const seeded = seedEmulator(emu, products);
  const provider = createIomMappingSetDynamicProvider({ client: { ...FAST, ...client } });
  return {
    emu,
    seeded,
    provider,
    inputs: (rows, extra = {}) => productMappingInputs(url, rows, { ownerSeed: "test-owner-seed", ...extra }),
    mappingRows: (kind = "products") => emu.rows(EMULATOR_MAPPING_TABLE[kind].table),
    stop: () => emu.stop(),
  };
}

export function productRows(n: number, start = 1): RowMap {
  const m: RowMap = {};
  for (let i = start; i < start + n; i++) m[`sku=S${i}`] = `P-${String(i).padStart(6, "0")}`;
  return m;
}

export type Outs = IomMappingSetOutputs;

/** Insert a product mapping row as "someone else" would (random id). */
export function foreignProductMapping(h: Harness, sku: string, productNumber: string, provider = h.seeded.providerId, group = h.seeded.groupId): string {
  return h.emu.insert("zq1_prodmap", {
    zq1_extfld: "sku",
    zq1_extval: sku,
    zq1_grp: group,
    zq1_prov: provider,
    zq1_prod: h.seeded.products.get(productNumber) ?? null,
  });
}

/** Key → product number as the emulator holds it, for this provider; throws on duplicates. */
export function remoteState(h: Harness): Record<string, string | null> {
  const byId = new Map<string, string>();
  for (const [num, id] of h.seeded.products) byId.set(id, num);
  const out: Record<string, string | null> = {};
  for (const r of h.mappingRows()) {
    if (r.zq1_prov !== h.seeded.providerId) continue;
    const k = `${r.zq1_grp === h.seeded.groupId ? "" : `[${r.zq1_grp}] `}${r.zq1_extfld}=${r.zq1_extval}`;
    if (k in out) throw new Error(`duplicate remote row for ${k}`);
    out[k] = r.zq1_prod ? (byId.get(r.zq1_prod) ?? null) : null;
  }
  return out;
}
