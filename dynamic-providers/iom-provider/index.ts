/**
 * IOM provider setup: the parameters of IOM provider instances (Inventory Visibility's file drop
 * locations and organization id, or any provider's named parameters), set by `pulumi up`.
 * See docs/iom-provider-setup.md.
 */
export { IomProviderParameters, iomProviderParametersProvider, createIomProviderParametersProvider, checkProviderParameters, diffParameters } from "./provider";
export type { IomProviderParametersArgs, IomProviderParametersInputs, IomProviderParametersOutputs, IomProviderParametersProvider, IomProviderParametersProviderOptions, ParameterDrift } from "./provider";
export { IOM_TABLES, PROVIDER_OVERRIDE_KEYS, parseProviderSchemaOverride, normalizeName, discoverProviderSchema } from "./discovery";
export type { ProviderSchema, ProviderSchemaOverride } from "./discovery";
export { parseProviderParameterEntries, INVENTORY_VISIBILITY_PARAMETERS } from "./config-entries";
export type { ProviderParameterEntry } from "./config-entries";
// Reading a provider and its parameters, for checks outside the resource (the doctor).
export { findProvider, readParameters } from "./parameters";
export type { ProviderRow, ParameterState } from "./parameters";
