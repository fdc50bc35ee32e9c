import { canonicalJson, sha256 } from '../canonical.ts';
import { parseErasureMarker } from './erasure-marker.ts';

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

/** An erased payload, as its `event.erased` record names it: which event, by whom, when and why. */
export interface ErasureRecord {
  project_id: string;
  /** The erased event. */
  seq: number;
  type: string;
  /** The `event.erased` event that records the erasure. */
  by_seq: number;
  actor: string;
  ts: string;
  reason: string;
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  projects: number;
  firstBad: VerifyFailure | null;
  heads: Record<string, ChainHead>;
  /** Payloads erased on the record, in the order their erasures were verified. */
  erasures: ErasureRecord[];
}

/**
 * Recompute the chains of events given in (project_id, seq) order. Names the first event that does
 * not verify; `expectedHeads` (from outside the chain) catch a truncated tail.
 */
export function verifyEvents(
  events: Iterable<StoredEvent>,
  expectedHeads?: Readonly<Record<string, ChainHead>>,
): VerifyResult {
  const v = new ChainVerifier(expectedHeads);
  for (const e of events) if (!v.push(e)) break;
  return v.finish();
}

/**
 * The same check one event at a time, for events streamed from a store: memory holds one head per
 * project, never the events.
 */
export class ChainVerifier {
  readonly #expected: Readonly<Record<string, ChainHead>> | undefined;
  readonly #heads: Record<string, ChainHead> = {};
  #checked = 0;
  #current: string | null = null;
  #prev = GENESIS_HASH;
  #expectSeq = 1;
  #firstBad: VerifyFailure | null = null;
  /** Erased payloads of the current project waiting for their `event.erased` record: seq → marker. */
  readonly #pending = new Map<number, { by: number; sha: string }>();
  readonly #erasures: ErasureRecord[] = [];

  constructor(expectedHeads?: Readonly<Record<string, ChainHead>>) {
    this.#expected = expectedHeads;
  }

  #fail(project_id: string, seq: number, reason: string): false {
    this.#firstBad ??= { project_id, seq, reason };
    return false;
  }

  /** Check the next event; false once a bad one is found (push no more). */
  push(e: StoredEvent): boolean {
    if (this.#firstBad) return false;
    const heads = this.#heads;
    if (e.project_id !== this.#current) {
      if (this.#current !== null && heads[this.#current] === undefined) return false;
      if (this.#current !== null && !this.#settled()) return false;
      this.#current = e.project_id;
      if (heads[e.project_id])
        return this.#fail(e.project_id, e.seq, 'events of this project are out of order');
      this.#prev = GENESIS_HASH;
      this.#expectSeq = 1;
    }
    this.#checked++;
    const expectSeq = this.#expectSeq;
    if (e.seq !== expectSeq) {
      // A chain of a project nobody recorded is itself the bad event; a known chain lacks its start.
      if (expectSeq === 1 && this.#expected && !this.#expected[e.project_id])
        return this.#fail(
          e.project_id,
          e.seq,
          `an event of an unknown project (its chain starts at ${e.seq})`,
        );
      if (expectSeq === 1)
        return this.#fail(e.project_id, 1, `the chain starts at ${e.seq}: event 1 is missing`);
      return this.#fail(
        e.project_id,
        expectSeq,
        e.seq > expectSeq ? `event ${expectSeq} is missing` : 'sequence repeats',
      );
    }
    // An erased payload is a marker naming a later erasure record; anything else must match its digest.
    const digest = sha256(e.payload);
    const marker = digest === e.payload_sha256 ? null : parseErasureMarker(e.payload);
    if (digest !== e.payload_sha256 && (!marker || marker.erased_by_seq <= e.seq))
      return this.#fail(e.project_id, e.seq, 'payload does not match its digest');
    if (e.prev_hash !== this.#prev)
      return this.#fail(e.project_id, e.seq, 'prev_hash does not match the previous event');
    let computed: string;
    try {
      computed = eventHash(this.#prev, e);
    } catch {
      return this.#fail(e.project_id, e.seq, 'metadata is not canonical JSON');
    }
    if (computed !== e.hash) return this.#fail(e.project_id, e.seq, 'hash does not match the event');
    if (marker) this.#pending.set(e.seq, { by: marker.erased_by_seq, sha: digest });
    if (e.type === 'event.erased' && !this.#erasure(e, marker !== null)) return false;
    heads[e.project_id] = { seq: e.seq, hash: e.hash };
    this.#prev = e.hash;
    this.#expectSeq++;
    return true;
  }

  /** An `event.erased` record: the event it names must hold the marker it recorded, and nothing else. */
  #erasure(e: StoredEvent, itselfErased: boolean): boolean {
    if (itselfErased) return this.#fail(e.project_id, e.seq, 'an erasure record has itself been erased');
    let p: { seq?: unknown; type?: unknown; reason?: unknown; marker_sha256?: unknown };
    try {
      p = JSON.parse(e.payload);
    } catch {
      return this.#fail(e.project_id, e.seq, 'an erasure record is not JSON');
    }
    if (!Number.isSafeInteger(p.seq) || typeof p.marker_sha256 !== 'string')
      return this.#fail(e.project_id, e.seq, 'an erasure record names no event or marker');
    const seq = p.seq as number;
    const pending = this.#pending.get(seq);
    if (!pending || pending.by !== e.seq)
      return this.#fail(
        e.project_id,
        seq,
        `event ${seq} is recorded as erased by #${e.seq} but holds no such marker`,
      );
    if (pending.sha !== p.marker_sha256)
      return this.#fail(
        e.project_id,
        seq,
        `the residue of erased event ${seq} differs from what #${e.seq} recorded`,
      );
    this.#pending.delete(seq);
    this.#erasures.push({
      project_id: e.project_id,
      seq,
      type: typeof p.type === 'string' ? p.type : '?',
      by_seq: e.seq,
      actor: e.actor,
      ts: e.ts,
      reason: typeof p.reason === 'string' ? p.reason : '',
    });
    return true;
  }

  /** At the end of a project's chain: every erased payload found its erasure record. */
  #settled(): boolean {
    if (!this.#pending.size || this.#current === null) return true;
    const [seq, m] = [...this.#pending.entries()].sort(([a], [b]) => a - b)[0]!;
    this.#pending.clear();
    return this.#fail(
      this.#current,
      seq,
      `payload replaced by an erasure marker naming #${m.by}, which records no such erasure`,
    );
  }

  /** The verdict, after comparing the chains' ends with the expected heads. */
  finish(): VerifyResult {
    this.#settled();
    const heads = this.#heads;
    if (!this.#firstBad && this.#expected) {
      for (const [project, head] of Object.entries(this.#expected)) {
        const got = heads[project];
        if (!got) this.#fail(project, 1, 'the project has a recorded head but no events');
        else if (got.seq < head.seq)
          this.#fail(project, got.seq + 1, `events after ${got.seq} are missing (head is ${head.seq})`);
        else if (got.seq === head.seq && got.hash !== head.hash)
          this.#fail(project, got.seq, 'the chain head differs');
        if (this.#firstBad) break;
      }
    }
    const firstBad = this.#firstBad;
    return {
      ok: !firstBad,
      checked: this.#checked,
      projects: Object.keys(heads).length,
      firstBad,
      heads,
      erasures: this.#erasures,
    };
  }
}
