/**
 * What the BigCommerce provider tests share: check inputs for an emulated store, a create that must
 * fail, and what a default check sends, derived from the code (the default scopes and the request
 * that proves each), so a change to the default breaks the test that pins it, not every test.
 */
import type { BigCommerceApiCheckInputs, BigCommerceApiCheckProvider } from "../../dynamic-providers/bigcommerce";
import { ENDPOINTS } from "../../dynamic-providers/bigcommerce/client";
import { DEFAULT_REQUIRED_SCOPES, SCOPE_PROBES } from "../../dynamic-providers/bigcommerce/logic";

/** Requests of one check with the default scopes: one per scope, plus `GET /v2/time`. */
export const DEFAULT_CHECK_REQUESTS = DEFAULT_REQUIRED_SCOPES.length + 1;

/** The request that proves `scope`, as messages and the CLI show it: `GET /v3/customers?limit=1`. */
export function probeRequest(scope: string): string {
  const endpoint = ENDPOINTS[SCOPE_PROBES[scope]];
  return `${endpoint.method} ${endpoint.path}`;
}

/** `store_v2_orders` for `store_v2_orders_read_only` (a modify scope grants its read-only form). */
export const modifyForm = (scope: string): string => scope.replace(/_read_only$/, "");
/** `store_v2_orders_read_only` for `store_v2_orders`. */
export const readOnlyForm = (scope: string): string => `${modifyForm(scope)}_read_only`;

/** Inputs of a check of store `abc123` at `apiBaseUrl` (an emulator's url) with `accessToken`. */
export function checkInputs(apiBaseUrl: string, accessToken: string, over: Partial<BigCommerceApiCheckInputs> = {}): BigCommerceApiCheckInputs {
  return { storeHash: "abc123", accessToken, apiBaseUrl, ...over };
}

/** The message of a `create` that must fail; throws when it succeeds. */
export async function createFailure(provider: BigCommerceApiCheckProvider, inputs: BigCommerceApiCheckInputs): Promise<string> {
  try {
    await provider.create(inputs);
  } catch (e: unknown) {
    return e instanceof Error ? e.message : String(e);
  }
  throw new Error("create succeeded but should have failed");
}
