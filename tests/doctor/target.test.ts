/**
 * What the doctor resolves before any call (doctor/target.ts): a real stack's encrypted values are
 * left undecrypted and stood in for, the BigCommerce token comes from the environment or from
 * `pulumi config get`, and the outputs from `--outputs` or `pulumi stack output`.
 */
import { parseStackConfig } from "../../config";
import { bigcommerceTokens, encryptedKeys, resolveTarget, standIns, type PulumiRunner } from "../../doctor/target";
import { rawStackConfig } from "../../stack-config";
import { DEV_ADOPTING } from "../support/stack";

const cli = (answers: Record<string, string>): PulumiRunner & { calls: string[][] } => {
  const calls: string[][] = [];
  const run = ((args: string[]) => {
    calls.push(args);
    const key = args.slice(0, 3).join(" ");
    return key in answers ? { ok: true, stdout: answers[key] } : { ok: false, missing: false, stderr: "error: no such stack" };
  }) as PulumiRunner & { calls: string[][] };
  run.calls = calls;
  return run;
};

describe("a stack file with encrypted values", () => {
  // As `pulumi config set --secret [--path]` writes them: a `secure:` object, a list with one inside, or a field of a structured value.
  const stores = [
    { name: "outdoor", providerName: "BigCommerce Outdoor", storeHash: "out123", accessToken: { secure: "v1:jkl" } },
    { name: "winter", providerName: "BigCommerce Winter", storeHash: "win456", accessToken: { secure: "v1:mno" } },
  ];
  const file = {
    "iom-bigcommerce:environment": "dev",
    "iom-bigcommerce:bigcommerceAccessToken": { secure: "v1:abc" },
    "iom-bigcommerce:monitoringAlertWebhookUrl": { secure: "v1:def" },
    "iom-bigcommerce:iomProviderSecretParameters": [{ secure: "v1:ghi" }],
    "iom-bigcommerce:bigcommerceStores": stores,
  };

  test("the encrypted keys are found, including a list with an encrypted entry and a store list with encrypted tokens", () => {
    expect(encryptedKeys(file).sort()).toEqual(["bigcommerceAccessToken", "bigcommerceStores", "iomProviderSecretParameters", "monitoringAlertWebhookUrl"]);
  });

  test("stand-ins pass validation (a marker where the key accepts one, else empty) and are marked secret; the stores keep all but their tokens", () => {
    const stand = standIns(["bigcommerceAccessToken", "monitoringAlertWebhookUrl", "iomProviderSecretParameters", "bigcommerceStores"], file);
    expect(stand).toEqual({
      secrets: { bigcommerceAccessToken: "[encrypted]", monitoringAlertWebhookUrl: "" },
      set: { iomProviderSecretParameters: [], bigcommerceStores: stores.map((s) => ({ ...s, accessToken: { secure: "[encrypted]" } })) },
    });
    const { raw, secretKeys } = rawStackConfig("dev", { set: { ...DEV_ADOPTING, bigcommerceStoreHash: "abc123", ...stand.set }, secrets: stand.secrets });
    expect(parseStackConfig("dev", raw, secretKeys).bigcommerceStores.map((s) => [s.name, s.storeHash])).toEqual([["default", "abc123"], ["outdoor", "out123"], ["winter", "win456"]]);
  });
});

describe("each store's token", () => {
  const store = (name: string, origin: string, storeHash = "abc123") => ({ name, origin, storeHash });
  const single = { bigcommerceStores: [store("default", "bigcommerceStoreHash")] } as unknown as Parameters<typeof bigcommerceTokens>[1];
  const three = { bigcommerceStores: [store("default", "bigcommerceStoreHash"), store("outdoor", "bigcommerceStores[0]", "out123"), store("eu-west", "bigcommerceStores[1]", "eu7")] } as unknown as Parameters<typeof bigcommerceTokens>[1];

  test("BIGCOMMERCE_ACCESS_TOKEN comes first for a single store; the CLI is not asked", () => {
    const pulumi = cli({});
    expect(bigcommerceTokens({ stack: "dev", env: { BIGCOMMERCE_ACCESS_TOKEN: "from-env" }, pulumi }, single, ["bigcommerceAccessToken"])).toEqual({ default: expect.objectContaining({ token: "from-env", source: "BIGCOMMERCE_ACCESS_TOKEN" }) });
    expect(pulumi.calls).toEqual([]);
  });

  test("else `pulumi config get` decrypts it where the CLI can", () => {
    const pulumi = cli({ "config get bigcommerceAccessToken": "from-cli\n" });
    expect(bigcommerceTokens({ stack: "prod", env: {}, pulumi }, single, ["bigcommerceAccessToken"])).toEqual({ default: expect.objectContaining({ token: "from-cli" }) });
    expect(pulumi.calls).toEqual([["config", "get", "bigcommerceAccessToken", "--stack", "prod"]]);
  });

  test("with several stores each has its own variable, else its own config path; BIGCOMMERCE_ACCESS_TOKEN is the default store's only", () => {
    const pulumi = cli({ "config get bigcommerceStores[1].accessToken": "eu-from-cli\n" });
    const tokens = bigcommerceTokens({ stack: "prod", env: { BIGCOMMERCE_ACCESS_TOKEN: "default-env", BIGCOMMERCE_ACCESS_TOKEN_OUTDOOR: "outdoor-env" }, pulumi }, three, ["bigcommerceStores"]);
    expect(tokens).toEqual({
      default: expect.objectContaining({ token: "default-env", source: "BIGCOMMERCE_ACCESS_TOKEN" }),
      outdoor: expect.objectContaining({ token: "outdoor-env", source: "BIGCOMMERCE_ACCESS_TOKEN_OUTDOOR" }),
      "eu-west": expect.objectContaining({ token: "eu-from-cli", source: "pulumi config get --path 'bigcommerceStores[1].accessToken'" }),
    });
    expect(pulumi.calls).toEqual([["config", "get", "bigcommerceStores[1].accessToken", "--path", "--stack", "prod"]]);
  });

  test("none at all is no token, with where one comes from (the check then says so); a stack without a store needs none", () => {
    const tokens = bigcommerceTokens({ stack: "dev", env: {}, pulumi: cli({}) }, three, ["bigcommerceAccessToken", "bigcommerceStores"]);
    expect(tokens["eu-west"]).toEqual({ from: "BIGCOMMERCE_ACCESS_TOKEN_EU_WEST, or where 'pulumi config get --path 'bigcommerceStores[1].accessToken' --stack dev' works" });
    expect(tokens.default).toEqual({ from: "BIGCOMMERCE_ACCESS_TOKEN_DEFAULT or BIGCOMMERCE_ACCESS_TOKEN, or where 'pulumi config get bigcommerceAccessToken --stack dev' works" });
    expect(bigcommerceTokens({ stack: "dev", env: { BIGCOMMERCE_ACCESS_TOKEN: "x" }, pulumi: cli({}) }, { bigcommerceStores: [] }, [])).toEqual({});
  });
});

describe("the outputs", () => {
  test("without --outputs they come from `pulumi stack output --json --stack <stack>`", () => {
    const pulumi = cli({ "stack output --json": '{"storageAccountName":"stiomx"}' });
    const t = resolveTarget({ stack: "dev", env: {}, pulumi });
    expect(t.outputs).toEqual({ storageAccountName: "stiomx" });
    expect(t.outputsSource).toBe("pulumi stack output --stack dev");
    expect(pulumi.calls).toEqual([["stack", "output", "--json", "--stack", "dev"]]);
  });

  test("a failing CLI is a usage error that says what to do instead", () => {
    expect(() => resolveTarget({ stack: "dev", env: {}, pulumi: cli({}) })).toThrow(/'pulumi stack output --json --stack dev' failed \(error: no such stack\); pass --outputs <file> instead/);
  });

  test("a configuration problem is a usage error naming key and stack", () => {
    expect(() => resolveTarget({ stack: "dev", env: {}, pulumi: cli({}), configChanges: { set: { doctorLookbackHours: 0 } } })).toThrow(/iom-bigcommerce:doctorLookbackHours: must be at least 1/);
  });
});
