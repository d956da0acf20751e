/**
 * `npm run test:live`: the dynamic providers against real services (tests/live/), opt-in. Without
 * the environment variables that name a sandbox BigCommerce store, a Dataverse environment with IOM
 * and a Power Platform environment, it prints one line saying what is missing and exits 0, so CI
 * never runs them without secrets. README.md, "Live tests", says what they touch.
 */
import { spawnSync } from "child_process";
import * as path from "path";

/** What must be set for the live tests to run (each also named in README.md). */
export const LIVE_REQUIRED = {
  IOM_LIVE_BIGCOMMERCE_STORE_HASH: "a sandbox BigCommerce store's hash",
  IOM_LIVE_BIGCOMMERCE_ACCESS_TOKEN: "its store-level API token (orders modify, products/customers/information read)",
  IOM_LIVE_DATAVERSE_URL: "a Dataverse environment with IOM (https://<org>.<region>.dynamics.com)",
  IOM_LIVE_POWER_PLATFORM_ENVIRONMENT_ID: "the Power Platform environment id of that environment",
} as const;

/** The skip line, or undefined when every variable is set. */
export function skipReason(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const missing = Object.keys(LIVE_REQUIRED).filter((k) => !env[k]);
  return missing.length ? `test:live skipped: set ${missing.join(", ")} (README.md, "Live tests")` : undefined;
}

if (require.main === module) {
  const reason = skipReason(process.env);
  if (reason) {
    process.stdout.write(`${reason}\n`);
  } else {
    const root = path.resolve(__dirname, "..");
    const r = spawnSync(process.execPath, [require.resolve("jest/bin/jest"), "--config", path.join(root, "jest.live.config.js"), ...process.argv.slice(2)], { cwd: root, stdio: "inherit" });
    process.exitCode = r.status ?? 1;
  }
}
