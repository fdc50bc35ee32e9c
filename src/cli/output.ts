import { VtError } from '../errors.ts';
import { redact, redactor, stripControl } from '../redact.ts';
import {
  GATE_STATUSES,
  type GateStatus,
  PROJECT_STATUSES,
  type ProjectStatus,
  TICKET_STATUSES,
  type TicketStatus,
} from '../types.ts';

/** Where the CLI writes: data to `out`, everything for people to `err`. Swappable for in-process runs. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  isTTY: boolean;
  env: NodeJS.ProcessEnv;
}

export const processIo = (): Io => ({
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  isTTY: !!process.stdout.isTTY,
  env: process.env,
});

/** Colour only on a terminal, and never against NO_COLOR, CLICOLOR=0, TERM=dumb or --no-color. */
export function useColor(io: Io, flag: boolean | undefined): boolean {
  if (flag === false) return false;
  const env = io.env;
  if (env.CLICOLOR_FORCE && env.CLICOLOR_FORCE !== '0') return true;
  if ('NO_COLOR' in env && env.NO_COLOR !== '') return false;
  if (env.CLICOLOR === '0' || env.TERM === 'dumb') return false;
  return io.isTTY;
}

const CODES = { red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, gray: 90, bold: 1 } as const;
export type Colour = keyof typeof CODES;
export const paint = (on: boolean, c: Colour, s: string) => (on ? `\u001b[${CODES[c]}m${s}\u001b[0m` : s);

const STATUS_COLOUR: Record<string, Colour> = {
  pass: 'green',
  fail: 'red',
  error: 'red',
  waived: 'yellow',
  active: 'cyan',
  operating: 'cyan',
  'on-hold': 'yellow',
  cancelled: 'gray',
  completed: 'green',
  retired: 'gray',
};

/** A status as glyph and word (the same ones the dashboard uses), coloured when colour is on. */
export function badge(status: GateStatus | ProjectStatus | TicketStatus, color: boolean): string {
  const s = (GATE_STATUSES as Record<string, { glyph: string; word: string }>)[status] ??
    (PROJECT_STATUSES as Record<string, { glyph: string; word: string }>)[status] ??
    (TICKET_STATUSES as Record<string, { glyph: string; word: string }>)[status] ?? {
      glyph: '?',
      word: status,
    };
  return paint(color, STATUS_COLOUR[status] ?? 'bold', `${s.glyph} ${s.word}`);
}

/** Text from users or agents, made safe to print: no secrets, escape sequences or control characters. */
export const safe = (s: unknown) => redact(stripControl(String(s ?? '')));

/**
 * A table: aligned with a header on a terminal (truncated to the width unless `wide`); tab-separated,
 * untruncated and without a header when piped.
 */
export function table(io: Io, headers: string[], rows: string[][], opts: { wide?: boolean } = {}): string {
  const r = redactor(); // one look at the environment for the whole table
  const clean = rows.map((row) => row.map((c) => r(stripControl(String(c ?? '')))));
  if (!io.isTTY)
    return (
      clean.map((r) => r.map((c) => c.replace(/[\t\n]/g, ' ')).join('\t')).join('\n') +
      (rows.length ? '\n' : '')
    );
  const width = opts.wide ? Number.POSITIVE_INFINITY : Math.max(80, Number(io.env.COLUMNS) || 80);
  const visible = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '').length;
  const widths = headers.map((h, i) => Math.max(h.length, ...clean.map((r) => visible(r[i] ?? ''))));
  const lines = [headers, ...clean].map((r, ri) => {
    const line = r
      .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - visible(c))))
      .join('  ');
    const text = ri === 0 ? line.toUpperCase() : line;
    return visible(text) > width ? `${text.slice(0, width - 1)}…` : text;
  });
  return `${lines.join('\n')}\n`;
}

/**
 * A time as ISO-8601 in the local time zone, with its offset (2026-12-25T00:00:00.000+01:00).
 * `--utc` sets TZ=UTC for the process, which makes this UTC.
 */
export function localIso(t: Date | string): string {
  const d = typeof t === 'string' ? new Date(t) : t;
  if (Number.isNaN(d.getTime())) return String(t);
  const off = -d.getTimezoneOffset();
  const p = (n: number, w = 2) => String(Math.abs(n)).padStart(w, '0');
  const zone = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${p(Math.trunc(off / 60))}:${p(off % 60)}`;
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}${zone}`;
}

/** "3m ago" on a terminal, ISO-8601 in the local zone (or UTC with --utc) when piped. */
export function when(io: Io, iso: string, now = Date.now()): string {
  if (!io.isTTY) return localIso(iso);
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.max(s, 0)}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export function json(io: Io, value: unknown): void {
  io.out(`${JSON.stringify(value, null, io.isTTY ? 2 : 0)}\n`);
}

/** Print an error the same way everywhere: what failed, why, and what to run next. */
export function printError(io: Io, err: unknown, opts: { json: boolean; color: boolean }): void {
  const e = err instanceof VtError ? err : null;
  const code = e?.code ?? 'INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  if (opts.json) {
    io.err(
      `${JSON.stringify({ error: { code, message: safe(message), hint: e?.hint ?? null, details: e?.details ?? null } })}\n`,
    );
    return;
  }
  io.err(`${paint(opts.color, 'red', '✗')} ${safe(message)}\n`);
  if (e?.hint) io.err(`  ${paint(opts.color, 'gray', e.hint)}\n`);
  if (!e)
    io.err(
      `  ${paint(opts.color, 'gray', 'This is a bug in vt; the stack follows.')}\n${(err as Error)?.stack ?? ''}\n`,
    );
}
