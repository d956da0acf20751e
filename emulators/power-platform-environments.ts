/**
 * Emulator of the Power Platform admin API (BAP) environment lifecycle, on 127.0.0.1: create with a
 * polled lifecycle operation, read, list, PATCH, modifySku, delete, the domain-name check, the
 * location's templates and the governance configuration (Managed Environment). It extends the
 * policy-link emulator (power-platform-admin.ts), so one emulator holds the environments, their
 * lifecycle operations and their policy links, as the service does.
 *
 * What it answers is what Microsoft's Terraform provider expects of the service and records in its
 * test fixtures; the source is named next to each non-obvious behaviour:
 *   [TF-ENV] internal/services/environment (api_environment.go, dto.go, resource_environment_test.go,
 *            tests/resource/<case>/*.json);
 *   [TF-ME]  internal/services/managed_environment (api_managed_environment.go and its tests);
 *   [TF-LC]  internal/api/lifecycle.go.
 * What no source states is marked ASSUMED.
 */
import type * as http from "http";
import { randomUUID } from "crypto";
import { PowerPlatformAdminEmulator, type EmulatedEnvironment, type Operation } from "./power-platform-admin";

export interface EmulatedDataverse {
  domainName: string;
  instanceUrl: string;
  organizationId: string;
  version: string;
  baseLanguage: number;
  currency: string;
  securityGroupId: string;
  templates: string[];
}

export interface EmulatedFullEnvironment extends EmulatedEnvironment {
  sku: string;
  description: string;
  dataverse?: EmulatedDataverse;
  /** Reads of a new environment that still show no Dataverse metadata ([TF-ENV] waitForDataverseMetadata). */
  dataverseHiddenReads: number;
  governanceSettings?: unknown;
}

export interface EmulatedTemplate {
  name: string;
  displayName: string;
  /** [TF] environment_templates fixture: isDisabled with disabledReason { code, message }. */
  disabled?: { code: string; message: string };
}

export type EnvironmentFault =
  /** The create request answers this ([TF-ENV] Validate_Do_Not_Retry_On_NoCapacity: 409 InsufficientCapacity_StorageDriven; 500 is final). */
  | { kind: "createNoCapacity" | "create500"; times: number }
  /** The next requests on an environment answer 409 OperationNotStartable ([TF-ENV] Validate_Retry_On_Running_LifecycleOperation). */
  | { kind: "busy"; times: number }
  /** The create's lifecycle operation ends Failed ([TF-ENV] Validate_Create_Lifecycle_Failed). */
  | { kind: "createFails"; times: number }
  /** A PATCH that does not take the display name ([TF-ENV] Update: "the display name is not propagated correctly"). */
  | { kind: "displayNameLag"; times: number };

const BAP = "/providers/Microsoft.BusinessAppPlatform";
const API_2023 = "2023-06-01";
const API_2021 = "2021-04-01";
const SKUS = ["Trial", "Sandbox", "Production", "Developer"];

export class PowerPlatformEnvironmentsEmulator extends PowerPlatformAdminEmulator {
  /** Templates every location offers ([TF] environment_templates fixture names). */
  templates: EmulatedTemplate[] = [
    { name: "D365_CDSSampleApp", displayName: "Sample App" },
    { name: "D365_Sales", displayName: "Sales Enterprise", disabled: { code: "DynamicsEntitlementMissing", message: "You do not have the required Dynamics 365 licenses to create databases with the 'Sales Enterprise' Dynamics app." } },
  ];
  /** Reads of a new environment before its Dataverse shows. */
  dataverseHiddenReads = 1;
  /** Domains taken by environments of other tenants: only validateEnvironmentDetails and create know them. */
  readonly foreignDomains = new Set<string>();
  private envFaults: EnvironmentFault[] = [];

  envFault(f: EnvironmentFault): void {
    this.envFaults.push(f);
  }

  private takeFault<K extends EnvironmentFault["kind"]>(kind: K): boolean {
    const f = this.envFaults.find((x) => x.kind === kind && x.times > 0);
    if (!f) return false;
    f.times--;
    return true;
  }

  /** The environment, typed as this emulator keeps it. */
  env(id: string): EmulatedFullEnvironment | undefined {
    return this.environments.get(id.toLowerCase()) as EmulatedFullEnvironment | undefined;
  }

  /** An existing environment with a Dataverse, e.g. one a stack adopts. */
  addDataverseEnvironment(e: Partial<EmulatedFullEnvironment> & { id: string; domainName: string }): EmulatedFullEnvironment {
    const env: EmulatedFullEnvironment = {
      displayName: e.displayName ?? e.domainName,
      location: e.location ?? "europe",
      protectionLevel: e.protectionLevel ?? "Basic",
      sku: e.sku ?? "Sandbox",
      description: e.description ?? "",
      dataverseHiddenReads: 0,
      ...e,
      dataverse: e.dataverse ?? {
        domainName: e.domainName,
        instanceUrl: `https://${e.domainName}.crm4.dynamics.com/`,
        organizationId: randomUUID(),
        version: "9.2.24031.00206",
        baseLanguage: 1033,
        currency: "EUR",
        securityGroupId: "",
        templates: ["D365_CDSSampleApp"],
      },
    };
    this.addEnvironment(env);
    return env;
  }

  private domainTaken(domain: string): boolean {
    const d = domain.toLowerCase();
    return this.foreignDomains.has(d) || [...this.environments.values()].some((e) => (e as EmulatedFullEnvironment).dataverse?.domainName.toLowerCase() === d);
  }

  private busy(environmentId: string): boolean {
    return [...this.operations.values()].some((o) => o.environmentId === environmentId && (o.state === "NotStarted" || o.state === "Running"));
  }

  /** Starts a lifecycle operation and answers 202 with where to poll it ([TF-ENV] fixtures: `Location`; modifySku's test: `Operation-Location`). */
  private startOperation(res: http.ServerResponse, r: { method: string; path: string }, op: Omit<Operation, "id" | "pollsLeft" | "state">, header: "Location" | "Operation-Location" = "Location"): void {
    const full: Operation = { ...op, id: randomUUID(), pollsLeft: this.pollsPerOperation, state: "NotStarted" };
    this.operations.set(full.id, full);
    const opUrl = `${this.url}${BAP}/lifecycleOperations/${full.id}?api-version=${API_2023}`;
    this.send(res, r, 202, undefined, { [header]: opUrl, "Retry-After": this.retryAfterSeconds });
  }

  /** The GET document of an environment, shaped like [TF-ENV] tests/resource/Validate_Create_With_D365_Template/get_environment_*.json. */
  private document(e: EmulatedFullEnvironment, revealDataverse: boolean): unknown {
    const dv = revealDataverse ? e.dataverse : undefined;
    return {
      id: `${BAP}/scopes/admin/environments/${e.id}`,
      type: "Microsoft.BusinessAppPlatform/scopes/environments",
      location: e.location,
      name: e.id,
      properties: {
        displayName: e.displayName,
        description: e.description,
        environmentSku: e.sku,
        provisioningState: "Succeeded",
        databaseType: dv ? "CommonDataService" : "None",
        states: { management: { id: this.busy(e.id) ? "Running" : "Ready" }, runtime: { id: "Enabled" } },
        governanceConfiguration: { protectionLevel: e.protectionLevel, ...(e.governanceSettings ? { settings: e.governanceSettings } : {}) },
        ...(e.vnets ? { enterprisePolicies: { vNets: e.vnets } } : {}),
        ...(dv
          ? {
              linkedEnvironmentMetadata: {
                resourceId: dv.organizationId,
                friendlyName: e.displayName,
                uniqueName: `unq${dv.organizationId.replace(/-/g, "").slice(0, 24)}`,
                domainName: dv.domainName,
                version: dv.version,
                instanceUrl: dv.instanceUrl,
                instanceApiUrl: dv.instanceUrl.replace(".crm4.", ".api.crm4."),
                baseLanguage: dv.baseLanguage,
                instanceState: "Ready",
                backgroundOperationsState: "Enabled",
                // [TF-ENV] GetEnvironment: an empty security group comes back empty (Terraform then shows the zero GUID).
                securityGroupId: dv.securityGroupId,
              },
            }
          : {}),
      },
    };
  }

  private parse(raw: string): Record<string, unknown> | undefined {
    try {
      const v = JSON.parse(raw) as unknown;
      return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }

  /** [TF-ENV] fixture post_environment_operation_in_progress.json, message as recorded. */
  private notStartable(id: string) {
    return { error: { code: "OperationNotStartable", message: `This operation cannot be performed because there is an active lifecycle operation on the environment ${id}.`, detailUrlType: "NotSpecified" } };
  }

  protected override route(r: { method: string; path: string }, url: URL, raw: string, res: http.ServerResponse): void {
    const v = url.searchParams.get("api-version");
    const badVersion = (want: string) => v !== want && (this.send(res, r, 400, this.error("InvalidApiVersionParameter", `The api-version '${v}' is invalid. The supported versions are '${want}'.`)), true);

    // [TF-ENV] ValidateCreateEnvironmentDetails: POST validateEnvironmentDetails (2021-04-01) { domainName, environmentLocation }; 200 = free.
    if (r.path === `${BAP}/validateEnvironmentDetails` && r.method === "POST") {
      if (badVersion(API_2021)) return;
      const body = this.parse(raw);
      const domain = String(body?.domainName ?? "");
      // [TF-ENV] Validate_Taken_Domain_Name: 400 InvalidDomainName "The specified domain name with a value of '...' is invalid."
      if (!domain || !/^[a-z0-9][a-z0-9-]*$/.test(domain) || this.domainTaken(domain)) {
        return this.send(res, r, 400, this.error("InvalidDomainName", `The specified domain name with a value of '${domain}' is invalid.`));
      }
      return this.send(res, r, 200);
    }

    // [TF] environment_templates: GET locations/{location}/templates, grouped by SKU category.
    const templatesMatch = new RegExp(`^${BAP}/locations/([^/]+)/templates$`).exec(r.path);
    if (templatesMatch && r.method === "GET") {
      const entry = (t: EmulatedTemplate) => ({
        id: `${BAP}/locations/${templatesMatch[1]}/environmentTemplates/${t.name}`,
        name: t.name,
        location: templatesMatch[1],
        properties: { displayName: t.displayName, isDisabled: !!t.disabled, ...(t.disabled ? { disabledReason: t.disabled } : {}), isCustomerEngagement: true },
      });
      return this.send(res, r, 200, { standard: [], premium: [], developer: [], basic: [], production: this.templates.map(entry) });
    }

    // [TF-ENV] GetEnvironments: GET scopes/admin/environments { value: [...] }.
    if (r.path === `${BAP}/scopes/admin/environments` && r.method === "GET") {
      return this.send(res, r, 200, { value: [...this.environments.values()].map((e) => this.document(e as EmulatedFullEnvironment, true)) });
    }

    // [TF-ENV] CreateEnvironment: POST environments (2023-06-01).
    if (r.path === `${BAP}/environments` && r.method === "POST") {
      if (badVersion(API_2023)) return;
      if (this.takeFault("create500")) return this.send(res, r, 500, this.error("InternalServerError", "An internal server error occurred."));
      if (this.takeFault("createNoCapacity")) {
        return this.send(res, r, 409, { error: { code: "InsufficientCapacity_StorageDriven", message: "This environment can't be created because your org (tenant) needs at least 1 GB of database capacity.", detailUrlType: "NotSpecified" } });
      }
      if (this.takeFault("busy")) return this.send(res, r, 409, this.notStartable("00000000-0000-0000-0000-000000000000"));
      const body = this.parse(raw);
      const props = (body?.properties ?? {}) as Record<string, unknown>;
      const linked = props.linkedEnvironmentMetadata as Record<string, unknown> | undefined;
      const location = String(body?.location ?? "");
      if (!location || !props.displayName || !SKUS.includes(String(props.environmentSku))) {
        return this.send(res, r, 400, this.error("InvalidRequestContent", "location, properties.displayName and a valid properties.environmentSku are required."));
      }
      const domain = String(linked?.domainName ?? "");
      // ASSUMED answer; [TF-ENV] resource_environment.go names it: "the next apply fails with DomainNameAlreadyInUse".
      if (domain && this.domainTaken(domain)) return this.send(res, r, 400, this.error("DomainNameAlreadyInUse", `The domain name '${domain}' is already in use.`));
      const templates = Array.isArray(linked?.templates) ? (linked.templates as string[]) : [];
      const unusable = templates.find((t) => !this.templates.some((x) => x.name === t && !x.disabled));
      if (unusable) return this.send(res, r, 400, this.error("DynamicsEntitlementMissing", `You do not have the required Dynamics 365 licenses to create databases with '${unusable}'.`));
      const id = randomUUID();
      const currency = (linked?.currency as { code?: string } | undefined)?.code ?? "USD";
      const securityGroupId = String(linked?.securityGroupId ?? "");
      const env: EmulatedFullEnvironment = {
        id,
        displayName: String(props.displayName),
        description: String(props.description ?? ""),
        location,
        sku: String(props.environmentSku),
        protectionLevel: "Basic",
        dataverseHiddenReads: this.dataverseHiddenReads,
        dataverse: linked
          ? {
              domainName: domain || `org${id.slice(0, 8)}`,
              // crm4 is Europe's host; the emulator uses it for every location.
              instanceUrl: `https://${domain || `org${id.slice(0, 8)}`}.crm4.dynamics.com/`,
              organizationId: randomUUID(),
              version: "9.2.24031.00206",
              baseLanguage: Number(linked.baseLanguage ?? 1033),
              currency,
              // [TF-ENV] GetEnvironment maps "" to the zero GUID; the service keeps what it was sent.
              securityGroupId: securityGroupId === "00000000-0000-0000-0000-000000000000" ? "" : securityGroupId,
              templates,
            }
          : undefined,
      };
      const fails = this.takeFault("createFails");
      return this.startOperation(res, r, {
        environmentId: id,
        type: "Create",
        // [TF-ENV] Validate_Create_Lifecycle_Failed: a failed create has an empty environment path.
        environmentPath: fails ? "" : `${BAP}/environments/${id}`,
        fail: fails ? "The environment could not be provisioned." : undefined,
        apply: () => this.addEnvironment(env),
      });
    }

    const envMatch = new RegExp(`^${BAP}/scopes/admin/environments/([^/]+)$`).exec(r.path);
    if (envMatch) {
      const e = this.env(envMatch[1]);
      // [TF-ENV] GetEnvironment: 404 -> "environment not found"; DeleteEnvironment: 404 = already gone.
      if (!e) return this.send(res, r, 404, this.error("EnvironmentNotFound", `The environment '${envMatch[1]}' could not be found in the tenant.`));
      if (r.method === "GET") {
        if (!v) return this.send(res, r, 400, this.error("MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests."));
        const reveal = e.dataverseHiddenReads <= 0;
        if (!reveal) e.dataverseHiddenReads--;
        return this.send(res, r, 200, this.document(e, reveal));
      }
      if (r.method === "PATCH") {
        // [TF-ENV] updateEnvironmentWithRetry: api-version 2021-04-01 (a BAPI bug with newer ones).
        if (badVersion(API_2021)) return;
        if (this.busy(e.id) || this.takeFault("busy")) return this.send(res, r, 409, this.notStartable(e.id));
        const props = ((this.parse(raw)?.properties ?? {}) as Record<string, unknown>);
        const lag = this.takeFault("displayNameLag");
        return this.startOperation(res, r, {
          environmentId: e.id,
          type: "Update",
          apply: () => {
            if (typeof props.displayName === "string" && !lag) e.displayName = props.displayName;
            if (typeof props.description === "string") e.description = props.description;
            const sg = (props.linkedEnvironmentMetadata as { securityGroupId?: string } | undefined)?.securityGroupId;
            if (typeof sg === "string" && e.dataverse) e.dataverse.securityGroupId = sg === "00000000-0000-0000-0000-000000000000" ? "" : sg;
          },
        });
      }
      if (r.method === "DELETE") {
        if (badVersion(API_2023)) return;
        // [TF-ENV] Validate_Delete_Retry_On_EmptyBody_Conflict: "409 with no body when a lifecycle operation is already in progress".
        if (this.busy(e.id) || this.takeFault("busy")) return this.send(res, r, 409);
        return this.startOperation(res, r, { environmentId: e.id, type: "Delete", apply: () => this.environments.delete(e.id.toLowerCase()) });
      }
    }

    // [TF-ENV] modifyEnvironmentTypeWithRetry: POST modifySku (2021-04-01) { environmentSku }; its test answers 202 with Operation-Location.
    const skuMatch = new RegExp(`^${BAP}/scopes/admin/environments/([^/]+)/modifySku$`).exec(r.path);
    if (skuMatch && r.method === "POST") {
      if (badVersion(API_2021)) return;
      const e = this.env(skuMatch[1]);
      if (!e) return this.send(res, r, 404, this.error("EnvironmentNotFound", `The environment '${skuMatch[1]}' could not be found in the tenant.`));
      if (this.busy(e.id) || this.takeFault("busy")) return this.send(res, r, 409, this.notStartable(e.id));
      const sku = String(this.parse(raw)?.environmentSku ?? "");
      if (!SKUS.includes(sku)) return this.send(res, r, 400, this.error("InvalidEnvironmentSku", `'${sku}' is not a valid environment SKU.`));
      return this.startOperation(res, r, { environmentId: e.id, type: "ModifySku", apply: () => (e.sku = sku) }, "Operation-Location");
    }

    // [TF-ME] enableManagedEnvironmentWithRetry: POST environments/{id}/governanceConfiguration (2021-04-01).
    const govMatch = new RegExp(`^${BAP}/environments/([^/]+)/governanceConfiguration$`).exec(r.path);
    if (govMatch && r.method === "POST") {
      if (badVersion(API_2021)) return;
      const e = this.env(govMatch[1]);
      if (!e) return this.send(res, r, 404, this.error("EnvironmentNotFound", `The environment '${govMatch[1]}' could not be found in the tenant.`));
      const body = this.parse(raw);
      const level = String(body?.protectionLevel ?? "");
      if (level !== "Standard" && level !== "Basic") return this.send(res, r, 400, this.error("InvalidRequestContent", "protectionLevel must be Standard or Basic."));
      // [TF-ME]: "A 409 ... comes back both when the environment is already managed and when the environment is busy" (body not recorded: ASSUMED empty).
      if (this.busy(e.id) || this.takeFault("busy") || e.protectionLevel === level) return this.send(res, r, 409);
      return this.startOperation(res, r, {
        environmentId: e.id,
        type: level === "Standard" ? "EnableGovernanceConfiguration" : "DisableGovernanceConfiguration",
        apply: () => {
          e.protectionLevel = level as "Standard" | "Basic";
          e.governanceSettings = body?.settings;
        },
      });
    }

    return super.route(r, url, raw, res);
  }
}

export async function startEnvironmentsEmulator(): Promise<PowerPlatformEnvironmentsEmulator> {
  const emu = new PowerPlatformEnvironmentsEmulator();
  await emu.start();
  return emu;
}
