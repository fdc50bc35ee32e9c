import type { GateResult } from '../gates/types.ts';
import type { DecisionProof } from '../identity/proof.ts';
import type { ContextKind, Priority, TicketStatus, TransitionKind } from '../types.ts';

/** Every event the engine appends, by type. Payloads are plain JSON. */
export interface EventMap {
  'project.created': {
    name: string;
    team: string | null;
    priority: Priority;
    budget: number | null;
    train_hash: string;
    train_name: string;
    workspace: string;
    phase: string;
  };
  /** `visit` and `session` are absent in early histories: the event then belongs to the visit it was made in. */
  'checklist.ticked': {
    phase: string;
    item: string;
    note: string | null;
    visit?: number;
    session?: string | null;
  };
  'checklist.reopened': { phase: string; item: string; reason: string; visit?: number };
  'artifact.recorded': {
    phase: string;
    artifact: string;
    path: string;
    workspace: string;
    sha256: string;
    size: number;
    /** The start of a text artifact, redacted, for handoff packets (absent in early histories). */
    preview?: string | null;
    visit?: number;
    session?: string | null;
    /** The commit the file was hashed in; null while its session has not committed yet. */
    commit?: string | null;
  };
  'metric.recorded': { phase: string; visit: number; name: string; value: number; session?: string | null };
  /** A workspace's state, committed: what artifact and command gates of this visit judge. */
  'workspace.committed': {
    phase: string;
    visit: number;
    session: string | null;
    ticket: string | null;
    commit: string;
    tree: string;
  };
  /** Evidence of an earlier visit of the phase brought into this one, by the train (`carry: true`) or a person. */
  'evidence.carried': {
    phase: string;
    visit: number;
    from_visit: number;
    items: string[];
    artifacts: string[];
    metrics: string[];
    by: 'train' | 'person';
    reason: string;
    /** The person's signature over the decision (decision-proof.ts), when they gave one. */
    proof?: DecisionProof;
  };
  'gate.evaluated': {
    phase: string;
    visit: number;
    side: 'entry' | 'exit';
    passed: boolean;
    results: GateResult[];
  };
  'phase.advanced': { n: number; from: string; to: string; kind: TransitionKind; reason: string | null };
  'project.completed': { n: number; from: string; reason: string | null };
  'approval.recorded': {
    phase: string;
    visit: number;
    role: string;
    decision: 'approve' | 'reject';
    reason: string | null;
    digest: string;
    /** The person's signature over the decision: SSH, or a passkey assertion (absent when none was given). */
    proof?: DecisionProof;
  };
  /**
   * A waiver of a gate for the rest of this visit, until `expires_at`. Waiving an approval gate takes
   * two people: the second waiver `confirms` the first (its seq).
   */
  'gate.waived': {
    phase: string;
    gate: string;
    reason: string;
    expires_at: string;
    visit?: number;
    confirms?: number | null;
    proof?: DecisionProof;
  };
  /** The project moved to another version of its train (people and roles may change this way). */
  'project.upgraded': {
    from_hash: string;
    to_hash: string;
    train_name: string;
    diff: string[];
    reason: string;
    proof?: DecisionProof;
  };
  'project.held': { reason: string | null; proof?: DecisionProof };
  'project.resumed': { reason: string | null; proof?: DecisionProof };
  'project.cancelled': { reason: string; proof?: DecisionProof };
  'project.reopened': { reason: string; phase: string; proof?: DecisionProof };
  /** The project entered its train's operations cycle, which has no end: it operates until retired. */
  'project.operating': { phase: string; reason: string };
  /** A person took the project out of operation: its work ends here, on the record. */
  'project.retired': { reason: string; phase: string; proof?: DecisionProof };
  /** The visit a project just started in a scheduled phase falls due at `due_at`. */
  'visit.scheduled': { phase: string; visit: number; due_at: string; schedule: string; period_ms: number };
  /** A scheduled visit fell due and its ticket is queued (once per due time). */
  'visit.due': { phase: string; visit: number; due_at: string; ticket: string; late_ms: number };
  /** A scheduled visit was queued more than its period after it fell due: no worker ran in time. */
  'schedule.missed': {
    phase: string;
    visit: number;
    schedule: string;
    due_at: string;
    checked_at: string;
    late_ms: number;
    period_ms: number;
  };
  'issue.added': {
    issue: string;
    title: string;
    priority: Priority;
    labels: string[];
    phase: string;
    source: 'local' | 'github';
    external: { repo: string; number: number } | null;
  };
  'issue.assigned': { issue: string; assignee: string | null };
  'issue.closed': { issue: string; reason: string };
  'ticket.queued': {
    ticket: string;
    issue: string;
    phase: string;
    visit: number;
    branch: string;
    /** The branch (or workspace) of the ticket whose work this one continues; null starts from the project's base. */
    base: string | null;
    reason: string | null;
  };
  'ticket.claimed': { ticket: string; worker: string; lease_gen: number };
  'ticket.status': {
    ticket: string;
    status: TicketStatus;
    reason: string | null;
    not_before: string | null;
    attempts: number;
    /** A person's signature, when the change is their decision (done, retry). */
    proof?: DecisionProof;
  };
  'ticket.finished': { ticket: string; outcome: 'done' | 'reworked' | 'cancelled'; reason: string | null };
  'session.started': {
    session: string;
    ticket: string;
    phase: string;
    role: string;
    executor: string;
    workspace: string;
    log: string;
  };
  'session.ended': {
    session: string;
    outcome: 'succeeded' | 'failed' | 'timed-out' | 'abandoned' | 'unavailable';
    exit_code: number | null;
    summary: string | null;
    tokens_in: number | null;
    tokens_out: number | null;
    cost: number | null;
  };
  'context.added': {
    kind: ContextKind;
    text: string;
    phase: string;
    ticket: string | null;
    session: string | null;
  };
  'handoff.built': {
    phase: string;
    visit: number;
    path: string;
    sha256: string;
    tokens: number;
    truncated: boolean;
  };
  'alert.raised': { ticket: string | null; reason: string };
  /** An agent session's tool call (MCP or LLM), allowed or refused: what the session asked for, by name. */
  'session.tool-called': { session: string; tool: string; outcome: 'ok' | 'refused'; reason: string | null };
  /**
   * A person erased the free text of event `seq` (a secret or personal data that slipped in): its
   * payload column now holds a marker with the event's residue, whose sha256 this records; the
   * event keeps its place and its digest in the chain. See src/engine/erasure.ts.
   */
  'event.erased': {
    seq: number;
    type: string;
    fields: string[];
    reason: string;
    marker_sha256: string;
    proof?: DecisionProof;
  };
}

export type EventType = keyof EventMap;
export const EVENT_TYPES = [
  'project.created',
  'checklist.ticked',
  'checklist.reopened',
  'artifact.recorded',
  'metric.recorded',
  'workspace.committed',
  'evidence.carried',
  'gate.evaluated',
  'phase.advanced',
  'project.completed',
  'approval.recorded',
  'gate.waived',
  'project.upgraded',
  'project.held',
  'project.resumed',
  'project.cancelled',
  'project.reopened',
  'project.operating',
  'project.retired',
  'visit.scheduled',
  'visit.due',
  'schedule.missed',
  'issue.added',
  'issue.assigned',
  'issue.closed',
  'ticket.queued',
  'ticket.claimed',
  'ticket.status',
  'ticket.finished',
  'session.started',
  'session.ended',
  'context.added',
  'handoff.built',
  'alert.raised',
  'session.tool-called',
  'event.erased',
] as const satisfies readonly EventType[];

/** An event before it is stored: its type and payload. */
export type NewEvent = { [K in EventType]: { type: K; payload: EventMap[K] } }[EventType];

/** An event as read back: with its place in the chain and who caused it. */
export type RecordedEvent = NewEvent & {
  project_id: string;
  seq: number;
  ts: string;
  actor: string;
  hash: string;
};

/** One factory per type, so a misspelt type or payload field is a compile error. */
export function event<K extends EventType>(type: K, payload: EventMap[K]): NewEvent {
  return { type, payload } as NewEvent;
}
