/**
 * doctor/report.ts, the pure part: exit codes from the lines' statuses, the table a person reads,
 * and the JSON document, checked against its published schema (doctor/report.schema.json).
 */
import { buildReport, errorDocument, formatTable, redactAll, wrap, type CheckLine } from "../../doctor/report";

import { validateReport } from "./harness";

const at = new Date("2026-05-01T10:00:00.000Z");
const settings = { lookbackHours: 24, secretExpiryDays: 7 };
const ok: CheckLine = { id: "filedrop.fresh", group: "File Drop", subject: "drop", status: "ok", summary: "3 files in the last 24 h" };
const warn: CheckLine = { id: "flows.run-history", group: "Provider flow", subject: "run history", status: "warn", summary: "no runs kept", fix: "turn run history on" };
const fail: CheckLine = { id: "gateway.member", group: "Gateway", subject: "gw / node1", status: "fail", summary: "offline: GatewayNotReachable", fix: "start the VM", details: { memberId: "m1" } };
const skip: CheckLine = { id: "powerplatform.policylink", group: "Policy link", subject: "", status: "skip", summary: "no VNet support" };

describe("exit code and verdict", () => {
  test.each([
    ["only ok and skipped lines", [ok, skip], 0, "healthy"],
    ["a warning does not fail the run", [ok, warn, skip], 0, "healthy"],
    ["one failing line fails the run", [ok, warn, fail], 1, "unhealthy"],
  ] as const)("%s", (_name, checks, exitCode, status) => {
    const report = buildReport({ stack: "dev", checkedAt: at, durationMs: 12, settings, checks: [...checks] });
    expect(report).toMatchObject({ exitCode, status });
    expect(report.counts.ok + report.counts.fail + report.counts.warn + report.counts.skip).toBe(checks.length);
  });
});

describe("the table", () => {
  const text = formatTable(buildReport({ stack: "dev", checkedAt: at, durationMs: 12, settings, checks: [ok, warn, fail, skip] }), 100);
  const rows = text.split("\n");

  test("one row per line with its symbol, the check and the result", () => {
    expect(rows.find((r) => r.startsWith("✓"))).toMatch(/^✓ {2}File Drop: drop +3 files in the last 24 h$/);
    expect(rows.find((r) => r.startsWith("✗"))).toMatch(/^✗ {2}Gateway: gw \/ node1 +offline: GatewayNotReachable$/);
    expect(rows.find((r) => r.startsWith("!"))).toMatch(/^! {2}Provider flow: run history +no runs kept$/);
    expect(rows.find((r) => r.startsWith("-"))).toMatch(/^- {2}Policy link +no VNet support$/);
  });

  test("the fix sits under the failing or warning line it belongs to", () => {
    expect(rows[rows.findIndex((r) => r.startsWith("✗")) + 1]).toMatch(/^ +fix: start the VM$/);
    expect(rows[rows.findIndex((r) => r.startsWith("!")) + 1]).toMatch(/^ +fix: turn run history on$/);
  });

  test("a verdict with the counts and the exit code ends it; the header names stack, time and window", () => {
    expect(rows[0]).toBe("IOM doctor: stack dev, 2026-05-01T10:00:00Z, runs and files of the last 24 h");
    expect(rows.at(-1)).toBe("UNHEALTHY: 1 ok, 1 failing, 1 warning, 1 not used by this stack (exit 1).");
  });

  test("long results wrap under the result column, never past the width", () => {
    const long: CheckLine = { ...fail, summary: "word ".repeat(60).trim(), fix: "another ".repeat(40).trim() };
    const wrapped = formatTable(buildReport({ stack: "dev", checkedAt: at, durationMs: 1, settings, checks: [long] }), 80).split("\n").slice(3, -2);
    expect(wrapped.length).toBeGreaterThan(4);
    for (const r of wrapped) expect(r.length).toBeLessThanOrEqual(80);
    const column = wrapped[0].indexOf("word");
    expect(wrapped.filter((r) => !r.startsWith("✗")).every((r) => r.slice(0, column).trim() === "")).toBe(true);
  });
});

describe("stores", () => {
  const api = (store: string, status: CheckLine["status"]): CheckLine => ({ id: "bigcommerce.api", group: "BigCommerce", subject: `${store}-hash`, store, status, summary: status === "ok" ? "token works" : "token rejected (401)", ...(status === "fail" ? { fix: "set the token" } : {}) });
  const one = [{ name: "default", storeHash: "default-hash", providerName: "BigCommerce" }];
  const two = [...one, { name: "winter", storeHash: "winter-hash", providerName: "BigCommerce Winter" }];

  test("a single-store stack's table reads as before: no store names in the labels, no store line", () => {
    const rows = formatTable(buildReport({ stack: "dev", checkedAt: at, durationMs: 1, settings, stores: one, checks: [api("default", "ok"), ok] }), 100).split("\n");
    expect(rows.find((r) => r.startsWith("✓"))).toMatch(/^✓ {2}BigCommerce: default-hash +token works$/);
    expect(rows.at(-1)).toBe("Healthy: 2 ok, 0 failing, 0 warnings, 0 not used by this stack (exit 0).");
    expect(rows.at(-2)).toBe("");
  });

  test("a failing store fails the run and the verdict names it; a store with no failing line is healthy", () => {
    const report = buildReport({ stack: "dev", checkedAt: at, durationMs: 1, settings, stores: two, checks: [api("default", "ok"), api("winter", "fail"), { ...api("winter", "warn"), id: "bigcommerce.token", fix: "x" }, ok] });
    expect(report).toMatchObject({ exitCode: 1, stores: [{ name: "default", status: "healthy", failing: [] }, { name: "winter", status: "unhealthy", failing: ["bigcommerce.api"] }] });
    const rows = formatTable(report, 100).split("\n");
    expect(rows.find((r) => r.startsWith("✗"))).toMatch(/^✗ {2}BigCommerce \[winter\]: winter-hash +token rejected \(401\)$/);
    expect(rows.at(-1)).toBe("UNHEALTHY: 2 ok, 1 failing, 1 warning, 0 not used by this stack (exit 1); failing store: 'winter'.");
    expect(validateReport(JSON.parse(JSON.stringify(report)))).toBe(true);
  });

  test("the schema describes a line's store and each store's summary, and refuses what it does not", () => {
    const report = JSON.parse(JSON.stringify(buildReport({ stack: "dev", checkedAt: at, durationMs: 1, settings, stores: two, checks: [api("winter", "ok")] })));
    expect(validateReport(report)).toBe(true);
    expect(validateReport({ ...report, checks: [{ ...api("winter", "ok"), store: "Winter Store" }] })).toBe(false);
    expect(validateReport({ ...report, stores: [{ ...report.stores[0], status: "ok" }] })).toBe(false);
    const { stores: _stores, ...withoutStores } = report;
    expect(validateReport(withoutStores)).toBe(false);
  });
});

describe("the JSON document", () => {
  test("a report matches the published schema", () => {
    const report = buildReport({ stack: "dev", checkedAt: at, durationMs: 12, settings, checks: [ok, warn, fail, skip] });
    expect(validateReport(JSON.parse(JSON.stringify(report)))).toBe(true);
  });

  test("a usage error matches it too, with exit code 2", () => {
    const doc = errorDocument(undefined, "name the stack");
    expect(validateReport(doc)).toBe(true);
    expect(doc).toMatchObject({ status: "error", exitCode: 2, stack: null });
  });

  test("the schema refuses what it does not describe (a renamed field, an unknown status)", () => {
    const report = JSON.parse(JSON.stringify(buildReport({ stack: "dev", checkedAt: at, durationMs: 1, settings, checks: [ok] })));
    expect(validateReport({ ...report, checks: [{ ...ok, state: "ok" }] })).toBe(false);
    expect(validateReport({ ...report, checks: [{ ...ok, status: "passed" }] })).toBe(false);
  });
});

test("wrap cuts at spaces and keeps a long word whole", () => {
  expect(wrap("aaa bbb ccc", 7)).toEqual(["aaa bbb", "ccc"]);
  expect(wrap("https://example.org/a/very/long/path short", 10)).toEqual(["https://example.org/a/very/long/path", "short"]);
});

test("redactAll replaces every occurrence of every secret", () => {
  expect(redactAll("token abcd1234 and abcd1234, key zzzz9999", ["abcd1234", "zzzz9999", undefined])).toBe("token [redacted] and [redacted], key [redacted]");
});
