/**
 * BigCommerce API check: a dynamic resource that proves a store hash, token and OAuth scopes
 * (the Orders modify scope IOM needs with a write that cannot change data) and the store's status.
 * See docs/bigcommerce.md.
 */
export {
  BigCommerceApiCheck,
  bigCommerceApiCheckDynamicProvider,
  createBigCommerceApiCheckDynamicProvider,
  runApiCheck,
  type BigCommerceApiCheckArgs,
  type BigCommerceApiCheckInputs,
  type BigCommerceApiCheckOutputs,
  type BigCommerceApiCheckDynamicProvider,
  type ProviderOptions,
} from "./provider";
export {
  apiBaseUrlProblem,
  DEFAULT_ACCEPTED_STORE_STATUSES,
  DEFAULT_API_BASE_URL,
  DEFAULT_REQUIRED_SCOPES,
  DEFAULT_TOKEN_CONFIG_KEY,
  SCOPE_ALIASES,
  SCOPE_PROBES,
  tokenFingerprint,
  legacyTokenFingerprint,
  LEGACY_TOKEN_FINGERPRINT_PREFIX,
  validateInputs,
  type CheckReport,
  type CheckSettings,
} from "./logic";
