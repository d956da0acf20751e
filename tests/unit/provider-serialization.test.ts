/**
 * The offline plan's serialization check (plan/provider-serialization.ts): a provider `pulumi
 * preview` could not serialize, or that captures a secret, is reported by name; a clean result is
 * reused only while every file it depends on is unchanged.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { cachedResults, cachedSerialization, cacheSerialization, defaultProviders, serializeEach } from "../../plan/provider-serialization";

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
  const ROOT = path.resolve(__dirname, "../..");
  let dir: string;
  let cacheDir: string;
  let sources: string[];
  const X = "dynamic-providers/x/provider.ts#xProvider";
  const Y = "dynamic-providers/y/provider.ts#yProvider";

  beforeEach(() => {
    // Sources inside the project, as a provider's imports are (entries name them relative to it).
    dir = fs.mkdtempSync(path.join(ROOT, "node_modules", ".cache", "serialization-test-"));
    cacheDir = path.join(dir, "cache");
    sources = ["x.ts", "y.ts", "common.ts"].map((f) => path.join(dir, f));
    for (const source of sources) fs.writeFileSync(source, `export const from = "${source}";\n`);
    cacheSerialization({ provider: X, exportsOfFile: ["xProvider"], text: "x text" }, [sources[0], sources[2]], cacheDir);
    cacheSerialization({ provider: Y, exportsOfFile: ["yProvider"], text: "y text" }, [sources[1], sources[2]], cacheDir);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("answers each provider's text while nothing it depends on changed", () => {
    expect(cachedSerialization(X, cacheDir)?.text).toBe("x text");
    expect(cachedSerialization(Y, cacheDir)?.text).toBe("y text");
  });

  test("a change to one provider's file leaves the others cached; a change to a file both import, neither", () => {
    fs.writeFileSync(sources[0], "export const from = 'changed';\n");
    expect(cachedSerialization(X, cacheDir)).toBeUndefined();
    expect(cachedSerialization(Y, cacheDir)?.text).toBe("y text");
    fs.writeFileSync(sources[2], "export const from = 'changed';\n");
    expect(cachedSerialization(Y, cacheDir)).toBeUndefined();
  });

  test("no longer answers once a file it depends on is gone", () => {
    fs.rmSync(sources[1]);
    expect(cachedSerialization(Y, cacheDir)).toBeUndefined();
  });

  test("keeps the entries of two versions of a provider side by side (a copy of the repository and the repository)", () => {
    fs.writeFileSync(sources[0], "export const from = 'copy';\n");
    cacheSerialization({ provider: X, exportsOfFile: ["xProvider"], text: "x text of the copy" }, [sources[0], sources[2]], cacheDir);
    expect(cachedSerialization(X, cacheDir)?.text).toBe("x text of the copy");
    fs.writeFileSync(sources[0], `export const from = "${sources[0]}";\n`);
    // The first entry still held when the second was written, so it stayed.
    expect(cachedSerialization(X, cacheDir)?.text).toBe("x text");
  });

  test("keeps the newest few entries of a provider", () => {
    for (let i = 0; i < 6; i++) {
      fs.writeFileSync(sources[0], `export const version = ${i};\n`);
      cacheSerialization({ provider: X, exportsOfFile: ["xProvider"], text: `x text ${i}` }, [sources[0], sources[2]], cacheDir);
    }
    expect(fs.readdirSync(cacheDir)).toHaveLength(4 + 1); // x's newest four, and y
    expect(cachedSerialization(X, cacheDir)?.text).toBe("x text 5");
  });

  test("no longer answers under another Node version", () => {
    for (const name of fs.readdirSync(cacheDir)) {
      const file = path.join(cacheDir, name);
      fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, "utf8")), node: "v0.0.0" }));
    }
    expect(cachedSerialization(X, cacheDir)).toBeUndefined();
  });

  test("records the lock file, tsconfig.json and the transpiler with the sources", () => {
    const [entry] = fs.readdirSync(cacheDir).map((name) => JSON.parse(fs.readFileSync(path.join(cacheDir, name), "utf8")) as { files: Record<string, string> });
    expect(Object.keys(entry.files)).toEqual(expect.arrayContaining(["package-lock.json", "tsconfig.json", path.join("scripts", "swc-register.js")]));
  });

  test("the plan takes the default providers from the cache only when every provider of every file has its entry", () => {
    const names = [...defaultProviders().values()];
    const fileOf = (name: string) => name.slice(0, name.indexOf("#"));
    const exportsOf = (file: string) => names.filter((n) => fileOf(n) === file).map((n) => n.slice(n.indexOf("#") + 1));
    const cache = (name: string) => cacheSerialization({ provider: name, exportsOfFile: exportsOf(fileOf(name)), text: name }, [path.join(ROOT, fileOf(name))], cacheDir);
    for (const name of names.slice(0, -1)) cache(name);
    expect(cachedResults(cacheDir)).toBeUndefined(); // the last provider of a file with several
    cache(names[names.length - 1]);
    expect(cachedResults(cacheDir)?.map((r) => r.provider).sort()).toEqual([...names].sort());
  });
});
