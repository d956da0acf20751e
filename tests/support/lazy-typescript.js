// @pulumi/pulumi requires TypeScript (9 MB of JavaScript, through its typescript-shim) when it loads,
// for closure serialization only. Node compiles it once per process, but Jest compiles it again for
// every test file, most of which never serialize a function: about 0.5 s of CPU each, 60 files.
// jest.config.js maps the shim here, and TypeScript is loaded on first use. Outside Jest (the
// program, `npm run plan`, the provider host) nothing changes.
let ts;
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the point is to require it late
const load = () => (ts ??= require("typescript"));
module.exports = new Proxy(
  {},
  {
    get: (_, key) => load()[key],
    has: (_, key) => key in load(),
    ownKeys: () => Reflect.ownKeys(load()),
    getOwnPropertyDescriptor: (_, key) => {
      const d = Object.getOwnPropertyDescriptor(load(), key);
      return d && { ...d, configurable: true };
    },
  },
);
