/**
 * Emulator of the Power Platform API's application packages (appmanagement), on 127.0.0.1: an
 * environment's package list, the install with its polled operation, a failed install and 409.
 * Sources, named next to each non-obvious behaviour:
 *   [TF-APP] microsoft/terraform-provider-power-platform internal/services/application
 *            (api_application.go, dto.go, the fixtures under tests/: get_applications.json,
 *            Validate_Install/get_operation.json);
 *   [REST]   Microsoft Learn, Power Platform REST reference, appmanagement Applications: Get
 *            Environment Application Package, Install Application Package, Get Application Package
 *            Install Status.
 * What no source states is marked ASSUMED.
 */
import * as http from "http";
import { randomUUID } from "crypto";
import { JsonApiEmulator } from "./local-server";

/** [TF-APP] constants.APPLICATION_API_VERSION, the version the [REST] pages document. */
const API_VERSION = "2022-03-01-preview";

export interface EmulatedPackage {
  uniqueName: string;
  applicationName: string;
  version: string;
  /** [TF-APP] fixture: "None" for offered but not installed; "Installed" once installed. */
  state: string;
  errorDetails?: { message: string };
}

interface InstallOperation {
  id: string;
  environmentId: string;
  uniqueName: string;
  pollsLeft: number;
  status: "NotStarted" | "Running" | "Succeeded" | "Failed";
  fail?: string;
}

export type PackageFault =
  | { kind: "429" | "500"; times: number; match?: (method: string, path: string) => boolean }
  /** The next install's operation ends Failed with this message (the package then reports InstallFailed, ASSUMED name). */
  | { kind: "installFails"; times: number; message: string }
  /** The next install requests answer 409 (another operation on the environment; [TF]'s callers wait on 409). */
  | { kind: "conflict"; times: number };

export class PowerPlatformAppPackagesEmulator extends JsonApiEmulator<PackageFault> {
  /** Per environment id (lower case): the packages offered to it. */
  readonly packages = new Map<string, EmulatedPackage[]>();
  readonly operations = new Map<string, InstallOperation>();
  pollsPerOperation = 3;
  retryAfterSeconds = "0.01";
  /** Answer installs with 200 and the InstancePackage ([REST]) instead of 202 with Operation-Location ([TF-APP]). */
  answerInstallWith200 = false;

  constructor(readonly token = "pp-api-token") {
    super();
  }

  /** Offers IOM (and another package, as the [TF-APP] fixture lists several) to an environment. */
  offer(environmentId: string, packages: EmulatedPackage[] = [iomPackage(), { uniqueName: "MicrosoftFormsPro", applicationName: "Dynamics 365 Customer Voice", version: "2.0.0.45", state: "None" }]): void {
    this.packages.set(environmentId.toLowerCase(), packages.map((p) => ({ ...p })));
  }

  package(environmentId: string, uniqueName: string): EmulatedPackage | undefined {
    return this.packages.get(environmentId.toLowerCase())?.find((p) => p.uniqueName === uniqueName);
  }

  private opUrl(op: InstallOperation): string {
    return `${this.url}/appmanagement/environments/${op.environmentId}/operations/${op.id}?api-version=${API_VERSION}`;
  }

  protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    for await (const _ of req) void _; // drain the body; nothing here reads it
    const url = new URL(req.url ?? "/", "http://x");
    const r = { method: req.method ?? "GET", path: url.pathname };
    // [REST] Security: Entra ID OAuth2 for https://api.powerplatform.com; a BAP token is another audience.
    if (req.headers.authorization !== `Bearer ${this.token}`) return this.send(res, r, 401, this.error("Unauthorized", "The access token is missing or is for another audience."));
    for (const f of this.faults) {
      if ((f.kind === "429" || f.kind === "500") && f.times > 0 && (!f.match || f.match(r.method, r.path))) {
        f.times--;
        return this.send(res, r, Number(f.kind), this.error(f.kind === "429" ? "TooManyRequests" : "InternalServerError", "Injected."), f.kind === "429" ? { "Retry-After": this.retryAfterSeconds } : {});
      }
    }
    if (url.searchParams.get("api-version") !== API_VERSION) return this.send(res, r, 400, this.error("InvalidApiVersion", `api-version must be ${API_VERSION}.`));

    const listMatch = /^\/appmanagement\/environments\/([^/]+)\/applicationPackages$/.exec(r.path);
    if (listMatch && r.method === "GET") {
      const list = this.packages.get(listMatch[1].toLowerCase());
      // ASSUMED: an environment the service does not know answers 404.
      if (!list) return this.send(res, r, 404, this.error("EnvironmentNotFound", `Environment '${listMatch[1]}' was not found.`));
      // [TF-APP] fixture get_applications.json: { value: [{ uniqueName, version, applicationName, state, errorDetails, ... }] }.
      return this.send(res, r, 200, { value: list.map((p) => ({ id: randomUUID(), uniqueName: p.uniqueName, version: p.version, localizedName: p.applicationName, applicationName: p.applicationName, state: p.state, errorDetails: p.errorDetails ?? null, applicationVisibility: "All" })) });
    }

    const installMatch = /^\/appmanagement\/environments\/([^/]+)\/applicationPackages\/([^/]+)\/install$/.exec(r.path);
    if (installMatch && r.method === "POST") {
      const [, environmentId, uniqueName] = installMatch;
      const pkg = this.package(environmentId, decodeURIComponent(uniqueName));
      // ASSUMED: a package not offered to the environment answers 404.
      if (!pkg) return this.send(res, r, 404, this.error("ApplicationPackageNotFound", `Application package '${uniqueName}' is not available for environment '${environmentId}'.`));
      const conflict = this.faults.find((f): f is Extract<PackageFault, { kind: "conflict" }> => f.kind === "conflict" && f.times > 0);
      const running = [...this.operations.values()].some((o) => o.environmentId.toLowerCase() === environmentId.toLowerCase() && (o.status === "NotStarted" || o.status === "Running"));
      // ASSUMED body; the admin center refuses concurrent operations on one environment.
      if (conflict || running) {
        if (conflict) conflict.times--;
        return this.send(res, r, 409, this.error("Conflict", "Another operation is in progress for this environment."), { "Retry-After": this.retryAfterSeconds });
      }
      const failFault = this.faults.find((f): f is Extract<PackageFault, { kind: "installFails" }> => f.kind === "installFails" && f.times > 0);
      if (failFault) failFault.times--;
      const op: InstallOperation = { id: randomUUID(), environmentId, uniqueName: pkg.uniqueName, pollsLeft: this.pollsPerOperation, status: "NotStarted", fail: failFault?.message };
      this.operations.set(op.id, op);
      pkg.state = "Installing"; // ASSUMED name of the state while an install runs
      if (this.answerInstallWith200) {
        // [REST] Install Application Package: 200 with the InstancePackage and its lastOperation.
        return this.send(res, r, 200, { packageUniqueName: pkg.uniqueName, packageVersion: pkg.version, state: "InstallRequested", lastOperation: { operationId: op.id, state: "InstallRequested" } });
      }
      // [TF-APP] InstallApplicationInEnvironment: 202 with Operation-Location (recorded in its install test).
      return this.send(res, r, 202, undefined, { "Operation-Location": this.opUrl(op) });
    }

    const opMatch = /^\/appmanagement\/environments\/([^/]+)\/operations\/([^/]+)$/.exec(r.path);
    if (opMatch && r.method === "GET") {
      const op = this.operations.get(opMatch[2]);
      if (!op) return this.send(res, r, 404, this.error("OperationNotFound", "Operation not found."));
      if (op.status === "NotStarted" || op.status === "Running") {
        op.pollsLeft--;
        if (op.pollsLeft <= 0) {
          op.status = op.fail ? "Failed" : "Succeeded";
          const pkg = this.package(op.environmentId, op.uniqueName)!;
          pkg.state = op.fail ? "InstallFailed" : "Installed"; // InstallFailed: ASSUMED name
          pkg.errorDetails = op.fail ? { message: op.fail } : undefined;
        } else op.status = op.pollsLeft === this.pollsPerOperation - 1 ? "NotStarted" : "Running";
      }
      // [TF-APP] fixture Validate_Install/get_operation.json: { operationId, createdDateTime, lastActionDateTime, status, statusMessage }.
      return this.send(res, r, 200, {
        operationId: op.id,
        createdDateTime: "2023-10-11T07:45:25.3761337Z",
        lastActionDateTime: "2023-10-11T07:45:43.4915067Z",
        status: op.status,
        statusMessage: "",
        ...(op.status === "Failed" ? { error: { errorName: "InstallFailed", message: op.fail, statusCode: 500 } } : {}),
      }, op.status === "Succeeded" || op.status === "Failed" ? {} : { "Retry-After": this.retryAfterSeconds });
    }
    return this.send(res, r, 404, this.error("NotFound", `No route for ${r.method} ${r.path}.`));
  }
}

/** IOM's package as an environment's list would show it before the install. */
export function iomPackage(state = "None"): EmulatedPackage {
  return { uniqueName: "msdyn_IntelligentOrderManagementAnchor", applicationName: "Dynamics 365 Intelligent Order Management", version: "9.2.24031.1", state };
}

export async function startAppPackagesEmulator(): Promise<PowerPlatformAppPackagesEmulator> {
  const emu = new PowerPlatformAppPackagesEmulator();
  await emu.start();
  return emu;
}
