/**
 * The provider as Pulumi runs it: serialized with runtime.serializeFunction (as
 * pulumi.dynamic.Resource does), rebuilt from that text with require-from-string in a plain Node
 * child process (as the dynamic-provider host does), driven against the emulator.
 */
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { decodeApplied } from "../../dynamic-providers/dataverse/sync";
import { Harness, Outs, TOKEN, productRows, remoteState, startHarness } from "../../emulators/dataverse-harness";
import { rowsOfInputs } from "../../dynamic-providers/dataverse/provider";
import { runSteps, writeProviderFile } from "../../emulators/dataverse-child";
import { serializedProvider, unresolvableRequires } from "../support/program";
import { waitFor } from "../support/barrier";
import { captureConsolePerTest } from "../support/console";

captureConsolePerTest();

let serialized: { file: string; bytes: number; containsSecrets: boolean };
let h: Harness | undefined;

const ENV = { DATAVERSE_ACCESS_TOKEN: TOKEN, DATAVERSE_SYNC_RETRY_BASE_MS: "2", DATAVERSE_SYNC_MAX_RETRY_AFTER_MS: "2000" };

beforeAll(async () => {
  const { text, containsSecrets } = await serializedProvider("iomMappingSetDynamicProvider");
  serialized = { file: writeProviderFile(text), bytes: text.length, containsSecrets };
}, 60_000);

afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe("serialized provider in a plain Node process", () => {
  it("is self-contained, small and holds no secret", () => {
    const text = fs.readFileSync(serialized.file, "utf8");
    expect(serialized.containsSecrets).toBe(false);
    // The provider's own code is ~0.30 MB (issue 21's text walks and hashing included); a captured
    // module or data set would add far more.
    expect(serialized.bytes).toBeLessThan(350_000);
    expect(text).toMatch(/exports\.handler/);
    expect(text).not.toMatch(/emulator-token|DATAVERSE_ACCESS_TOKEN=/);
    // No captured Pulumi config, no absolute path to this checkout's TypeScript sources.
    expect(text).not.toMatch(/dynamic-providers\/dataverse\/[a-z]+\.ts/);
    // What it requires, the host resolves: Node's own modules and the runtime dependencies.
    expect(unresolvableRequires(text)).toEqual([]);
  });

  it("check, create, diff, read, update and delete work from the serialized text", async () => {
    h = await startHarness();
    const inputs = h.inputs(productRows(20));
    const changed = h.inputs({ ...productRows(19), "sku=S1": "P-000030" });
    const { done } = runSteps(
      serialized.file,
      [
        // As the engine runs them: create, diff and update get the inputs check returned.
        { op: "check", args: [{}, inputs] },
        { op: "create", args: ["$inputs"] },
        { op: "diff", args: ["$id", "$outs", "$inputs"] },
        { op: "check", args: ["$inputs", changed] },
        { op: "diff", args: ["$id", "$outs", "$inputs"] },
        { op: "update", args: ["$id", "$outs", "$inputs"] },
        { op: "read", args: ["$id", "$outs"] },
        { op: "delete", args: ["$id", "$outs"] },
        { op: "create", args: [h.inputs(productRows(2), { providerName: "Magento" })] },
      ],
      ENV,
    );
    const { results, stderr, stdout } = await done;
    expect(stderr).toBe("");
    expect(results.map((r) => [r.op, r.ok, r.error])).toEqual([
      ["check", true, undefined],
      ["create", true, undefined],
      ["diff", true, undefined],
      ["check", true, undefined],
      ["diff", true, undefined],
      ["update", true, undefined],
      ["read", true, undefined],
      ["delete", true, undefined],
      // Error messages survive serialization (the closure serializer rewrites Error subclasses).
      ["create", false, 'IOM provider "Magento" not found in msdyn_iomprovider.zq1_providerlabel: it has not been added from IOM\'s catalog in this environment (Providers > Library (Catalog), its tile; a further instance of the same tile for each store, named "Magento")'],
    ]);
    // check stores the rows packed, and the change against the previous inputs key by key and counted.
    const checked = (results[0].result as { inputs: Record<string, unknown> }).inputs;
    expect(checked).toMatchObject({ ...inputs, rows: expect.any(String), rowSummary: { rows: 20, added: 20, changed: 0, removed: 0 } });
    expect(rowsOfInputs(checked)).toEqual(productRows(20));
    const rechecked = (results[3].result as { inputs: Record<string, unknown> }).inputs;
    expect(rechecked.rows).toBe(checked.rows);
    expect(rechecked.rowChanges).toEqual({ added: {}, changed: { "sku=S1": "P-000030" }, removed: { "sku=S20": "P-000020" } });
    expect(rechecked.rowSummary).toEqual({ rows: 19, added: 0, changed: 1, removed: 1 });
    expect(results[2].result).toMatchObject({ changes: false });
    expect(results[4].result).toMatchObject({ changes: true });
    expect((results[5].result as { outs: Outs }).outs.lastSync).toMatchObject({ changed: 1, removed: 1 });
    expect((results[6].result as { props: Outs }).props.drift).toMatchObject({ missing: 0, changed: 0 });
    expect(h.mappingRows()).toHaveLength(0);
    // What the host stores goes through protobuf Struct.fromJavaScript, which rejects undefined.
    expect(results.map((r) => r.structError ?? null)).toEqual(results.map(() => null));
    expect(stdout).toMatch(/info: \[runtime\] products mappings: 20 to add/);
    expect(stdout).not.toMatch(new RegExp(TOKEN));
  }, 30_000);

  it("a sync killed half-way and re-run converges: no duplicate, no lost row, every row owned", async () => {
    const N = 2000;
    h = await startHarness({}, {}, N);
    const inputs = h.inputs(productRows(N));
    // A barrier, not latency: every request waits at the emulator until the test lets it through,
    // so the kill lands after some writes and before the last one however loaded the machine is.
    let release = h.emu.holdAnswers();
    const { child, done } = runSteps(serialized.file, [{ op: "create", args: [inputs] }], { ...ENV, DATAVERSE_SYNC_MAX_BATCH_SIZE: "250", DATAVERSE_SYNC_MAX_CONCURRENCY: "2" });
    while (h.emu.stats.rowsWritten < 500) {
      await waitFor(() => h!.emu.heldAnswers > 0, "the sync's next request", 20_000);
      release();
      release = h.emu.holdAnswers(); // before the released answers run: the next requests wait again
    }
    // Kill the process (no chance to record state) while its next requests are held.
    await waitFor(() => h!.emu.heldAnswers > 0, "the sync's next request", 20_000);
    child.kill("SIGKILL");
    // What the service had received before the client died still commits.
    release();
    await new Promise((resolve) => setImmediate(resolve));
    const { results } = await done;
    expect(results).toEqual([]); // it never finished
    const written = h.mappingRows().length;
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(N);
    // Re-run (the engine has no state for it: create again).
    const res = await h.provider.create(inputs);
    const outs = res.outs as Outs;
    expect(remoteState(h)).toEqual(productRows(N)); // throws on any duplicate
    expect(outs.ownedCount).toBe(N); // rows from the killed run are recognised as ours, not adopted
    expect(outs.lastSync.added).toBe(N - written);
    await h.provider.delete!(res.id, outs);
    expect(h.mappingRows()).toHaveLength(0);
  }, 60_000);
});

describe("IomMappingSet under Pulumi mocks", () => {
  it("registers the rows map, the serialized provider and no secret", async () => {
    const registered: Record<string, unknown>[] = [];
    pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          registered.push({ type: args.type, ...args.inputs });
          return { id: `${args.name}-id`, state: args.inputs };
        },
        call: () => {
          throw new Error("unexpected call");
        },
      },
      "proj",
      "dev",
      true,
    );
    const { IomMappingSet } = await import("../../dynamic-providers/dataverse");
    const set = new IomMappingSet("products", {
      environmentUrl: "https://contoso.crm.dynamics.com",
      kind: "products",
      file: `${__dirname}/../../mappings/dev/products.csv`,
      providerName: "BigCommerce",
    });
    await new Promise<void>((resolve) => set.urn.apply(() => resolve()));
    const r = registered.find((x) => x.type === "pulumi-nodejs:dynamic/dataverse:IomMappingSet")!;
    expect(r).toBeDefined();
    // The rows packed (one string for the host to decode), which unpack to the map.
    expect(decodeApplied(r.rows as string)).toEqual({ "sku=ABS": "Accu Scale" });
    expect(r).toMatchObject({ kind: "products", targetKeyColumn: "name", mappingGroup: "Default Mapping Group", adoptExisting: false, schemaOverride: "" });
    expect(typeof r.__provider).toBe("string");
    expect(String(r.__provider)).toMatch(/exports\.handler/);
  }, 30_000);
});
