/**
 * IOM provider setup: the parameters of IOM provider instances (Inventory Visibility's file drop
 * locations and organization id, or any provider's named parameters), set by `pulumi up`.
 * See docs/iom-provider-setup.md.
 */
export { IomProviderParameters, iomProviderParametersDynamicProvider, createIomProviderParametersDynamicProvider, checkIomProviderParameters, diffParameters } from "./provider";
export type { IomProviderParametersArgs, IomProviderParametersInputs, IomProviderParametersOutputs, IomProviderParametersDynamicProvider, IomProviderParametersDynamicProviderOptions, ParameterDrift } from "./provider";
export { IOM_TABLES, IOM_PROVIDER_OVERRIDE_KEYS, parseIomProviderSchemaOverride, normalizeName, discoverIomProviderSchema } from "./discovery";
export type { IomProviderSchema, IomProviderSchemaOverride } from "./discovery";
export { parseIomProviderParameterEntries, INVENTORY_VISIBILITY_PARAMETERS } from "./config-entries";
export type { IomProviderParameterEntry } from "./config-entries";
// Reading a provider and its parameters, for checks outside the resource (the doctor).
export { findIomProvider, readParameters } from "./parameters";
export type { IomProviderRow, ParameterState } from "./parameters";
