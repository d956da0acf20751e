/**
 * Azure Resource Manager: a resource provider registered in the subscription after the preview
 * features the stack needs from it (subscription prerequisites, docs/azure-landing.md).
 */
export {
  AzureProviderRegistration, azureProviderRegistrationDynamicProvider, createAzureProviderRegistrationDynamicProvider, checkProviderRegistration,
  registerFeatureCommand, registerProviderCommand,
} from "./provider";
export type {
  AzureProviderRegistrationArgs, AzureProviderRegistrationInputs, AzureProviderRegistrationOutputs, AzureProviderRegistrationDynamicProvider,
  AzureProviderRegistrationDynamicProviderOptions, RegistrationMode,
} from "./provider";
export { ARM_HOSTS, ARM_TOKEN_VARIABLE, DEFAULT_ARM_URL, FEATURES_API_VERSION, PROVIDERS_API_VERSION, armUrlFor, armUrlProblem } from "./arm";
