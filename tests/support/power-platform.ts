import type { EnvironmentSpec } from "../../dynamic-providers/power-platform";

/** The environment a dev stack creates, as the Power Platform environment tests ask for it. */
export const DEV_ENVIRONMENT: EnvironmentSpec = {
  displayName: "iom-retail-dev-weu",
  description: "",
  sku: "Sandbox",
  location: "europe",
  languageCode: 1033,
  currencyCode: "EUR",
  domainName: "iom-retail-dev-weu",
  securityGroupId: "",
  templates: ["D365_CDSSampleApp"],
};
