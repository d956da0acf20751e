/**
 * `npm run test:live` is opt-in: without the variables naming real services it skips with one line
 * and exit code 0 (so CI without secrets passes), and `npm test` never picks up tests/live.
 */
import { execFile } from "child_process";
import * as path from "path";
import { LIVE_REQUIRED, skipReason } from "../../scripts/test-live";

const ROOT = path.resolve(__dirname, "../..");
const all = Object.fromEntries(Object.keys(LIVE_REQUIRED).map((k) => [k, "x"]));

test("the skip line names every variable still missing, and nothing is skipped when all are set", () => {
  expect(skipReason({})).toBe(`test:live skipped: set ${Object.keys(LIVE_REQUIRED).join(", ")} (README.md, "Live tests")`);
  expect(skipReason({ ...all, IOM_LIVE_DATAVERSE_URL: "" })).toBe('test:live skipped: set IOM_LIVE_DATAVERSE_URL (README.md, "Live tests")');
  expect(skipReason(all)).toBeUndefined();
});

test("npm run test:live without credentials prints one line and exits 0", async () => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("IOM_LIVE_")));
  const r = await new Promise<{ code: number; stdout: string }>((resolve) =>
    execFile("npm", ["run", "--silent", "test:live"], { cwd: ROOT, env, timeout: 60_000 }, (error, stdout) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout })),
  );
  expect(r.code).toBe(0);
  expect(r.stdout.trim().split("\n")).toEqual([expect.stringMatching(/^test:live skipped: set IOM_LIVE_BIGCOMMERCE_STORE_HASH, /)]);
}, 60_000);

test("npm test does not run the live tests (jest.config.js ignores tests/live)", () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const config = require(path.join(ROOT, "jest.config.js")) as { testPathIgnorePatterns: string[] };
  expect(config.testPathIgnorePatterns).toContain("<rootDir>/tests/live/");
});
