/**
 * The one typed, validated view of a stack's configuration.
 *
 * `Pulumi.yaml` declares every key (type, description, default) and the Pulumi CLI applies the
 * defaults; this module checks values (schema.ts), the rules between them and every name derived
 * from them (rules.ts), and reports all problems at once, naming key and stack, before any resource
 * is declared; build.ts assembles the typed view.
 */
export {
  BASTION_SKUS,
  CONFIG_SCHEMA,
  CONNECTIVITY_MODES,
  ConfigError,
  ENVIRONMENT_MODES,
  OS_DISK_TYPES,
  PROJECT,
  STORAGE_SKUS,
  parseProviderFlowEntries,
  type ConfigKey,
  type ConfigProblem,
  type ConfigValueType,
  type ConnectivityMode,
  type DoctorConfig,
  type GatewayRegistration,
  type MonitoringConfig,
  type PowerPlatformEnvironmentConfig,
  type ProviderSetupConfig,
  type StackConfig,
} from "./schema";
export { loadStackConfig, parseStackConfig } from "./build";
