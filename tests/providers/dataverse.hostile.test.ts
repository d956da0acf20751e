/**
 * Issue 17's table, rows 1-4 and 9, for the Dataverse client: a partitioned read (the reads the
 * sync uses) and the mapping sync itself, through the hostile servers of tests/support, with small
 * deadlines (1 s per request, 2.5 s per operation, Retry-After up to 2 s). Row 5's Dataverse half:
 * a host of no known cloud gets no token.
 */
import { DataverseEmulator } from "../../emulators/dataverse";
import { seedEmulator } from "../../emulators/dataverse-fixtures";
import { TOKEN, productMappingInputs, productRows } from "../../emulators/dataverse-harness";
import { createDataverseClient } from "../../dynamic-providers/dataverse/client";
import { uniformBoundaries } from "../../dynamic-providers/dataverse/partition";
import { createIomMappingSetDynamicProvider } from "../../dynamic-providers/dataverse/provider";
import { describeHostileServers } from "../support/hostile-servers-table";

const LIMITS = { requestTimeoutMs: 1000, operationTimeoutMs: 2500, maxRetryAfterMs: 2000 };
const TUNING = { timeoutMs: LIMITS.requestTimeoutMs, operationTimeoutMs: LIMITS.operationTimeoutMs, maxRetryAfterMs: LIMITS.maxRetryAfterMs, retryBaseMs: 2, retryMaxMs: 20 };

async function startService() {
  process.env.DATAVERSE_ACCESS_TOKEN = TOKEN;
  const emu = new DataverseEmulator({ token: TOKEN });
  const url = await emu.start();
  seedEmulator(emu, 20);
  return { url, stop: () => emu.stop() };
}

describeHostileServers("a partitioned read (4 key ranges, 2 requests in flight)", {
  token: TOKEN,
  startService,
  limits: LIMITS,
  followsLinks: true,
  run: (url) =>
    createDataverseClient({ environmentUrl: url, getToken: async () => TOKEN, ...TUNING, maxConcurrency: 2, initialConcurrency: 2, pageSize: 2 })
      .forEachPagePartitioned("products?$select=productnumber", "productid", uniformBoundaries(4), () => undefined),
});

describeHostileServers("the mapping sync (IomMappingSet create)", {
  token: TOKEN,
  startService,
  limits: LIMITS,
  followsLinks: true,
  run: (url) => createIomMappingSetDynamicProvider({ client: { ...TUNING, pageSize: 2 } }).create(productMappingInputs(url, productRows(3))),
});

describe("row 5, Dataverse: a host of no known cloud gets no token", () => {
  it.each(["https://evil.example.com", "https://contoso.crm4.dynamics.com.evil.example.com", "https://contoso.crm4.dynamics.com:8443"])("%s: refused before the token is requested", async (url) => {
    const getToken = jest.fn(async () => TOKEN);
    const client = createDataverseClient({ environmentUrl: url, getToken, ...TUNING });
    const started = Date.now();
    await expect(client.getJson("WhoAmI")).rejects.toThrow(/no token is sent there/);
    expect(getToken).not.toHaveBeenCalled();
    expect(Date.now() - started).toBeLessThan(500);
  });
});
