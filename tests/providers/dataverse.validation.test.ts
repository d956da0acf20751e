import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { loadMappingDir, MappingValidationError, validateMappingCsv } from "../../dynamic-providers/dataverse/validation";
import { IomMappingSet } from "../../dynamic-providers/dataverse/provider";
import { decodeKey, encodeKey, mapToRows } from "../../dynamic-providers/dataverse/rows";
import { listStacks, ROOT } from "../support/stack";

const HEADER = "externalFieldName,externalFieldValue,productNumber,mappingGroup\n";

function problemsOf(name: string, content: string | Buffer): { line: number; message: string }[] {
  return validateMappingCsv(`mappings/dev/${name}`, content).problems.map((p) => ({ line: p.line, message: p.message }));
}

describe("mapping CSV validation", () => {
  const malformed: [string, string, string | Buffer, number, RegExp][] = [
    ["unknown kind", "warehouse.csv", HEADER + "sku,A,P-1,\n", 0, /unknown mapping kind "warehouse"/],
    ["missing column", "products.csv", "externalFieldName,productNumber\nsku,P-1\n", 1, /missing column "externalFieldValue"/],
    ["extra column", "products.csv", "externalFieldName,externalFieldValue,productNumber,colour\nsku,A,P-1,red\n", 1, /unexpected column "colour"/],
    ["missing key column", "products.csv", "externalFieldName,externalFieldValue\nsku,A\n", 1, /missing key column: one of productNumber, productName/],
    ["two key columns", "products.csv", "externalFieldName,externalFieldValue,productNumber,productName\nsku,A,P-1,X\n", 1, /only one key column/],
    ["empty value", "products.csv", HEADER + "sku,A,P-1,\nsku,,P-2,\n", 3, /empty externalFieldValue/],
    ["whitespace-only target", "products.csv", HEADER + "sku,A,   ,\n", 2, /empty productNumber/],
    ["duplicate key", "products.csv", HEADER + "sku,A,P-1,\nsku,B,P-2,\nsku,A,P-1,\n", 4, /duplicate mapping sku=A .*first on line 2/],
    ["duplicate key differing only in case", "products.csv", HEADER + "sku,abc,P-1,\nsku,ABC,P-1,\n", 3, /duplicate mapping/],
    ["one key mapped to two targets", "products.csv", HEADER + "sku,A,P-1,\nsku,A,P-2,\n", 3, /mapped to two targets: "P-1" \(line 2\) and "P-2"/],
    ["wrong column count", "products.csv", HEADER + "sku,A,P-1,,extra\n", 2, /expected 4 columns, found 5/],
    ["bad encoding (Latin-1 byte)", "products.csv", Buffer.concat([Buffer.from(HEADER + "sku,A,P-1,\nsku,"), Buffer.from([0xe9]), Buffer.from(",P-2,\n")]), 3, /invalid UTF-8/],
    ["UTF-16 file", "products.csv", Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(HEADER, "utf16le")]), 1, /UTF-16/],
    ["unclosed quote", "products.csv", HEADER + 'sku,"A,P-1,\n', 2, /CSV syntax: .*Quote Not Closed/i],
    ["empty file", "products.csv", "", 1, /empty file/],
    ["field name with =", "products.csv", HEADER + "s=ku,A,P-1,\n", 2, /must not contain "="/],
    ["control character", "products.csv", HEADER + "sku,A\u0007,P-1,\n", 2, /control character/],
    ["NUL byte", "products.csv", HEADER + "sku,A\u0000,P-1,\n", 2, /NUL/],
    ["duplicate header", "products.csv", "externalFieldName,externalFieldValue,productNumber,productNumber\nsku,A,P-1,P-1\n", 1, /appears twice/],
  ];

  it.each(malformed)("rejects %s with file and line", (_title, name, content, line, re) => {
    const problems = problemsOf(name, content);
    expect(problems.length).toBeGreaterThan(0);
    const hit = problems.find((p) => re.test(p.message));
    expect(hit).toBeDefined();
    expect(hit!.line).toBe(line);
  });

  it("reports every problem of a file at once", () => {
    const problems = problemsOf("products.csv", HEADER + "sku,,P-1,\nsku,B,,\nsku,C,P-3,\nsku,C,P-4,\nsku,D,P-5,\nsku,D,P-5,\n");
    expect(problems.map((p) => p.line)).toEqual([2, 3, 5, 7]);
  });

  it("accepts a BOM, quoted commas, the default and explicit groups", () => {
    const { result, problems } = validateMappingCsv("products.csv", "\ufeff" + HEADER + 'sku,"A,1",P-1,\nsku,A,P-1,Wholesale\n', "Default Mapping Group");
    expect(problems).toEqual([]);
    expect(result!.targetKeyColumn).toBe("productnumber");
    expect(mapToRows(result!.rows, "Default Mapping Group")).toEqual([
      { group: "Default Mapping Group", field: "sku", value: "A,1", target: "P-1" },
      { group: "Wholesale", field: "sku", value: "A", target: "P-1" },
    ]);
  });

  it("validates a whole directory at once, across files, with file names", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dv-map-"));
    fs.writeFileSync(path.join(dir, "products.csv"), HEADER + "sku,A,P-1,\nsku,A,P-2,\n");
    fs.writeFileSync(path.join(dir, "units.csv"), "externalFieldName,externalFieldValue\nunit,each\n");
    fs.writeFileSync(path.join(dir, "pallets.csv"), "x\n");
    fs.writeFileSync(path.join(dir, "notes.txt"), "hello");
    try {
      loadMappingDir(dir);
      throw new Error("expected a validation error");
    } catch (e) {
      expect(e).toBeInstanceOf(MappingValidationError);
      const msg = (e as Error).message;
      expect(msg).toMatch(/products\.csv:3: .*two targets/);
      expect(msg).toMatch(/units\.csv:1: missing key column/);
      expect(msg).toMatch(/pallets\.csv: unknown mapping kind/);
      expect(msg).toMatch(/notes\.txt: not a \.csv file/);
      expect((e as MappingValidationError).problems).toHaveLength(4);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  const STACKS_WITH_MAPPINGS = listStacks().filter((stack) => fs.existsSync(path.join(ROOT, "mappings", stack)));
  it.each(STACKS_WITH_MAPPINGS)("the committed %s mappings are valid, every file of them", (stack) => {
    const dir = path.join(ROOT, "mappings", stack);
    const parsed = loadMappingDir(dir);
    expect(new Set(Object.keys(parsed))).toEqual(new Set(fs.readdirSync(dir).filter((f) => f.endsWith(".csv")).map((f) => f.replace(/\.csv$/, ""))));
  });

  it("dev carries the guide's BigCommerce sample", () => {
    const parsed = loadMappingDir(path.join(__dirname, "..", "..", "mappings", "dev"));
    const rowsOf = (p: { rows: Record<string, string> } | undefined) => mapToRows(p!.rows, "Default Mapping Group");
    expect(rowsOf(parsed.accounts)).toContainEqual(expect.objectContaining({ field: "ProviderName", value: "BigCommerce" }));
    expect(rowsOf(parsed.pricelists)).toContainEqual(expect.objectContaining({ field: "ProviderName", value: "BigCommerce" }));
    expect(rowsOf(parsed.units)).toContainEqual(expect.objectContaining({ field: "unit", value: "each", target: "ea" }));
    expect(rowsOf(parsed.products)).toContainEqual(expect.objectContaining({ field: "sku", value: "ABS", target: "Accu Scale" }));
  });

  it("rows given in code follow the same rules and are reported together", () => {
    expect(() =>
      IomMappingSet.rowsOf(
        {
          kind: "products",
          rows: [
            { externalFieldName: "sku", externalFieldValue: "A", target: "P-1" },
            { externalFieldName: "sku", externalFieldValue: "A", target: "P-2" },
            { externalFieldName: "sku", externalFieldValue: "", target: "P-3" },
          ],
        },
        "Default Mapping Group",
      ),
    ).toThrow(/<rows>:2: .*two targets[\s\S]*<rows>:3: empty externalFieldValue/);
  });

  it("refuses a file whose name is another kind", () => {
    expect(() => IomMappingSet.rowsOf({ kind: "units", file: path.join(__dirname, "..", "..", "mappings", "dev", "products.csv") }, "G")).toThrow(/kind "products" but the set is "units"/);
  });

  it("row keys round-trip, including groups and values with = and ]", () => {
    for (const [g, f, v] of [
      ["Default Mapping Group", "sku", "A=B"],
      ["Wholesale", "sku", "x] y"],
      ["Default Mapping Group", "ProviderName", "BigCommerce"],
    ]) {
      expect(decodeKey(encodeKey(g, f, v, "Default Mapping Group"), "Default Mapping Group")).toEqual({ group: g, field: f, value: v, account: "" });
    }
  });
});

describe("mapping files are bounded (issue 17 item 4)", () => {
  let dir: string;
  let outside: string;
  beforeEach(() => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "dv-bounds-"));
    dir = path.join(root, "mappings", "dev");
    outside = path.join(root, "elsewhere");
    fs.mkdirSync(dir, { recursive: true });
    fs.mkdirSync(outside);
  });
  afterEach(() => fs.rmSync(path.dirname(path.dirname(dir)), { recursive: true, force: true }));

  const errorOf = (f: () => unknown): MappingValidationError => {
    try {
      f();
    } catch (e) {
      if (e instanceof MappingValidationError) return e;
      throw e;
    }
    throw new Error("expected a MappingValidationError");
  };

  it("150,000 bad rows (table row 6): no stack overflow; 100 problems listed, the rest counted, the file named", () => {
    const lines = [HEADER.trim()];
    for (let i = 0; i < 150_000; i++) lines.push(`sku,,P-${i},`);
    fs.writeFileSync(path.join(dir, "products.csv"), lines.join("\n"));
    const err = errorOf(() => loadMappingDir(dir));
    expect(err.problems).toHaveLength(100);
    expect(err.problems[0]).toEqual({ file: path.join(dir, "products.csv"), line: 2, message: "empty externalFieldValue" });
    expect(err.message).toMatch(/^150,000 problem\(s\) in mapping files:/);
    expect(err.message).toContain(`${path.join(dir, "products.csv")}: ... and 149,900 more problem(s)`);
    expect(err.message.length).toBeLessThan(10_000);
  });

  it("products.csv as a symbolic link (table row 11) is refused, and what it points at never reaches the message", () => {
    const secret = path.join(outside, "passwd");
    fs.writeFileSync(secret, "root:x:0:0:root:/root:/bin/bash\nsvc:x:999:999::/home/svc:/bin/sh\n");
    fs.symlinkSync(secret, path.join(dir, "products.csv"));
    const err = errorOf(() => loadMappingDir(dir));
    expect(err.problems).toEqual([{ file: path.join(dir, "products.csv"), line: 0, message: expect.stringMatching(/is a symbolic link/) }]);
    expect(err.message).not.toMatch(/root|bin\/bash|svc/);
    // The same file given to the resource directly.
    const direct = errorOf(() => IomMappingSet.rowsOf({ kind: "products", file: path.join(dir, "products.csv") }, "G"));
    expect(direct.message).toMatch(/products\.csv: is a symbolic link/);
    expect(direct.message).not.toMatch(/root|bin\/bash/);
  });

  it("a mapping folder that is a symbolic link, or leads out of the project through one, is refused", () => {
    fs.writeFileSync(path.join(outside, "products.csv"), HEADER + "sku,A,P-1,\n");
    const link = path.join(path.dirname(dir), "test");
    fs.symlinkSync(outside, link);
    expect(errorOf(() => loadMappingDir(link)).message).toMatch(/test: is a symbolic link/);
    // Relative to the project: a link further up the path that leads out of it.
    const project = path.join(path.dirname(path.dirname(dir)), "project");
    fs.mkdirSync(project);
    fs.symlinkSync(path.dirname(path.dirname(dir)), path.join(project, "mappings"));
    const cwd = process.cwd();
    try {
      process.chdir(project);
      expect(errorOf(() => loadMappingDir("mappings/mappings/dev")).message).toMatch(/mappings\/mappings\/dev: leads outside the project through a symbolic link/);
    } finally {
      process.chdir(cwd);
    }
  });

  it("a file above the size limit is refused before it is read, with the limit and the key to raise it", () => {
    fs.writeFileSync(path.join(dir, "products.csv"), HEADER + "sku,A,P-1,\n".repeat(120_000));
    const err = errorOf(() => loadMappingDir(dir, "Default Mapping Group", { maxFileBytes: 1024 * 1024 }));
    expect(err.problems).toEqual([{ file: path.join(dir, "products.csv"), line: 0, message: expect.stringMatching(/is 1\.3 MB, above the 1\.0 MB a mapping file may have \(dataverseMappingFileMaxMB\)/) }]);
  });

  it("zero-width and direction characters and non-NFC text in keys are flagged with file and line", () => {
    const problems = problemsOf("products.csv", HEADER + "sku,A\u200bB,P-1,\nsku,Cafe\u0301,P-2,\nsku,Caf\u00e9,P-3,\nsku,\u202eX,P-4,\n");
    expect(problems).toEqual([
      { line: 2, message: expect.stringMatching(/externalFieldValue "A\u200bB" contains the invisible character U\+200B at position 2/) },
      { line: 3, message: expect.stringMatching(/externalFieldValue "Cafe\u0301" is not in Unicode NFC form/) },
      { line: 5, message: expect.stringMatching(/invisible character U\+202E/) },
    ]);
  });

  it("values in messages are cut, so one huge cell cannot flood a CI log", () => {
    const problems = problemsOf("products.csv", `externalFieldName,externalFieldValue,productNumber,${"x".repeat(50_000)}\nsku,A,P-1,\n`);
    expect(problems[0].message.length).toBeLessThan(400);
    expect(problems[0].message).toMatch(/unexpected column "x{80}"\.\.\. \(50,000 characters\)/);
  });

  it("parses quoted fields across chunk boundaries and lines, with the line a record starts on", () => {
    const body = Array.from({ length: 60_000 }, (_, i) => `sku,"V${i}, ""q""",P-${i},`).join("\n");
    const { result, problems } = validateMappingCsv("products.csv", `${HEADER}${body}\nsku,"multi\nline",P-x,\nsku,,P-y,\n`);
    expect(result).toBeUndefined();
    expect(problems).toEqual([
      { file: "products.csv", line: 60_002, message: 'control character in externalFieldValue "multi\\nline"' },
      { file: "products.csv", line: 60_004, message: "empty externalFieldValue" },
    ]);
    const ok = validateMappingCsv("products.csv", `${HEADER}${body}\n`);
    expect(Object.keys(ok.result!.rows)).toHaveLength(60_000);
    expect(ok.result!.rows['sku=V59999, "q"']).toBe("P-59999");
  });
});
