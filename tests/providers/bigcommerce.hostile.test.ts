/**
 * Issue 17's table, rows 1-3 and 9, for the BigCommerce client, through the hostile servers of
 * tests/support, with small deadlines (1 s per request, 2.5 s per check, rate-limit waits up to 2 s).
 */
import { createBigCommerceClient } from "../../dynamic-providers/bigcommerce/client";
import { ALL_READ_SCOPES, startBigCommerceEmulator } from "../../emulators/bigcommerce";
import { describeHostileServers } from "../support/hostile-servers-table";

const TOKEN = "hostiletoken0123456789abcdefghij";
const LIMITS = { requestTimeoutMs: 1000, operationTimeoutMs: 2500, maxRetryAfterMs: 2000 };

describeHostileServers("the BigCommerce client (one probe)", {
  token: TOKEN,
  startService: async () => {
    const emu = await startBigCommerceEmulator({ tokens: [{ token: TOKEN, storeHash: "abc123", scopes: ALL_READ_SCOPES }] });
    return { url: emu.url, stop: () => emu.close() };
  },
  limits: LIMITS,
  run: async (url) => {
    const client = await createBigCommerceClient({
      storeHash: "abc123",
      accessToken: TOKEN,
      apiBaseUrl: url,
      timeoutMs: LIMITS.requestTimeoutMs,
      operationTimeoutMs: LIMITS.operationTimeoutMs,
      maxRateLimitWaitMs: LIMITS.maxRetryAfterMs,
      maxRetries: 3,
      backoffBaseMs: 5,
      backoffMaxMs: 20,
    });
    return client.call("store");
  },
});
