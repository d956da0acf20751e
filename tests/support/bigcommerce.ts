/** What the BigCommerce provider tests share: check inputs for an emulated store (with a fingerprint key), and a create that must fail. */
import type { BigCommerceApiCheckInputs, BigCommerceApiCheckDynamicProvider } from "../../dynamic-providers/bigcommerce";
import { DEFAULT_REQUIRED_SCOPES, planProbes } from "../../dynamic-providers/bigcommerce/logic";

/** Requests of one check with the default scopes, derived from the code's plan (one per scope, plus the read-only GET a write probe needs). */
export const DEFAULT_CHECK_REQUESTS = planProbes(DEFAULT_REQUIRED_SCOPES).probes.length;

/** A stack's fingerprint key as index.ts makes one (32 random bytes in base64), fixed for the tests. */
export const FINGERPRINT_KEY = Buffer.alloc(32, 7).toString("base64");

/** Inputs of a check of store `abc123` at `apiBaseUrl` (an emulator's url) with `accessToken`, and the tests' fingerprint key. */
export function checkInputs(apiBaseUrl: string, accessToken: string, over: Partial<BigCommerceApiCheckInputs> = {}): BigCommerceApiCheckInputs {
  return { storeHash: "abc123", accessToken, apiBaseUrl, fingerprintKey: FINGERPRINT_KEY, ...over };
}

/** The message of a `create` that must fail; throws when it succeeds. */
export async function createFailure(provider: BigCommerceApiCheckDynamicProvider, inputs: BigCommerceApiCheckInputs): Promise<string> {
  try {
    await provider.create(inputs);
  } catch (e: unknown) {
    return e instanceof Error ? e.message : String(e);
  }
  throw new Error("create succeeded but should have failed");
}
