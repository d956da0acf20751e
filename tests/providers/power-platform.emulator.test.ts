/**
 * The Power Platform emulators answer in the shapes Microsoft's Terraform provider records in its
 * fixtures (internal/services/environment/tests, internal/services/application/tests) and its code
 * expects: what the providers are tested against is the service as documented, not as the clients
 * happen to read it.
 */
import * as http from "http";
import { startAppPackagesEmulator, type PowerPlatformAppPackagesEmulator } from "../../emulators/power-platform-app-packages";
import { startEnvironmentsEmulator, type PowerPlatformEnvironmentsEmulator } from "../../emulators/power-platform-environments";

const BAP = "/providers/Microsoft.BusinessAppPlatform";
let bap: PowerPlatformEnvironmentsEmulator;
let apps: PowerPlatformAppPackagesEmulator;

/** One request without a kept-alive connection (nothing outlives the test). */
function send(base: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; headers: { get(name: string): string | undefined }; body?: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = http.request(path.startsWith("http") ? path : `${base}${path}`, { method, agent: false, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" } }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: { get: (n) => res.headers[n.toLowerCase()] as string | undefined }, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined }));
    });
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
const bapCall = (method: string, path: string, body?: unknown) => send(bap.url, "bap-token", method, path, body);

beforeEach(async () => {
  [bap, apps] = await Promise.all([startEnvironmentsEmulator(), startAppPackagesEmulator()]);
});
afterEach(() => Promise.all([bap.stop(), apps.stop()]));

const createBody = { location: "europe", properties: { displayName: "d", environmentSku: "Sandbox", linkedEnvironmentMetadata: { baseLanguage: 1033, currency: { code: "EUR" }, domainName: "d1", securityGroupId: "00000000-0000-0000-0000-000000000000", templates: ["D365_CDSSampleApp"] } } };

describe("environment lifecycle", () => {
  it("create: 202 with Location; the lifecycle operation goes NotStarted, Running, Succeeded and names the environment", async () => {
    const created = await bapCall("POST", `${BAP}/environments?api-version=2023-06-01`, createBody);
    expect(created.status).toBe(202);
    const location = created.headers.get("location")!;
    expect(location).toMatch(/\/lifecycleOperations\/[0-9a-f-]{36}\?api-version=2023-06-01$/);
    const states: string[] = [];
    let op: Record<string, unknown> | undefined;
    for (let i = 0; i < 3; i++) {
      op = (await bapCall("GET", location)).body;
      states.push((op!.state as { id: string }).id);
    }
    expect(states).toEqual(["NotStarted", "Running", "Succeeded"]);
    const path = (op!.links as { environment: { path: string } }).environment.path;
    expect(path).toMatch(new RegExp(`^${BAP}/environments/[0-9a-f-]{36}$`));

    // the new environment's Dataverse shows after a read without it (Terraform's waitForDataverseMetadata)
    const id = path.split("/").pop();
    const first = await bapCall("GET", `${BAP}/scopes/admin/environments/${id}?api-version=2023-06-01`);
    expect((first.body!.properties as Record<string, unknown>).linkedEnvironmentMetadata).toBeUndefined();
    const second = (await bapCall("GET", `${BAP}/scopes/admin/environments/${id}?api-version=2023-06-01`)).body!;
    expect(second).toMatchObject({ name: id, location: "europe", properties: { environmentSku: "Sandbox", states: { management: { id: "Ready" } }, governanceConfiguration: { protectionLevel: "Basic" } } });
    expect((second.properties as Record<string, unknown>).linkedEnvironmentMetadata).toMatchObject({
      domainName: "d1", instanceUrl: "https://d1.crm4.dynamics.com/", version: expect.stringMatching(/^9\.2\./), resourceId: expect.stringMatching(/^[0-9a-f-]{36}$/), baseLanguage: 1033,
    });
  });

  it("while an operation runs: PATCH answers 409 OperationNotStartable with Terraform's recorded body, DELETE a 409 without a body", async () => {
    const env = bap.addDataverseEnvironment({ id: "0f0e0d0c-0b0a-4909-8807-060504030201", domainName: "d2" });
    const patch = await bapCall("PATCH", `${BAP}/scopes/admin/environments/${env.id}?api-version=2021-04-01`, { properties: { displayName: "x" } });
    expect(patch.status).toBe(202);
    const again = await bapCall("PATCH", `${BAP}/scopes/admin/environments/${env.id}?api-version=2021-04-01`, { properties: { displayName: "y" } });
    expect(again).toMatchObject({ status: 409, body: { error: { code: "OperationNotStartable", message: expect.stringContaining("active lifecycle operation") } } });
    const del = await bapCall("DELETE", `${BAP}/scopes/admin/environments/${env.id}?api-version=2023-06-01`);
    expect(del.status).toBe(409);
    expect(del.body).toBeUndefined();
  });

  it("a taken domain: 400 InvalidDomainName as Terraform's test records it; modifySku answers with Operation-Location", async () => {
    bap.addDataverseEnvironment({ id: "0f0e0d0c-0b0a-4909-8807-060504030202", domainName: "taken" });
    const taken = await bapCall("POST", `${BAP}/validateEnvironmentDetails?api-version=2021-04-01`, { domainName: "taken", environmentLocation: "europe" });
    expect(taken).toMatchObject({ status: 400, body: { error: { code: "InvalidDomainName", message: "The specified domain name with a value of 'taken' is invalid." } } });
    expect((await bapCall("POST", `${BAP}/validateEnvironmentDetails?api-version=2021-04-01`, { domainName: "free", environmentLocation: "europe" })).status).toBe(200);
    const sku = await bapCall("POST", `${BAP}/scopes/admin/environments/0f0e0d0c-0b0a-4909-8807-060504030202/modifySku?api-version=2021-04-01`, { environmentSku: "Production" });
    expect(sku.status).toBe(202);
    expect(sku.headers.get("operation-location")).toMatch(/lifecycleOperations/);
  });

  it("governance configuration: 409 when it is on already (Terraform: 409 both when managed and when busy)", async () => {
    const env = bap.addDataverseEnvironment({ id: "0f0e0d0c-0b0a-4909-8807-060504030203", domainName: "d3", protectionLevel: "Standard" });
    const gov = await bapCall("POST", `${BAP}/environments/${env.id}/governanceConfiguration?api-version=2021-04-01`, { protectionLevel: "Standard" });
    expect(gov.status).toBe(409);
  });

  it("the api-version is checked as the service does", async () => {
    expect((await bapCall("POST", `${BAP}/environments?api-version=2021-04-01`, createBody)).status).toBe(400);
  });
});

describe("application packages", () => {
  const ENV = "7a3c9f1e-2d4b-4e6a-8c0d-1f2e3a4b5c6d";
  const api = (method: string, path: string, token = "pp-api-token") => send(apps.url, token, method, path);

  it("list, install with Operation-Location, status NotStarted, Running, Succeeded; a BAP token is another audience", async () => {
    apps.offer(ENV);
    const list = await api("GET", `/appmanagement/environments/${ENV}/applicationPackages?api-version=2022-03-01-preview`);
    expect((list.body!.value as Record<string, unknown>[])[0]).toMatchObject({ uniqueName: "msdyn_IntelligentOrderManagementAnchor", version: expect.any(String), state: "None", applicationName: expect.any(String) });
    const install = await api("POST", `/appmanagement/environments/${ENV}/applicationPackages/msdyn_IntelligentOrderManagementAnchor/install?api-version=2022-03-01-preview`);
    expect(install.status).toBe(202);
    const op = install.headers.get("operation-location")!;
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await api("GET", op)).body!.status);
    expect(statuses).toEqual(["NotStarted", "Running", "Succeeded"]);
    expect(apps.package(ENV, "msdyn_IntelligentOrderManagementAnchor")!.state).toBe("Installed");
    expect((await api("GET", `/appmanagement/environments/${ENV}/applicationPackages?api-version=2022-03-01-preview`, "bap-token")).status).toBe(401);
  });
});
