/**
 * What the doctor resolves before any call (doctor/target.ts): a real stack's encrypted values are
 * left undecrypted and stood in for, the BigCommerce token comes from the environment or from
 * `pulumi config get`, and the outputs from `--outputs` or `pulumi stack output`.
 */
import { parseStackConfig } from "../../config";
import { bigcommerceToken, encryptedKeys, resolveTarget, standIns, type PulumiRunner } from "../../doctor/target";
import { rawStackConfig } from "../../stack-config";

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
  // As `pulumi config set --secret` writes them: a `secure:` object, or a list with one inside.
  const file = {
    "iom-bigcommerce:environment": "dev",
    "iom-bigcommerce:bigcommerceAccessToken": { secure: "v1:abc" },
    "iom-bigcommerce:monitoringAlertWebhookUrl": { secure: "v1:def" },
    "iom-bigcommerce:iomProviderSecretParameters": [{ secure: "v1:ghi" }],
  };

  test("the encrypted keys are found, including a list with an encrypted entry", () => {
    expect(encryptedKeys(file).sort()).toEqual(["bigcommerceAccessToken", "iomProviderSecretParameters", "monitoringAlertWebhookUrl"]);
  });

  test("stand-ins pass validation (a marker where the key accepts one, else empty) and are marked secret", () => {
    const stand = standIns(["bigcommerceAccessToken", "monitoringAlertWebhookUrl", "iomProviderSecretParameters"]);
    expect(stand).toEqual({ secrets: { bigcommerceAccessToken: "[encrypted]", monitoringAlertWebhookUrl: "" }, set: { iomProviderSecretParameters: [] } });
    const { raw, secretKeys } = rawStackConfig("dev", { set: { bigcommerceStoreHash: "abc123", ...stand.set }, secrets: stand.secrets });
    expect(parseStackConfig("dev", raw, secretKeys).bigcommerceStores[0]?.storeHash).toBe("abc123");
  });
});

describe("the BigCommerce token", () => {
  const config = { bigcommerceStores: [{ name: "default", storeHash: "abc123" }] } as unknown as Parameters<typeof bigcommerceToken>[1];

  test("BIGCOMMERCE_ACCESS_TOKEN comes first; the CLI is not asked", () => {
    const pulumi = cli({});
    expect(bigcommerceToken({ stack: "dev", env: { BIGCOMMERCE_ACCESS_TOKEN: "from-env" }, pulumi }, config, ["bigcommerceAccessToken"])).toEqual({ bigcommerceAccessToken: "from-env", bigcommerceTokenSource: "BIGCOMMERCE_ACCESS_TOKEN" });
    expect(pulumi.calls).toEqual([]);
  });

  test("else `pulumi config get` decrypts it where the CLI can", () => {
    const pulumi = cli({ "config get bigcommerceAccessToken": "from-cli\n" });
    expect(bigcommerceToken({ stack: "prod", env: {}, pulumi }, config, ["bigcommerceAccessToken"])).toMatchObject({ bigcommerceAccessToken: "from-cli" });
    expect(pulumi.calls).toEqual([["config", "get", "bigcommerceAccessToken", "--stack", "prod"]]);
  });

  test("none at all is no token (the check then says where one comes from), and a stack without a store needs none", () => {
    expect(bigcommerceToken({ stack: "dev", env: {}, pulumi: cli({}) }, config, ["bigcommerceAccessToken"])).toEqual({});
    expect(bigcommerceToken({ stack: "dev", env: { BIGCOMMERCE_ACCESS_TOKEN: "x" }, pulumi: cli({}) }, { bigcommerceStores: [] }, [])).toEqual({});
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
