import { appendFileSync, readFileSync } from 'node:fs';
import type { eventsOf } from './worker-helpers.ts';

/**
 * A Jepsen-style history: one JSON line per operation, appended as it happens. `invoke` starts an
 * operation; `ok` says it took effect (acknowledged); `fail` says it surely did not; `info` says it
 * may have (a killed worker's ticket, a command whose connection the server cut). The nemesis's
 * faults are `info` lines of their own. `t` is monotonic (ms since the history began).
 */
export interface Op {
  i: number;
  t: number;
  process: string;
  type: 'invoke' | 'ok' | 'fail' | 'info';
  f: string;
  value: Record<string, unknown>;
}

export class History {
  readonly file: string;
  readonly #t0 = performance.now();
  #i = 0;
  constructor(file: string) {
    this.file = file;
  }
  record(process: string, type: Op['type'], f: string, value: Record<string, unknown> = {}, at?: number): Op {
    const op: Op = {
      i: this.#i++,
      t: Math.round(((at ?? performance.now()) - this.#t0) * 1000) / 1000,
      process,
      type,
      f,
      value,
    };
    appendFileSync(this.file, `${JSON.stringify(op)}\n`);
    return op;
  }
}

/** The history as the file holds it. */
export function readHistory(file: string): Op[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Op);
}

type StoreEvent = Awaited<ReturnType<typeof eventsOf>>[number];

/**
 * Check a history against the store's events afterwards; returns what is wrong (nothing on a good run).
 * - An acknowledged command is in the store, once: a project whose `vt project create` returned 0
 *   exists; an issue whose `vt issue add` returned 0 was added exactly once, retries included.
 * - A command that surely failed left nothing; one that may have taken effect did so at most once.
 * - What a worker acknowledged is in the store, committed under its own claim: a session it said it
 *   started was started under the lease generation it claimed; a ticket it said it finished finished
 *   once, and the last claim before that finish is its own (a worker whose lease was taken over
 *   commits nothing: no stale commit).
 * - Each worker process's operations are well formed: a completion follows an invocation of the
 *   same ticket by the same process, and monotonic time never goes back.
 */
export function checkHistory(ops: readonly Op[], events: readonly StoreEvent[]): string[] {
  const bad: string[] = [];
  for (let k = 1; k < ops.length; k++)
    if (ops[k]!.t < ops[k - 1]!.t) bad.push(`op ${ops[k]!.i}: time goes back`);

  const issuesByTitle = new Map<string, StoreEvent[]>();
  const created = new Map<string, number>();
  const finishes = new Map<string, StoreEvent[]>();
  const sessionsStarted = new Map<string, StoreEvent[]>();
  const claims = new Map<string, { gen: number; worker: string; gseq: number }[]>();
  for (const e of events) {
    if (e.type === 'issue.added') issuesByTitle.set(e.p.title, [...(issuesByTitle.get(e.p.title) ?? []), e]);
    if (e.type === 'project.created') created.set(e.project_id, (created.get(e.project_id) ?? 0) + 1);
    if (e.type === 'ticket.finished') finishes.set(e.p.ticket, [...(finishes.get(e.p.ticket) ?? []), e]);
    if (e.type === 'session.started')
      sessionsStarted.set(e.p.session, [...(sessionsStarted.get(e.p.session) ?? []), e]);
    if (e.type === 'ticket.claimed')
      claims.set(e.p.ticket, [
        ...(claims.get(e.p.ticket) ?? []),
        { gen: e.p.lease_gen, worker: e.p.worker, gseq: e.gseq },
      ]);
  }

  // The client's commands: the last completion of each operation (retries share its key) decides.
  const outcome = new Map<number, Op>();
  const invoked = new Map<string, Op>();
  for (const op of ops) {
    if (op.process !== 'client') continue;
    const key = String(op.value.key);
    if (op.type === 'invoke') invoked.set(key, op);
    else outcome.set(invoked.get(key)?.i ?? -1, op);
  }
  for (const inv of invoked.values()) {
    const done = outcome.get(inv.i);
    const type = done?.type ?? 'info';
    if (inv.f === 'add-issue') {
      const n = issuesByTitle.get(String(inv.value.title))?.length ?? 0;
      if (type === 'ok' && n !== 1)
        bad.push(`acknowledged issue "${inv.value.title}" is in the store ${n} times`);
      if (type === 'fail' && n !== 0)
        bad.push(`failed issue "${inv.value.title}" is in the store ${n} times`);
      if (type === 'info' && n > 1)
        bad.push(`issue "${inv.value.title}" (outcome unknown) is in the store ${n} times`);
    } else if (inv.f === 'create-project') {
      const n = created.get(String(inv.value.project)) ?? 0;
      if (type === 'ok' && n !== 1) bad.push(`acknowledged project ${inv.value.project} created ${n} times`);
      if (type === 'fail' && n !== 0) bad.push(`failed project ${inv.value.project} created ${n} times`);
    }
  }

  // The workers' acknowledgements.
  const open = new Map<string, Set<string>>();
  for (const op of ops) {
    if (op.process === 'client' || op.process === 'nemesis') continue;
    const ticket = String(op.value.ticket ?? '');
    const mine = open.get(op.process) ?? new Set<string>();
    open.set(op.process, mine);
    if (op.f !== 'ticket' && op.f !== 'session') continue;
    if (op.type === 'invoke') {
      mine.add(ticket);
      continue;
    }
    if (!mine.has(ticket)) bad.push(`op ${op.i}: ${op.process} completes ${ticket}, which it did not claim`);
    if (op.f === 'ticket') mine.delete(ticket);
    if (op.type !== 'ok') continue;
    if (op.f === 'session') {
      const session = String(op.value.session);
      const started = sessionsStarted.get(session) ?? [];
      const gen = Number(/\.s(\d+)(?:-[\w-]+)?$/.exec(session)?.[1]);
      const claim = claims.get(ticket)?.find((c) => c.gen === gen);
      if (started.length !== 1)
        bad.push(`${op.process} started ${session}: in the store ${started.length} times`);
      if (claim?.worker !== op.process)
        bad.push(
          `${op.process} started ${session} under generation ${gen}, claimed by ${claim?.worker ?? 'nobody'}`,
        );
    } else {
      const f = finishes.get(ticket) ?? [];
      if (f.length !== 1) {
        bad.push(`${op.process} finished ${ticket}: finished ${f.length} times in the store`);
        continue;
      }
      const before = (claims.get(ticket) ?? []).filter((c) => c.gseq < f[0]!.gseq).at(-1);
      if (before?.worker !== op.process)
        bad.push(
          `${op.process} finished ${ticket}, but the claim it finished under is ${before?.worker ?? 'nobody'}'s`,
        );
      if ((claims.get(ticket) ?? []).some((c) => c.gseq > f[0]!.gseq))
        bad.push(`${ticket} claimed again after ${op.process} finished it`);
    }
  }
  return bad;
}
