/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>"],
  testMatch: ["<rootDir>/tests/**/*.test.ts", "<rootDir>/**/__tests__/**/*.test.ts"],
  testPathIgnorePatterns: ["/node_modules/"],
  // Type checking is `npm run typecheck` (whole program, strict); tests transpile only, which keeps
  // the suite fast without hiding type errors from CI.
  transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] },
  testTimeout: 30000,
};
