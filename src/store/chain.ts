import { canonicalJson, sha256 } from './canonical.ts';

/** The hash that precedes the first event of every project's chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** An event as stored: every column that the chain covers. */
export interface StoredEvent {
  project_id: string;
  seq: number;
  ts: string;
  actor: string;
  type: string;
  payload: string;
  payload_sha256: string;
  prev_hash: string;
  hash: string;
  idempotency_key: string | null;
}

export type EventMeta = Omit<StoredEvent, 'hash' | 'prev_hash' | 'payload'>;

/**
 * hash = sha256(prev_hash ‖ canonical JSON of the event's metadata and its payload's digest).
 * Chaining the payload's digest rather than the payload lets a secret that slipped into a payload be
 * erased later while the chain still verifies.
 */
export function eventHash(prevHash: string, meta: EventMeta): string {
  return sha256(
    prevHash +
      canonicalJson({
        project_id: meta.project_id,
        seq: meta.seq,
        ts: meta.ts,
        actor: meta.actor,
        type: meta.type,
        payload_sha256: meta.payload_sha256,
        idempotency_key: meta.idempotency_key,
      }),
  );
}

export interface ChainHead {
  seq: number;
  hash: string;
}

export interface VerifyFailure {
  project_id: string;
  seq: number;
  reason: string;
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  projects: number;
  firstBad: VerifyFailure | null;
  heads: Record<string, ChainHead>;
}

/**
 * Recompute the chains of events given in (project_id, seq) order. Names the first event that does
 * not verify; `expectedHeads` (from outside the chain) catch a truncated tail.
 */
export function verifyEvents(
  events: Iterable<StoredEvent>,
  expectedHeads?: Readonly<Record<string, ChainHead>>,
): VerifyResult {
  const heads: Record<string, ChainHead> = {};
  let checked = 0;
  let current: string | null = null;
  let prev = GENESIS_HASH;
  let expectSeq = 1;
  let firstBad: VerifyFailure | null = null;
  const fail = (project_id: string, seq: number, reason: string) => {
    firstBad ??= { project_id, seq, reason };
  };
  for (const e of events) {
    if (e.project_id !== current) {
      if (current !== null && heads[current] === undefined) break;
      current = e.project_id;
      if (heads[current]) {
        fail(current, e.seq, 'events of this project are out of order');
        break;
      }
      prev = GENESIS_HASH;
      expectSeq = 1;
    }
    checked++;
    if (e.seq !== expectSeq) {
      // A chain of a project nobody recorded is itself the bad event; a known chain lacks its start.
      if (expectSeq === 1 && expectedHeads && !expectedHeads[e.project_id])
        fail(e.project_id, e.seq, `an event of an unknown project (its chain starts at ${e.seq})`);
      else if (expectSeq === 1) fail(e.project_id, 1, `the chain starts at ${e.seq}: event 1 is missing`);
      else
        fail(
          e.project_id,
          expectSeq,
          e.seq > expectSeq ? `event ${expectSeq} is missing` : 'sequence repeats',
        );
      break;
    }
    if (sha256(e.payload) !== e.payload_sha256) {
      fail(e.project_id, e.seq, 'payload does not match its digest');
      break;
    }
    if (e.prev_hash !== prev) {
      fail(e.project_id, e.seq, 'prev_hash does not match the previous event');
      break;
    }
    let computed: string;
    try {
      computed = eventHash(prev, e);
    } catch {
      fail(e.project_id, e.seq, 'metadata is not canonical JSON');
      break;
    }
    if (computed !== e.hash) {
      fail(e.project_id, e.seq, 'hash does not match the event');
      break;
    }
    heads[e.project_id] = { seq: e.seq, hash: e.hash };
    prev = e.hash;
    expectSeq++;
  }
  if (!firstBad && expectedHeads) {
    for (const [project, head] of Object.entries(expectedHeads)) {
      const got = heads[project];
      if (!got) fail(project, 1, 'the project has a recorded head but no events');
      else if (got.seq < head.seq)
        fail(project, got.seq + 1, `events after ${got.seq} are missing (head is ${head.seq})`);
      else if (got.seq === head.seq && got.hash !== head.hash)
        fail(project, got.seq, 'the chain head differs');
      if (firstBad) break;
    }
  }
  return { ok: !firstBad, checked, projects: Object.keys(heads).length, firstBad, heads };
}
