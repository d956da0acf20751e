/**
 * What every check group receives, and the helpers they share to build report lines.
 */
import type { CheckLine, CheckStatus } from "./report";
import type { DoctorServices } from "./services";
import type { DoctorTarget } from "./target";

export interface CheckContext {
  target: DoctorTarget;
  services: DoctorServices;
  /** The doctor's clock: every "in the last N hours" and "expires in N days" counts from it. */
  now: Date;
  lookbackHours: number;
  secretExpiryDays: number;
  /** Progress for a person (stderr); never the report itself. */
  progress: (message: string) => void;
  /** Every secret value the doctor holds (tokens): redacted from the report whatever a service echoes. */
  secretsToRedact: readonly string[];
}

/** A check group: the lines it reports, in the order the table shows them. */
export type CheckGroup = (ctx: CheckContext) => Promise<CheckLine[]>;

export function line(id: string, group: string, subject: string, status: CheckStatus, summary: string, fix?: string, details?: Record<string, unknown>): CheckLine {
  return { id, group, subject, status, summary, ...(fix ? { fix } : {}), ...(details ? { details } : {}) };
}

/** The line as a line of the BigCommerce store `store` (unchanged without one). */
export function withStore(l: CheckLine, store: string | undefined): CheckLine {
  return store ? { ...l, store } : l;
}

/** "3 h ago", "2 d ago": how long before `now` a time was. */
export function ago(then: Date, now: Date): string {
  const minutes = Math.max(0, Math.round((now.getTime() - then.getTime()) / 60_000));
  if (minutes < 120) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  return hours < 48 ? `${hours} h ago` : `${Math.round(hours / 24)} d ago`;
}

/** `2025-05-01 10:00 UTC` */
export function utc(d: Date): string {
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

export const plural = (n: number, word: string, many = `${word}s`) => `${n} ${n === 1 ? word : many}`;
