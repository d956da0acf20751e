// @pulumi/pulumi requires TypeScript (9 MB of JavaScript, through its typescript-shim) when it loads,
// for closure serialization only, which most processes never do: about 0.5 s of CPU each time
// (Jest compiles it again for every test file). jest.config.js and scripts/swc-register.js map the
// shim here, and TypeScript is loaded on first use. The program under `pulumi` is not affected.
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
