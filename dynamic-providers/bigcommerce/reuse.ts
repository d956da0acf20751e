/**
 * Reuse of a successful check within one provider process, so a `pulumi up` probes once.
 *
 * The engine calls `check` and then `create` or `update` with the same inputs in the same
 * dynamic-provider host process. The provider object is serialized (`__provider`) and rebuilt by the
 * host, so a variable captured by the provider would be serialized by value, once per resource and
 * provider text. The reports are kept instead in one process-wide registry on `globalThis` (under a
 * `Symbol.for` key, looked up at run time, never captured), which every rebuilt copy of the
 * provider in the process shares. Only memory holds it; it dies with the process.
 *
 * Nothing secret is kept: the key is an HMAC (with a random key made per process) of the inputs
 * and the token, and the value is a report, which holds the token only as its fingerprint.
 */

import type { CheckReport, CheckSettings } from "./logic";

interface Entry {
  readonly expiresAt: number;
  readonly report: CheckReport;
}

interface Registry {
  readonly salt: Buffer;
  readonly entries: Map<string, Entry>;
}

/** Enough for every check resource of a stack; the oldest entry goes first. */
const MAX_ENTRIES = 32;

function registry(): Registry {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { randomBytes } = require("crypto") as typeof import("crypto");
  const key = Symbol.for("iom-bigcommerce.apiCheck.reusedReports.v1");
  const holder = globalThis as unknown as Record<symbol, Registry | undefined>;
  let found = holder[key];
  if (found === undefined) {
    found = { salt: randomBytes(32), entries: new Map() };
    holder[key] = found;
  }
  return found;
}

/** The reuse key of a check: everything that decides its result, the token included, hashed. */
export function reuseKey(settings: CheckSettings): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createHmac } = require("crypto") as typeof import("crypto");
  const material = JSON.stringify([
    settings.apiBaseUrl,
    settings.storeHash,
    settings.accessToken,
    [...settings.requiredScopes].sort(),
    settings.expectedStoreName ?? null,
    [...settings.acceptedStoreStatuses].sort(),
    // The report carries the token's fingerprint under this key.
    settings.fingerprintKey ?? null,
  ]);
  return createHmac("sha256", registry().salt).update(material, "utf8").digest("hex");
}

/** A successful report for these settings, if one was kept less than its TTL ago. */
export function reusableReport(settings: CheckSettings, now = Date.now()): CheckReport | undefined {
  const { entries } = registry();
  for (const [k, e] of entries) if (e.expiresAt <= now) entries.delete(k);
  return entries.get(reuseKey(settings))?.report;
}

/** Keeps a successful report for `ttlMs`; failed ones are never kept (each run must see them afresh). */
export function keepReport(settings: CheckSettings, report: CheckReport, ttlMs: number, now = Date.now()): void {
  if (!report.ok || !(ttlMs > 0)) return;
  const { entries } = registry();
  const key = reuseKey(settings);
  entries.delete(key);
  entries.set(key, { expiresAt: now + ttlMs, report });
  while (entries.size > MAX_ENTRIES) {
    const oldest = entries.keys().next().value;
    if (oldest === undefined) break;
    entries.delete(oldest);
  }
}

/** Forgets every kept report of this process (tests and the benchmark start each run afresh). */
export function forgetReports(): void {
  registry().entries.clear();
}
