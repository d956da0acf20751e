/**
 * Row identity follows the columns the mapping table has (issue 9, item 3): on a table without a
 * Mapping Group column (IOM's 2021 forms) the stack's default group is not part of a row's
 * identity, so changing `dataverseMappingGroup` later keeps the stack's rows owned (deleted when
 * removed from the file). On a table with the column, deterministic ids stay what they were.
 */
import { DataverseEmulator } from "../emulators/dataverse";
import { TableDef, iomTables2021, iomTablesLater } from "../emulators/dataverse-schema";
import { FAST, TOKEN } from "../emulators/dataverse-harness";
import { createIomMappingSetProvider, IomMappingSetInputs, IomMappingSetOutputs } from "../../dynamic-providers/dataverse/provider";
import { ownedId } from "../../dynamic-providers/dataverse/rows";
import type { RowMap } from "../../dynamic-providers/dataverse/rows";

const TABLE = "cr7f3_iomproductmapping";
let emu: DataverseEmulator;
let url: string;
const provider = createIomMappingSetProvider({ client: FAST });

async function start(tables: TableDef[]): Promise<void> {
  process.env.DATAVERSE_ACCESS_TOKEN = TOKEN;
  emu = new DataverseEmulator({ token: TOKEN, tables });
  url = await emu.start();
  emu.insert("msdyn_iomprovider", { cr7f3_providerlabel: "BigCommerce" });
  emu.insert("product", { name: "Accu Scale", productnumber: "ABS-0001" });
  emu.insert("product", { name: "Product 1", productnumber: "P-000001" });
  if (tables.some((d) => d.logicalName === "cr7f3_iommappinggroup")) emu.insert("cr7f3_iommappinggroup", { cr7f3_groupname: "Default Mapping Group" });
}

beforeEach(() => {
  for (const m of ["log", "warn", "error"] as const) jest.spyOn(console, m).mockImplementation(() => undefined);
});
afterEach(async () => {
  await emu?.stop();
  jest.restoreAllMocks();
});

const inputs = (rows: RowMap, mappingGroup = "Default Mapping Group"): IomMappingSetInputs => ({
  environmentUrl: url,
  kind: "products",
  rows,
  targetKeyColumn: "productnumber",
  mappingGroup,
  providerName: "BigCommerce",
  adoptExisting: false,
  schemaOverride: "",
  ownerSeed: "group-identity-seed",
});

const values = () => emu.rows(TABLE).map((r) => r.cr7f3_externalfieldvalue).sort();

describe("row identity without a Mapping Group column", () => {
  it("changing the default group keeps the rows owned: a row removed from the file later is deleted", async () => {
    await start(iomTables2021());
    const created = await provider.create(inputs({ "sku=ABS": "ABS-0001", "sku=P1": "P-000001" }));
    // The stack's default group changes (dataverseMappingGroup); the table has no group to write.
    emu.resetStats();
    const moved = await provider.update!(created.id, created.outs as IomMappingSetOutputs, inputs({ "sku=ABS": "ABS-0001", "sku=P1": "P-000001" }, "Retail Group"));
    const movedOuts = moved.outs as IomMappingSetOutputs;
    expect(emu.stats.rowsWritten).toBe(0);
    expect(movedOuts).toMatchObject({ ownedCount: 2, adoptedCount: 0 });
    // P1 leaves the file: the stack created it, so it goes.
    const removed = await provider.update!(created.id, movedOuts, inputs({ "sku=ABS": "ABS-0001" }, "Retail Group"));
    expect(values()).toEqual(["ABS"]);
    // And destroy removes the rest.
    await provider.delete!(created.id, removed.outs as IomMappingSetOutputs);
    expect(values()).toEqual([]);
  });
});

describe("row identity with a Mapping Group column", () => {
  it("deterministic ids are unchanged: the default group is still part of them", async () => {
    await start(iomTablesLater());
    const created = await provider.create(inputs({ "sku=ABS": "ABS-0001" }));
    const seed = (created.outs as IomMappingSetOutputs).seed;
    expect(emu.rows(TABLE).map((r) => r.cr7f3_iomproductmappingid)).toEqual([ownedId(seed, "Default Mapping Group", "sku", "ABS")]);
  });
});
