/**
 * Jest for `npm run test:live` only (scripts/test-live.ts starts it when the environment names the
 * real services): the providers against a sandbox BigCommerce store, a Dataverse environment with
 * IOM and a Power Platform environment. One file at a time, long timeouts, no program server.
 * @type {import('jest').Config}
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS config file
const base = require("./jest.config.js");

module.exports = {
  testEnvironment: base.testEnvironment,
  transform: base.transform,
  roots: ["<rootDir>/tests/live"],
  testMatch: ["<rootDir>/tests/live/**/*.live.test.ts"],
  testTimeout: 20 * 60_000,
  maxWorkers: 1,
};
