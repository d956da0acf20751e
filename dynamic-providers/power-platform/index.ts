/**
 * Power Platform: the stack's environment (created or adopted), its Managed Environment setting,
 * the IOM application package, and the NetworkInjection enterprise policy linked to it by
 * `pulumi up`. See docs/power-platform-environment.md and docs/iom-provider-setup.md.
 */
export { PowerPlatformPolicyLink, powerPlatformPolicyLinkDynamicProvider, createPowerPlatformPolicyLinkDynamicProvider, checkPolicyLink } from "./provider";
export type { PowerPlatformPolicyLinkArgs, PowerPlatformPolicyLinkInputs, PowerPlatformPolicyLinkOutputs, PowerPlatformPolicyLinkDynamicProvider, PowerPlatformPolicyLinkDynamicProviderOptions } from "./provider";
export { DEFAULT_BAP_URL, BAP_SCOPE, BAP_SCOPES, bapScopeFor, LINK_API_VERSION, ENVIRONMENT_API_VERSION, SYSTEM_ID_PATTERN, createAdminApi, sameLocation } from "./admin-api";
export { PowerPlatformEnvironment, powerPlatformEnvironmentDynamicProvider, createPowerPlatformEnvironmentDynamicProvider, checkEnvironment } from "./environment";
export type { EnvironmentMode, PowerPlatformEnvironmentArgs, PowerPlatformEnvironmentInputs, PowerPlatformEnvironmentOutputs, PowerPlatformEnvironmentDynamicProvider, PowerPlatformEnvironmentDynamicProviderOptions } from "./environment";
export { PowerPlatformManagedEnvironment, powerPlatformManagedEnvironmentDynamicProvider, createPowerPlatformManagedEnvironmentDynamicProvider } from "./managed-environment";
export type { PowerPlatformManagedEnvironmentArgs, PowerPlatformManagedEnvironmentInputs, PowerPlatformManagedEnvironmentOutputs } from "./managed-environment";
export { PowerPlatformApplicationPackage, powerPlatformApplicationPackageDynamicProvider, createPowerPlatformApplicationPackageDynamicProvider, checkApplicationPackage, DEFAULT_POWER_PLATFORM_API_URL } from "./application-package";
export type { PowerPlatformApplicationPackageArgs, PowerPlatformApplicationPackageInputs, PowerPlatformApplicationPackageOutputs } from "./application-package";
export { ENVIRONMENT_SKUS, DOMAIN_NAME_PATTERN, MANAGED_ENVIRONMENT_SETTINGS } from "./environment-api";
export type { EnvironmentSku, EnvironmentSpec } from "./environment-api";
export { IOM_APPLICATION_PACKAGE } from "./app-package-api";
