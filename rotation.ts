/**
 * Secret rotation windows, derived from the clock and the configured period: no state, no extra
 * provider. Time is cut into windows of `periodDays` counted from the Unix epoch, so every run of
 * the program in the same window computes the same window, and the first run after it ends computes
 * the next one. A generated secret that rotates carries its window's id as a keeper (a new window
 * replaces it), and every vault secret expires when its window ends.
 *
 * Why not `@pulumiverse/time`'s Rotating resource: it notices an elapsed rotation only when the
 * engine reads it (`pulumi refresh`, or `up --refresh`), and brings a bridged provider plugin that
 * a deployment must download; a window computed here is plain data, visible in the preview.
 */

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Pins the clock for the offline plan and tests, so committed plans do not change with the date.
 * Unset in a real `pulumi preview` / `pulumi up`, which use the current time.
 */
export const ROTATION_CLOCK_ENV = "IOM_ROTATION_CLOCK";

export interface RotationWindow {
  /** Stable id of the window, e.g. `2026-10-05`, the day it starts (UTC). */
  id: string;
  startsAt: Date;
  endsAt: Date;
  /** `endsAt` in seconds since the epoch, as Key Vault's `attributes.exp` wants it. */
  endsAtEpochSeconds: number;
}

export function rotationWindow(periodDays: number, now: Date): RotationWindow {
  if (!Number.isInteger(periodDays) || periodDays < 1) throw new Error(`rotation period must be a whole number of days, got ${periodDays}`);
  const periodMs = periodDays * DAY_MS;
  const index = Math.floor(now.getTime() / periodMs);
  const startsAt = new Date(index * periodMs);
  const endsAt = new Date((index + 1) * periodMs);
  return { id: startsAt.toISOString().slice(0, 10), startsAt, endsAt, endsAtEpochSeconds: endsAt.getTime() / 1000 };
}

/** The current time, or the pinned one (ISO 8601 in IOM_ROTATION_CLOCK); a bad pin is an error, not a guess. */
export function rotationClock(env: NodeJS.ProcessEnv = process.env): Date {
  const pinned = env[ROTATION_CLOCK_ENV];
  if (pinned === undefined || pinned === "") return new Date();
  const date = new Date(pinned);
  if (Number.isNaN(date.getTime())) throw new Error(`${ROTATION_CLOCK_ENV}='${pinned}' is not an ISO 8601 date`);
  return date;
}
