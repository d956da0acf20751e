/**
 * The offline plan's serialization check (plan/provider-serialization.ts): a provider `pulumi
 * preview` could not serialize, or that captures a secret, is reported by name; a clean result is
 * reused only while every file it depends on is unchanged.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { cachedResults, cacheResults, defaultProviders, serializeEach } from "../../plan/provider-serialization";

describe("serializing providers as pulumi.dynamic.Resource does", () => {
  test("a provider that captures only plain values serializes", async () => {
    const greeting = "hello";
    const provider = { create: async () => ({ id: greeting, outs: {} }) };
    expect(await serializeEach(new Map([[provider, "plain"]]))).toEqual([{ provider: "plain" }]);
  });

  test("a provider whose serialization fails is reported with the serializer's reason", async () => {
    // What the SDK throws for a closure over a native function (seen under ts-node; Jest's module
    // sandbox changes what the SDK can look up, so the failure itself is not reproduced here).
    const reason = "Error serializing '()=>provider': captured variable 'provider' which indirectly referenced 'byteLength', which could not be serialized";
    const failing = () => Promise.reject(new Error(reason));
    const provider = { create: async () => ({ id: "x", outs: {} }) };
    expect(await serializeEach(new Map([[provider, "native"]]), failing)).toEqual([{ provider: "native", problem: reason }]);
  });

  test("a provider that captures a secret is reported: it would be stored in every resource's state", async () => {
    const token = pulumi.secret("s3cr3t");
    const provider = { create: async () => ({ id: String(token), outs: {} }) };
    const [result] = await serializeEach(new Map([[provider, "secretive"]]));
    expect(result.problem).toMatch(/captures a secret/);
  });

  test("the default providers are the eight of dynamic-providers/README.md", () => {
    expect([...defaultProviders().values()]).toEqual([
      "dynamic-providers/azure/provider.ts#azureProviderRegistrationDynamicProvider",
      "dynamic-providers/bigcommerce/provider.ts#bigCommerceApiCheckDynamicProvider",
      "dynamic-providers/dataverse/provider.ts#iomMappingSetDynamicProvider",
      "dynamic-providers/iom-provider/provider.ts#iomProviderParametersDynamicProvider",
      "dynamic-providers/power-platform/provider.ts#powerPlatformApplicationPackageDynamicProvider",
      "dynamic-providers/power-platform/provider.ts#powerPlatformEnvironmentDynamicProvider",
      "dynamic-providers/power-platform/provider.ts#powerPlatformManagedEnvironmentDynamicProvider",
      "dynamic-providers/power-platform/provider.ts#powerPlatformPolicyLinkDynamicProvider",
    ]);
  });
});

describe("the serialization cache", () => {
  let dir: string;
  let source: string;
  let cache: string;
  const results = [{ provider: "dynamic-providers/x/provider.ts#xProvider" }];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "serialization-cache-"));
    source = path.join(dir, "provider.ts");
    cache = path.join(dir, "cache.json");
    fs.writeFileSync(source, "export const xProvider = {};\n");
    cacheResults(results, [source], cache);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("answers while nothing changed", () => {
    expect(cachedResults(cache)).toEqual(results);
  });

  test("no longer answers once a file it depends on changes or is gone", () => {
    fs.writeFileSync(source, "export const xProvider = { create() {} };\n");
    expect(cachedResults(cache)).toBeUndefined();
    fs.rmSync(source);
    expect(cachedResults(cache)).toBeUndefined();
  });

  test("no longer answers once a default provider was added (its file was never loaded, so no hash says so)", () => {
    const entry = JSON.parse(fs.readFileSync(cache, "utf8")) as { providerFiles: string[] };
    expect(entry.providerFiles).toContain("dynamic-providers/azure/provider.ts");
    fs.writeFileSync(cache, JSON.stringify({ ...entry, providerFiles: entry.providerFiles.slice(1) }));
    expect(cachedResults(cache)).toBeUndefined();
  });

    test("no longer answers under another Node version", () => {
    const entry = JSON.parse(fs.readFileSync(cache, "utf8")) as { node: string };
    fs.writeFileSync(cache, JSON.stringify({ ...entry, node: "v0.0.0" }));
    expect(cachedResults(cache)).toBeUndefined();
  });

  test("records the lock file and tsconfig.json with the sources", () => {
    const entry = JSON.parse(fs.readFileSync(cache, "utf8")) as { files: Record<string, string> };
    expect(Object.keys(entry.files)).toEqual(expect.arrayContaining(["package-lock.json", "tsconfig.json", path.relative(path.resolve(__dirname, "../.."), source)]));
  });
});
