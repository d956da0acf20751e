/**
 * What the code under test prints, kept per test instead of printed (the providers log through the
 * console when no Pulumi engine is attached, tests/providers/*): the returned list is emptied before
 * each test and the console is restored after it.
 */
export function captureConsolePerTest(): string[] {
  const logs: string[] = [];
  beforeEach(() => {
    logs.length = 0;
    for (const m of ["log", "warn", "error"] as const) jest.spyOn(console, m).mockImplementation((...a: unknown[]) => void logs.push(a.join(" ")));
  });
  afterEach(() => jest.restoreAllMocks());
  return logs;
}
