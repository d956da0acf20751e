/**
 * A deployed stack as the doctor sees it, on local emulators: Dataverse with IOM (iom-doctor.ts),
 * Fabric's gateway API, Log Analytics, ARM's Key Vault secrets, BigCommerce and the Power Platform
 * admin API, all holding what a healthy landing shows, and the stack outputs `pulumi up` would have
 * written for them. Each failure case of the issue is one method that breaks one link.
 *
 * `env` is what the doctor needs to reach them (endpoint, token and CA variables); the Dataverse
 * and Power Platform clients read their token variables from the process environment, so
 * `useEnv()` sets them for the test file.
 */
import Ajv from "ajv";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseStackConfig, type StackConfig } from "../../config";
import type { CheckContext } from "../../doctor/context";
import { servicesFromEnv } from "../../doctor/services";
import { resolveTarget } from "../../doctor/target";
import { gatewayClusterName } from "../../naming";
import { rawStackConfig } from "../../stack-config";
import { startArmKeyVaultEmulator, type ArmKeyVaultEmulator } from "../../emulators/arm-keyvault";
import { DEMO_STORE, IOM_SCOPES, startBigCommerceEmulator, type BigCommerceEmulator } from "../../emulators/bigcommerce";
import { startFabricEmulator, type FabricEmulator } from "../../emulators/fabric-gateways";
import { BC_FLOWS, IV_FLOWS, ORGANIZATION_ID, startDoctorEnvironment, type DoctorEnvironment } from "../../emulators/iom-doctor";
import { IV_PARAMS } from "../../emulators/iom-provider-tables";
import { startLogAnalyticsEmulator, type LogAnalyticsEmulator } from "../../emulators/log-analytics";
import { ENV_ID, POLICY_ARM_ID, POLICY_SYSTEM_ID, startAdminEmulator, type PowerPlatformAdminEmulator } from "../../emulators/power-platform-admin";
import { testCertificate } from "../../emulators/tls";

export const TOKENS = { dataverse: "dv-doctor-token", azure: "azure-doctor-token", bigcommerce: "bc-doctor-token-0123456789", bigcommerceWinter: "bc-winter-token-0123456789", bap: "bap-token" } as const;
/** A second BigCommerce store in the emulator, for stacks with several stores (its token is TOKENS.bigcommerceWinter). */
export const WINTER_STORE = { ...DEMO_STORE, hash: "win456", storeId: 1004567, name: "Contoso Winter", domain: "contoso-winter.example" };
const SUBSCRIPTION = "11111111-2222-4333-8444-555555555555";
const DAY = 86_400_000;

export interface DoctorWorld {
  stack: string;
  config: StackConfig;
  now: Date;
  outputs: Record<string, unknown>;
  outputsFile: string;
  env: Record<string, string>;
  dataverse: DoctorEnvironment;
  fabric: FabricEmulator;
  logs: LogAnalyticsEmulator;
  arm: ArmKeyVaultEmulator;
  bigcommerce: BigCommerceEmulator;
  bap?: PowerPlatformAdminEmulator;
  /** The file drop's StorageBlobLogs rows. */
  blobLogs: Record<string, unknown>[];
  /** Failure cases (issue 18, item 4). */
  breakIt: {
    flowOff(): void;
    bigCommerce429(): void;
    gatewayMemberOffline(): void;
    noFileForADay(): void;
    secretExpiresIn3Days(): void;
  };
  stop(): Promise<void>;
}

/** Starts every emulator for `stack` (dev: gateway only; test/prod: also the VNet policy link) in a healthy state. */
export async function startDoctorWorld(stack = "dev", now = new Date()): Promise<DoctorWorld> {
  const { raw, secretKeys } = rawStackConfig(stack);
  const config = parseStackConfig(stack, raw, secretKeys);
  const account = `stiom${config.naming.businessUnit}${config.naming.environment}${config.naming.regionCode}q7x2`;
  const rg = `rg-iom-${config.naming.businessUnit}-${config.naming.environment}-${config.naming.regionCode}`;
  const vaultName = `kv-iom-${config.naming.environment}-q7x2`;
  const workspaceId = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${rg}/providers/Microsoft.OperationalInsights/workspaces/log-iom-${config.naming.environment}`;
  const blob = `https://${account}.blob.core.windows.net`;
  const fileDropLocation = `${blob}/${config.storage.fileDropContainerName}`;
  const errorFileDropLocation = `${blob}/${config.storage.errorFileDropContainerName}`;
  const cluster = gatewayClusterName(config.naming);
  // Adopt mode names the environment in config; create mode (dev, test) has it only in the outputs.
  const organizationId = config.organizationId || ORGANIZATION_ID;
  const environmentId = config.powerPlatformEnvironment.environmentId || ENV_ID;

  const dataverse = await startDoctorEnvironment({
    token: TOKENS.dataverse,
    now,
    ivValues: { [IV_PARAMS[0]]: fileDropLocation, [IV_PARAMS[1]]: errorFileDropLocation, [IV_PARAMS[2]]: organizationId },
  });
  const members = Array.from({ length: config.gateway?.vmCount ?? 0 }, (_, i) => ({
    id: `a0000000-0000-4000-8000-00000000000${i + 1}`,
    displayName: `vmiom${config.naming.environment}gw${String(i + 1).padStart(2, "0")}`,
    version: "3000.250.5",
    enabled: true,
    status: "Online" as const,
    // The second member's check runs as a long-running operation (202, then polls).
    slowPolls: i === 1 ? 2 : undefined,
  }));
  const fabric = await startFabricEmulator({
    token: TOKENS.azure,
    pageSize: 1,
    gateways: [
      { id: "f0000000-0000-4000-8000-000000000001", type: "OnPremises", displayName: "another-teams-gateway", members: [] },
      { id: "f0000000-0000-4000-8000-000000000002", type: "OnPremises", displayName: cluster, members },
    ],
  });
  const logs = await startLogAnalyticsEmulator({ token: TOKENS.azure, now: () => now });
  const write = (container: string, minutesAgo: number, status = "Success", op = "PutBlob") => ({
    TimeGenerated: new Date(now.getTime() - minutesAgo * 60_000).toISOString(),
    AccountName: account,
    OperationName: op,
    StatusText: status,
    Category: "StorageWrite",
    // A Uri with the port, as logged rows show it; the query reads the path with parse_url either way.
    Uri: `https://${account}.blob.core.windows.net:443/${container}/inventory-${minutesAgo}.json?comp=blocklist`,
  });
  const drop = config.storage.fileDropContainerName;
  const blobLogs: Record<string, unknown>[] = [
    write(drop, 20),
    write(drop, 80, "Success", "PutBlockList"),
    write(drop, 81, "Success", "PutBlock"),
    write(drop, 300),
    // Another account's writes in the same workspace: not this stack's.
    { ...write(drop, 5), AccountName: "someoneelse" },
  ];
  logs.workspaces.set(workspaceId.toLowerCase(), { StorageBlobLogs: blobLogs as never });
  const vault = { subscriptionId: SUBSCRIPTION, resourceGroup: rg, name: vaultName, location: config.location, secrets: [
    { name: "gateway-vm-admin-password", expires: new Date(now.getTime() + 60 * DAY), value: "Adm1n!never-shown" },
    { name: "gateway-recovery-key", expires: new Date(now.getTime() + 60 * DAY), value: "recovery-never-shown" },
    { name: "old-disabled-secret", enabled: false, expires: new Date(now.getTime() - DAY), value: "x" },
  ] };
  const arm = await startArmKeyVaultEmulator({ token: TOKENS.azure, vaults: [vault], pageSize: 2 });
  const bigcommerce = await startBigCommerceEmulator({
    stores: [{ ...DEMO_STORE }, { ...WINTER_STORE }],
    tokens: [{ token: TOKENS.bigcommerce, storeHash: DEMO_STORE.hash, scopes: IOM_SCOPES }, { token: TOKENS.bigcommerceWinter, storeHash: WINTER_STORE.hash, scopes: IOM_SCOPES }],
  });
  const bap = config.powerPlatformVnet
    ? await startAdminEmulator({ id: environmentId, vnets: { policyId: POLICY_SYSTEM_ID.split("/").pop()!, location: "europe", id: POLICY_ARM_ID, systemId: POLICY_SYSTEM_ID, linkStatus: "Linked" } })
    : undefined;

  const outputs: Record<string, unknown> = {
    resourceGroupName: rg,
    storageAccountName: account,
    storageAccountId: `/subscriptions/${SUBSCRIPTION}/resourceGroups/${rg}/providers/Microsoft.Storage/storageAccounts/${account}`,
    keyVaultName: vaultName,
    keyVaultUri: `https://${vaultName}.vault.azure.net/`,
    keyVaultSecretNames: { gatewayAdminPassword: "gateway-vm-admin-password", gatewayRecoveryKey: "gateway-recovery-key" },
    connectivity: config.connectivity.mode,
    gatewayClusterName: config.gateway ? cluster : undefined,
    gatewayRegistrationMode: config.gateway ? "manual" : "none",
    inventoryVisibility: { fileDropLocation, errorFileDropLocation, organizationId },
    powerPlatform: { environmentId, organizationId },
    monitoringSummary: { workspaceId, workspaceName: `log-iom-${config.naming.environment}` },
    ...(config.powerPlatformVnet ? { powerPlatformEnterprisePolicyId: POLICY_ARM_ID } : {}),
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iom-doctor-"));
  const outputsFile = path.join(dir, `${stack}.outputs.json`);
  fs.writeFileSync(outputsFile, JSON.stringify(outputs, null, 2));
  const env: Record<string, string> = {
    DATAVERSE_ACCESS_TOKEN: TOKENS.dataverse,
    IOM_DOCTOR_DATAVERSE_URL: dataverse.url,
    IOM_DOCTOR_ACCESS_TOKEN: TOKENS.azure,
    IOM_DOCTOR_FABRIC_URL: fabric.url,
    IOM_DOCTOR_LOG_ANALYTICS_URL: `${logs.url}/v1`,
    IOM_DOCTOR_ARM_URL: arm.url,
    IOM_DOCTOR_CA_FILE: testCertificate().caFile,
    IOM_DOCTOR_BIGCOMMERCE_API_URL: bigcommerce.url,
    BIGCOMMERCE_ACCESS_TOKEN: TOKENS.bigcommerce,
    ...(bap ? { IOM_DOCTOR_BAP_URL: bap.url, POWER_PLATFORM_ACCESS_TOKEN: TOKENS.bap } : {}),
  };
  return {
    stack,
    config,
    now,
    outputs,
    outputsFile,
    env,
    dataverse,
    fabric,
    logs,
    arm,
    bigcommerce,
    bap,
    blobLogs,
    breakIt: {
      flowOff: () => dataverse.turnOff(IV_FLOWS[0]),
      bigCommerce429: () => {
        dataverse.addRun(BC_FLOWS[0], 45, "Failed", { code: "429", message: "Action 'Get_orders' failed: {\"status\":429,\"title\":\"Too Many Requests\"} The BigCommerce API rate limit was exceeded." });
        dataverse.addRun(BC_FLOWS[0], 15, "Failed", { code: "TooManyRequests", message: "Rate limit is exceeded. Try again in 30 seconds. https://api.bigcommerce.com/stores/abc123/v2/orders?min_date_created=x&sig=SECRETSIG" });
      },
      gatewayMemberOffline: () => {
        const m = fabric.gateways[1].members[0];
        m.status = "Offline";
        m.errorDetails = [{ errorCode: "GatewayNotReachable", message: "The gateway is either offline or could not be reached." }];
      },
      noFileForADay: () => {
        blobLogs.length = 0;
        blobLogs.push(write(drop, 26 * 60), { ...write(drop, 30), AccountName: "someoneelse" });
      },
      secretExpiresIn3Days: () => {
        vault.secrets[0].expires = new Date(now.getTime() + 3 * DAY - 60_000);
      },
    },
    stop: async () => {
      await Promise.all([dataverse.stop(), fabric.close(), logs.close(), arm.close(), bigcommerce.close(), bap?.stop()]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Sets `vars` in the process environment until the returned function restores it. */
export function useEnv(vars: Record<string, string>): () => void {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  return () => {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** The published JSON shape of the doctor's report (doctor/report.schema.json). */
export const validateReport = new Ajv({ allErrors: true }).compile(JSON.parse(fs.readFileSync(path.join(__dirname, "../../doctor/report.schema.json"), "utf8")) as object);

/** A check context for `world`, as the CLI builds it (config changes as `pulumi config set` would make them). */
export function doctorContext(world: DoctorWorld, o: { configChanges?: { set?: Record<string, unknown>; secrets?: Record<string, string> }; env?: Record<string, string | undefined>; outputs?: Record<string, unknown> } = {}): CheckContext {
  const env = { ...world.env, ...o.env };
  let outputsFile = world.outputsFile;
  if (o.outputs) {
    outputsFile = `${world.outputsFile}.${Math.random().toString(36).slice(2)}.json`;
    fs.writeFileSync(outputsFile, JSON.stringify({ ...world.outputs, ...o.outputs }));
  }
  const target = resolveTarget({ stack: world.stack, outputsFile, env, pulumi: () => ({ ok: false, missing: true, stderr: "" }), configChanges: o.configChanges });
  return {
    target,
    services: servicesFromEnv(env, { groupTimeoutMs: 20_000, requestTimeoutMs: 10_000 }),
    now: world.now,
    lookbackHours: target.config.doctor.lookbackHours,
    secretExpiryDays: target.config.doctor.secretExpiryDays,
    progress: () => undefined,
    secretsToRedact: [],
  };
}
