// The BigCommerceApiCheck resource under Pulumi's mocks: its type token, what it registers, that
// the token goes in as a secret, and that its provider serializes (the Resource constructor does).

import * as pulumi from "@pulumi/pulumi";

const TOKEN = "resourcetoken0123456789abcdefgh";
const KEY = "resourcefingerprintkey0123456789abcdefghijkl";
const registered: pulumi.runtime.MockResourceArgs[] = [];

pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      registered.push(args);
      return {
        id: "abc123",
        state: {
          ...args.inputs,
          storeId: 1001234,
          storeName: "Contoso Outdoor",
          status: "live",
          scopesVerified: ["store_v2_orders_read_only"],
          tokenFingerprint: "hmac-sha256:00000000000000000000000000000000",
          checkedAt: "2026-01-01T00:00:00.000Z",
        },
      };
    },
    call: (args) => {
      throw new Error(`unexpected call ${args.token}`);
    },
  },
  "iom-bigcommerce",
  "dev",
  true,
);

// Imported after setMocks, as a program would be.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { BigCommerceApiCheck } = require("../../dynamic-providers/bigcommerce") as typeof import("../../dynamic-providers/bigcommerce");

const value = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((resolve) => o.apply(resolve));

describe("BigCommerceApiCheck resource", () => {
  it("registers a dynamic resource with its provider serialized, and exposes the outputs", async () => {
    const check = new BigCommerceApiCheck("bigcommerce-check", {
      storeHash: "abc123",
      accessToken: TOKEN, // a plain string on purpose: the resource makes it secret
      requiredScopes: ["orders"],
      fingerprintKey: KEY,
    });
    expect(await value(check.storeName)).toBe("Contoso Outdoor");
    expect(await value(check.storeId)).toBe(1001234);
    expect(await value(check.tokenFingerprint)).toBe("hmac-sha256:00000000000000000000000000000000");
    // Declared outputs must not be reset by class-field initialisers after super() (ES2022 target).
    expect(check.scopesVerified).toBeInstanceOf(pulumi.Output);

    const args = registered.find((r) => r.name === "bigcommerce-check");
    expect(args?.type).toBe("pulumi-nodejs:dynamic/bigcommerce:ApiCheck");
    const provider = args?.inputs.__provider as string;
    expect(typeof provider).toBe("string");
    expect(provider).toContain("exports.handler");
    expect(provider).not.toContain(TOKEN);
    // `read` finds the token under the program's own config key.
    expect(args?.inputs.accessTokenConfigKey).toBe("iom-bigcommerce:bigcommerceAccessToken");
  });

  it("sends the token and the fingerprint key to the engine as secrets even when given as plain strings", async () => {
    const check = new BigCommerceApiCheck("secret-check", { storeHash: "abc123", accessToken: TOKEN, fingerprintKey: KEY });
    await value(check.checkedAt);
    const args = registered.find((r) => r.name === "secret-check");
    const token = args?.inputs.accessToken;
    expect(pulumi.runtime.isRpcSecret(token)).toBe(true);
    expect(pulumi.runtime.unwrapRpcSecret(token)).toBe(TOKEN);
    expect(pulumi.runtime.isRpcSecret(args?.inputs.fingerprintKey)).toBe(true);
    expect(pulumi.runtime.unwrapRpcSecret(args?.inputs.fingerprintKey)).toBe(KEY);
    expect(args?.inputs.__provider as string).not.toContain(KEY);
    expect(pulumi.runtime.isRpcSecret(args?.inputs.storeHash)).toBe(false);
  });
});
