/**
 * Dataverse: IOM internal-external ID mappings kept in sync from per-stack CSV files.
 * See docs/dataverse.md.
 */
export { IomMappingSet, iomMappingSetDynamicProvider, createIomMappingSetDynamicProvider } from "./provider";
export type { IomMappingSetArgs, IomMappingSetInputs, IomMappingSetOutputs, IomMappingSetDynamicProvider, IomMappingSetDynamicProviderOptions, MappingRowInput, MappingDiffResult } from "./provider";
export { MAPPING_KINDS, KINDS, DEFAULT_MAPPING_GROUP, isMappingKind } from "./kinds";
export type { MappingKind, KindSpec } from "./kinds";
export { loadMappingDir, loadMappingFile, validateMappingCsv, MappingValidationError } from "./validation";
export type { ParsedMappingFile, Problem } from "./validation";
export { parseSchemaOverride, parseFlatOverride, OVERRIDE_KEYS, readTableMetadata, englishLabel, SchemaError } from "./schema";
export type { MappingSchema, SchemaOverride, TableMetadata } from "./schema";
export type { SyncSummary, DriftReport } from "./sync";
// The Web API client and its auth, for any other resource that talks to Dataverse.
export { createDataverseClient, isDataverseError } from "./client";
export type { ClientOptions, DataverseClient, DataverseDynamicProviderOptions, LogFn, Resp } from "./client";
export { defaultTokenSource, tokenSourceOf, authError, isAuthError, tokenClaims, expectedAudience, tokenScope, ENV_TOKEN_VARIABLE } from "./auth";
export type { TokenSource, TokenClaims } from "./auth";
