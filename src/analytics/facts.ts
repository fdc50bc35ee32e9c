import type { EventMap, EventType } from '../engine/events.ts';
import { foldablePayload } from '../store/erasure-marker.ts';
import { hasEvidence } from './evidence.ts';
import { isSigned } from './signed.ts';

/*
 * The one place analytics reads event payloads. Every figure is computed from Facts, so a change
 * in an event's shape (evidence gaining `visit`, `session` and `commit`, decisions gaining
 * `signature`) is absorbed here.
 */

/** An event row as stored (payload still canonical JSON text). */
export interface EventRow {
  project_id: string;
  seq: number;
  ts: string;
  actor: string;
  type: string;
  payload: string;
}

/** A decision a person made: what it was, whether it names its evidence, whether it is signed. */
export interface Decision {
  what: 'approval' | 'waiver' | 'hold' | 'resume' | 'cancel' | 'reopen';
  evidence: boolean;
  signed: boolean;
}

/** One gate's verdict in an evaluation. `pending`: failed only for want of a sign-off not yet given. */
export interface GateVerdict {
  gate: string;
  status: 'pass' | 'fail' | 'error' | 'waived';
  pending: boolean;
}

interface Base {
  project: string;
  seq: number;
  /** Milliseconds since the epoch. */
  ts: number;
  actor: string;
  decision: Decision | null;
}

export type Fact = Base &
  (
    | { kind: 'created'; name: string; team: string | null; phase: string; train: string }
    | { kind: 'moved'; from: string; to: string | null; how: 'advance' | 'route' | 'rework' | 'complete' }
    | { kind: 'status'; status: 'on-hold' | 'active' | 'cancelled'; reopened: string | null }
    | { kind: 'gate'; phase: string; visit: number; side: 'entry' | 'exit'; verdicts: GateVerdict[] }
    | {
        kind: 'work';
        what: 'tick' | 'artifact' | 'metric';
        phase: string;
        /** The visit the evidence belongs to, when the event says (else the project's current one). */
        visit: number | null;
        session: string | null;
        /** Artifacts only: whether the record names the file's hash, and whether it is signed. */
        evidence: boolean;
        signed: boolean;
        /** Artifacts only: the commit the file was hashed in (a person's); null while its session has not committed. */
        commit: string | null;
        /** Artifacts only: recorded before vt recorded commits (no `commit` field): judged by its hash alone. */
        legacy: boolean;
      }
    | { kind: 'committed'; session: string | null; phase: string; visit: number }
    | { kind: 'session-started'; session: string; phase: string; executor: string }
    | {
        kind: 'session-ended';
        session: string;
        cost: number | null;
        /** Only a session that succeeded keeps its evidence. */
        succeeded: boolean;
      }
    | { kind: 'ticket'; ticket: string; status: string }
    | { kind: 'other' }
  );

type P<K extends EventType> = EventMap[K] & Record<string, unknown>;

const decision = (what: Decision['what'], p: Record<string, unknown>): Decision => ({
  what,
  evidence: hasEvidence(p),
  signed: isSigned(p),
});

/** A gate result that failed only because approvals are still awaited (no rejection among them). */
function awaitingSignOff(r: Record<string, unknown>): boolean {
  if (r.status !== 'fail') return false;
  const children = r.children as Record<string, unknown>[] | undefined;
  if (children?.length) {
    const failing = children.filter((c) => c.status !== 'pass' && c.status !== 'waived');
    return failing.length > 0 && failing.every(awaitingSignOff);
  }
  const rejected = (r.evidence as { rejected_by?: unknown[] } | undefined)?.rejected_by;
  return r.kind === 'approval' && !rejected?.length;
}

/** A git commit id: SHA-1, or SHA-256 in a repository that uses it. */
const COMMIT = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/** Event types whose payload a figure reads; the others are counted without parsing them. */
const READ = new Set<string>([
  'project.created',
  'phase.advanced',
  'project.completed',
  'project.held',
  'project.resumed',
  'project.cancelled',
  'project.reopened',
  'approval.recorded',
  'gate.waived',
  'gate.evaluated',
  'checklist.ticked',
  'artifact.recorded',
  'metric.recorded',
  'workspace.committed',
  'session.started',
  'session.ended',
  'ticket.status',
] satisfies EventType[]);

/** Read one stored event as a Fact. */
export function toFact(row: EventRow): Fact {
  const base: Base = {
    project: row.project_id,
    seq: row.seq,
    ts: Date.parse(row.ts),
    actor: row.actor,
    decision: null,
  };
  if (!READ.has(row.type)) return { ...base, kind: 'other' };
  const p = foldablePayload(row.payload) as Record<string, unknown>;
  switch (row.type as EventType) {
    case 'project.created': {
      const c = p as P<'project.created'>;
      return { ...base, kind: 'created', name: c.name, team: c.team, phase: c.phase, train: c.train_hash };
    }
    case 'phase.advanced': {
      const a = p as P<'phase.advanced'>;
      return { ...base, kind: 'moved', from: a.from, to: a.to, how: a.kind };
    }
    case 'project.completed':
      return { ...base, kind: 'moved', from: (p as P<'project.completed'>).from, to: null, how: 'complete' };
    case 'project.held':
      return { ...base, decision: decision('hold', p), kind: 'status', status: 'on-hold', reopened: null };
    case 'project.resumed':
      return { ...base, decision: decision('resume', p), kind: 'status', status: 'active', reopened: null };
    case 'project.cancelled':
      return {
        ...base,
        decision: decision('cancel', p),
        kind: 'status',
        status: 'cancelled',
        reopened: null,
      };
    case 'project.reopened': {
      const r = p as P<'project.reopened'>;
      return {
        ...base,
        decision: decision('reopen', p),
        kind: 'status',
        status: 'active',
        reopened: r.phase,
      };
    }
    case 'approval.recorded':
      return { ...base, decision: decision('approval', p), kind: 'other' };
    case 'gate.waived':
      return { ...base, decision: decision('waiver', p), kind: 'other' };
    case 'gate.evaluated': {
      const g = p as P<'gate.evaluated'>;
      const verdicts = (g.results as unknown as Record<string, unknown>[]).map((r) => ({
        gate: String(r.gate),
        status: r.status as GateVerdict['status'],
        pending: awaitingSignOff(r),
      }));
      return { ...base, kind: 'gate', phase: g.phase, visit: g.visit, side: g.side, verdicts };
    }
    case 'checklist.ticked':
    case 'artifact.recorded':
    case 'metric.recorded': {
      const what =
        row.type === 'checklist.ticked' ? 'tick' : row.type === 'metric.recorded' ? 'metric' : 'artifact';
      return {
        ...base,
        kind: 'work',
        what,
        phase: String(p.phase),
        visit: typeof p.visit === 'number' ? p.visit : null,
        session: typeof p.session === 'string' ? p.session : null,
        evidence: what === 'artifact' && hasEvidence(p),
        signed: isSigned(p),
        commit:
          what === 'artifact' && typeof p.commit === 'string' && COMMIT.test(p.commit) ? p.commit : null,
        legacy: what === 'artifact' && !('commit' in p),
      };
    }
    case 'workspace.committed': {
      const c = p as P<'workspace.committed'>;
      const session = typeof c.session === 'string' ? c.session : null;
      return { ...base, kind: 'committed', session, phase: c.phase, visit: c.visit };
    }
    case 'session.started': {
      const s = p as P<'session.started'>;
      return { ...base, kind: 'session-started', session: s.session, phase: s.phase, executor: s.executor };
    }
    case 'session.ended': {
      const s = p as P<'session.ended'>;
      const cost = typeof s.cost === 'number' && Number.isFinite(s.cost) ? s.cost : null;
      return {
        ...base,
        kind: 'session-ended',
        session: s.session,
        cost,
        succeeded: s.outcome === 'succeeded',
      };
    }
    case 'ticket.status': {
      const t = p as P<'ticket.status'>;
      return { ...base, kind: 'ticket', ticket: t.ticket, status: t.status };
    }
    default:
      return { ...base, kind: 'other' };
  }
}
