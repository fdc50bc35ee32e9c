import type { GateResult } from '../gates/types.ts';
import type { Train } from '../train/schema.ts';
import { phaseOf } from './core.ts';
import { scheduleView } from './due-visits.ts';
import { currentEvidence, type ProjectState, type TicketState } from './state.ts';

/** Tickets that wait for a person, and why: blocked ones first. */
export function ticketsNeedingPeople(s: ProjectState): TicketState[] {
  const rank = { blocked: 0, 'awaiting-approval': 1, 'awaiting-human': 2 } as Record<string, number>;
  return Object.values(s.tickets)
    .filter((t) => t.status in rank)
    .sort((a, b) => rank[a.status]! - rank[b.status]! || a.seq - b.seq);
}

/**
 * Where a project stands, for read commands (CLI, MCP, API): this visit's evidence, and the last
 * recorded evaluation of its gates — never a fresh one (reading runs nothing).
 */
export function statusView(s: ProjectState, train: Train) {
  const phase = phaseOf(train, s.phase);
  const ev = currentEvidence(s);
  const index = train.phases.findIndex((p) => p.id === phase.id);
  const last = s.evaluations[phase.id];
  const evaluation =
    last && last.visit === s.visit
      ? {
          at: last.ts,
          by: last.actor,
          seq: last.seq,
          passed: last.passed,
          // Evidence recorded after the evaluation may change its verdict.
          stale: evidenceSeq(s) > last.seq,
          results: last.results,
        }
      : null;
  return {
    id: s.id,
    name: s.name,
    team: s.team,
    priority: s.priority,
    budget: s.budget,
    status: s.status,
    phase: s.phase,
    phase_index: index + 1,
    phases: train.phases.length,
    stage: phase.stage,
    owner: phase.owner,
    /** Which visit of this phase (1 the first time). */
    visit: ev.n,
    transitions: s.transitions,
    train: { name: train.name, hash: s.trainHash },
    checklist: phase.checklist.map((c) => {
      const r = ev.checklist[c.id];
      return {
        id: c.id,
        text: c.text,
        required: c.required,
        ticked: !!r?.ticked,
        by: r?.ticked ? r.actor : null,
        carried_from: r?.carriedFrom ?? null,
      };
    }),
    artifacts: phase.artifacts.map((a) => {
      const r = ev.artifacts[a.id];
      return {
        id: a.id,
        path: a.path,
        required: a.required,
        recorded: r
          ? {
              path: r.path,
              sha256: r.sha256,
              size: r.size,
              by: r.actor,
              commit: r.commit,
              carried_from: r.carriedFrom,
            }
          : null,
      };
    }),
    metrics: Object.fromEntries(Object.entries(ev.metrics).map(([k, v]) => [k, v.value])),
    latest_metrics: Object.fromEntries(
      Object.entries(s.metrics).map(([k, v]) => [k, { value: v.value, phase: v.phase }]),
    ),
    commit: ev.commit ? { commit: ev.commit.commit, tree: ev.commit.tree, session: ev.commit.session } : null,
    contributors: ev.contributors,
    evaluation,
    waivers: Object.values(s.waivers).map((w) => ({
      gate: w.gate,
      by: w.actor,
      confirmed_by: w.confirmedBy,
      reason: w.reason,
      expires_at: w.expiresAt,
    })),
    /** The current visit's schedule, when the phase has one: when it falls due, and its ticket once queued. */
    schedule: scheduleView(s),
    attention: ticketsNeedingPeople(s).map((t) => ({
      ticket: t.id,
      status: t.status,
      reason: waitingReason(t),
    })),
    head: { seq: s.seq, hash: s.headHash },
  };
}

export type StatusView = ReturnType<typeof statusView>;

/** The seq of the latest evidence of the current visit (ticks, artifacts, metrics, commits). */
function evidenceSeq(s: ProjectState): number {
  const ev = currentEvidence(s);
  let seq = ev.commit?.seq ?? 0;
  for (const m of [ev.checklist, ev.artifacts, ev.metrics] as Record<string, { seq: number }>[])
    for (const r of Object.values(m)) seq = Math.max(seq, r.seq);
  for (const a of s.approvals) seq = Math.max(seq, a.seq);
  for (const w of Object.values(s.waivers)) seq = Math.max(seq, w.seq);
  return seq;
}

/** Why a ticket waits, in words: the reason recorded when it started waiting. */
export function waitingReason(t: TicketState): string {
  return t.reason ?? t.status;
}

/** The failing results of a recorded evaluation, failed criteria first. */
export function failing(results: readonly GateResult[]): GateResult[] {
  return results.filter((r) => r.status === 'fail' || r.status === 'error');
}
