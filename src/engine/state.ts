import type { ContextKind, Priority, ProjectStatus, TicketStatus } from '../types.ts';
import type { RecordedEvent } from './events.ts';

export interface ArtifactRecord {
  path: string;
  workspace: string;
  sha256: string;
  size: number;
  actor: string;
  seq: number;
  preview: string | null;
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
  /** Number of the current stay in the current phase (1 for the first phase entered). */
  visit: number;
  /** Phase transitions so far; the next one is numbered transitions + 1. */
  transitions: number;
  seq: number;
  headHash: string;
  createdAt: string;
  updatedAt: string;
  /** phase -> item -> who ticked it (absent or null when open). */
  checklist: Record<string, Record<string, { ticked: boolean; actor: string; seq: number }>>;
  artifacts: Record<string, Record<string, ArtifactRecord>>;
  /** Latest value of each metric, whichever phase recorded it. */
  metrics: Record<string, { value: number; phase: string; visit: number; seq: number }>;
  /** Metrics recorded during the current visit: what routes decide from. */
  visitMetrics: Record<string, number>;
  /** phase -> actors who ticked items or recorded artifacts or metrics there. */
  contributors: Record<string, string[]>;
  /** Approvals and rejections recorded during the current visit. */
  approvals: ApprovalRecord[];
  /** phase/gate -> the latest waiver. */
  waivers: Record<string, { actor: string; reason: string; expiresAt: string; seq: number }>;
  issues: Record<string, IssueState>;
  tickets: Record<string, TicketState>;
  sessions: Record<string, SessionState>;
  context: ContextEntry[];
  /** Issues added so far: the next one is numbered issueCount + 1. */
  issueCount: number;
}

const addContributor = (s: ProjectState, phase: string, actor: string) => {
  const list = (s.contributors[phase] ??= []);
  if (!list.includes(actor)) list.push(actor);
};

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
      transitions: 0,
      seq: e.seq,
      headHash: e.hash,
      createdAt: e.ts,
      updatedAt: e.ts,
      checklist: {},
      artifacts: {},
      metrics: {},
      visitMetrics: {},
      contributors: {},
      approvals: [],
      waivers: {},
      issues: {},
      tickets: {},
      sessions: {},
      context: [],
      issueCount: 0,
    };
  }
  const s = state;
  s.seq = e.seq;
  s.headHash = e.hash;
  s.updatedAt = e.ts;
  switch (e.type) {
    case 'project.created':
      throw new Error(`project ${e.project_id} is created twice`);
    case 'checklist.ticked':
      (s.checklist[e.payload.phase] ??= {})[e.payload.item] = { ticked: true, actor: e.actor, seq: e.seq };
      addContributor(s, e.payload.phase, e.actor);
      break;
    case 'checklist.reopened':
      (s.checklist[e.payload.phase] ??= {})[e.payload.item] = { ticked: false, actor: e.actor, seq: e.seq };
      break;
    case 'artifact.recorded': {
      const { phase, artifact, path, workspace, sha256, size } = e.payload;
      const preview = e.payload.preview ?? null;
      (s.artifacts[phase] ??= {})[artifact] = {
        path,
        workspace,
        sha256,
        size,
        actor: e.actor,
        seq: e.seq,
        preview,
      };
      addContributor(s, phase, e.actor);
      break;
    }
    case 'metric.recorded': {
      const { phase, visit, name, value } = e.payload;
      s.metrics[name] = { value, phase, visit, seq: e.seq };
      if (phase === s.phase && visit === s.visit) s.visitMetrics[name] = value;
      addContributor(s, phase, e.actor);
      break;
    }
    case 'gate.evaluated':
      break;
    case 'phase.advanced':
      s.phase = e.payload.to;
      s.visit += 1;
      s.transitions = e.payload.n;
      s.visitMetrics = {};
      s.approvals = [];
      break;
    case 'project.completed':
      s.status = 'completed';
      s.transitions = e.payload.n;
      break;
    case 'approval.recorded': {
      const { confirmation: _, ...p } = e.payload;
      s.approvals.push({ seq: e.seq, actor: e.actor, ...p });
      break;
    }
    case 'gate.waived':
      s.waivers[`${e.payload.phase}/${e.payload.gate}`] = {
        actor: e.actor,
        reason: e.payload.reason,
        expiresAt: e.payload.expires_at,
        seq: e.seq,
      };
      break;
    case 'project.held':
      s.status = 'on-hold';
      break;
    case 'project.resumed':
      s.status = 'active';
      break;
    case 'project.cancelled':
      s.status = 'cancelled';
      break;
    case 'project.reopened':
      s.status = 'active';
      s.phase = e.payload.phase;
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
      t.status = e.payload.status;
      t.attempts = e.payload.attempts;
      t.notBefore = e.payload.not_before;
      if (t.status !== 'running') t.worker = null;
      break;
    }
    case 'ticket.finished': {
      const t = s.tickets[e.payload.ticket]!;
      t.status = e.payload.outcome;
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
      };
      s.tickets[p.ticket]!.session = p.session;
      break;
    }
    case 'session.ended':
      s.sessions[e.payload.session]!.ended = true;
      break;
    case 'context.added':
      s.context.push({ seq: e.seq, actor: e.actor, ...e.payload });
      break;
    case 'handoff.built':
    case 'alert.raised':
    case 'session.tool-called':
      break;
  }
  return s;
}
