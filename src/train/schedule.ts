import { createRequire } from 'node:module';
import type { CronExpressionParser as Parser } from 'cron-parser';

/**
 * cron-parser (and luxon under it) load on the first cron schedule, not with every command: most
 * commands never meet one, and the two are some twenty modules to resolve and run.
 */
let parser: typeof Parser | undefined;
const cron = (): typeof Parser => {
  parser ??= (createRequire(import.meta.url)('cron-parser') as { CronExpressionParser: typeof Parser })
    .CronExpressionParser;
  return parser;
};

/*
 * When a scheduled phase falls due: pure time arithmetic over a phase's `schedule` (`every: 1d` or
 * `cron: "0 6 * * 1"`), with no clock of its own: every function takes the times it reasons about.
 */

/**
 * A phase's schedule as written in the train: a fixed period (`every`), or a cron expression (`cron`,
 * read in UTC unless `tz` names a zone). Exactly one of `every` and `cron`.
 */
export interface ScheduleSpec {
  every?: string | undefined;
  cron?: string | undefined;
  tz?: string | undefined;
}

const UNITS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const EVERY = /^([1-9]\d{0,5})([smhdw])$/;
/** Cron's named schedules; sub-minute ones are left out on purpose. */
const ALIASES = ['@hourly', '@daily', '@weekly', '@monthly', '@yearly', '@annually'];
/** The longest period an `every` may have (a year and a day), and the shortest (a second). */
const MAX_EVERY_MS = 366 * UNITS.d;

/** The length of `every: 1d`, in milliseconds; null when the text is not a duration. */
export function everyMs(text: string): number | null {
  const m = EVERY.exec(text.trim());
  if (!m) return null;
  const ms = Number(m[1]) * UNITS[m[2] as keyof typeof UNITS];
  return ms <= MAX_EVERY_MS ? ms : null;
}

/** What is wrong with a schedule, in words, or null when it is usable. */
export function scheduleProblem(spec: ScheduleSpec): string | null {
  if ((spec.every === undefined) === (spec.cron === undefined))
    return 'a schedule needs either every (such as every: 1d) or cron (such as cron: "0 6 * * 1"), not both';
  if (spec.every !== undefined) {
    if (spec.tz !== undefined) return 'tz applies to cron schedules only';
    if (everyMs(spec.every) === null)
      return `every: "${spec.every}" is not a period: a whole number and a unit (s, m, h, d, w) up to 366d, such as 30m, 12h, 1d or 1w`;
    return null;
  }
  const tz = spec.tz ?? 'UTC';
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
  } catch {
    return `tz: "${tz}" is not a time zone: use an IANA name such as UTC or Europe/Paris`;
  }
  const text = spec.cron!.trim();
  const fields = text.split(/\s+/);
  if (!(ALIASES.includes(text) || (fields.length === 5 && !text.startsWith('@'))))
    return `cron: "${spec.cron}" needs five fields (minute hour day-of-month month day-of-week), such as "0 6 * * 1", or one of ${ALIASES.join(', ')}`;
  try {
    cron()
      .parse(text, { tz, currentDate: new Date(0) })
      .next();
  } catch (err) {
    return `cron: "${spec.cron}": ${(err as Error).message}`;
  }
  return null;
}

/** The schedule in words, as events and `vt plan` show it. */
export function describeSchedule(spec: ScheduleSpec): string {
  if (spec.every !== undefined) return `every ${spec.every.trim()}`;
  return `cron "${spec.cron!.trim()}" ${spec.tz ?? 'UTC'}`;
}

/** The first cron instant strictly after `after`. */
function cronAfter(spec: ScheduleSpec, after: Date): Date {
  return cron()
    .parse(spec.cron!.trim(), { tz: spec.tz ?? 'UTC', currentDate: after })
    .next()
    .toDate();
}

/**
 * When the visit of a scheduled phase that a project entered at `enteredAt` falls due. Due times of
 * a phase only ever increase: each is after the phase's last scheduled due time (`lastDue`), so no
 * two visits share one. With `every`, due times keep the rhythm of the first (`lastDue` + k periods,
 * the first one not before the entry); the first visit ever is due on entry. With `cron`, the first
 * cron instant at or after the entry.
 */
export function dueAfterEntry(spec: ScheduleSpec, enteredAt: Date, lastDue: Date | null): Date {
  const entered = enteredAt.getTime();
  if (spec.every !== undefined) {
    const p = everyMs(spec.every)!;
    if (lastDue === null) return new Date(entered);
    const last = lastDue.getTime();
    const k = Math.max(1, Math.ceil((entered - last) / p));
    return new Date(last + k * p);
  }
  const from = Math.max(entered - 1, lastDue?.getTime() ?? Number.NEGATIVE_INFINITY);
  return cronAfter(spec, new Date(from));
}

/** The period around a due time: a due time later than this by more than it was missed. */
export function periodAt(spec: ScheduleSpec, due: Date): number {
  if (spec.every !== undefined) return everyMs(spec.every)!;
  return cronAfter(spec, due).getTime() - due.getTime();
}
