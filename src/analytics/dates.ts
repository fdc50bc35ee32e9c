export const DAY_MS = 86_400_000;

/** The UTC day number of a time (days since 1970-01-01). */
export const dayOf = (ms: number) => Math.floor(ms / DAY_MS);

/** A UTC day number as YYYY-MM-DD. */
export const dayKey = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** "12 March", with the year when it is not the year of `now` (UTC). */
export function plainDate(ms: number, now: number): string {
  const d = new Date(ms);
  const year = d.getUTCFullYear() === new Date(now).getUTCFullYear() ? '' : ` ${d.getUTCFullYear()}`;
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}${year}`;
}
