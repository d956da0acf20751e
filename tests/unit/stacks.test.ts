/**
 * Runs the real program with each stack's real Pulumi.<stack>.yaml under Pulumi's mocks and checks
 * the security baseline, the per-stack differences and the outputs IOM's provider setup needs.
 */
import { contains, hostAddress, overlaps, parseCidr, type Cidr } from "../../cidr";
import { GATEWAY_SETUP_SCRIPT } from "../../components/dataGateway";
import { BUILT_IN_ROLES } from "../../components/roles";
import { plainOccurrences, reveal, runProgram, isSecretValue, MOCK_SUFFIX, type ProgramRun } from "../support/program";
import { parseStackConfig } from "../../config";
import { listStacks, loadProject, rawStackConfig, resolveStackConfig } from "../support/stack";

const T = {
  rg: "azure-native:resources:ResourceGroup",
  vnet: "azure-native:network:VirtualNetwork",
  subnet: "azure-native:network:Subnet",
  nsg: "azure-native:network:NetworkSecurityGroup",
  pip: "azure-native:network:PublicIPAddress",
  nat: "azure-native:network:NatGateway",
  nic: "azure-native:network:NetworkInterface",
  pep: "azure-native:network:PrivateEndpoint",
  zoneGroup: "azure-native:network:PrivateDnsZoneGroup",
  peering: "azure-native:network:VirtualNetworkPeering",
  zone: "azure-native:privatedns:PrivateZone",
  zoneLink: "azure-native:privatedns:VirtualNetworkLink",
  account: "azure-native:storage:StorageAccount",
  blobService: "azure-native:storage:BlobServiceProperties",
  container: "azure-native:storage:BlobContainer",
  vault: "azure-native:keyvault:Vault",
  secret: "azure-native:keyvault:Secret",
  vm: "azure-native:compute:VirtualMachine",
  extension: "azure-native:compute:VirtualMachineExtension",
  runCommand: "azure-native:compute:VirtualMachineRunCommandByVirtualMachine",
  role: "azure-native:authorization:RoleAssignment",
  lock: "azure-native:authorization:ManagementLockByScope",
  policy: "azure-native:powerplatform:EnterprisePolicy",
  diagnosticSetting: "azure-native:monitor:DiagnosticSetting",
  dcrAssociation: "azure-native:monitor:DataCollectionRuleAssociation",
  defender: "azure-native:security:DefenderForStorage",
} as const;

type Obj = Record<string, unknown>;
const obj = (v: unknown) => v as Obj;
const list = (v: unknown) => (v ?? []) as Obj[];

/** A stack's settings after the CLI's resolution (its Pulumi.<stack>.yaml over Pulumi.yaml's defaults). */
function settingsOf(stack: string): Record<string, unknown> {
  const { config } = resolveStackConfig(stack);
  return Object.fromEntries(Object.entries(config).map(([k, v]) => {
    const key = k.slice("iom-bigcommerce:".length);
    const declared = loadProject().config[key];
    return [key, declared && declared.type !== "string" ? JSON.parse(v) : v];
  }));
}

/** What each stack must deploy, read from the committed stack files (and the project's defaults). */
function expectationsOf(stack: string) {
  const v = settingsOf(stack);
  const { raw, secretKeys } = rawStackConfig(stack);
  const { naming, tags } = parseStackConfig(stack, raw, secretKeys);
  const connectivity = String(v.connectivity);
  const gateway = connectivity !== "powerPlatformVnet";
  /** e.g. `retaildevweu`: business unit, environment and region code, as compact names join them. */
  const compact = `${naming.businessUnit}${naming.environment}${naming.regionCode}`;
  return {
    /** e.g. `iom-retail-dev-weu`, as hyphenated names join them. */
    hyphenated: `iom-${naming.businessUnit}-${naming.environment}-${naming.regionCode}`,
    compact,
    fileDropContainer: String(v.fileDropContainerName) || `d365iomfiledrop${naming.environment}${naming.regionCode}`,
    errorFileDropContainer: String(v.errorFileDropContainerName) || `d365iomerrorfile${naming.environment}${naming.regionCode}`,
    tags,
    environment: naming.environment,
    sku: String(v.storageSku),
    blobDays: Number(v.blobSoftDeleteDays),
    containerDays: Number(v.containerSoftDeleteDays),
    versioning: Boolean(v.blobVersioning),
    kvDays: Number(v.keyVaultSoftDeleteDays),
    purge: Boolean(v.keyVaultPurgeProtection),
    vmSize: String(v.gatewayVmSize),
    vmCount: gateway ? Number(v.gatewayVmCount) : 0,
    zones: v.gatewayZones as string[],
    locks: Boolean(v.resourceLocks),
    powerPlatformVnet: connectivity !== "dataGateway",
    failover: connectivity !== "dataGateway" && v.powerPlatformFailoverLocation !== "",
    vnetAddressSpace: String(v.vnetAddressSpace),
    failoverAddressSpace: String(v.powerPlatformFailoverAddressSpace),
    privateEndpointSubnetPrefix: String(v.privateEndpointSubnetPrefix),
    powerPlatformGeo: String(v.powerPlatformGeo),
    powerPlatformFailoverLocation: String(v.powerPlatformFailoverLocation),
    organizationId: String(v.organizationId),
    /** create: the stack creates the Power Platform environment and takes the ids from it. */
    createsEnvironment: v.powerPlatformEnvironmentMode === "create",
    connectivity,
    powerShellVersion: String(v.gatewayPowerShellVersion),
    gatewayInstallerUrl: String(v.gatewayInstallerUrl),
    gatewayInstallerArguments: String(v.gatewayInstallerArguments),
    bastionSku: String(v.bastionSku),
  };
}

/** Azure resource types that take no tags (sub-resources and grants); every other one must carry the landing's. */
const UNTAGGABLE = new Set<string>([
  T.subnet, T.zoneGroup, T.peering, T.container, T.blobService, T.role, T.lock, T.diagnosticSetting, T.dcrAssociation, T.defender,
]);

const STACKS = listStacks();
const runs = new Map<string, ProgramRun>();
beforeAll(async () => {
  for (const stack of STACKS) runs.set(stack, await runProgram(stack));
}, 120_000); // one full program run per stack (in the program server, tests/support/program-server.ts)

describe.each(STACKS)("stack %s", (stack) => {
  const exp = expectationsOf(stack);
  const run = () => runs.get(stack) as ProgramRun;

  describe("drop storage", () => {
    test("is StorageV2, private, Entra-only, TLS 1.2, infrastructure-encrypted", () => {
      const a = run().one(T.account).inputs;
      expect(a).toMatchObject({
        kind: "StorageV2",
        publicNetworkAccess: "Disabled",
        allowSharedKeyAccess: false,
        defaultToOAuthAuthentication: true,
        allowBlobPublicAccess: false,
        allowCrossTenantReplication: false,
        isLocalUserEnabled: false,
        minimumTlsVersion: "TLS1_2",
        enableHttpsTrafficOnly: true,
        networkRuleSet: { defaultAction: "Deny", ipRules: [], virtualNetworkRules: [] },
        encryption: { requireInfrastructureEncryption: true },
        sku: { name: exp.sku },
      });
    });

    test("name follows the naming function and Azure's 3-24 lowercase rule", () => {
      const name = run().one(T.account).inputs.accountName as string;
      expect(name).toMatch(/^[a-z0-9]{3,24}$/);
      expect(name).toBe(`stiom${exp.compact}${MOCK_SUFFIX}`);
    });

    test("soft delete and versioning follow the stack", () => {
      expect(run().one(T.blobService).inputs).toMatchObject({
        deleteRetentionPolicy: { enabled: true, days: exp.blobDays },
        containerDeleteRetentionPolicy: { enabled: true, days: exp.containerDays },
        isVersioningEnabled: exp.versioning,
      });
    });

    test("the File Drop and Error File Drop containers are private", () => {
      const containers = run().ofType(T.container);
      expect(containers.map((c) => c.inputs.containerName).sort()).toEqual([exp.errorFileDropContainer, exp.fileDropContainer].sort());
      for (const c of containers) expect(c.inputs.publicAccess).toBe("None");
    });

    test("is reachable through a blob private endpoint registered in privatelink.blob.core.windows.net", () => {
      const r = run();
      const account = r.one(T.account);
      const pep = r.one(T.pep, "drop-private-link-pep").inputs;
      expect(list(pep.privateLinkServiceConnections)).toEqual([expect.objectContaining({ groupIds: ["blob"], privateLinkServiceId: account.id })]);
      expect(obj(pep.subnet).id).toBe(r.one(T.subnet, "snet-pep").id);
      const zone = r.one(T.zone, "drop-private-link-zone");
      expect(zone.inputs).toMatchObject({ privateZoneName: "privatelink.blob.core.windows.net", location: "global" });
      const links = r.ofType(T.zoneLink).filter((l) => l.inputs.privateZoneName === "privatelink.blob.core.windows.net");
      expect(links.map((l) => obj(l.inputs.virtualNetwork).id)).toContain(r.one(T.vnet, "network-vnet").id);
      for (const link of links) expect(link.inputs.registrationEnabled).toBe(false);
      const group = r.one(T.zoneGroup, "drop-private-link-pep-dns").inputs;
      expect(group.privateEndpointName).toBe(pep.privateEndpointName);
      expect(list(group.privateDnsZoneConfigs)).toEqual([expect.objectContaining({ privateDnsZoneId: zone.id })]);
    });
  });

  describe("network", () => {
    test("subnets sit inside the VNet and have no default outbound access", () => {
      const r = run();
      expect(obj(r.one(T.vnet, "network-vnet").inputs.addressSpace).addressPrefixes).toEqual([exp.vnetAddressSpace]);
      const subnets = r.ofType(T.subnet);
      expect(subnets.length).toBe(exp.powerPlatformVnet ? 3 : 2);
      for (const s of subnets) expect(s.inputs.defaultOutboundAccess).toBe(false);
      expect(r.one(T.subnet, "snet-pep").inputs).toMatchObject({
        addressPrefix: exp.privateEndpointSubnetPrefix,
        privateEndpointNetworkPolicies: "Enabled",
      });
    });

    test("no security rule allows inbound traffic from the internet, and every NSG ends in an explicit deny", () => {
      const r = run();
      const nsgs = r.ofType(T.nsg);
      // one NSG per subnet, each attached: the subnets of the landing VNet and the failover VNet's inline one
      const attached = [
        ...r.ofType(T.subnet).map((s) => obj(s.inputs.networkSecurityGroup).id),
        ...r.ofType(T.vnet).flatMap((v) => list(v.inputs.subnets).map((s) => obj(s.networkSecurityGroup).id)),
      ];
      expect(nsgs.map((n) => n.id).sort()).toEqual([...attached].sort());
      for (const nsg of nsgs) {
        const rules = list(nsg.inputs.securityRules);
        const inboundAllows = rules.filter((rule) => rule.direction === "Inbound" && rule.access === "Allow");
        for (const rule of inboundAllows) {
          const sources = [rule.sourceAddressPrefix, ...list(rule.sourceAddressPrefixes)].filter(Boolean) as unknown as string[];
          expect(sources.length).toBeGreaterThan(0);
          // a range of this landing's own address spaces, never a tag or range covering the internet
          const landing = [exp.vnetAddressSpace, exp.failoverAddressSpace].filter((c) => c !== "").map((c) => parseCidr(c) as Cidr);
          for (const source of sources) {
            const range = parseCidr(source);
            expect({ source, inLanding: range !== undefined && landing.some((space) => contains(space, range)) }).toEqual({ source, inLanding: true });
          }
        }
        expect(rules).toContainEqual(expect.objectContaining({ direction: "Inbound", access: "Deny", priority: 4096, sourceAddressPrefix: "*" }));
      }
    });

    test("the gateway may only reach what the data gateway documents, then everything else is denied", () => {
      const nsg = run().one(T.nsg, "nsg-gw");
      const rules = list(nsg.inputs.securityRules);
      expect(rules.filter((r) => r.direction === "Inbound" && r.access === "Allow")).toEqual([]);
      const outbound = rules.filter((r) => r.direction === "Outbound" && r.access === "Allow");
      const byName = Object.fromEntries(outbound.map((r) => [String(r.name), r]));
      // Azure Relay has no service tag; its addresses are in AzureCloud (ServiceBus does not cover it).
      expect(byName["Allow-AzureRelay-Out"]).toMatchObject({ protocol: "Tcp", destinationAddressPrefix: "AzureCloud", destinationPortRanges: ["443", "5671-5672", "9350-9354"] });
      expect(outbound.filter((r) => r.destinationAddressPrefix === "ServiceBus")).toEqual([]);
      for (const [name, tag] of [["Allow-EntraId-Out", "AzureActiveDirectory"], ["Allow-PowerBI-Out", "PowerBI"], ["Allow-InternetHttps-Out", "Internet"]]) {
        expect(byName[name]).toMatchObject({ protocol: "Tcp", destinationAddressPrefix: tag, destinationPortRange: "443" });
      }
      expect(byName["Allow-InternetHttp-Out"]).toMatchObject({ protocol: "Tcp", destinationAddressPrefix: "Internet", destinationPortRange: "80" });
      const byDestination = Object.fromEntries(outbound.map((r) => [String(r.destinationAddressPrefix ?? "addresses"), r]));
      expect(byDestination[exp.privateEndpointSubnetPrefix]).toMatchObject({ destinationPortRange: "443" });
      for (const rule of outbound) expect(rule.destinationPortRange ?? "").not.toBe("*");
      expect(rules).toContainEqual(expect.objectContaining({ direction: "Outbound", access: "Deny", priority: 4096, destinationAddressPrefix: "*" }));
    });

    test("no network interface has a public IP; egress goes through the NAT gateway", () => {
      const r = run();
      for (const nic of r.ofType(T.nic)) {
        for (const ipConfig of list(nic.inputs.ipConfigurations)) expect(ipConfig.publicIPAddress).toBeUndefined();
      }
      const pip = r.one(T.pip);
      expect(list(r.one(T.nat).inputs.publicIpAddresses)).toEqual([{ id: pip.id }]);
      expect(obj(r.one(T.subnet, "snet-gw").inputs.natGateway).id).toBe(r.one(T.nat).id);
    });

    test(`Power Platform VNet support is ${exp.powerPlatformVnet ? "present" : "absent"}`, () => {
      const r = run();
      const delegated = r.ofType(T.subnet).filter((s) => list(s.inputs.delegations).length > 0);
      const policies = r.ofType(T.policy);
      if (!exp.powerPlatformVnet) {
        expect(delegated).toEqual([]);
        expect(policies).toEqual([]);
        expect(r.outputs.powerPlatformEnterprisePolicyId).toBeUndefined();
        return;
      }
      expect(list(delegated[0].inputs.delegations)).toEqual([expect.objectContaining({ serviceName: "Microsoft.PowerPlatform/enterprisePolicies" })]);
      const policy = policies[0];
      expect(policies).toHaveLength(1);
      expect(policy.inputs).toMatchObject({ kind: "NetworkInjection", location: exp.powerPlatformGeo });
      const vnets = list(obj(policy.inputs.networkInjection).virtualNetworks);
      expect(vnets.map((v) => v.id)).toEqual([r.one(T.vnet, "network-vnet").id, ...(exp.failover ? [r.one(T.vnet, "vnet-failover").id] : [])]);
      expect(r.outputs.powerPlatformEnterprisePolicyId).toBe(policy.id);
      if (exp.failover) {
        const failover = r.one(T.vnet, "vnet-failover").inputs;
        expect(failover.location).toBe(exp.powerPlatformFailoverLocation);
        expect(list(failover.subnets)[0]).toMatchObject({ delegations: [expect.objectContaining({ serviceName: "Microsoft.PowerPlatform/enterprisePolicies" })] });
        expect(r.ofType(T.peering)).toHaveLength(2);
        // the failover region resolves the private endpoints too
        const linked = r.ofType(T.zoneLink).map((l) => obj(l.inputs.virtualNetwork).id);
        expect(linked.filter((id) => id === r.one(T.vnet, "vnet-failover").id)).toHaveLength(2);
      }
    });
  });

  describe("key vault", () => {
    test("uses RBAC, soft delete per stack, purge protection per stack, and no public network path", () => {
      const props = obj(run().one(T.vault).inputs.properties);
      expect(props).toMatchObject({
        enableRbacAuthorization: true,
        enableSoftDelete: true,
        softDeleteRetentionInDays: exp.kvDays,
        publicNetworkAccess: "Disabled",
        networkAcls: { defaultAction: "Deny", ipRules: [] },
        enabledForTemplateDeployment: false,
      });
      expect(props.accessPolicies).toBeUndefined();
      expect(props.enablePurgeProtection).toBe(exp.purge ? true : undefined);
      expect(run().one(T.vault).inputs.vaultName).toMatch(/^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/);
    });

    test("holds the generated VM admin password and gateway recovery key, as secrets", () => {
      const r = run();
      const secrets = r.ofType(T.secret);
      expect(secrets.map((s) => s.inputs.secretName).sort()).toEqual(["gateway-recovery-key", "gateway-vm-admin-password"]);
      for (const s of secrets) {
        // the engine marks the whole top-level property secret when any part of it is
        expect(isSecretValue(s.inputs.properties)).toBe(true);
        expect(r.generatedSecrets).toContain(obj(reveal(s.inputs.properties)).value);
        expect(plainOccurrences(s.inputs, r.generatedSecrets)).toEqual([]);
      }
      expect(r.one(T.pep, "vault-private-link-pep").inputs).toMatchObject({ privateLinkServiceConnections: [expect.objectContaining({ groupIds: ["vault"] })] });
      expect(r.one(T.zone, "vault-private-link-zone").inputs.privateZoneName).toBe("privatelink.vaultcore.azure.net");
    });
  });

  describe("data gateway VMs", () => {
    test(`${exp.vmCount} Windows Server 2022 VM(s) of ${exp.vmSize} with Trusted Launch, patching, boot diagnostics and a managed identity`, () => {
      const vms = run().ofType(T.vm);
      expect(vms).toHaveLength(exp.vmCount);
      vms.forEach((vm, index) => {
        expect(isSecretValue(vm.inputs.osProfile)).toBe(true); // it carries the admin password
        const i = reveal(vm.inputs) as Obj;
        expect(obj(i.hardwareProfile).vmSize).toBe(exp.vmSize);
        const image = obj(obj(i.storageProfile).imageReference);
        expect(image).toMatchObject({ publisher: "MicrosoftWindowsServer", offer: "WindowsServer" });
        expect(String(image.sku)).toMatch(/^2022-datacenter/);
        expect(String(image.sku)).not.toMatch(/core/i);
        expect(i.securityProfile).toEqual({ securityType: "TrustedLaunch", uefiSettings: { secureBootEnabled: true, vTpmEnabled: true }, encryptionAtHost: true });
        expect(i.identity).toEqual({ type: "SystemAssigned" });
        expect(obj(obj(i.osProfile).windowsConfiguration).patchSettings).toMatchObject({ patchMode: "AutomaticByPlatform", assessmentMode: "AutomaticByPlatform" });
        expect(obj(i.diagnosticsProfile).bootDiagnostics).toEqual({ enabled: true });
        expect(run().generatedSecrets).toContain(obj(i.osProfile).adminPassword);
        expect(String(obj(i.osProfile).computerName).length).toBeLessThanOrEqual(15);
        expect(i.zones).toEqual(exp.zones.length ? [exp.zones[index % exp.zones.length]] : undefined);
      });
      // The monitoring agent is the third extension on each node (tests/unit/monitoring.test.ts).
      expect(run().ofType(T.extension).map((e) => e.inputs.type).filter((t) => t !== "AzureMonitorWindowsAgent").sort()).toEqual([...Array(exp.vmCount).fill("GuestAttestation"), ...Array(exp.vmCount).fill("VMAccessAgent")].sort());
    });

    test("each VM identity may read only the recovery key, not the admin password", () => {
      const r = run();
      const recoveryKey = r.ofType(T.secret).find((s) => s.inputs.secretName === "gateway-recovery-key");
      const grants = r.ofType(T.role).filter((g) => String(g.inputs.roleDefinitionId).endsWith(BUILT_IN_ROLES.keyVaultSecretsUser));
      expect(grants).toHaveLength(exp.vmCount);
      for (const grant of grants) {
        expect(grant.inputs).toMatchObject({ scope: recoveryKey?.id, principalType: "ServicePrincipal" });
      }
      expect(new Set(grants.map((g) => g.inputs.principalId)).size).toBe(exp.vmCount);
    });

    test("without a registration service principal the VMs get the gateway installed and the manual step is an output", () => {
      const r = run();
      const commands = r.ofType(T.runCommand);
      expect(commands).toHaveLength(exp.vmCount);
      for (const c of commands) {
        expect(obj(c.inputs.source).script).toBe(GATEWAY_SETUP_SCRIPT);
        expect(list(c.inputs.parameters)).toEqual([
          { name: "Mode", value: "prepare" },
          { name: "PowerShellVersion", value: exp.powerShellVersion },
          { name: "GatewayInstallerUrl", value: exp.gatewayInstallerUrl },
          { name: "GatewayInstallerArguments", value: exp.gatewayInstallerArguments },
        ]);
        expect(c.inputs.protectedParameters).toBeUndefined();
        expect(c.inputs.treatFailureAsDeploymentFailure).toBe(true);
      }
      expect(r.outputs.gatewayRegistrationMode).toBe("manual");
      const step = (r.outputs.nextSteps as string[])[0];
      expect(step).toMatch(new RegExp(`^Register the installed gateway: .* register the first VM as cluster 'gw-${exp.hyphenated}' with the recovery key from Key Vault secret 'gateway-recovery-key'`));
      // The VMs have no public IP: the step names the stack's Bastion, or how to get one.
      expect(step).toMatch(exp.bastionSku ? new RegExp(`through Azure Bastion 'bas-${exp.hyphenated}'`) : /set bastionSku and bastionSubnetPrefix/);
    });
  });

  describe("governance", () => {
    test(`delete locks on storage and vault: ${exp.locks}`, () => {
      const r = run();
      const locked = r.ofType(T.lock).map((l) => l.inputs.scope).sort();
      expect(locked).toEqual(exp.locks ? [r.one(T.account).id, r.one(T.vault).id].sort() : []);
      for (const lock of r.ofType(T.lock)) expect(lock.inputs.level).toBe("CanNotDelete");
    });

    test("logical names are unique, so plans and state read unambiguously", () => {
      const names = run().resources.map((x) => x.name);
      expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    });

    test("every taggable Azure resource carries the landing's tags", () => {
      const r = run();
      const azure = r.resources.filter((x) => x.type.startsWith("azure-native:"));
      expect(exp.tags).toMatchObject({ environment: exp.environment, workload: "d365-iom", managedBy: "pulumi", pulumiStack: `iom-bigcommerce/${stack}` });
      for (const res of azure.filter((x) => !UNTAGGABLE.has(x.type))) expect({ [res.name]: res.inputs.tags }).toEqual({ [res.name]: exp.tags });
      for (const res of azure.filter((x) => UNTAGGABLE.has(x.type))) expect({ [res.name]: res.inputs.tags }).toEqual({ [res.name]: undefined });
    });
  });

  describe("outputs", () => {
    test("fill the Inventory Visibility parameters exactly as the form wants them", () => {
      const r = run();
      const account = r.one(T.account).inputs.accountName;
      // Create mode: the organization id of the environment the stack created; adopt mode: the configured one.
      const organizationId = exp.createsEnvironment ? (r.outputs.powerPlatform as { organizationId: string }).organizationId : exp.organizationId;
      expect(organizationId).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.outputs.inventoryVisibility).toEqual({
        fileDropLocation: `https://${account}.blob.core.windows.net/${exp.fileDropContainer}`,
        errorFileDropLocation: `https://${account}.blob.core.windows.net/${exp.errorFileDropContainer}`,
        organizationId,
      });
    });

    test("name the storage account, endpoint IP, vault, gateway VMs and registration mode", () => {
      const r = run();
      const peSubnet = parseCidr(exp.privateEndpointSubnetPrefix) as Cidr;
      expect(r.outputs).toMatchObject({
        storageAccountName: r.one(T.account).inputs.accountName,
        storageAccountId: r.one(T.account).id,
        blobPrivateEndpointIp: hostAddress(peSubnet, 4),
        keyVaultUri: `https://${r.one(T.vault).inputs.vaultName}.vault.azure.net/`,
        gatewayRegistrationMode: "manual",
        connectivity: exp.connectivity,
        resourceGroupName: `rg-${exp.hyphenated}`,
      });
      expect(list(r.one(T.pep, "drop-private-link-pep").inputs.ipConfigurations)[0].privateIPAddress).toBe(r.outputs.blobPrivateEndpointIp);
      const vms = r.outputs.gatewayVms as { name: string; identityPrincipalId: string }[];
      expect(vms.map((v) => v.name)).toEqual(r.ofType(T.vm).map((v) => v.inputs.vmName));
      for (const vm of vms) expect(vm.identityPrincipalId).toMatch(/^[0-9a-f-]{36}$/);
    });

    test("contain no secret, marked or not", () => {
      const r = run();
      expect(r.secretOutputs).toEqual([]);
      expect(plainOccurrences(r.outputs, r.generatedSecrets)).toEqual([]);
      // The VM admin password, the gateway recovery key and the providers' fingerprint key.
      expect(r.generatedSecrets.length).toBe(3);
    });
  });
});

describe("stacks side by side", () => {
  test("address spaces do not overlap, so the environments can later be peered or routed without renumbering", () => {
    const spaces = STACKS.map((stack) => ({ stack, cidr: parseCidr(expectationsOf(stack).vnetAddressSpace) as Cidr }));
    const overlapping = spaces.flatMap((a, i) => spaces.slice(i + 1).filter((b) => overlaps(a.cidr, b.cidr)).map((b) => `${a.stack}/${b.stack}`));
    expect(overlapping).toEqual([]);
  });
});
