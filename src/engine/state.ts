import type { GateResult } from '../gates/types.ts';
import type { DecisionProof } from '../identity/proof.ts';
import type { ContextKind, Priority, ProjectStatus, TicketStatus } from '../types.ts';
import type { RecordedEvent } from './events.ts';

/** One checklist item as recorded in a visit. */
export interface ItemRecord {
  ticked: boolean;
  actor: string;
  seq: number;
  /** The agent session that ticked it; null when a person did. */
  session: string | null;
  /** Set when the item was carried forward from an earlier visit (its global visit number). */
  carriedFrom: number | null;
}

export interface ArtifactRecord {
  path: string;
  /** The folder the file was hashed in (legacy records judge there; new ones judge `commit`). */
  workspace: string;
  sha256: string;
  size: number;
  actor: string;
  seq: number;
  preview: string | null;
  session: string | null;
  /** The recorded commit the file is judged in; null until its session commits. */
  commit: string | null;
  carriedFrom: number | null;
}

export interface MetricRecord {
  value: number;
  actor: string;
  seq: number;
  session: string | null;
  carriedFrom: number | null;
}

/** A commit of a workspace, recorded under the lease of the session that made it (or by a person). */
export interface CommitRecord {
  commit: string;
  tree: string;
  session: string | null;
  actor: string;
  seq: number;
}

/**
 * The evidence of one visit of a phase: what was ticked, recorded and measured during that stay,
 * and by whom. A new visit starts empty; only an `evidence.carried` event brings earlier evidence in.
 */
export interface VisitEvidence {
  phase: string;
  /** The project-wide visit number (the stay) this evidence belongs to. */
  visit: number;
  /** Which visit of this phase it is: 1 the first time the project entered it, 2 the next... */
  n: number;
  checklist: Record<string, ItemRecord>;
  artifacts: Record<string, ArtifactRecord>;
  metrics: Record<string, MetricRecord>;
  /** Everyone who did work in this visit: ticks, artifacts, metrics, sessions, done. */
  contributors: string[];
  /** The latest commit recorded in this visit: what artifact and command gates judge. */
  commit: CommitRecord | null;
  /** Every commit recorded in this visit, oldest first (a voided session's are dropped). */
  commits: CommitRecord[];
}

/** The last recorded evaluation of a phase's gates. */
export interface EvaluationRecord {
  phase: string;
  visit: number;
  side: 'entry' | 'exit';
  passed: boolean;
  results: GateResult[];
  seq: number;
  ts: string;
  actor: string;
}

export interface IssueState {
  id: string;
  title: string;
  priority: Priority;
  labels: string[];
  source: 'local' | 'github';
  external: { repo: string; number: number } | null;
  assignee: string | null;
  closed: boolean;
  seq: number;
}

export interface TicketState {
  id: string;
  issue: string;
  phase: string;
  visit: number;
  branch: string;
  base: string | null;
  status: TicketStatus;
  /** Failed attempts so far (a crashed worker does not count). */
  attempts: number;
  /** Bumped by every claim; a worker may commit only while its generation is current. */
  leaseGen: number;
  worker: string | null;
  notBefore: string | null;
  session: string | null;
  /** Why it is in its status (a blocked ticket's failure, what it waits for), as last recorded. */
  reason: string | null;
  /** The latest commit recorded for its work: where the tickets that continue it start. */
  commit: string | null;
  seq: number;
}

export interface SessionState {
  id: string;
  ticket: string;
  phase: string;
  role: string;
  actor: string;
  workspace: string;
  ended: boolean;
  outcome: 'succeeded' | 'failed' | 'timed-out' | 'abandoned' | 'unavailable' | null;
}

export interface ContextEntry {
  seq: number;
  kind: ContextKind;
  text: string;
  phase: string;
  ticket: string | null;
  session: string | null;
  actor: string;
}

export interface ApprovalRecord {
  seq: number;
  phase: string;
  visit: number;
  role: string;
  actor: string;
  decision: 'approve' | 'reject';
  reason: string | null;
  digest: string;
  /** When it was recorded (the engine's clock): the time its signature's key must be valid at. */
  ts: string;
  /** The person's signature over it, or null when unsigned. */
  proof: DecisionProof | null;
}

export interface WaiverRecord {
  gate: string;
  actor: string;
  reason: string;
  expiresAt: string;
  seq: number;
  /** Who confirmed it (a waiver of an approval gate needs a second person), or null. */
  confirmedBy: string | null;
  ts: string;
  proof: DecisionProof | null;
  /** The second person's confirmation, as recorded. */
  confirmation: { reason: string; ts: string; proof: DecisionProof | null } | null;
}

/** The visit of a scheduled phase the project stays in, and when it falls due. */
export interface ScheduledVisit {
  phase: string;
  visit: number;
  dueAt: string;
  schedule: string;
  periodMs: number;
  /** The ticket queued when it fell due; null while it waits. */
  ticket: string | null;
  seq: number;
}

/** A project's state as folded from its events: what the engine core decides from. */
export interface ProjectState {
  id: string;
  name: string;
  team: string | null;
  priority: Priority;
  budget: number | null;
  trainHash: string;
  workspace: string;
  phase: string;
  status: ProjectStatus;
  /** The project-wide visit number of the current stay (1 for the first phase entered). */
  visit: number;
  /** How many times each phase was entered; the current phase's count is its visit number. */
  phaseVisits: Record<string, number>;
  /** Phase transitions so far; the next one is numbered transitions + 1. */
  transitions: number;
  seq: number;
  headHash: string;
  createdAt: string;
  updatedAt: string;
  /** The evidence of the latest visit of each phase (for the current phase: this visit). */
  evidence: Record<string, VisitEvidence>;
  /** The evidence of the visit before the latest of each phase: what can be carried forward. */
  previous: Record<string, VisitEvidence>;
  /** Latest value of each metric, whichever phase and visit recorded it (for display and `name@latest`). */
  metrics: Record<string, { value: number; phase: string; visit: number; seq: number }>;
  /** Approvals and rejections recorded during the current visit. */
  approvals: ApprovalRecord[];
  /** Waivers given during the current visit, by gate id. */
  waivers: Record<string, WaiverRecord>;
  /** The last recorded evaluation of each phase's exit gates. */
  evaluations: Record<string, EvaluationRecord>;
  /** The handoff packet recorded for the current visit, if one was built. */
  handoff: { path: string; sha256: string; tokens: number; truncated: boolean; seq: number } | null;
  issues: Record<string, IssueState>;
  tickets: Record<string, TicketState>;
  sessions: Record<string, SessionState>;
  context: ContextEntry[];
  /** Issues added so far: the next one is numbered issueCount + 1. */
  issueCount: number;
  /** When the project entered its train's operations cycle (it is operating until retired), or null. */
  operatingSince: string | null;
  /** When the project last started working (created, resumed or reopened): schedules count from here. */
  workingSince: string;
  /** The current stay's scheduled visit, when the phase has a schedule. */
  scheduled: ScheduledVisit | null;
  /** The latest scheduled due time of each phase: the next one is always later. */
  lastDue: Record<string, string>;
  /** The seq of each person's latest signed decision: a signature made before it is not used again. */
  signed: Record<string, number>;
}

export function emptyEvidence(phase: string, visit: number, n: number): VisitEvidence {
  return {
    phase,
    visit,
    n,
    checklist: {},
    artifacts: {},
    metrics: {},
    contributors: [],
    commit: null,
    commits: [],
  };
}

/** The evidence of the current visit of the project's current phase. */
export function currentEvidence(s: ProjectState): VisitEvidence {
  return (s.evidence[s.phase] ??= emptyEvidence(s.phase, s.visit, s.phaseVisits[s.phase] ?? 1));
}

/** The evidence of `phase`'s visit `visit` when it is the phase's latest visit; null when it is stale. */
function evidenceFor(s: ProjectState, phase: string, visit: number | undefined): VisitEvidence | null {
  if (phase === s.phase && (visit === undefined || visit === s.visit)) return currentEvidence(s);
  const ev = s.evidence[phase];
  return ev && (visit === undefined || ev.visit === visit) ? ev : null;
}

const addContributor = (ev: VisitEvidence, actor: string) => {
  if (!ev.contributors.includes(actor)) ev.contributors.push(actor);
};

/** Enter a phase: a new visit with no evidence; the last one is kept for carrying forward. */
function enter(s: ProjectState, phase: string): void {
  s.visit += 1;
  s.phase = phase;
  const n = (s.phaseVisits[phase] ?? 0) + 1;
  s.phaseVisits[phase] = n;
  const last = s.evidence[phase];
  if (last) s.previous[phase] = last;
  s.evidence[phase] = emptyEvidence(phase, s.visit, n);
  s.approvals = [];
  s.waivers = {};
  s.scheduled = null;
  s.handoff = null;
}

/** An agent session's evidence stops counting when the session ends without succeeding. */
function voidSession(s: ProjectState, session: string): void {
  for (const ev of Object.values(s.evidence)) {
    for (const map of [ev.checklist, ev.artifacts, ev.metrics] as Record<
      string,
      { session: string | null }
    >[])
      for (const [k, v] of Object.entries(map)) if (v.session === session) delete map[k];
    ev.commits = ev.commits.filter((c) => c.session !== session);
    ev.commit = ev.commits.at(-1) ?? null;
  }
}

/**
 * Fold one event into the state. Mutates and returns `state` (the engine owns its copy); the first
 * event of a project must be project.created.
 */
export function evolve(state: ProjectState | undefined, e: RecordedEvent): ProjectState {
  if (!state) {
    if (e.type !== 'project.created') throw new Error(`project ${e.project_id} starts with ${e.type}`);
    const p = e.payload;
    return {
      id: e.project_id,
      name: p.name,
      team: p.team,
      priority: p.priority,
      budget: p.budget,
      trainHash: p.train_hash,
      workspace: p.workspace,
      phase: p.phase,
      status: 'active',
      visit: 1,
      phaseVisits: { [p.phase]: 1 },
      transitions: 0,
      seq: e.seq,
      headHash: e.hash,
      createdAt: e.ts,
      updatedAt: e.ts,
      evidence: { [p.phase]: emptyEvidence(p.phase, 1, 1) },
      previous: {},
      metrics: {},
      approvals: [],
      waivers: {},
      evaluations: {},
      handoff: null,
      issues: {},
      tickets: {},
      sessions: {},
      context: [],
      issueCount: 0,
      operatingSince: null,
      workingSince: e.ts,
      scheduled: null,
      lastDue: {},
      signed: {},
    };
  }
  const s = state;
  s.seq = e.seq;
  s.headHash = e.hash;
  s.updatedAt = e.ts;
  if ((e.payload as { proof?: unknown }).proof) (s.signed ??= {})[e.actor] = e.seq;
  switch (e.type) {
    case 'project.created':
      throw new Error(`project ${e.project_id} is created twice`);
    case 'checklist.ticked': {
      const ev = evidenceFor(s, e.payload.phase, e.payload.visit);
      if (!ev) break;
      const session = e.payload.session ?? null;
      ev.checklist[e.payload.item] = { ticked: true, actor: e.actor, seq: e.seq, session, carriedFrom: null };
      addContributor(ev, e.actor);
      break;
    }
    case 'checklist.reopened': {
      const ev = evidenceFor(s, e.payload.phase, e.payload.visit);
      if (!ev) break;
      ev.checklist[e.payload.item] = {
        ticked: false,
        actor: e.actor,
        seq: e.seq,
        session: null,
        carriedFrom: null,
      };
      break;
    }
    case 'artifact.recorded': {
      const p = e.payload;
      const ev = evidenceFor(s, p.phase, p.visit);
      if (!ev) break;
      ev.artifacts[p.artifact] = {
        path: p.path,
        workspace: p.workspace,
        sha256: p.sha256,
        size: p.size,
        actor: e.actor,
        seq: e.seq,
        preview: p.preview ?? null,
        session: p.session ?? null,
        commit: p.commit ?? null,
        carriedFrom: null,
      };
      addContributor(ev, e.actor);
      break;
    }
    case 'metric.recorded': {
      const { phase, visit, name, value } = e.payload;
      s.metrics[name] = { value, phase, visit, seq: e.seq };
      const ev = evidenceFor(s, phase, visit);
      if (!ev) break;
      ev.metrics[name] = {
        value,
        actor: e.actor,
        seq: e.seq,
        session: e.payload.session ?? null,
        carriedFrom: null,
      };
      addContributor(ev, e.actor);
      break;
    }
    case 'workspace.committed': {
      const p = e.payload;
      const ev = evidenceFor(s, p.phase, p.visit);
      if (!ev) break;
      ev.commit = { commit: p.commit, tree: p.tree, session: p.session, actor: e.actor, seq: e.seq };
      ev.commits.push(ev.commit);
      const t = p.ticket ? s.tickets[p.ticket] : undefined;
      if (t) t.commit = p.commit;
      // The session's artifacts recorded before this commit are judged in it.
      for (const a of Object.values(ev.artifacts))
        if (a.commit === null && a.session !== null && a.session === p.session) a.commit = p.commit;
      // A commit records a folder; the work in it is credited by the ticks, artifacts and sessions.
      break;
    }
    case 'evidence.carried': {
      const p = e.payload;
      const ev = evidenceFor(s, p.phase, p.visit);
      const from = s.previous[p.phase];
      if (!ev || !from || from.visit !== p.from_visit) break;
      for (const id of p.items) {
        const r = from.checklist[id];
        if (r?.ticked) ev.checklist[id] = { ...r, carriedFrom: from.visit };
      }
      for (const id of p.artifacts) {
        const r = from.artifacts[id];
        if (r) ev.artifacts[id] = { ...r, carriedFrom: from.visit };
      }
      for (const id of p.metrics) {
        const r = from.metrics[id];
        if (r) ev.metrics[id] = { ...r, carriedFrom: from.visit };
      }
      // Carrying evidence forward is a person's judgement on it: they count as having worked here.
      if (p.by === 'person') addContributor(ev, e.actor);
      break;
    }
    case 'gate.evaluated':
      if (e.payload.side === 'exit')
        s.evaluations[e.payload.phase] = {
          phase: e.payload.phase,
          visit: e.payload.visit,
          side: e.payload.side,
          passed: e.payload.passed,
          results: e.payload.results,
          seq: e.seq,
          ts: e.ts,
          actor: e.actor,
        };
      break;
    case 'phase.advanced':
      s.transitions = e.payload.n;
      enter(s, e.payload.to);
      break;
    case 'project.completed':
      s.status = 'completed';
      s.transitions = e.payload.n;
      break;
    case 'approval.recorded': {
      const p = e.payload;
      s.approvals.push({
        seq: e.seq,
        actor: e.actor,
        ts: e.ts,
        phase: p.phase,
        visit: p.visit,
        role: p.role,
        decision: p.decision,
        reason: p.reason,
        digest: p.digest,
        proof: p.proof ?? null,
      });
      break;
    }
    case 'gate.waived': {
      const p = e.payload;
      if (p.visit !== undefined && p.visit !== s.visit) break;
      const first = p.confirms != null ? s.waivers[p.gate] : undefined;
      if (first && first.seq === p.confirms) {
        first.confirmedBy = e.actor;
        first.confirmation = { reason: p.reason, ts: e.ts, proof: p.proof ?? null };
      } else
        s.waivers[p.gate] = {
          gate: p.gate,
          actor: e.actor,
          reason: p.reason,
          expiresAt: p.expires_at,
          seq: e.seq,
          confirmedBy: null,
          ts: e.ts,
          proof: p.proof ?? null,
          confirmation: null,
        };
      break;
    }
    case 'project.upgraded':
      s.trainHash = e.payload.to_hash;
      break;
    case 'project.held':
      s.status = 'on-hold';
      break;
    case 'project.resumed':
      s.status = s.operatingSince ? 'operating' : 'active';
      s.workingSince = e.ts;
      break;
    case 'project.cancelled':
      s.status = 'cancelled';
      break;
    case 'project.reopened':
      s.status = s.operatingSince ? 'operating' : 'active';
      s.phase = e.payload.phase;
      s.workingSince = e.ts;
      break;
    case 'project.operating':
      s.status = 'operating';
      s.operatingSince = e.ts;
      break;
    case 'project.retired':
      s.status = 'retired';
      break;
    case 'visit.scheduled': {
      const p = e.payload;
      s.lastDue[p.phase] = p.due_at;
      if (p.phase === s.phase && p.visit === s.visit)
        s.scheduled = {
          phase: p.phase,
          visit: p.visit,
          dueAt: p.due_at,
          schedule: p.schedule,
          periodMs: p.period_ms,
          ticket: null,
          seq: e.seq,
        };
      break;
    }
    case 'visit.due': {
      const v = s.scheduled;
      if (v && v.phase === e.payload.phase && v.visit === e.payload.visit && v.dueAt === e.payload.due_at)
        v.ticket = e.payload.ticket;
      break;
    }
    case 'schedule.missed':
      break;
    case 'issue.added': {
      const p = e.payload;
      s.issueCount += 1;
      s.issues[p.issue] = {
        id: p.issue,
        title: p.title,
        priority: p.priority,
        labels: p.labels,
        source: p.source,
        external: p.external,
        assignee: null,
        closed: false,
        seq: e.seq,
      };
      break;
    }
    case 'issue.assigned':
      s.issues[e.payload.issue]!.assignee = e.payload.assignee;
      break;
    case 'issue.closed':
      s.issues[e.payload.issue]!.closed = true;
      break;
    case 'ticket.queued': {
      const p = e.payload;
      s.tickets[p.ticket] = {
        id: p.ticket,
        issue: p.issue,
        phase: p.phase,
        visit: p.visit,
        branch: p.branch,
        base: p.base,
        status: 'queued',
        attempts: 0,
        leaseGen: 0,
        worker: null,
        notBefore: null,
        session: null,
        reason: p.reason,
        commit: null,
        seq: e.seq,
      };
      break;
    }
    case 'ticket.claimed': {
      const t = s.tickets[e.payload.ticket]!;
      t.status = 'running';
      t.leaseGen = e.payload.lease_gen;
      t.worker = e.payload.worker;
      t.notBefore = null;
      break;
    }
    case 'ticket.status': {
      const t = s.tickets[e.payload.ticket]!;
      // A person who marks a human ticket done did the phase's work.
      if (t.status === 'awaiting-human' && e.payload.status === 'awaiting-gates' && t.phase === s.phase)
        addContributor(currentEvidence(s), e.actor);
      t.status = e.payload.status;
      t.reason = e.payload.reason;
      t.attempts = e.payload.attempts;
      t.notBefore = e.payload.not_before;
      if (t.status !== 'running') t.worker = null;
      break;
    }
    case 'ticket.finished': {
      const t = s.tickets[e.payload.ticket]!;
      t.status = e.payload.outcome;
      t.reason = e.payload.reason;
      t.worker = null;
      break;
    }
    case 'session.started': {
      const p = e.payload;
      s.sessions[p.session] = {
        id: p.session,
        ticket: p.ticket,
        phase: p.phase,
        role: p.role,
        actor: e.actor,
        workspace: p.workspace,
        ended: false,
        outcome: null,
      };
      s.tickets[p.ticket]!.session = p.session;
      if (p.phase === s.phase) addContributor(currentEvidence(s), e.actor);
      break;
    }
    case 'session.ended': {
      const sess = s.sessions[e.payload.session]!;
      sess.ended = true;
      sess.outcome = e.payload.outcome;
      if (e.payload.outcome !== 'succeeded') voidSession(s, sess.id);
      break;
    }
    case 'context.added':
      s.context.push({ seq: e.seq, actor: e.actor, ...e.payload });
      break;
    case 'handoff.built': {
      const p = e.payload;
      if (p.visit === s.visit && p.phase === s.phase)
        s.handoff = { path: p.path, sha256: p.sha256, tokens: p.tokens, truncated: p.truncated, seq: e.seq };
      break;
    }
    case 'alert.raised':
    case 'session.tool-called':
      break;
    // The erased event's stored payload is already its residue, so a fold from the events has no text
    // to drop here; a state folded before the erasure is discarded and folded afresh (loadState).
    case 'event.erased':
      break;
  }
  return s;
}
