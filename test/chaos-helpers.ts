import { randomInt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { sha256 } from '../src/canonical.ts';
import type { eventsOf, Worker } from './worker-helpers.ts';

// What the chaos and Jepsen-style tests share: a seeded choice of faults, a live tap on each worker's
// progress, a reader of the store that survives a server restart, and the invariants every run of
// `vt worker`s must leave in the store however it was attacked.

/** A seeded generator (mulberry32): the seed is printed, and the same seed makes the same choices. */
export function seeded(envVar: string) {
  const given = process.env[envVar];
  const seed = given ? Number(given) >>> 0 : randomInt(2 ** 31);
  let a = seed;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const shuffle = <T>(xs: T[]): T[] => {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
    return xs;
  };
  return { seed, replay: `${envVar}=${seed}`, next, int, pick, shuffle };
}

/** A progress event a worker printed (`vt worker --json`), as it arrives. */
export type Progress = { type: string; ticket?: string; session?: string; [k: string]: unknown };

/**
 * Call `fn` with each progress event the worker prints, as it arrives, with the monotonic time it
 * was read at. Attach right after startWorker, before the event loop turns.
 */
export function onProgress(w: Worker, fn: (e: Progress, at: number) => void): void {
  let buf = '';
  w.child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!line.startsWith('{')) continue;
      let e: Progress;
      try {
        e = JSON.parse(line);
      } catch {
        continue;
      }
      fn(e, performance.now());
    }
  });
}

/** Tickets a worker holds by what it printed: claimed, and not yet finished, failed, waiting, lost or handed back. */
export function heldBy(events: readonly Progress[]): string[] {
  const held = new Set<string>();
  for (const e of events) {
    if (!e.ticket) continue;
    if (e.type === 'claimed') held.add(e.ticket);
    else if (['finished', 'failed', 'waiting', 'lost', 'handed-back'].includes(e.type)) held.delete(e.ticket);
  }
  return [...held];
}

/** A running process this test started: is it still there? */
export const alive = (w: Worker) => w.child.exitCode === null && w.child.signalCode === null;

/**
 * SQL on the store from the test's side, on one connection that is made again after the server
 * went away (a query then fails once; the caller waits and asks again).
 */
export class StoreReader {
  readonly #url: string;
  #client: pg.Client | null = null;
  constructor(url: string) {
    this.#url = url;
  }
  async query<R extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> {
    try {
      if (!this.#client) {
        const c = new pg.Client({ connectionString: this.#url });
        c.on('error', () => {});
        this.#client = c;
        await c.connect();
      }
      return (await this.#client.query<R>(text, params)).rows;
    } catch (err) {
      const c = this.#client;
      this.#client = null;
      await c?.end().catch(() => {});
      throw err;
    }
  }
  /** Tickets by status. */
  async statuses(): Promise<Record<string, number>> {
    const rows = await this.query<{ status: string; n: number }>(
      'select status, count(*)::int as n from tickets group by status',
    );
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }
  async close(): Promise<void> {
    await this.#client?.end().catch(() => {});
    this.#client = null;
  }
}

type StoreEvent = Awaited<ReturnType<typeof eventsOf>>[number];

/**
 * What any run must leave in the store, however its workers were killed, frozen or cut off. Returns
 * the violations found (none on a good run), each naming the ticket, session or project:
 * - every chain is one line: seq 1..n, each event naming the one before it (`prev_hash`);
 * - every transition of a project happens once: its `n` runs 1..k with no gap and no repeat;
 * - every claim of a ticket takes the next lease generation, each once;
 * - no stale commit: nothing for a session of generation g is committed after generation g+1 was
 *   claimed, and a ticket finishes only under its last claim, once;
 * - every session that started ended, once.
 */
export function storeViolations(
  events: readonly StoreEvent[],
  chains: ReadonlyMap<string, { seq: number; prev_hash: string; hash: string }[]>,
): string[] {
  const bad: string[] = [];
  for (const [project, rows] of chains) {
    rows.forEach((r, i) => {
      if (r.seq !== i + 1) bad.push(`${project}: seq ${r.seq} at position ${i + 1}`);
      if (i > 0 && r.prev_hash !== rows[i - 1]!.hash)
        bad.push(`${project}#${r.seq}: prev_hash breaks the chain`);
    });
  }
  if (new Set(events.map((e) => e.gseq)).size !== events.length) bad.push('two events share a gseq');
  const byProject = new Map<string, StoreEvent[]>();
  for (const e of events) byProject.set(e.project_id, [...(byProject.get(e.project_id) ?? []), e]);
  for (const [project, evs] of byProject) {
    const ns = evs
      .filter((e) => e.type === 'phase.advanced' || e.type === 'project.completed')
      .map((e) => Number(e.p.n));
    ns.forEach((n, i) => {
      if (n !== i + 1) bad.push(`${project}: transition ${n} at position ${i + 1} (${ns.join(',')})`);
    });
    // Per ticket, in the chain's order: claims, session events and the finish.
    const claims = new Map<string, { gen: number; worker: string; seq: number }[]>();
    const sessions = new Map<string, { started: number; ended: number }>();
    const finished = new Map<string, number[]>();
    for (const e of evs) {
      if (e.type === 'ticket.claimed') {
        const list = claims.get(e.p.ticket) ?? [];
        if (e.p.lease_gen !== list.length + 1)
          bad.push(`${e.p.ticket}: claim ${list.length + 1} took generation ${e.p.lease_gen}`);
        list.push({ gen: e.p.lease_gen, worker: e.p.worker, seq: e.seq });
        claims.set(e.p.ticket, list);
      }
      if (e.type === 'ticket.finished')
        finished.set(e.p.ticket, [...(finished.get(e.p.ticket) ?? []), e.seq]);
      const session = typeof e.p.session === 'string' ? e.p.session : null;
      if (!session) continue;
      const m = /^(.*)\.s(\d+)(?:-[\w-]+)?$/.exec(session);
      if (!m) continue;
      const [, ticket, g] = m;
      const next = claims.get(ticket!)?.find((c) => c.gen === Number(g) + 1);
      if (next && next.seq < e.seq)
        bad.push(
          `${session}: ${e.type} (#${e.seq}) committed after generation ${next.gen} was claimed (#${next.seq})`,
        );
      const s = sessions.get(session) ?? { started: 0, ended: 0 };
      if (e.type === 'session.started') s.started++;
      if (e.type === 'session.ended') s.ended++;
      sessions.set(session, s);
    }
    for (const [ticket, seqs] of finished) {
      if (seqs.length !== 1) bad.push(`${ticket}: finished ${seqs.length} times`);
      const last = claims.get(ticket)?.at(-1);
      if (last && last.seq > seqs[0]!) bad.push(`${ticket}: claimed again (#${last.seq}) after it finished`);
    }
    for (const [session, s] of sessions)
      if (s.started !== 1 || s.ended !== 1)
        bad.push(`${session}: started ${s.started} time(s), ended ${s.ended} time(s)`);
  }
  return bad;
}

/** The chains of a store, as storeViolations reads them. */
export async function chainsOf(reader: StoreReader) {
  const rows = await reader.query<{ project_id: string; seq: number; prev_hash: string; hash: string }>(
    'select project_id, seq, prev_hash, hash from events order by project_id, seq',
  );
  const chains = new Map<string, { seq: number; prev_hash: string; hash: string }[]>();
  for (const r of rows) chains.set(r.project_id, [...(chains.get(r.project_id) ?? []), r]);
  return chains;
}

/**
 * Handoff packets whose file no longer matches the hash recorded for it: a late write of a worker
 * whose lease passed on (it builds and writes the packet before recording it) must not reach a
 * recorded hash. Returns the packets that differ.
 */
export function handoffMismatches(root: string, events: readonly StoreEvent[]): string[] {
  return events
    .filter((e) => e.type === 'handoff.built')
    .filter((e) => {
      const file = join(root, e.p.path);
      return !existsSync(file) || sha256(readFileSync(file)) !== e.p.sha256;
    })
    .map((e) => `${e.project_id}#${e.seq}: ${e.p.path}`);
}
