import { GATE_STATUSES, PROJECT_STATUSES, TICKET_STATUSES } from '../../src/types.ts';

/*
 * Every status is shown as glyph + word (the same ones `vt` prints, from src/types.ts), with a colour
 * that only adds to them.
 */

type Kind = 'project' | 'ticket' | 'gate';
const TABLES = { project: PROJECT_STATUSES, ticket: TICKET_STATUSES, gate: GATE_STATUSES } as Record<
  Kind,
  Record<string, { glyph: string; word: string }>
>;

export function statusOf(kind: Kind, status: string) {
  return TABLES[kind][status] ?? { glyph: '?', word: status };
}

export function Badge({ kind, status }: { kind: Kind; status: string }) {
  const s = statusOf(kind, status);
  return (
    <span className={`badge s-${status}`}>
      <span aria-hidden="true">{s.glyph}</span> {s.word}
    </span>
  );
}

/** Rework is a transition, not a status: it gets the CLI's ↺ glyph and a word too. */
export function Rework() {
  return (
    <span className="badge s-reworked">
      <span aria-hidden="true">↺</span> rework
    </span>
  );
}
