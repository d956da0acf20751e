/**
 * The shared HTTP helper's pure pieces (dynamic-providers/http.ts), which every client's guarantees
 * rest on: timers Node accepts, waits refused beyond the cap or the deadline, the origin rule, and
 * what redaction removes (and what it leaves alone). The clients' behaviour against hostile
 * servers is in tests/providers/*.hostile.test.ts.
 */
import * as fs from "fs";
import * as path from "path";
import { CLOUDS } from "../../dynamic-providers/clouds";
import { MAX_TIMER_MS, createDeadline, formatDuration, originProblem, redactSecrets, timerMs, waitProblem } from "../../dynamic-providers/http";

describe("timers", () => {
  it("never asks Node for more than 2^31-1 ms, nor for a negative or NaN delay", () => {
    expect(timerMs(1e12)).toBe(MAX_TIMER_MS);
    expect(MAX_TIMER_MS).toBe(2147483647);
    expect(timerMs(-5)).toBe(0);
    expect(timerMs(Number.NaN)).toBe(0);
    expect(timerMs(1500)).toBe(1500);
  });

  it("names durations the way an operator reads them", () => {
    expect(formatDuration(250)).toBe("250 ms");
    expect(formatDuration(2500)).toBe("2.5 s");
    expect(formatDuration(30_000)).toBe("30 s");
    expect(formatDuration(5 * 60_000)).toBe("5 min");
    expect(formatDuration(1e12)).toBe("11574 days");
  });
});

describe("waits", () => {
  const limits = { capMs: 2000, capSetting: "X_MAX_RETRY_AFTER_MS", asked: "The service asks" };

  it("a wait within the cap and the deadline is allowed", () => {
    expect(waitProblem(1500, { ...limits, deadline: createDeadline(10_000, "X_OPERATION_TIMEOUT_MS") })).toBeUndefined();
  });

  it("a wait beyond the cap is refused, naming the wait, the cap and its setting", () => {
    expect(waitProblem(30_000, limits)).toBe("The service asks to wait 30 s, more than the 2 s this run may wait (X_MAX_RETRY_AFTER_MS); run again later");
  });

  it("a wait just beyond the cap does not read as equal to it", () => {
    expect(waitProblem(2040, limits)).toMatch(/^The service asks to wait 2\.04 s, more than the 2 s this run may wait/);
  });

  it("a wait past the operation's deadline is refused, naming the deadline and its setting", () => {
    const problem = waitProblem(1500, { ...limits, deadline: createDeadline(1000, "X_OPERATION_TIMEOUT_MS") });
    expect(problem).toMatch(/^The service asks to wait 1\.5 s, past this operation's deadline \(1 s, (\d+ ms|1 s) left; X_OPERATION_TIMEOUT_MS\)/);
  });

  it("no deadline configured: none applies", () => {
    expect(createDeadline(undefined, "X").remainingMs()).toBe(Number.POSITIVE_INFINITY);
  });
});

describe("a token goes only to its origin", () => {
  const origin = "https://contoso.crm4.dynamics.com/api/data/v9.2/";
  it.each(["accounts?$top=1", "/api/data/v9.2/accounts", "https://contoso.crm4.dynamics.com/api/data/v9.2/accounts?$skiptoken=x"])("%s: allowed", (url) => {
    expect(originProblem(url, origin, "the link")).toBeUndefined();
  });
  it.each([
    ["another host", "https://evil.example.com/api/data/v9.2/accounts"],
    ["a look-alike host", "https://contoso.crm4.dynamics.com.evil.example.com/x"],
    ["user@host", "https://contoso.crm4.dynamics.com@evil.example.com/x"],
    ["another port", "https://contoso.crm4.dynamics.com:8443/x"],
    ["plain http", "http://contoso.crm4.dynamics.com/x"],
    ["protocol-relative", "//evil.example.com/x"],
  ])("%s: refused, naming both origins", (_what, url) => {
    expect(originProblem(url, origin, "the @odata.nextLink")).toMatch(/^refused to follow the @odata\.nextLink to \S+: the token was obtained for https:\/\/contoso\.crm4\.dynamics\.com/);
  });
});

describe("redaction", () => {
  const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL3NlcnZpY2UucG93ZXJhcHBzLmNvbSJ9.c2lnbmF0dXJl";
  it.each([
    ["the client's own token, anywhere", "echo: opaque-token-123 and opaque-token-123", ["opaque-token-123"], "echo: [redacted] and [redacted]"],
    ["any JWT, even one the client did not send", `token ${jwt} rejected`, [], "token [redacted JWT] rejected"],
    ["a Bearer credential", "Authorization: Bearer abcdef0123456789", [], "Authorization: Bearer [redacted]"],
    ["access_token in a query", "https://x/cb?code=1&access_token=abc.def-ghi&state=2", [], "https://x/cb?code=1&access_token=[redacted]&state=2"],
    ["client_secret in JSON", '{"client_id":"a","client_secret":"s3cr3t~value"}', [], '{"client_id":"a","client_secret":"[redacted]"}'],
  ])("removes %s", (_what, text, secrets, expected) => {
    expect(redactSecrets(text, secrets)).toBe(expected);
  });

  it("leaves the service's ordinary words alone: codes, ids, paths", () => {
    const text = "POST zq1_prodmaps/Microsoft.Dynamics.CRM.CreateMultiple: HTTP 400 0x80040217: product With Id = 6f1c2b1e-0000-4000-8000-000000000001 Does Not Exist";
    expect(redactSecrets(text, [])).toBe(text);
  });
});

describe("docs/security.md", () => {
  it("lists every host of dynamic-providers/clouds.ts, the one table the clients and config use", () => {
    const doc = fs.readFileSync(path.join(__dirname, "..", "..", "docs", "security.md"), "utf8");
    const hosts = Object.values(CLOUDS).flatMap((c) => [c.bapHost, c.powerPlatformApiHost, ...c.dataverseDomains.map((d) => `*.${d}`)]);
    expect(hosts.filter((h) => !doc.includes(`\`${h}\``))).toEqual([]);
  });
});
