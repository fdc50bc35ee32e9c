import { VtError } from '../errors.ts';

/**
 * Times in the two notations keys are given validity in: OpenSSH's YYYYMMDD[HHMM[SS]][Z|UTC]
 * (allowed_signers `valid-after`/`valid-before`; without Z it is the machine's local time, exactly
 * as ssh-keygen reads it) and ISO 8601 with a zone (the train's `valid_after`/`valid_before`).
 */

/** Whether y-m-d h:mi:s names a real moment (no Feb 30, no 25:00): nothing is rolled over. */
function realDate(y: number, mo: number, d: number, h: number, mi: number, s: number): boolean {
  const t = new Date(Date.UTC(y, mo - 1, d));
  return t.getUTCMonth() === mo - 1 && t.getUTCDate() === d && h <= 23 && mi <= 59 && s <= 59;
}

/** Epoch milliseconds of an OpenSSH absolute time; null when it is not one. */
export function parseSshTime(s: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z|UTC)?$/i.exec(s);
  if (!m) return null;
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4] ?? '0', m[5] ?? '0', m[6] ?? '0'].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (!realDate(y, mo, d, h, mi, sec)) return null;
  return m[7] ? Date.UTC(y, mo - 1, d, h, mi, sec) : new Date(y, mo - 1, d, h, mi, sec).getTime();
}

/** An OpenSSH absolute time in UTC with seconds: YYYYMMDDHHMMSSZ. */
export function formatSshTime(ms: number): string {
  return `${new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-](\d{2}):(\d{2})))?$/;

/** Epoch milliseconds of an ISO 8601 date (UTC midnight) or date-time with a zone; null otherwise. */
export function parseIsoTime(s: string): number | null {
  const m = ISO.exec(s);
  if (!m) return null;
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4] ?? '0', m[5] ?? '0', m[6] ?? '0'].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (!realDate(y, mo, d, h, mi, sec)) return null;
  if (m[8] !== undefined && (Number(m[8]) > 23 || Number(m[9]) > 59)) return null;
  const t = Date.parse(m[4] === undefined ? `${s}T00:00:00Z` : s);
  return Number.isFinite(t) ? t : null;
}

/** Like parseIsoTime, throwing BAD_INPUT that names the field. */
export function requireIsoTime(s: string, field: string): number {
  const t = parseIsoTime(s);
  if (t === null)
    throw new VtError('BAD_INPUT', `${field}: "${s}" is not an ISO 8601 time with a zone`, {
      hint: 'Write e.g. 2026-03-01 (UTC midnight) or 2026-03-01T09:00:00Z',
    });
  return t;
}
