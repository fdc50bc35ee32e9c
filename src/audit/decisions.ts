import { DECISION_EVENTS, decisionFields, expectedDecision } from '../engine/decision-proof.ts';
import type { RecordedEvent } from '../engine/events.ts';
import { evolve, type ProjectState } from '../engine/state.ts';
import { payloadMismatch } from '../identity/decision-match.ts';
import type { DecisionKind } from '../identity/decisions.ts';
import { ringOfTrain, signaturesRequired } from '../identity/pinned-ring.ts';
import { type DecisionProof, proofProblem, verifyDecisionProof } from '../identity/proof.ts';
import { readEvents, toRecorded } from '../store/append.ts';
import type { StoredEvent, VerifyResult } from '../store/chain.ts';
import type { Db } from '../store/store.ts';
import type { Train } from '../train/schema.ts';
import { storedTrain } from '../train/stored.ts';

/*
 * `vt audit verify`, decisions: every decision a person made (approve, reject, waive, done, retry,
 * carry forward, hold, resume, cancel, reopen, upgrade) is found by folding each project's events,
 * and its proof is checked again, offline, as the engine checked it when it was recorded — against
 * the keys of the train the project had pinned at that event, at the event's recorded time, over
 * exactly the decision the event records, on a head of the same chain, used once. Where that train
 * required signed decisions, an unsigned decision is a finding too. A forged event with a correct
 * chain hash passes the chain check; it does not pass this one without the person's key.
 */

export const DECISION_PROBLEMS = [
  'unsigned',
  'unknown key',
  'revoked',
  'expired',
  'not yet valid',
  'bad signature',
  'payload mismatch',
  'unknown head',
  'replayed',
  'unknown train',
  'unreadable',
] as const;
export type DecisionProblemReason = (typeof DECISION_PROBLEMS)[number];

/** One decision that does not verify. */
export interface DecisionProblem {
  project_id: string;
  seq: number;
  type: string;
  actor: string;
  decision: DecisionKind | null;
  reason: DecisionProblemReason;
  detail: string;
}

export interface DecisionAudit {
  /** Decisions found. */
  checked: number;
  /** Of which signed (their proof verified or not). */
  signed: number;
  /** Of which unsigned (a problem only where the train required signatures). */
  unsigned: number;
  problems: DecisionProblem[];
}

/** Which decision an event records, given the state before it; null for events that record none. */
export function decisionOf(s: ProjectState, e: RecordedEvent): DecisionKind | null {
  switch (e.type) {
    case 'approval.recorded':
      return e.payload.decision;
    case 'gate.waived':
      return 'waive';
    case 'evidence.carried':
      return e.payload.by === 'person' ? 'carry-forward' : null;
    case 'project.held':
      return 'hold';
    case 'project.resumed':
      return 'resume';
    case 'project.cancelled':
      return 'cancel';
    case 'project.reopened':
      return 'reopen';
    case 'project.upgraded':
      return 'upgrade';
    case 'project.retired':
      return 'retire';
    case 'event.erased':
      return 'erase';
    case 'ticket.status': {
      const before = s.tickets[e.payload.ticket]?.status;
      if (before === 'awaiting-human' && e.payload.status === 'awaiting-gates') return 'done';
      if ((before === 'blocked' || before === 'awaiting-human') && e.payload.status === 'queued')
        return 'retry';
      return null;
    }
    default:
      return null;
  }
}

/** Check one decision event against the state before it; the problem, or null when it verifies (or needs no signature). */
function checkDecision(
  s: ProjectState,
  e: RecordedEvent,
  kind: DecisionKind,
  train: Train,
  hashes: readonly string[],
): Omit<DecisionProblem, 'project_id' | 'seq' | 'type' | 'actor' | 'decision'> | null {
  const proof = (e.payload as { proof?: DecisionProof }).proof;
  if (!proof)
    return signaturesRequired(train)
      ? { reason: 'unsigned', detail: `train ${train.name} requires signed decisions` }
      : null;
  const shape = proofProblem(proof);
  if (shape) return { reason: 'payload mismatch', detail: shape };
  const ticket = e.type === 'ticket.status' ? e.payload.ticket : null;
  const expected = expectedDecision(s, kind, e.actor, decisionFields(kind, e, ticket));
  if (e.type === 'approval.recorded' && e.payload.digest !== expected.evidence_digest)
    return { reason: 'payload mismatch', detail: "the event's evidence digest is not the visit's evidence" };
  const mismatch = payloadMismatch(proof.payload, expected);
  if (mismatch) return { reason: 'payload mismatch', detail: mismatch };
  const head = proof.payload.head;
  if (!(head.seq >= 1 && head.seq < e.seq && hashes[head.seq] === head.hash))
    return {
      reason: 'unknown head',
      detail: `the signed head #${head.seq} is not an earlier event of this chain`,
    };
  const last = s.signed?.[e.actor] ?? 0;
  if (head.seq < last)
    return {
      reason: 'replayed',
      detail: `signed on #${head.seq}, before ${e.actor}'s previous signed decision #${last}`,
    };
  const v = verifyDecisionProof(proof, ringOfTrain(train), Date.parse(e.ts));
  return v.ok ? null : { reason: v.reason, detail: v.detail };
}

/**
 * Checks decisions as events stream past in (project, seq) order: memory holds one project's
 * folded state and the hashes of its events (for signed heads), never the whole store.
 * `trainOf` gives a pinned train by hash (null when the store lacks it).
 */
export class DecisionAuditor {
  readonly #trainOf: (hash: string) => Train | null;
  readonly #out: DecisionAudit = { checked: 0, signed: 0, unsigned: 0, problems: [] };
  #project: string | null = null;
  #state: ProjectState | undefined;
  #hashes: string[] = [];
  #broken = false;

  constructor(trainOf: (hash: string) => Train | null) {
    this.#trainOf = trainOf;
  }

  push(row: StoredEvent): void {
    if (row.project_id !== this.#project) {
      this.#project = row.project_id;
      this.#state = undefined;
      this.#hashes = [];
      this.#broken = false;
    }
    if (this.#broken) return;
    const at = { project_id: row.project_id, seq: row.seq, type: row.type, actor: row.actor };
    const out = this.#out;
    try {
      const e = toRecorded(row);
      const s = this.#state;
      const kind = s ? decisionOf(s, e) : null;
      if (s && kind) {
        out.checked++;
        if ((e.payload as { proof?: unknown }).proof) out.signed++;
        else out.unsigned++;
        const train = this.#trainOf(s.trainHash);
        const problem = train
          ? checkDecision(s, e, kind, train, this.#hashes)
          : {
              reason: 'unknown train' as const,
              detail: `train ${s.trainHash.slice(0, 12)} is not in the store`,
            };
        if (problem) out.problems.push({ ...at, decision: kind, ...problem });
      }
      this.#state = evolve(s, e);
    } catch (err) {
      out.problems.push({ ...at, decision: null, reason: 'unreadable', detail: (err as Error).message });
      this.#broken = true;
    }
    this.#hashes[row.seq] = row.hash;
  }

  finish(): DecisionAudit {
    return this.#out;
  }
}

/** Check the decisions of one project's events (in seq order). */
export function auditProjectDecisions(
  rows: readonly StoredEvent[],
  trainOf: (hash: string) => Train | null,
): DecisionAudit {
  const a = new DecisionAuditor(trainOf);
  for (const r of rows) a.push(r);
  return a.finish();
}

/** Every train the store holds, parsed, by hash (a store holds few: one per version of a train). */
export async function storedTrains(db: Db): Promise<(hash: string) => Train | null> {
  const trains = new Map<string, Train | null>();
  for (const t of await db.selectFrom('trains').select(['hash', 'body', 'format']).execute()) {
    try {
      trains.set(t.hash, await storedTrain(t.hash, t.body, t.format));
    } catch {
      trains.set(t.hash, null);
    }
  }
  return (hash) => trains.get(hash) ?? null;
}

/** Check every decision in the store (or one project's), reading a project's events at a time. */
export async function auditDecisions(db: Db, projectId?: string): Promise<DecisionAudit> {
  const a = new DecisionAuditor(await storedTrains(db));
  let q = db.selectFrom('events').select('project_id').distinct().orderBy('project_id');
  if (projectId) q = q.where('project_id', '=', projectId);
  for (const r of await q.execute()) for (const row of await readEvents(db, r.project_id)) a.push(row);
  return a.finish();
}

/** A store's verification with its decisions: not ok when a decision does not verify, naming the first. */
export type StoreVerifyResult = VerifyResult & { decisions: DecisionAudit };

export function withDecisions(chain: VerifyResult, decisions: DecisionAudit): StoreVerifyResult {
  const first = decisions.problems[0];
  if (chain.firstBad || !first) return { ...chain, decisions };
  return {
    ...chain,
    ok: false,
    decisions,
    firstBad: {
      project_id: first.project_id,
      seq: first.seq,
      reason: `${first.decision ?? 'a decision'} by ${first.actor}: ${first.reason} (${first.detail})`,
    },
  };
}

/** The event types that record people's decisions (for readers that list them). */
export const DECISION_EVENT_TYPES = [...new Set(Object.values(DECISION_EVENTS))];
