/**
 * The emulator is only useful if it is as strict as the service: these pin the malformed requests
 * it rejects and the protocol details the client relies on.
 */
import axios from "axios";
import * as http from "http";
import { DataverseEmulator } from "../../emulators/dataverse";
import { seedEmulator } from "../../emulators/dataverse-fixtures";
import { waitFor } from "../support/barrier";

let emu: DataverseEmulator;
let api: string;
const H = { Authorization: "Bearer emulator-token", Accept: "application/json", "OData-Version": "4.0", "OData-MaxVersion": "4.0" };

beforeEach(async () => {
  emu = new DataverseEmulator({ maxPageSize: 5000 });
  api = `${await emu.start()}/api/data/v9.2/`;
  seedEmulator(emu, 12);
});
afterEach(() => emu.stop());

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await axios.request({
    method,
    url: api + path,
    data: typeof body === "string" ? body : body === undefined ? undefined : JSON.stringify(body),
    headers: { ...H, ...(body !== undefined && typeof body !== "string" ? { "Content-Type": "application/json" } : {}), ...headers },
    validateStatus: () => true,
    transformRequest: [(d: unknown) => d],
    transformResponse: [(d: unknown) => d],
  });
  let json: { error?: { code: string; message: string } } & Record<string, unknown> = {};
  try {
    json = JSON.parse(String(r.data));
  } catch {
    /* multipart */
  }
  return { status: r.status, json, text: String(r.data), headers: r.headers };
}

const batch = (parts: string[], boundary = "batch_x") => [...parts.map((p) => `--${boundary}\r\n${p}`), `--${boundary}--`, ""].join("\r\n");
const op = (line: string, body?: unknown, id = 1) =>
  `Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: ${id}\r\n\r\n${line} HTTP/1.1\r\n${body === undefined ? "\r\n" : `Content-Type: application/json\r\n\r\n${JSON.stringify(body)}`}`;
const changeset = (ops: string[], b = "changeset_y") => `Content-Type: multipart/mixed; boundary=${b}\r\n\r\n${ops.map((o) => `--${b}\r\n${o}`).join("\r\n")}\r\n--${b}--`;

describe("Dataverse emulator rejects malformed requests like the service", () => {
  const product = () => emu.rows("product")[0].productid!;
  const mapping = (extra: Record<string, unknown> = {}) => ({ zq1_extfld: "sku", zq1_extval: "X", "zq1_Prod@odata.bind": `/products(${product()})`, ...extra });

  it.each([
    ["unknown entity set", () => call("GET", "prodmaps"), 404, /Resource not found for the segment 'prodmaps'/],
    ["$skip", () => call("GET", "accounts?$skip=10"), 400, /not supported/],
    ["unknown $select column", () => call("GET", "zq1_prodmaps?$select=zq1_prod"), 400, /Could not find a property named 'zq1_prod'/],
    ["bad $filter", () => call("GET", "accounts?$filter=name has 'a'"), 400, /unsupported operator 'has'/],
    ["string literal for a lookup", () => call("GET", "zq1_prodmaps?$filter=_zq1_prov_value eq 'x'"), 400, /Guid is expected/],
    ["invalid JSON", () => call("POST", "zq1_prodmaps", "{nope", { "Content-Type": "application/json" }), 400, /invalid JSON/],
    ["wrong content type", () => call("POST", "zq1_prodmaps", "a=b", { "Content-Type": "text/plain" }), 415, /Unsupported content type/],
    ["unknown property", () => call("POST", "zq1_prodmaps", mapping({ colour: "red" })), 400, /property 'colour' does not exist/],
    ["lookup set as a plain value", () => call("POST", "zq1_prodmaps", { zq1_prod: product() }), 400, /is a lookup; set it with 'zq1_Prod@odata.bind'/],
    ["@odata.bind with the logical name instead of the navigation property", () => call("POST", "zq1_prodmaps", { "zq1_prod@odata.bind": `/products(${product()})` }), 400, /undeclared property 'zq1_prod'/],
    ["@odata.bind to the wrong set", () => call("POST", "zq1_prodmaps", { "zq1_Prod@odata.bind": `/accounts(${product()})` }), 400, /Invalid @odata.bind/],
    ["CreateMultiple without @odata.type", () => call("POST", "zq1_prodmaps/Microsoft.Dynamics.CRM.CreateMultiple", { Targets: [mapping()] }), 400, /must have "@odata.type"/],
    ["CreateMultiple on a table without bulk support", () => call("POST", "zq1_uommaps/Microsoft.Dynamics.CRM.CreateMultiple", { Targets: [] }), 400, /The 'CreateMultiple' method does not support entities of type 'zq1_uommap'/],
    ["PATCH If-Match * on a missing row", () => call("PATCH", "zq1_prodmaps(00000000-0000-0000-0000-000000000001)", { zq1_extval: "y" }, { "If-Match": "*" }), 404, /Does Not Exist/],
    ["$batch without boundary", () => call("POST", "$batch", "x", { "Content-Type": "multipart/mixed" }), 400, /boundary/],
    ["$batch without closing delimiter", () => call("POST", "$batch", "--batch_x\r\n", { "Content-Type": "multipart/mixed; boundary=batch_x" }), 400, /closing boundary/],
    ["GET inside a change set", () => call("POST", "$batch", batch([changeset([op("GET accounts")])]), { "Content-Type": "multipart/mixed; boundary=batch_x" }), 400, /cannot contain GET/],
    ["more than 1000 operations", () => call("POST", "$batch", batch(Array.from({ length: 1001 }, (_, i) => op("DELETE accounts(00000000-0000-0000-0000-000000000001)", undefined, i))), { "Content-Type": "multipart/mixed; boundary=batch_x" }), 400, /exceeds the limit of 1000/],
    ["a URL over the Web API's 32 KB", () => call("GET", `products?$filter=${encodeURIComponent(Array.from({ length: 900 }, (_, i) => `productnumber eq 'P-${String(i).padStart(6, "0")}'`).join(" or "))}`), 414, /longer than 32768 characters/],
    ["part without binary transfer encoding", () => call("POST", "$batch", batch(["Content-Type: application/http\r\n\r\nGET accounts HTTP/1.1\r\n"]), { "Content-Type": "multipart/mixed; boundary=batch_x" }), 400, /Content-Transfer-Encoding: binary/],
  ] as const)("%s", async (_t, send, status, re) => {
    const r = await send();
    expect(r.status).toBe(status);
    expect(r.json.error?.code).toMatch(/^0x[0-9a-f]+$/);
    expect(r.json.error?.message).toMatch(re);
  });

  it("takes a URL of up to 32 KB (a long or-ed filter), as the Web API documents", async () => {
    const numbers = emu.rows("product").map((p) => String(p.productnumber));
    const terms = Array.from({ length: 700 }, (_, i) => `productnumber eq '${numbers[i % numbers.length]}'`);
    const r = await call("GET", `products?$select=productnumber&$filter=${encodeURIComponent(terms.join(" or "))}`);
    expect(`products?$filter=${encodeURIComponent(terms.join(" or "))}`.length).toBeGreaterThan(20_000);
    expect(r.status).toBe(200);
    expect((r.json.value as unknown[]).length).toBe(numbers.length);
  });

  it("pages with odata.maxpagesize and an opaque nextLink, never more than asked", async () => {
    const first = await call("GET", "products?$select=productnumber", undefined, { Prefer: "odata.maxpagesize=5" });
    expect((first.json.value as unknown[]).length).toBe(5);
    const next = String(first.json["@odata.nextLink"]);
    expect(next).toMatch(/\$skiptoken=/);
    const all: unknown[] = [...(first.json.value as unknown[])];
    for (let url: string | undefined = next; url; ) {
      const r = await call("GET", url.slice(api.length), undefined, { Prefer: "odata.maxpagesize=5" });
      all.push(...(r.json.value as unknown[]));
      url = r.json["@odata.nextLink"] as string | undefined;
    }
    expect(all).toHaveLength(13);
  });

  it("pages in primary-key order (SQL Server's uniqueidentifier order) and reads a key range or a list of ids as the service does", async () => {
    // SQL Server compares the last group first, then 4th, 3rd, 2nd, 1st (SqlGuid order).
    const sqlKey = (id: string) => { const g = id.split("-"); const rev = (x: string) => x.match(/../g)!.reverse().join(""); return g[4] + g[3] + rev(g[2]) + rev(g[1]) + rev(g[0]); };
    const ids = ["ffffffff-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002", "00000000-0000-0000-0001-000000000001", "10000000-0000-0000-0000-000000000001"];
    for (const id of ids) emu.insert("account", { accountid: id, name: `A ${id}` });
    for (let i = 0; i < 1000; i++) emu.insert("account", { name: `B ${i}` }); // a large table: read by key
    emu.table("account").rows.delete(ids[3]); // deleted rows are not read
    const pages: string[] = [];
    for (let url: string | undefined = "accounts?$select=name"; url; ) {
      const r = await call("GET", url, undefined, { Prefer: "odata.maxpagesize=300" });
      pages.push(...(r.json.value as { accountid: string }[]).map((x) => x.accountid));
      url = (r.json["@odata.nextLink"] as string | undefined)?.slice(api.length);
    }
    const all = emu.rows("account").map((r) => r.accountid!);
    expect(pages).toEqual([...all].sort((a, b) => (sqlKey(a) < sqlKey(b) ? -1 : 1)));
    expect(pages).not.toContain(ids[3]);
    const inRange = await call("GET", `accounts?$select=name&$filter=${encodeURIComponent(`accountid ge ${ids[0]} and accountid lt ${ids[2]}`)}`);
    expect((inRange.json.value as { accountid: string }[]).map((x) => x.accountid)).toEqual(all.filter((id) => sqlKey(id) >= sqlKey(ids[0]) && sqlKey(id) < sqlKey(ids[2])).sort((a, b) => (sqlKey(a) < sqlKey(b) ? -1 : 1)));
    // Bounds included or not, at ids that are rows.
    const sorted = [...all].sort((a, b) => (sqlKey(a) < sqlKey(b) ? -1 : 1));
    const [lo, hi] = [sorted[10], sorted[20]];
    for (const [op1, op2, from, to] of [["gt", "le", 11, 21], ["ge", "lt", 10, 20], ["ge", "le", 10, 21], ["gt", "lt", 11, 20]] as const) {
      const r = await call("GET", `accounts?$select=name&$filter=${encodeURIComponent(`accountid ${op1} ${lo} and accountid ${op2} ${hi}`)}`);
      expect((r.json.value as { accountid: string }[]).map((x) => x.accountid)).toEqual(sorted.slice(from, to));
    }
    const byIds = await call("GET", `accounts?$select=name&$filter=${encodeURIComponent(`accountid eq ${ids[2]} or accountid eq ${ids[3]} or accountid eq ${ids[1]}`)}`);
    expect((byIds.json.value as { accountid: string }[]).map((x) => x.accountid)).toEqual([ids[2], ids[1]]); // the last group decides first
  });

  it("takes in requests made together on new connections before working on them: their time starts when they came", async () => {
    const seeded = seedEmulator(emu, 1);
    const product = seeded.products.get("P-000001")!;
    for (let i = 0; i < 3000; i++) emu.insert("zq1_prodmap", { zq1_extfld: "sku", zq1_extval: `S${i}`, zq1_prov: seeded.providerId, zq1_prod: product });
    emu.settle();
    // Each request on a connection of its own, as a fresh provider process sends its first reads;
    // each answer is a page of 3,000 rows, some milliseconds of this thread's work.
    const agent = new http.Agent({ keepAlive: false });
    const page = `zq1_prodmaps?$select=zq1_extval&$expand=zq1_Prod($select=productnumber)`;
    await Promise.all(Array.from({ length: 12 }, () => axios.get(api + page, { headers: { ...H, Prefer: "odata.maxpagesize=5000" }, httpAgent: agent })));
    agent.destroy();
    const log = emu.requestLog.filter((r) => r.path.endsWith("zq1_prodmaps"));
    expect(log).toHaveLength(12);
    // Node takes in one new connection a turn of its event loop: were each page written in the turn
    // that took in the next connection, the twelfth request would come in after eleven answers.
    const firstAnswer = Math.min(...log.map((r) => r.respondedAt!));
    expect(log.filter((r) => r.arrivedAt > firstAnswer)).toEqual([]);
  });

  it("a filter by column value on a large table finds the rows as they are after every write (its index follows them)", async () => {
    seedEmulator(emu, 1200); // large enough for the column index
    const find = async (numbers: string[]) => {
      const f = numbers.map((n) => `productnumber eq '${n}'`).join(" or ");
      const r = await call("GET", `products?$select=productnumber&$filter=${encodeURIComponent(f)}`);
      return (r.json.value as { productnumber: string; productid: string }[]).map((x) => x.productnumber).sort();
    };
    const before = await find(["P-000500", "p-000700", "NOPE"]); // eq on text is case-insensitive
    expect(before).toEqual(["P-000500", "P-000700"]);
    const id = emu.rows("product").find((r) => r.productnumber === before[0])!.productid!;
    expect((await call("PATCH", `products(${id})`, { productnumber: "RENAMED-1" }, { "If-Match": "*" })).status).toBe(204);
    expect(await find(["RENAMED-1"])).toEqual(["RENAMED-1"]);
    expect(await find([before[0]])).not.toContain(before[0]);
    emu.update("product", id, { productnumber: "RENAMED-2" });
    expect(await find(["RENAMED-1", "RENAMED-2"])).toEqual(["RENAMED-2"]);
  });

  it("a provider's rows by a list of keys on a large table: the rows as they are after updates, deletes and a rolled-back change set", async () => {
    const seeded = seedEmulator(emu, 1);
    const prov = (p: string) => ({ "zq1_Prov@odata.bind": `/msdyn_iomproviders(${p})` });
    for (let i = 0; i < 1200; i++) {
      emu.insert("zq1_prodmap", { zq1_extfld: "sku", zq1_extval: `S${i}`, zq1_prov: i % 2 ? seeded.otherProviderId : seeded.providerId, zq1_prod: seeded.products.get("P-000001")! });
    }
    const idOf = (v: string) => emu.rows("zq1_prodmap").find((r) => r.zq1_extval === v)!.zq1_prodmapid!;
    // The client's read of touched rows: this provider's, with a target, any of these keys.
    const find = async (values: string[]) => {
      const keys = values.map((v) => `(zq1_extfld eq 'sku' and zq1_extval eq '${v}')`).join(" or ");
      const f = `(_zq1_prov_value eq ${seeded.providerId} and _zq1_prod_value ne null) and (${keys})`;
      const r = await call("GET", `zq1_prodmaps?$select=zq1_extval&$filter=${encodeURIComponent(f)}`);
      return (r.json.value as { zq1_extval: string }[]).map((x) => x.zq1_extval).sort();
    };
    expect(await find(["S0", "s2", "S3", "S4", "NOPE"])).toEqual(["S0", "S2", "S4"]); // S3 is the other provider's
    const t = (id: string, extra: Record<string, unknown>) => ({ "@odata.type": "Microsoft.Dynamics.CRM.zq1_prodmap", zq1_prodmapid: id, ...extra });
    const moved = await call("POST", "zq1_prodmaps/Microsoft.Dynamics.CRM.UpdateMultiple", { Targets: [t(idOf("S0"), { zq1_extval: "S0-NEW" }), t(idOf("S3"), prov(seeded.providerId)), t(idOf("S4"), prov(seeded.otherProviderId))] });
    expect(moved.status).toBe(204);
    expect((await call("DELETE", `zq1_prodmaps(${idOf("S2")})`)).status).toBe(204);
    // A change set that renames S6 and then fails: rolled back, S6 is found under its old value.
    const rolledBack = batch([changeset([op(`PATCH zq1_prodmaps(${idOf("S6")})`, { zq1_extval: "S6-GONE" }, 1), op("POST zq1_prodmaps", { nope: 1 }, 2)], "cs1")]);
    expect((await call("POST", "$batch", rolledBack, { "Content-Type": "multipart/mixed; boundary=batch_x" })).status).toBe(200);
    expect(await find(["S0", "S0-NEW", "S2", "S3", "S4", "S6", "S6-GONE"])).toEqual(["S0-NEW", "S3", "S6"]);
  });

  it("a read in key order gives each row as it is now, after edits, deletes, a row created again under its id, and a rolled-back change set", async () => {
    const seeded = seedEmulator(emu, 1);
    const product = seeded.products.get("P-000001")!;
    for (let i = 0; i < 300; i++) emu.insert("zq1_prodmap", { zq1_extfld: "sku", zq1_extval: `S${i}`, zq1_prov: seeded.providerId, zq1_prod: product });
    const all = async () => {
      const out: string[] = [];
      for (let url: string | undefined = "zq1_prodmaps?$select=zq1_extval"; url; ) {
        const r = await call("GET", url, undefined, { Prefer: "odata.maxpagesize=70" });
        out.push(...(r.json.value as { zq1_prodmapid: string; zq1_extval: string }[]).map((x) => `${x.zq1_prodmapid} ${x.zq1_extval}`));
        url = (r.json["@odata.nextLink"] as string | undefined)?.slice(api.length);
      }
      return out.sort();
    };
    const expected = () => emu.rows("zq1_prodmap").map((r) => `${r.zq1_prodmapid} ${r.zq1_extval}`).sort();
    expect(await all()).toEqual(expected()); // every row read once: the reads now hold the rows
    const idOf = (v: string) => emu.rows("zq1_prodmap").find((r) => r.zq1_extval === v)!.zq1_prodmapid!;
    const [edited, deleted, recreated, rolledBack] = [idOf("S10"), idOf("S20"), idOf("S30"), idOf("S40")];
    expect((await call("PATCH", `zq1_prodmaps(${edited})`, { zq1_extval: "S10-EDITED" })).status).toBe(204);
    expect((await call("DELETE", `zq1_prodmaps(${deleted})`)).status).toBe(204);
    expect((await call("DELETE", `zq1_prodmaps(${recreated})`)).status).toBe(204);
    expect((await call("POST", "zq1_prodmaps", { zq1_prodmapid: recreated, zq1_extfld: "sku", zq1_extval: "S30-AGAIN", "zq1_Prod@odata.bind": `/products(${product})` })).status).toBe(204);
    const failing = batch([changeset([op(`PATCH zq1_prodmaps(${rolledBack})`, { zq1_extval: "S40-GONE" }, 1), op(`DELETE zq1_prodmaps(${edited})`, undefined, 2), op("POST zq1_prodmaps", { nope: 1 }, 3)], "cs1")]);
    expect((await call("POST", "$batch", failing, { "Content-Type": "multipart/mixed; boundary=batch_x" })).status).toBe(200);
    const now = await all();
    expect(now).toEqual(expected());
    expect(now).toEqual(expect.arrayContaining([`${edited} S10-EDITED`, `${recreated} S30-AGAIN`, `${rolledBack} S40`]));
    expect(now.some((x) => x.startsWith(deleted))).toBe(false);
  });

  it("an or-list of ids, names or keys (read without a predicate per term) gives the rows, order and pages of the same terms in parentheses (the general path)", async () => {
    const seeded = seedEmulator(emu, 3);
    const products = [...seeded.products.values()];
    for (let i = 0; i < 1200; i++) {
      emu.insert("zq1_prodmap", { zq1_extfld: "sku", zq1_extval: `S${i}`, zq1_prov: i % 3 ? seeded.providerId : seeded.otherProviderId, zq1_prod: i % 5 ? products[i % products.length] : null });
    }
    emu.insert("zq1_prodmap", { zq1_extfld: "sku", zq1_extval: "It's", zq1_prov: seeded.providerId, zq1_prod: products[0] });
    emu.settle();
    const ids = emu.rows("zq1_prodmap").map((r) => r.zq1_prodmapid!);
    const gone = "00000000-0000-0000-0000-00000000dead";
    // Duplicates, an id that is not there, an upper-case id, and the table's order scrambled.
    const picked = [...Array.from({ length: 250 }, (_, j) => ids[(j * 467) % ids.length]), ids[3], gone, ids[7].toUpperCase(), ids[3]];
    const list = (col: string, values: string[]) => ({ fast: values.map((v) => `${col} eq ${v}`).join(" or "), general: values.map((v) => `(${col} eq ${v})`).join(" or ") });
    const pagesOf = async (filter: string, pageSize: number, extra = "") => {
      const pages: string[][] = [];
      for (let url: string | undefined = `zq1_prodmaps?$select=zq1_extval&$filter=${encodeURIComponent(filter)}${extra}`; url; ) {
        const r = await call("GET", url, undefined, { Prefer: `odata.maxpagesize=${pageSize}` });
        expect(r.status).toBe(200);
        pages.push((r.json.value as { zq1_prodmapid: string; zq1_extval: string }[]).map((x) => `${x.zq1_prodmapid} ${x.zq1_extval}`));
        url = (r.json["@odata.nextLink"] as string | undefined)?.slice(api.length);
      }
      return pages;
    };
    const byId = list("zq1_prodmapid", picked);
    const byProduct = list("_zq1_prod_value", [products[1], products[2], products[1]]);
    // Keys as the client quotes them (odataString), in another case, one twice, one not there.
    const byKey = list("zq1_extval", [...Array.from({ length: 200 }, (_, j) => `'S${(j * 89) % 1300}'`), "'s7'", "'IT''S'", "'S7'", "'none'"]);
    // Rows by their keys, as the client reads them: the general path's terms in double parentheses.
    const pairs = (terms: string[][]) => ({ fast: terms.map((t) => `(${t.join(" and ")})`).join(" or "), general: terms.map((t) => `((${t.join(" and ")}))`).join(" or ") });
    const keyTerms = (fld: (j: number) => string) => [...Array.from({ length: 150 }, (_, j) => [`zq1_extfld eq ${fld(j)}`, `zq1_extval eq 'S${(j * 53) % 1300}'`]), ["zq1_extfld eq 'SKU'", "zq1_extval eq 'it''s'"], ["zq1_extfld eq 'sku'", "zq1_extval eq 'S3'"]];
    const byPair = pairs(keyTerms((j) => (j % 9 ? "'sku'" : "'other'")));
    const byPairOneValue = pairs(keyTerms(() => "'sku'"));
    const byIdPair = pairs(picked.slice(0, 60).map((id, j) => [`zq1_extval eq 'S${j}'`, `zq1_prodmapid eq ${id}`]));
    const sameValues = pairs([["zq1_extfld eq 'sku'", "zq1_extval eq 'S1'"], ["zq1_extfld eq 'SKU'", "zq1_extval eq 's1'"]]);
    const cases = [
      [byId.fast, byId.general],
      [`_zq1_prov_value eq ${seeded.providerId} and _zq1_prod_value ne null and (${byId.fast})`, `_zq1_prov_value eq ${seeded.providerId} and _zq1_prod_value ne null and (${byId.general})`],
      [`(${byId.fast}) and zq1_prodmapid gt ${ids[11]}`, `(${byId.general}) and zq1_prodmapid gt ${ids[11]}`],
      [byProduct.fast, byProduct.general],
      [`(${byProduct.fast}) and _zq1_prov_value eq ${seeded.providerId}`, `(${byProduct.general}) and _zq1_prov_value eq ${seeded.providerId}`],
      [`${list("zq1_prodmapid", [ids[5], ids[5]]).fast}`, `${list("zq1_prodmapid", [ids[5], ids[5]]).general}`],
      [byKey.fast, byKey.general],
      [byPair.fast, byPair.general],
      [`(_zq1_prov_value eq ${seeded.providerId} and _zq1_prod_value ne null) and (${byPair.fast})`, `(_zq1_prov_value eq ${seeded.providerId} and _zq1_prod_value ne null) and (${byPair.general})`],
      [byPairOneValue.fast, byPairOneValue.general],
      [byIdPair.fast, byIdPair.general],
      [sameValues.fast, sameValues.general],
      [`_zq1_prov_value eq ${seeded.providerId} and (${byKey.fast})`, `_zq1_prov_value eq ${seeded.providerId} and (${byKey.general})`],
    ];
    for (const [fast, general] of cases) {
      for (const [pageSize, extra] of [[5000, ""], [60, ""], [20, "&$top=25"]] as const) {
        const [a, b] = [await pagesOf(fast, pageSize, extra), await pagesOf(general, pageSize, extra)];
        expect(a.flat().length).toBeGreaterThan(0);
        expect(a).toEqual(b);
      }
    }
  });

  it("a row's @odata.etag changes with every update of the row, and only then (Web API conditional operations)", async () => {
    const etagOf = async () => {
      const r = await call("GET", "products?$select=productnumber,name&$top=1");
      const row = (r.json.value as Record<string, string>[])[0];
      return { id: row.productid, etag: row["@odata.etag"] };
    };
    const before = await etagOf();
    expect(before.etag).toMatch(/^W\/"\d+"$/);
    expect((await etagOf()).etag).toBe(before.etag);
    expect((await call("PATCH", `products(${before.id})`, { name: "Renamed" }, { "If-Match": "*" })).status).toBe(204);
    const afterPatch = await etagOf();
    expect(afterPatch.etag).not.toBe(before.etag);
    emu.update("product", before.id, { name: "Edited in the app" });
    expect((await etagOf()).etag).not.toBe(afterPatch.etag);
  });

  it("$batch: a failing change set is rolled back, others commit with continue-on-error; without it the batch stops", async () => {
    const good = op("POST zq1_prodmaps", mapping({ zq1_extval: "A" }), 1);
    const bad = op("POST zq1_prodmaps", { nope: 1 }, 2);
    const third = op("POST zq1_prodmaps", mapping({ zq1_extval: "C" }), 3);
    const body = batch([changeset([good, bad], "cs1"), changeset([third], "cs2")]);
    const r = await call("POST", "$batch", body, { "Content-Type": "multipart/mixed; boundary=batch_x", Prefer: "odata.continue-on-error" });
    expect(r.status).toBe(200);
    expect(r.text).toMatch(/HTTP\/1\.1 400 Bad Request[\s\S]*HTTP\/1\.1 204 No Content/);
    expect(emu.rows("zq1_prodmap").map((x) => x.zq1_extval)).toEqual(["C"]); // A rolled back with its change set
    const r2 = await call("POST", "$batch", batch([changeset([bad], "cs1"), changeset([op("POST zq1_prodmaps", mapping({ zq1_extval: "D" }))], "cs2")]), { "Content-Type": "multipart/mixed; boundary=batch_x" });
    expect(r2.text).not.toMatch(/204 No Content/);
    expect(emu.rows("zq1_prodmap").map((x) => x.zq1_extval)).toEqual(["C"]);
  });

  it("CreateMultiple is atomic and a duplicate client-chosen id is 412", async () => {
    const id = "11111111-1111-4111-8111-111111111111";
    const t = (extra: Record<string, unknown>) => ({ "@odata.type": "Microsoft.Dynamics.CRM.zq1_prodmap", ...mapping(extra) });
    const ok = await call("POST", "zq1_prodmaps/Microsoft.Dynamics.CRM.CreateMultiple", { Targets: [t({ zq1_prodmapid: id })] });
    expect(ok.status).toBe(200);
    expect(ok.json.Ids).toEqual([id]);
    const dup = await call("POST", "zq1_prodmaps/Microsoft.Dynamics.CRM.CreateMultiple", { Targets: [t({ zq1_extval: "new" }), t({ zq1_prodmapid: id })] });
    expect(dup.status).toBe(412);
    expect(emu.rows("zq1_prodmap")).toHaveLength(1);
  });

  it("service protection: concurrency beyond the limit and quota beyond the window answer 429 with Retry-After", async () => {
    // Two requests held in flight (a barrier, not latency), then three more: those are beyond the
    // limit and answered at once, while the two are still waiting.
    emu.setOptions({ maxConcurrent: 2 });
    const release = emu.holdAnswers();
    const admitted = [call("GET", "accounts"), call("GET", "accounts")];
    let beyond: Awaited<ReturnType<typeof call>>[];
    try {
      await waitFor(() => emu.heldAnswers === 2, "two requests in flight");
      beyond = await Promise.all(Array.from({ length: 3 }, () => call("GET", "accounts")));
    } finally {
      release();
    }
    expect(beyond.map((r) => r.status)).toEqual([429, 429, 429]);
    expect(beyond[0].json.error?.code).toBe("0x80072326");
    expect(beyond[0].headers["retry-after"]).toBeDefined();
    expect((await Promise.all(admitted)).map((r) => r.status)).toEqual([200, 200]);
    emu.setOptions({ maxConcurrent: 52, quota: 3, windowMs: 60_000 });
    emu.resetStats();
    const seq = [];
    for (let i = 0; i < 5; i++) seq.push(await call("GET", "accounts"));
    expect(seq.map((r) => r.status)).toEqual([200, 200, 200, 429, 429]);
    expect(Number(seq[3].headers["retry-after"])).toBeGreaterThanOrEqual(59);
  });
});

describe("column lengths, as the service keeps them", () => {
  it("MaxLength comes from the collection cast to StringAttributeMetadata, and a longer value is refused with 0x80044331", async () => {
    const lengths = await call("GET", "EntityDefinitions(LogicalName='zq1_prodmap')/Attributes/Microsoft.Dynamics.CRM.StringAttributeMetadata?$select=LogicalName,MaxLength");
    expect(lengths.status).toBe(200);
    expect(lengths.json.value).toContainEqual(expect.objectContaining({ LogicalName: "zq1_extval", MaxLength: 4000 }));
    const product = emu.rows("product")[0].productid!;
    const long = await call("POST", "zq1_prodmaps", { zq1_extfld: "sku", zq1_extval: "V".repeat(4001), "zq1_Prod@odata.bind": `/products(${product})` });
    expect(long.status).toBe(400);
    expect(long.json.error).toEqual({ code: "0x80044331", message: "A validation error occurred.  The length of the 'zq1_extval' attribute of the 'zq1_prodmap' entity exceeded the maximum allowed length of '4000'." });
    expect((await call("POST", "zq1_prodmaps", { zq1_extfld: "sku", zq1_extval: "V".repeat(4000), "zq1_Prod@odata.bind": `/products(${product})` })).status).toBe(204);
  });
});
