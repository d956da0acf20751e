/**
 * IOM's provider tables in the Dataverse emulator (emulators/dataverse.ts, which serves
 * metadata, queries, PATCH/POST, 429 and faults by the documented Web API contract).
 *
 * The four table logical names are Microsoft's (IOM docs, "alm" page). Their columns are NOT
 * published, so the columns here are deliberately unguessable (`msdyn_q7…`-style suffixes); only
 * discovery from metadata (display names, lookup targets) can find them. Decoys keep discovery honest:
 * the definition parameter has both an internal "Name" and a "Display Name" (the form shows the
 * latter), a "Default Value" column lives on the definition parameter, and the parameter table
 * has a "Description" text column next to its "Value".
 */
import { DataverseEmulator, type EmulatorOptions } from "./dataverse";
import type { AttrDef, TableDef } from "./dataverse-schema";

/** A table without bulk messages (CreateMultiple is for tables that support it), its id column first. */
export function table(logicalName: string, entitySetName: string, displayName: string, primaryName: string, attributes: AttrDef[]): TableDef {
  return {
    logicalName,
    entitySetName,
    displayName,
    primaryId: `${logicalName}id`,
    primaryName,
    bulk: false,
    attributes: [{ logicalName: `${logicalName}id`, displayName, type: "Uniqueidentifier" }, ...attributes],
  };
}

/** Column names of the emulated environment, for assertions only: the provider discovers them. */
export const IOM_COLUMNS = {
  providerName: "msdyn_nm4q8z",
  providerDefinition: "msdyn_r9d2vk",
  providerStatus: "msdyn_st6w1c",
  definitionName: "msdyn_dfn3x0",
  defParamName: "msdyn_k3p0zq",
  defParamDisplay: "msdyn_dn8x5j",
  defParamDefinition: "msdyn_pd2m7r",
  defParamDefault: "msdyn_dv4h6n",
  paramName: "msdyn_pn2j7w",
  paramProvider: "msdyn_pp5b1t",
  paramDefinition: "msdyn_pdp9e3",
  paramValue: "msdyn_vl5t9y",
  paramDescription: "msdyn_ds1k8u",
} as const;
const C = IOM_COLUMNS;

export const IOM_PROVIDER_TABLES: TableDef[] = [
  table("msdyn_iomproviderdefinition", "msdyn_iomproviderdefinitions", "Provider Definition", C.definitionName, [
    { logicalName: C.definitionName, displayName: "Display Name", type: "String" },
  ]),
  table("msdyn_iomprovider", "msdyn_iomproviders", "Provider", C.providerName, [
    { logicalName: C.providerName, displayName: "Name", type: "String" },
    { logicalName: C.providerDefinition, displayName: "Provider Definition", type: "Lookup", target: "msdyn_iomproviderdefinition", nav: "msdyn_R9d2vk" },
    // A status column: Dataverse types statuscode "Status"; the emulator's types are narrower, so
    // the provider must also find it by its display name.
    { logicalName: C.providerStatus, displayName: "Status Reason", type: "String" },
  ]),
  table("msdyn_iomproviderdefinitionparameter", "msdyn_iomproviderdefinitionparameters", "Provider Definition Parameter", C.defParamName, [
    { logicalName: C.defParamName, displayName: "Name", type: "String" },
    { logicalName: C.defParamDisplay, displayName: "Display Name", type: "String" },
    { logicalName: C.defParamDefault, displayName: "Default Value", type: "String" },
    { logicalName: C.defParamDefinition, displayName: "Provider Definition", type: "Lookup", target: "msdyn_iomproviderdefinition", nav: "msdyn_Pd2m7r" },
  ]),
  table("msdyn_iomproviderparameter", "msdyn_iomproviderparameters", "Provider Parameter", C.paramName, [
    { logicalName: C.paramName, displayName: "Name", type: "String" },
    { logicalName: C.paramValue, displayName: "Value", type: "String" },
    { logicalName: C.paramDescription, displayName: "Description", type: "String" },
    { logicalName: C.paramProvider, displayName: "Provider", type: "Lookup", target: "msdyn_iomprovider", nav: "msdyn_Pp5b1t" },
    { logicalName: C.paramDefinition, displayName: "Provider Definition Parameter", type: "Lookup", target: "msdyn_iomproviderdefinitionparameter", nav: "msdyn_Pdp9e3" },
  ]),
];

export const IV_PARAMS = ["Inventory Visibility File Drop Location", "Inventory Visibility Error File Drop Location", "Inventory Visibility Organization ID"];
export const BC_PARAMS = ["Store Hash", "API Key"];

export interface SeededIom {
  emu: DataverseEmulator;
  url: string;
  ivProviderId: string;
  bcProviderId: string;
  /** Parameter label -> parameter row id, per provider. */
  rows: { iv: Map<string, string>; bc: Map<string, string> };
  value(providerId: string, label: string): string | null;
  /** An edit of a parameter's value in IOM's form: the row gets a new version. */
  setValue(providerId: string, label: string, value: string | null): void;
  /**
   * Adds another instance from a catalog definition ("Dynamics 365 Inventory Visibility" or
   * "BigCommerce"), with its parameter rows, as adding the tile again and naming it does; returns its id.
   */
  addProvider(name: string, definition: "Dynamics 365 Inventory Visibility" | "BigCommerce"): string;
  /** Adds a further BigCommerce instance, as the catalog tile's "Add Provider" does (empty parameter rows); returns its id. */
  addBigCommerceInstance(name: string): string;
  stop(): Promise<void>;
}

/**
 * An environment where IOM is installed with the Inventory Visibility and BigCommerce definitions
 * (catalog tiles), and, unless `installIv` is false, the Inventory Visibility provider added from the
 * catalog with its parameter rows (empty values), as the catalog step leaves it. BigCommerce is
 * installed too, with one parameter set, so tests can prove it is never touched. `bigCommerceParameters`
 * replaces the BigCommerce definition's parameter labels (IOM does not publish them).
 */
export async function startIomEnvironment(opts: EmulatorOptions & { installIv?: boolean; token?: string; extraTables?: TableDef[]; bigCommerceParameters?: string[] } = {}): Promise<SeededIom> {
  const emu = new DataverseEmulator({ ...opts, tables: [...IOM_PROVIDER_TABLES, ...(opts.extraTables ?? [])] });
  const url = await emu.start();
  const def = (name: string) => emu.insert("msdyn_iomproviderdefinition", { [C.definitionName]: name });
  const ivDef = def("Dynamics 365 Inventory Visibility");
  const bcDef = def("BigCommerce");
  def("Intelligent Fulfillment Optimization");
  const defParams = (definition: string, labels: string[]) =>
    new Map(labels.map((label) => [label, emu.insert("msdyn_iomproviderdefinitionparameter", {
      [C.defParamName]: `msdyn_${label.replace(/[^A-Za-z]/g, "").slice(0, 20).toLowerCase()}`,
      [C.defParamDisplay]: label,
      [C.defParamDefault]: null,
      [C.defParamDefinition]: definition,
    })]));
  const ivDefParams = defParams(ivDef, IV_PARAMS);
  const bcDefParams = defParams(bcDef, opts.bigCommerceParameters ?? BC_PARAMS);
  const install = (name: string, definition: string, dp: Map<string, string>, values: Record<string, string> = {}) => {
    const id = emu.insert("msdyn_iomprovider", { [C.providerName]: name, [C.providerDefinition]: definition, [C.providerStatus]: "Inactive" });
    const rows = new Map<string, string>();
    for (const [label, dpId] of dp) {
      rows.set(label, emu.insert("msdyn_iomproviderparameter", { [C.paramName]: label, [C.paramValue]: values[label] ?? null, [C.paramDescription]: null, [C.paramProvider]: id, [C.paramDefinition]: dpId }));
    }
    return { id, rows };
  };
  const iv = opts.installIv === false ? { id: "", rows: new Map<string, string>() } : install("Inventory Visibility", ivDef, ivDefParams);
  const bc = install("BigCommerce", bcDef, bcDefParams, { "Store Hash": "other-team-store" });
  const find = (providerId: string, label: string) =>
    emu.rows("msdyn_iomproviderparameter").find((r) => r[C.paramProvider] === providerId && r[C.paramName] === label);
  return {
    emu,
    url,
    ivProviderId: iv.id,
    bcProviderId: bc.id,
    rows: { iv: iv.rows, bc: bc.rows },
    value: (providerId, label) => find(providerId, label)?.[C.paramValue] ?? null,
    setValue: (providerId, label, value) => {
      const r = find(providerId, label);
      if (!r) throw new Error(`no parameter row ${label}`);
      emu.update("msdyn_iomproviderparameter", r.msdyn_iomproviderparameterid!, { [C.paramValue]: value });
    },
    addProvider: (name, definition) =>
      definition === "BigCommerce" ? install(name, bcDef, bcDefParams).id : install(name, ivDef, ivDefParams).id,
    addBigCommerceInstance: (name) => install(name, bcDef, bcDefParams).id,
    stop: () => emu.stop(),
  };
}
