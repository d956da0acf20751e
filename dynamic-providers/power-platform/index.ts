/**
 * Power Platform: the NetworkInjection enterprise policy linked to the stack's environment by
 * `pulumi up`. See docs/iom-provider-setup.md.
 */
export { PowerPlatformPolicyLink, powerPlatformPolicyLinkProvider, createPowerPlatformPolicyLinkProvider, checkPolicyLink } from "./provider";
export type { PowerPlatformPolicyLinkArgs, PowerPlatformPolicyLinkInputs, PowerPlatformPolicyLinkOutputs, PowerPlatformPolicyLinkProvider, PowerPlatformPolicyLinkProviderOptions } from "./provider";
export { DEFAULT_BAP_URL, BAP_SCOPE, BAP_SCOPES, bapScopeFor, LINK_API_VERSION, ENVIRONMENT_API_VERSION, SYSTEM_ID_PATTERN, createAdminApi, sameLocation } from "./admin-api";
