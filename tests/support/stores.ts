/**
 * Stacks with several BigCommerce stores, as tests set them up: `bigcommerceStores` entries whose
 * tokens were set with `pulumi config set --secret --path` (`{ secure }` leaves, stack-config.ts),
 * and the mapping folders of tests/fixtures/stores/mappings: the stack's own files (accounts,
 * products), `outdoor/` (products, units) and `winter/` (products); `spring` has no folder.
 */
import type { ConfigChanges } from "./stack";

export const STORE_TOKENS = {
  outdoor: "bc-outdoor-token-0123456789abcdefghij",
  winter: "bc-winter-token-0123456789abcdefghijk",
  spring: "bc-spring-token-0123456789abcdefghijk",
};
export const STORE_HASHES = { outdoor: "out123", winter: "win456", spring: "spr789" };
export type StoreName = keyof typeof STORE_HASHES;
export const STORE_MAPPINGS = "tests/fixtures/stores/mappings";

/** The IOM provider instance of a test store: "BigCommerce Outdoor", ... */
export const storeProvider = (name: StoreName) => `BigCommerce ${name[0].toUpperCase()}${name.slice(1)}`;

/** A `bigcommerceStores` entry with an encrypted token. */
export function storeEntry(name: StoreName, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, providerName: storeProvider(name), storeHash: STORE_HASHES[name], accessToken: { secure: STORE_TOKENS[name] }, ...extra };
}

/** The dev stack with these stores and the fixture mapping folders. */
export function withStores(entries: Record<string, unknown>[], set: Record<string, unknown> = {}): ConfigChanges {
  return { set: { dataverseMappingsDir: STORE_MAPPINGS, bigcommerceStores: entries, ...set } };
}

/**
 * Two stores, outdoor and winter (winter with its own scopes and expected name): the stack the unit
 * and provider tests share, so the program server runs it once.
 */
export const TWO_STORES: ConfigChanges = withStores([storeEntry("outdoor"), storeEntry("winter", { requiredScopes: ["orders_modify", "information"], expectedStoreName: "Contoso Winter" })]);
