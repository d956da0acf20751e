/**
 * What the project's two command lines share (`npm run doctor`, doctor/cli.ts, and
 * `npm run check:bigcommerce`, bigcommerce/cli.ts): strict flag parsing that turns every problem
 * into a UsageError (exit 2), whole-number flags, and running `main` as the process's entry point.
 *
 * Not part of any provider's serialized closure: only the commands load it.
 */
import { parseArgs } from "util";

/** A problem with the command line or its configuration: the command prints it with its usage and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

export interface ParsedFlags {
  /** The value of a string flag, or undefined when it is not given. */
  string(name: string): string | undefined;
  /** Whether a boolean flag is given. */
  flag(name: string): boolean;
  positionals: string[];
}

/** Parses `argv` strictly (an unknown flag, a missing value or an unexpected argument is a UsageError). */
export function parseFlags(argv: string[], options: Record<string, { type: "string" | "boolean"; short?: string }>, allowPositionals: boolean): ParsedFlags {
  let parsed: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  return {
    string: (name) => (typeof values[name] === "string" ? (values[name] as string) : undefined),
    flag: (name) => values[name] === true,
    positionals,
  };
}

/** A whole-number flag from `min` to `max`, undefined when not given; anything else is a UsageError naming the flag. */
export function wholeNumberFlag(flag: string, text: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`}, got '${text}'`);
  }
  return n;
}

/**
 * Runs `main` as the process's entry point: its return value is the exit code. An exception that
 * escapes `main` is a bug, not a check's result: one line of its message is printed (never the
 * raw object: an HTTP library's error can hold request headers), through `redact`, and the exit
 * code is 1. Requests a deadline cut off may still hold sockets or retry timers: the process
 * does not wait for them beyond a second.
 */
export function runAsCommand(
  main: (argv: string[], env: Readonly<Record<string, string | undefined>>, io: CliIo) => Promise<number>,
  redact: (text: string) => string = (t) => t,
): void {
  main(process.argv.slice(2), process.env, {
    out: (t) => process.stdout.write(`${t}\n`),
    err: (t) => process.stderr.write(`${t}\n`),
  }).then(
    (code) => {
      process.exitCode = code;
      setTimeout(() => process.exit(code), 1000).unref();
    },
    (e: unknown) => {
      process.stderr.write(`error: ${redact(e instanceof Error ? e.message.split("\n")[0] : "unexpected failure")}\n`);
      process.exitCode = 1;
    },
  );
}
