/**
 * powerPlatformBapUrl: the Power Platform admin (BAP) endpoint of a sovereign cloud. A bad value is
 * refused naming the key before anything is declared; a good one reaches the policy link, and the
 * token audience follows it (hosts and audiences from microsoft/terraform-provider-power-platform,
 * internal/constants/constants.go; see docs/iom-provider-setup.md).
 */
import { ConfigError, parseStackConfig } from "../../config";
import { BAP_SCOPE, DEFAULT_BAP_URL, bapScopeFor } from "../../dynamic-providers/power-platform";
import { bapTokenSource } from "../../dynamic-providers/power-platform/admin-api";
import { runProgram } from "../support/program";
import { listStacks, rawStackConfig, type ConfigChanges } from "../support/stack";

const LINK = "pulumi-nodejs:dynamic/powerplatform:PowerPlatformPolicyLink";

function configProblem(stack: string, changes: ConfigChanges): string {
  const { raw, secretKeys } = rawStackConfig(stack, changes);
  try {
    parseStackConfig(stack, raw, secretKeys);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error("expected the configuration to be rejected");
}

describe("a bad powerPlatformBapUrl is refused, naming the key", () => {
  test.each([
    ["plain http to a remote host", "http://api.bap.microsoft.com", /powerPlatformBapUrl: must be an https URL/],
    ["not a URL", "api.bap.microsoft.com", /powerPlatformBapUrl: not a URL: api\.bap\.microsoft\.com/],
    ["a path, which the admin API would drop", "https://gov.api.bap.microsoft.us/providers", /powerPlatformBapUrl: must be the endpoint's origin only/],
  ])("%s", (_what, url, message) => {
    expect(configProblem("prod", { set: { powerPlatformBapUrl: url } })).toMatch(message);
  });

  test("a host of no known cloud on a stack that creates its environment (the application packages' API follows the cloud)", () => {
    expect(configProblem("dev", { set: { powerPlatformBapUrl: "https://bap.example.com" } })).toMatch(/powerPlatformBapUrl: .*is not a known Power Platform admin \(BAP\) host/);
  });
});

describe("the policy link calls the configured endpoint", () => {
  test("unset: the public cloud's", async () => {
    const run = await runProgram("prod");
    expect(run.one(LINK).inputs.bapUrl).toBe(DEFAULT_BAP_URL);
  }, 120000);

  test("set: that origin (a trailing slash dropped)", async () => {
    const run = await runProgram("prod", { set: { powerPlatformBapUrl: "https://gov.api.bap.microsoft.us/" } });
    expect(run.one(LINK).inputs.bapUrl).toBe("https://gov.api.bap.microsoft.us");
  }, 120000);
});

describe("the environment resources call the configured cloud", () => {
  test("a created environment, its IOM app (at that cloud's Power Platform API) and the adopted one", async () => {
    const dev = await runProgram("dev", { set: { powerPlatformBapUrl: "https://gov.api.bap.microsoft.us" } });
    expect(dev.one("pulumi-nodejs:dynamic/powerplatform:Environment").inputs.bapUrl).toBe("https://gov.api.bap.microsoft.us");
    // hosts: microsoft/terraform-provider-power-platform internal/constants (USGOV_POWERPLATFORM_API_DOMAIN), in clouds.ts
    expect(dev.one("pulumi-nodejs:dynamic/powerplatform:ApplicationPackage").inputs).toMatchObject({ bapUrl: "https://gov.api.bap.microsoft.us", powerPlatformApiUrl: "https://api.gov.powerplatform.microsoft.us" });
    const prod = await runProgram("prod");
    expect(prod.one("pulumi-nodejs:dynamic/powerplatform:Environment").inputs.bapUrl).toBe(DEFAULT_BAP_URL);
  }, 120000);
});

describe("the BAP token audience follows the endpoint", () => {
  test("the known clouds' hosts map to their own audience", () => {
    expect(bapScopeFor(DEFAULT_BAP_URL, {})).toBe(BAP_SCOPE);
    expect(bapScopeFor("https://gov.api.bap.microsoft.us", {})).toBe("https://service.powerapps.us/.default");
    expect(bapScopeFor("https://high.api.bap.microsoft.us", {})).toBe("https://high.service.apps.appsplatform.us/.default");
    expect(bapScopeFor("https://api.bap.appsplatform.us", {})).toBe("https://service.apps.appsplatform.us/.default");
    expect(bapScopeFor("https://api.bap.partner.microsoftonline.cn", {})).toBe("https://service.powerapps.cn/.default");
  });

  test("POWER_PLATFORM_BAP_SCOPE overrides the table (Microsoft's tools disagree for GCC and GCC High)", () => {
    const env = { POWER_PLATFORM_BAP_SCOPE: "https://gov.service.powerapps.us/.default" };
    expect(bapScopeFor("https://gov.api.bap.microsoft.us", env)).toBe("https://gov.service.powerapps.us/.default");
    expect(bapScopeFor("https://bap.example.org", {})).toBeUndefined();
  });

  test("an unknown host gets no guessed audience: the error names the key and the way out", async () => {
    const previous = { token: process.env.POWER_PLATFORM_ACCESS_TOKEN, scope: process.env.POWER_PLATFORM_BAP_SCOPE };
    delete process.env.POWER_PLATFORM_ACCESS_TOKEN;
    delete process.env.POWER_PLATFORM_BAP_SCOPE;
    try {
      await expect(bapTokenSource("https://bap.example.org")()).rejects.toThrow(/no known token audience for the BAP endpoint https:\/\/bap\.example\.org.*powerPlatformBapUrl.*POWER_PLATFORM_ACCESS_TOKEN/);
    } finally {
      if (previous.token !== undefined) process.env.POWER_PLATFORM_ACCESS_TOKEN = previous.token;
      if (previous.scope !== undefined) process.env.POWER_PLATFORM_BAP_SCOPE = previous.scope;
    }
  });
});

describe("issue 17 row 5: only the hosts of dynamic-providers/clouds.ts may receive a token, named by key", () => {
  test.each([
    ["a host of no cloud", "https://evil.example.com", /powerPlatformBapUrl: is not a known Power Platform admin \(BAP\) host \(known: api\.bap\.microsoft\.com, /],
    ["user@host, which sends to the host after the @", "https://api.bap.microsoft.com@evil.example.com", /powerPlatformBapUrl: must not carry a user name or password/],
    ["a port", "https://api.bap.microsoft.com:8443", /powerPlatformBapUrl: must not name a port/],
  ])("powerPlatformBapUrl: %s", (_what, url, message) => {
    expect(configProblem("prod", { set: { powerPlatformBapUrl: url } })).toMatch(message);
  });

  test.each([
    ["a host of no cloud", "https://evil.example.com", /dataverseEnvironmentUrl: .*is not a known Dataverse host/],
    ["a Dataverse domain as a prefix of another host", "https://contoso.crm4.dynamics.com.evil.example.com", /dataverseEnvironmentUrl: .*is not a known Dataverse host/],
    ["user@host", "https://contoso.crm4.dynamics.com@evil.example.com", /dataverseEnvironmentUrl: must be the environment URL .*not an https origin/],
    ["a port", "https://contoso.crm4.dynamics.com:8443", /dataverseEnvironmentUrl: must be the environment URL .*not an https origin/],
  ])("dataverseEnvironmentUrl: %s", (_what, url, message) => {
    expect(configProblem("prod", { set: { dataverseEnvironmentUrl: url } })).toMatch(message);
  });

  test("every committed stack's hosts pass", () => {
    for (const stack of listStacks()) {
      const { raw, secretKeys } = rawStackConfig(stack, {});
      expect(() => parseStackConfig(stack, raw, secretKeys)).not.toThrow();
    }
  });
});
