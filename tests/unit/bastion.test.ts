/**
 * The operator's way in to the gateway VMs: with `bastionSku` the stack deploys Azure Bastion in
 * AzureBastionSubnet behind the NSG Microsoft requires, the gateway subnet admits RDP from that
 * subnet only, the manual step names the Bastion, and the policies pass; without it nothing opens.
 */
import { planViolations } from "../../plan/cli";
import { capturePlan, runProgram, type ProgramRun } from "../support/program";

type Obj = Record<string, unknown>;
const list = (v: unknown) => (v ?? []) as Obj[];
const T = {
  subnet: "azure-native:network:Subnet",
  nsg: "azure-native:network:NetworkSecurityGroup",
  pip: "azure-native:network:PublicIPAddress",
  bastion: "azure-native:network:BastionHost",
} as const;
const WITH_BASTION = { set: { bastionSku: "Basic", bastionSubnetPrefix: "10.20.0.64/26" } };

let withBastion: ProgramRun;
let without: ProgramRun;
beforeAll(async () => {
  withBastion = await runProgram("dev", WITH_BASTION);
  without = await runProgram("dev");
}, 60_000);

test("Bastion sits in AzureBastionSubnet, behind a Standard static public IP, without shareable links", () => {
  const subnet = withBastion.ofType(T.subnet).find((s) => s.inputs.subnetName === "AzureBastionSubnet");
  expect(subnet?.inputs).toMatchObject({ addressPrefix: "10.20.0.64/26" });
  const pip = withBastion.one(T.pip, "bastion-pip");
  expect(pip.inputs).toMatchObject({ publicIpAddressName: "pip-iom-retail-dev-weu-bas", sku: { name: "Standard" }, publicIPAllocationMethod: "Static" });
  const host = withBastion.one(T.bastion);
  expect(host.inputs).toMatchObject({
    bastionHostName: "bas-iom-retail-dev-weu",
    sku: { name: "Basic" },
    ipConfigurations: [{ name: "ipconfig1", subnet: { id: subnet?.id }, publicIPAddress: { id: pip.id } }],
    enableShareableLink: false,
    enableIpConnect: false,
  });
});

test("the Bastion subnet's NSG has exactly Microsoft's required rules, then deny-all both ways", () => {
  const nsg = withBastion.ofType(T.nsg).find((n) => n.inputs.networkSecurityGroupName === "nsg-iom-retail-dev-weu-bas");
  const rules = list(nsg?.inputs.securityRules).map((r) => `${r.direction} ${r.access} ${r.sourceAddressPrefix}->${r.destinationAddressPrefix} ${r.destinationPortRange ?? (r.destinationPortRanges as string[]).join(",")}`);
  expect(rules).toEqual([
    "Inbound Allow Internet->* 443",
    "Inbound Allow GatewayManager->* 443",
    "Inbound Allow VirtualNetwork->VirtualNetwork 8080,5701",
    "Inbound Allow AzureLoadBalancer->* 443",
    "Inbound Deny *->* *",
    "Outbound Allow *->VirtualNetwork 22,3389",
    "Outbound Allow *->AzureCloud 443",
    "Outbound Allow VirtualNetwork->VirtualNetwork 8080,5701",
    "Outbound Allow *->Internet 80",
    "Outbound Deny *->* *",
  ]);
});

test("the gateway subnet admits RDP from the Bastion subnet only, and nothing without a Bastion", () => {
  const inbound = (run: ProgramRun) =>
    list(run.one(T.nsg, "network-nsg-gw").inputs.securityRules).filter((r) => r.direction === "Inbound" && r.access === "Allow");
  expect(inbound(withBastion)).toEqual([expect.objectContaining({
    name: "Allow-Rdp-From-Bastion-In", protocol: "Tcp", sourceAddressPrefix: "10.20.0.64/26", destinationAddressPrefix: "10.20.0.32/27", destinationPortRange: "3389",
  })]);
  expect(inbound(without)).toEqual([]);
  expect(without.ofType(T.bastion)).toEqual([]);
  expect(without.ofType(T.subnet).map((s) => s.inputs.subnetName)).not.toContain("AzureBastionSubnet");
});

test("the manual step names the Bastion as the way in, and the output names it", () => {
  const step = (withBastion.outputs.nextSteps as string[])[0];
  expect(step).toMatch(/^Register the installed gateway: connect to each gateway VM through Azure Bastion 'bas-iom-retail-dev-weu' \(Azure portal > the VM > Connect > Bastion\) as 'iomgwadmin' with the password in Key Vault secret 'gateway-vm-admin-password'/);
  expect(withBastion.outputs.bastionHostName).toBe("bas-iom-retail-dev-weu");
  expect(without.outputs.bastionHostName).toBeUndefined();
});

test("the offline plan with a Bastion passes every policy", async () => {
  expect(planViolations(await capturePlan("dev", WITH_BASTION))).toEqual([]);
}, 60_000);
