/**
 * Pulumi.yaml is what the Pulumi CLI reads first; nothing here runs the CLI, so its rules are checked
 * here, together with the promise that Pulumi.yaml, config/ and the stack files agree
 * (docs/configuration.md is generated from Pulumi.yaml: tests/unit/docs.test.ts).
 */
import Ajv2020 from "ajv/dist/2020";
import { CONFIG_SCHEMA, PROJECT } from "../../config";
import { STORES_KEY } from "../../stores";
import { listStacks, loadProject, loadStackFile, resolveStackConfig } from "../support/stack";
import schema from "../fixtures/pulumi-project.schema.json";

const project = loadProject();
const declared = Object.entries(project.config);

test("Pulumi.yaml follows the project-file schema (config types: string, integer, boolean, array)", () => {
  const validate = new Ajv2020({ allErrors: true, strict: false }).compile(schema);
  const valid = validate(project);
  expect(validate.errors ?? []).toEqual([]);
  expect(valid).toBe(true);
});

test("a plain token inside the list of stores is found; an encrypted one is not", () => {
  expect(plainTokens([{ name: "a", accessToken: "tok" }, { name: "b", accessToken: { secure: "v1:abc" } }], STORES_KEY)).toEqual(["bigcommerceStores[0].accessToken"]);
});

test("the schema check would catch an object-typed key", () => {
  const validate = new Ajv2020({ allErrors: true, strict: false }).compile(schema);
  expect(validate({ ...project, config: { ...project.config, tags: { type: "object", description: "x" } } })).toBe(false);
  expect(validate({ ...project, config: { ...project.config, zones: { type: "array", description: "x" } } })).toBe(false);
});

test("the project is a TypeScript nodejs program named as config/ expects", () => {
  expect(project.name).toBe(PROJECT);
  expect(project).toMatchObject({ runtime: { name: "nodejs", options: { typescript: true } } });
});

test("every key config/ reads is declared with its type, a description and its secrecy, and nothing else is declared", () => {
  expect(declared.map(([k]) => k).sort()).toEqual(Object.keys(CONFIG_SCHEMA).sort());
  for (const [key, decl] of declared) {
    const spec = CONFIG_SCHEMA[key as keyof typeof CONFIG_SCHEMA];
    expect({ key, type: decl.type }).toEqual({ key, type: spec.type });
    // The CLI refuses a plain-text default for a `secret: true` key, so optional secrets are declared
    // unmarked and config/ refuses a plain value; their descriptions say to use --secret.
    if (decl.secret) expect({ key, default: decl.default }).toEqual({ key, default: undefined });
    if ("secret" in spec) expect(decl.description).toContain("--secret");
    expect(decl.description?.length ?? 0).toBeGreaterThan(20);
    if (decl.type === "array") expect(decl.items).toEqual({ type: "string" });
  }
});

test("declared defaults pass config/'s own validation", () => {
  for (const [key, decl] of declared) {
    if (decl.default === undefined) continue;
    const spec = CONFIG_SCHEMA[key as keyof typeof CONFIG_SCHEMA];
    expect({ key, ok: spec.schema.safeParse(decl.default).success }).toEqual({ key, ok: true });
  }
});

/** Paths of `accessToken` values in a structured value that are plain text (an encrypted one is `{ secure: ... }`). */
function plainTokens(value: unknown, at = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => plainTokens(v, `${at}[${i}]`));
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value).flatMap(([k, v]) => (k === "accessToken" && typeof v === "string" ? [`${at}.${k}`] : plainTokens(v, `${at}.${k}`)));
}

test.each(listStacks())("Pulumi.%s.yaml sets only declared keys and holds no secret", (stack) => {
  for (const [fullKey, value] of Object.entries(loadStackFile(stack))) {
    expect(fullKey.startsWith(`${PROJECT}:`)).toBe(true);
    const key = fullKey.slice(PROJECT.length + 1);
    // The structured key (stores.ts) cannot be declared; the CLI cannot tell a plain token in it
    // beside an encrypted one, so this test does.
    if (key === STORES_KEY) {
      expect(plainTokens(value, key)).toEqual([]);
      continue;
    }
    expect({ key, declared: key in project.config }).toEqual({ key, declared: true });
    expect({ key, secret: "secret" in CONFIG_SCHEMA[key as keyof typeof CONFIG_SCHEMA] }).toEqual({ key, secret: false });
    expect(typeof value === "object" && value !== null && "secure" in value).toBe(false);
  }
});

test("a stack named prod is configured to survive a zone and a region, and to resist deletion", () => {
  if (!listStacks().includes("prod")) return;
  const prod = resolveStackConfig("prod").config;
  const value = (key: string) => JSON.parse(prod[`${PROJECT}:${key}`] ?? "null") as unknown;
  expect(prod[`${PROJECT}:storageSku`]).toMatch(/^Standard_(RA)?GZRS$/);
  expect(value("gatewayVmCount")).toBeGreaterThanOrEqual(2);
  expect(new Set(value("gatewayZones") as string[]).size).toBeGreaterThanOrEqual(2);
  expect({ locks: value("resourceLocks"), purgeProtection: value("keyVaultPurgeProtection") }).toEqual({ locks: true, purgeProtection: true });
});
