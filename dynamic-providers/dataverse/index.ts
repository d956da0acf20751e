/**
 * Dataverse: IOM internal-external ID mappings kept in sync from per-stack CSV files.
 * See docs/dataverse.md.
 */
export { IomMappingSet, iomMappingProvider, makeIomMappingProvider } from "./provider";
export type { IomMappingSetArgs, MappingRowInput, MappingSetInputs, MappingSetOutputs, MappingDiffResult } from "./provider";
export { MAPPING_KINDS, KINDS, DEFAULT_MAPPING_GROUP, isMappingKind } from "./kinds";
export type { MappingKind, KindSpec } from "./kinds";
export { loadMappingDir, loadMappingFile, validateMappingCsv, MappingValidationError } from "./validation";
export type { ParsedMappingFile, Problem } from "./validation";
export { parseSchemaOverride, OVERRIDE_KEYS } from "./schema";
export type { MappingSchema, SchemaOverride } from "./schema";
export type { SyncSummary, DriftReport } from "./sync";
