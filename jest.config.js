/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>"],
  testMatch: ["<rootDir>/tests/**/*.test.ts", "<rootDir>/**/__tests__/**/*.test.ts"],
  // tests/live runs only through `npm run test:live` (jest.live.config.js), against real services;
  // tests/recipes/ on its own (npm run test:recipes, in .ci/run): it is a few minutes of CPU.
  testPathIgnorePatterns: ["/node_modules/", "<rootDir>/tests/live/", "<rootDir>/tests/recipes/"],
  // Type checking is `npm run typecheck` (whole program, strict); tests only transpile, with swc
  // (the transpiler `npm run plan` uses through scripts/swc-register.js), which keeps the suite fast without hiding
  // type errors from CI.
  transform: {
    "^.+\\.ts$": ["@swc/jest", { jsc: { parser: { syntax: "typescript" }, target: "es2022" }, module: { type: "commonjs" } }],
  },
  // TypeScript is loaded by @pulumi/pulumi only when a test serializes a function (see the file).
  moduleNameMapper: { "^(?:\\.\\./\\.\\./|\\./)typescript-shim$": "<rootDir>/scripts/lazy-typescript.js" },
  testTimeout: 30000,
  // One process runs the program under mocks for every test file (tests/support/program-server.ts).
  globalSetup: "<rootDir>/tests/support/global-setup.ts",
  globalTeardown: "<rootDir>/tests/support/global-teardown.ts",
  // Turns off the Debugger in the inspector sessions a test file opened (the SDK's serializer leaves one on, which
  // stops V8 from reusing compiled modules in that worker: see the file).
  setupFilesAfterEnv: ["<rootDir>/tests/support/inspector-sessions.ts"],
  // Three workers on two cores: much of a worker's time is spent waiting (the program server's
  // queue, the emulators' Retry-After and latency), so a third keeps the cores busy: 52 s -> 46-50 s
  // for the suite, back to back on this machine. `--maxWorkers=1` on the command line still runs one
  // file at a time.
  maxWorkers: 3,
  // Each test file loads its own copy of @pulumi/pulumi and @pulumi/azure-native; one process
  // running the program-run files one after another grew to 1 GB of heap (--logHeapUsage) and
  // spent its time in GC. A worker above this limit after a file is replaced by a fresh one.
  workerIdleMemoryLimit: "700MB",
  // `npm test` starts Jest with `node --liftoff-only` (workers inherit it): the PowerShell grammar
  // (tests/support/powershell.ts) is a 1 MB wasm module, which V8 otherwise recompiles with its
  // optimizing tier in the background: 2.7 s of CPU per process that loads it (Node 22;
  // --no-wasm-dynamic-tiering no longer stops it), and a worker that failed to exit gracefully
  // because it was still compiling when Jest told it to. Baseline code parses in milliseconds.
};
