import { VtError } from '../errors.ts';
import type { GateResult } from '../gates/types.ts';
import type { Train } from '../train/schema.ts';
import type { ContextKind, Priority, TicketStatus } from '../types.ts';
import { type AdvanceOutcome, decideAdvance, onlyApprovalsPending, phaseOf } from './core.ts';
import { event, type NewEvent } from './events.ts';
import { isWorking } from './operations.ts';
import type { ProjectState, TicketState } from './state.ts';

/*
 * Pure decisions about issues, tickets and sessions: the autopilot's half of the engine core.
 */

export const MAX_ATTEMPTS = 3;
/** A loop that brings one issue back to the same phase this often is stuck: a person must look. */
export const MAX_VISITS_PER_PHASE = 8;
const OPEN: readonly TicketStatus[] = [
  'queued',
  'running',
  'awaiting-gates',
  'awaiting-approval',
  'awaiting-human',
  'blocked',
];

export const isOpen = (t: TicketState) => OPEN.includes(t.status);

/** Ticket id and branch for issue x phase; a repeated phase (a rework loop) gets a numbered suffix. */
export function ticketFor(s: ProjectState, issue: string, phase: string): { ticket: string; branch: string } {
  const n = Object.values(s.tickets).filter((t) => t.issue === issue && t.phase === phase).length + 1;
  const suffix = n === 1 ? '' : `-${n}`;
  return { ticket: `${issue}-${phase}${suffix}`, branch: `phase/${phase}_${issue}${suffix}` };
}

function queueTicket(
  s: ProjectState,
  issue: string,
  phase: string,
  visit: number,
  base: string | null,
  reason: string | null,
): NewEvent {
  const { ticket, branch } = ticketFor(s, issue, phase);
  return event('ticket.queued', { ticket, issue, phase, visit, branch, base, reason });
}

/** Queue the issue's ticket for the next phase; a runaway loop is queued blocked, with an alert. */
function queueNext(
  s: ProjectState,
  from: TicketState,
  phase: string,
  visit: number,
  reason: string,
): NewEvent[] {
  const queued = queueTicket(s, from.issue, phase, visit, from.branch, reason);
  const visits =
    Object.values(s.tickets).filter((x) => x.issue === from.issue && x.phase === phase).length + 1;
  if (visits <= MAX_VISITS_PER_PHASE) return [queued];
  const ticket = (queued.payload as { ticket: string }).ticket;
  const why = `${from.issue} reached ${phase} ${visits} times: the loop looks stuck`;
  return [
    queued,
    event('ticket.status', { ticket, status: 'blocked', reason: why, not_before: null, attempts: 0 }),
    event('alert.raised', { ticket, reason: why }),
  ];
}

/**
 * Where a ticket's work starts: the commit recorded for the ticket it continues (never a branch a
 * process could have moved), or null to start from the project's line.
 */
export function startCommit(s: ProjectState, t: TicketState): string | null {
  if (!t.base) return null;
  const base = Object.values(s.tickets).find((x) => x.branch === t.base);
  return base?.commit ?? null;
}

/** The branch the project's newest finished work is on: where the next ticket starts from. */
export function latestBase(s: ProjectState): string | null {
  let best: TicketState | null = null;
  for (const t of Object.values(s.tickets))
    if ((t.status === 'done' || t.status === 'reworked') && (!best || t.seq > best.seq)) best = t;
  return best?.branch ?? null;
}

export interface IssueInput {
  title: string;
  priority?: Priority | undefined;
  labels?: string[] | undefined;
  phase?: string | undefined;
  source?: 'local' | 'github';
  external?: { repo: string; number: number } | null;
}

export function decideAddIssue(s: ProjectState, train: Train, input: IssueInput): NewEvent[] {
  if (s.status === 'retired')
    throw new VtError('INVALID_STATE', `project ${s.id} is retired: its work has ended`);
  if (s.status === 'cancelled' || s.status === 'completed')
    throw new VtError('INVALID_STATE', `project ${s.id} is ${s.status}; reopen it before adding work`);
  const title = input.title.trim();
  if (!title) throw new VtError('BAD_INPUT', 'an issue needs a title');
  if (title.length > 300) throw new VtError('BAD_INPUT', 'an issue title is at most 300 characters');
  const phase = phaseOf(train, input.phase ?? s.phase).id;
  const labels = [...new Set(input.labels ?? [])];
  for (const l of labels)
    if (!/^[\w.:/-]{1,50}$/.test(l))
      throw new VtError('BAD_INPUT', `"${l}" is not a usable label: letters, digits, . : / - _`);
  const issue = `${s.id}-${s.issueCount + 1}`;
  const added = event('issue.added', {
    issue,
    title,
    priority: input.priority ?? s.priority,
    labels,
    phase,
    source: input.source ?? 'local',
    external: input.external ?? null,
  });
  // evolve() numbers tickets from the state, which does not know this issue yet: no collision possible.
  return [added, queueTicket(s, issue, phase, phase === s.phase ? s.visit : 0, latestBase(s), 'queued')];
}

/**
 * The Conductor's planning step: a ticket for the current phase when none is open — decided and
 * queued in one transaction, so two planners never queue two.
 */
export function decidePlan(s: ProjectState, train: Train): NewEvent[] {
  if (Object.values(s.tickets).some((t) => t.phase === s.phase && isOpen(t))) return [];
  // A stay that waits for its scheduled visit is queued when the visit falls due, never early.
  const v = s.scheduled;
  if (isWorking(s) && v && v.ticket === null && v.phase === s.phase && v.visit === s.visit) return [];
  return decideAddIssue(s, train, { title: `Carry ${s.name} through ${phaseOf(train, s.phase).name}` });
}

export function decideAssign(s: ProjectState, issue: string, assignee: string | null): NewEvent[] {
  if (!s.issues[issue]) throw new VtError('NOT_FOUND', `no issue "${issue}" in project ${s.id}`);
  if (s.issues[issue].assignee === assignee) return [];
  return [event('issue.assigned', { issue, assignee })];
}

export function ticketOf(s: ProjectState, id: string): TicketState {
  const t = s.tickets[id];
  if (!t)
    throw new VtError('NOT_FOUND', `no ticket "${id}" in project ${s.id}`, {
      hint: `See: vt issue list --project ${s.id}`,
    });
  return t;
}

/** An agent's session may act only while it is open and its ticket is the project's current work. */
export function requireLiveSession(s: ProjectState, session: string, actor: string): void {
  const sess = s.sessions[session];
  if (!sess) throw new VtError('NOT_PERMITTED', `no session "${session}" in project ${s.id}`);
  if (sess.actor !== actor)
    throw new VtError('NOT_PERMITTED', `session ${session} belongs to ${sess.actor}, not ${actor}`);
  if (sess.ended)
    throw new VtError('NOT_PERMITTED', `session ${session} has ended; its ticket was taken over or finished`);
  if (sess.phase !== s.phase)
    throw new VtError(
      'NOT_PERMITTED',
      `session ${session} works on ${sess.phase}, but the project is in ${s.phase}`,
    );
  const t = s.tickets[sess.ticket];
  if (!t || t.session !== session || t.status !== 'running')
    throw new VtError('NOT_PERMITTED', `session ${session} no longer holds ticket ${sess.ticket}`);
}

/** A worker may act on a ticket only while it holds the current lease generation. */
export function requireLease(t: TicketState, gen: number): void {
  if (t.status !== 'running' || t.leaseGen !== gen)
    throw new VtError(
      'CONFLICT',
      `stale lease on ${t.id}: generation ${gen} is not current (${t.leaseGen}, ${t.status})`,
    );
}

export type ClaimMode = 'run' | 'gates';

/**
 * Claim a ticket for a worker. `expired` says the caller found the current lease expired (or absent):
 * only then may a running ticket be taken over; its unfinished session is closed as abandoned.
 */
export function decideClaim(
  s: ProjectState,
  id: string,
  worker: string,
  now: Date,
  expired: boolean,
): { events: NewEvent[]; mode: ClaimMode; gen: number } {
  const t = ticketOf(s, id);
  if (!isWorking(s)) throw new VtError('INVALID_STATE', `project ${s.id} is ${s.status}`);
  if (t.phase !== s.phase)
    throw new VtError('INVALID_STATE', `ticket ${id} is for ${t.phase}; the project is in ${s.phase}`);
  const claimable =
    t.status === 'queued' || t.status === 'awaiting-gates' || (t.status === 'running' && expired);
  if (!claimable) throw new VtError('CONFLICT', `ticket ${id} is ${t.status}`);
  if (t.notBefore && Date.parse(t.notBefore) > now.getTime())
    throw new VtError('CONFLICT', `ticket ${id} waits until ${t.notBefore}`);
  const events: NewEvent[] = [];
  if (t.session && s.sessions[t.session] && !s.sessions[t.session]!.ended) {
    events.push(
      event('session.ended', {
        session: t.session,
        outcome: 'abandoned',
        exit_code: null,
        summary: 'the worker holding the lease stopped before finishing',
        tokens_in: null,
        tokens_out: null,
        cost: null,
      }),
    );
  }
  const gen = t.leaseGen + 1;
  events.push(event('ticket.claimed', { ticket: id, worker, lease_gen: gen }));
  return { events, mode: t.status === 'awaiting-gates' ? 'gates' : 'run', gen };
}

export function decideStartSession(
  s: ProjectState,
  id: string,
  gen: number,
  info: { role: string; executor: string; workspace: string; log: string },
  /** A supporting role's session in the same attempt: `<ticket>.s<gen>-<role>`. */
  support?: string,
): { events: NewEvent[]; session: string } {
  const t = ticketOf(s, id);
  requireLease(t, gen);
  const session = `${id}.s${gen}${support ? `-${support}` : ''}`;
  if (s.sessions[session]) return { events: [], session };
  return { events: [event('session.started', { session, ticket: id, phase: t.phase, ...info })], session };
}

export function decideEndSession(
  s: ProjectState,
  session: string,
  result: {
    outcome: 'succeeded' | 'failed' | 'timed-out' | 'unavailable';
    exitCode: number | null;
    summary: string | null;
    tokensIn?: number | null;
    tokensOut?: number | null;
    cost?: number | null;
  },
): NewEvent[] {
  const sess = s.sessions[session];
  if (!sess) throw new VtError('NOT_FOUND', `no session "${session}"`);
  if (sess.ended) return [];
  return [
    event('session.ended', {
      session,
      outcome: result.outcome,
      exit_code: result.exitCode,
      summary: result.summary,
      tokens_in: result.tokensIn ?? null,
      tokens_out: result.tokensOut ?? null,
      cost: result.cost ?? null,
    }),
  ];
}

export function decideContext(
  s: ProjectState,
  entry: { kind: ContextKind; text: string; ticket?: string | null; session?: string | null },
): NewEvent[] {
  const text = entry.text.trim();
  if (!text) throw new VtError('BAD_INPUT', 'a context entry needs text');
  if (text.length > 4000) throw new VtError('BAD_INPUT', 'a context entry is at most 4000 characters');
  if (entry.ticket) ticketOf(s, entry.ticket);
  return [
    event('context.added', {
      kind: entry.kind,
      text,
      phase: s.phase,
      ticket: entry.ticket ?? null,
      session: entry.session ?? null,
    }),
  ];
}

/** Backoff before attempt n+1: 2^(n-1) x base, capped at five minutes. */
export function backoffMs(attempts: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** Math.max(attempts - 1, 0), 300_000);
}

/** A failed attempt: retry after a backoff, or block the ticket and raise an alert after the last attempt. */
export function decideFailAttempt(
  s: ProjectState,
  id: string,
  gen: number,
  reason: string,
  now: Date,
  baseMs: number,
): NewEvent[] {
  const t = ticketOf(s, id);
  requireLease(t, gen);
  const attempts = t.attempts + 1;
  if (attempts >= MAX_ATTEMPTS) {
    return [
      event('ticket.status', { ticket: id, status: 'blocked', reason, not_before: null, attempts }),
      event('alert.raised', {
        ticket: id,
        reason: `${id} blocked after ${attempts} failed attempts: ${reason}`,
      }),
    ];
  }
  const notBefore = new Date(now.getTime() + backoffMs(attempts, baseMs)).toISOString();
  return [event('ticket.status', { ticket: id, status: 'queued', reason, not_before: notBefore, attempts })];
}

/** Park a running ticket in a person's inbox (a human executor, or an executor that is unavailable). */
export function decideAwaitHuman(s: ProjectState, id: string, gen: number, reason: string): NewEvent[] {
  const t = ticketOf(s, id);
  requireLease(t, gen);
  return [
    event('ticket.status', {
      ticket: id,
      status: 'awaiting-human',
      reason,
      not_before: null,
      attempts: t.attempts,
    }),
  ];
}

/**
 * A person says a human ticket's work is done, with its gates just evaluated (and recorded): when they
 * pass, or only wait for approvals, the ticket goes on; otherwise it stays with the person.
 */
export function decideDone(s: ProjectState, id: string, results: GateResult[]): NewEvent[] {
  const t = ticketOf(s, id);
  if (t.status !== 'awaiting-human')
    throw new VtError('INVALID_STATE', `ticket ${id} is ${t.status}, not waiting for a person`);
  if (t.phase !== s.phase)
    throw new VtError('INVALID_STATE', `ticket ${id} is for ${t.phase}; the project is in ${s.phase}`);
  const passed = results.every((r) => r.status === 'pass' || r.status === 'waived');
  if (!passed && !onlyApprovalsPending(results)) return [];
  return [
    event('ticket.status', {
      ticket: id,
      status: 'awaiting-gates',
      reason: 'marked done',
      not_before: null,
      attempts: t.attempts,
    }),
  ];
}

/** A person unblocks a blocked ticket (or gives a human ticket back to the queue) with fresh attempts. */
export function decideRetry(s: ProjectState, id: string): NewEvent[] {
  const t = ticketOf(s, id);
  if (t.status !== 'blocked' && t.status !== 'awaiting-human')
    throw new VtError('INVALID_STATE', `ticket ${id} is ${t.status}; only a blocked ticket is retried`);
  return [
    event('ticket.status', {
      ticket: id,
      status: 'queued',
      reason: 'retried by a person',
      not_before: null,
      attempts: 0,
    }),
  ];
}

/**
 * Finish a ticket's run: when it is the phase's last open ticket, evaluate the gates and move the
 * project (advance, route or rework) and queue the issue's next ticket; otherwise just close it.
 * Failing gates other than pending approvals count as a failed attempt.
 */
export function decideFinish(
  s: ProjectState,
  train: Train,
  id: string,
  gen: number,
  gates: { exit: GateResult[]; entry: { phase: string; results: GateResult[] } | null },
  now: Date,
  baseMs: number,
): { events: NewEvent[]; outcome: AdvanceOutcome | { outcome: 'closed' } } {
  const t = ticketOf(s, id);
  requireLease(t, gen);
  const others = Object.values(s.tickets).filter((o) => o.id !== id && o.phase === t.phase && isOpen(o));
  if (others.length) {
    return {
      events: [
        event('ticket.finished', {
          ticket: id,
          outcome: 'done',
          reason: `${others.length} more ticket(s) in ${t.phase}`,
        }),
      ],
      outcome: { outcome: 'closed' },
    };
  }
  const d = decideAdvance(s, train, gates.exit, gates.entry, now);
  const events = [...d.events];
  const o = d.outcome;
  const nextVisit = s.visit + 1;
  // A scheduled phase's visit is queued when it falls due (by the scheduler), not on arrival.
  const hasOpenFor = (phase: string) =>
    !!phaseOf(train, phase).schedule ||
    Object.values(s.tickets).some((x) => x.phase === phase && x.id !== id && isOpen(x));
  switch (o.outcome) {
    case 'advanced':
      events.push(event('ticket.finished', { ticket: id, outcome: 'done', reason: `${o.from} → ${o.to}` }));
      if (!hasOpenFor(o.to))
        events.push(...queueNext(s, t, o.to, nextVisit, `conductor: ${o.kind} from ${o.from}`));
      break;
    case 'reworked':
      events.push(
        event('ticket.finished', {
          ticket: id,
          outcome: 'reworked',
          reason: `${o.from} failed; rework in ${o.to}`,
        }),
      );
      if (!hasOpenFor(o.to))
        events.push(...queueNext(s, t, o.to, nextVisit, `conductor: rework from ${o.from}`));
      break;
    case 'completed':
      events.push(event('ticket.finished', { ticket: id, outcome: 'done', reason: 'the train is complete' }));
      for (const issue of Object.values(s.issues))
        if (!issue.closed)
          events.push(event('issue.closed', { issue: issue.id, reason: 'the project completed the train' }));
      break;
    case 'stayed': {
      const results = o.blockedBy === 'entry' ? gates.entry!.results : gates.exit;
      if (onlyApprovalsPending(results)) {
        events.push(
          event('ticket.status', {
            ticket: id,
            status: 'awaiting-approval',
            reason: 'waiting for approval',
            not_before: null,
            attempts: t.attempts,
          }),
        );
      } else {
        const failed = results
          .filter((r) => r.status === 'fail' || r.status === 'error')
          .map((r) => `${r.gate}: ${r.message}`);
        events.push(
          ...decideFailAttempt(s, id, gen, `gates failed: ${failed.join('; ')}`.slice(0, 1000), now, baseMs),
        );
      }
      break;
    }
  }
  return { events, outcome: o };
}

/** After an approval, tickets waiting for it go back for their gates to be evaluated. */
export function ticketsAwaitingApproval(s: ProjectState): NewEvent[] {
  return Object.values(s.tickets)
    .filter((t) => t.status === 'awaiting-approval' && t.phase === s.phase)
    .map((t) =>
      event('ticket.status', {
        ticket: t.id,
        status: 'awaiting-gates',
        reason: 'approval recorded',
        not_before: null,
        attempts: t.attempts,
      }),
    );
}
