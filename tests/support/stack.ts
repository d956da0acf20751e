/** Tests resolve stack configuration exactly as the offline plan does. */
export * from "../../stack-config";

/**
 * The dev stack (which creates its Power Platform environment) switched to adopting one, with
 * nothing else wrong: the base of tests about adopt mode on a gateway-only stack.
 */
export const DEV_ADOPTING = {
  powerPlatformEnvironmentMode: "adopt",
  powerPlatformEnvironmentId: "5d2e8a41-7c3b-4f9e-a1d6-0b4c7e9f2a13",
  organizationId: "6f1d3c1e-2b7a-4c55-9a0e-5d2f8b3c4a10",
  dataverseEnvironmentUrl: "https://iom-retail-dev.crm4.dynamics.com",
  powerPlatformGeo: "",
  powerPlatformCurrencyCode: "USD",
  powerPlatformEnvironmentTemplates: [],
  powerPlatformEnvironmentDeleteOnDestroy: false,
};
