/**
 * Runs TypeScript files in Node as `ts-node --swc` did, for the `npm run` scripts and the processes
 * tests start (`node -r ./scripts/swc-register.js plan/cli.ts`): each .ts file is transpiled with
 * @swc/core (no type-check: that is `npm run typecheck`) as Jest's @swc/jest does. ts-node loads the
 * TypeScript compiler (9 MB) to read tsconfig.json even with swc: 0.7 s of CPU to start a process
 * against 0.15 s here. Stack traces show .ts lines (inline source maps, Node's own support).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fs = require("fs");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Module = require("module");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const path = require("path");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { transformSync } = require("@swc/core");

// tsconfig.json's target and module; swc's CommonJS interop is TypeScript's esModuleInterop.
const OPTIONS = { swcrc: false, configFile: false, sourceMaps: "inline", jsc: { parser: { syntax: "typescript" }, target: "es2022" }, module: { type: "commonjs" } };
const NODE_MODULES = `${path.sep}node_modules${path.sep}`;

Module._extensions[".ts"] = function compileTypeScript(module, filename) {
  if (filename.includes(NODE_MODULES)) throw new Error(`${filename}: TypeScript in node_modules is not transpiled`);
  module._compile(transformSync(fs.readFileSync(filename, "utf8"), { ...OPTIONS, filename }).code, filename);
};
process.setSourceMapsEnabled(true);

// @pulumi/pulumi's typescript-shim becomes the lazy one (see the file): TypeScript loads only when a
// function is serialized.
const LAZY_TYPESCRIPT = path.join(__dirname, "lazy-typescript.js");
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (request.endsWith("typescript-shim") && parent?.filename?.includes(`${NODE_MODULES}@pulumi${path.sep}pulumi${path.sep}`)) return LAZY_TYPESCRIPT;
  return resolveFilename.call(this, request, parent, ...rest);
};
