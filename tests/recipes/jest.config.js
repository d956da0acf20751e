/**
 * `npm run test:recipes`: tests/recipes/recipes.test.ts, which performs the README's recipes on a
 * copy of the repository and runs the checks there (each with its own program server), so it needs
 * no program server of its own. `.ci/run` runs it beside the type-check and lint; `npm test` leaves it out.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const base = require("../../jest.config");

module.exports = {
  ...base,
  rootDir: "../..",
  testMatch: ["<rootDir>/tests/recipes/**/*.test.ts"],
  testPathIgnorePatterns: ["/node_modules/"],
  globalSetup: undefined,
  globalTeardown: undefined,
  maxWorkers: 1,
};
