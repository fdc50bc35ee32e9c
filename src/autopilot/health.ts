import { renameSync, writeFileSync } from 'node:fs';
import type { Progress } from './worker.ts';

/** Where a worker is: one word, the same on stderr and in the health file. */
export const WORKER_STATES = [
  'starting',
  'idle',
  'working',
  'paused',
  'draining',
  'store-unreachable',
  'stopped',
] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

/** The health file's JSON, rewritten (atomically) on every change and every `refreshMs`. */
export interface Health {
  worker: string;
  pid: number;
  state: WorkerState;
  /** When the worker entered this state. */
  since: string;
  /** When this file was last written: a file older than a few refreshes means a hung or stopped process. */
  updated_at: string;
  store: { kind: string; location: string; wake: 'notify' | 'poll'; listening: boolean | null };
  /** Tickets this worker holds now. */
  in_flight: string[];
  counts: { claimed: number; finished: number; failed: number; handed_back: number; lost: number };
  last_error: string | null;
  /** Set once the worker stopped: its exit code. */
  exit_code: number | null;
}

/**
 * Follows a worker's progress and keeps its health current: a line on stderr per state change,
 * and (with `file`) a JSON file replaced atomically, so a supervisor reads whole documents only.
 */
export class HealthReporter {
  readonly #h: Health;
  readonly #file: string | undefined;
  readonly #line: (s: string) => void;
  readonly #timer: NodeJS.Timeout | null;

  constructor(o: {
    worker: string;
    store: { kind: string; location: string; wake: 'notify' | 'poll' };
    file?: string | undefined;
    line: (s: string) => void;
    refreshMs?: number;
  }) {
    const now = new Date().toISOString();
    this.#h = {
      worker: o.worker,
      pid: process.pid,
      state: 'starting',
      since: now,
      updated_at: now,
      store: { ...o.store, listening: o.store.wake === 'notify' ? false : null },
      in_flight: [],
      counts: { claimed: 0, finished: 0, failed: 0, handed_back: 0, lost: 0 },
      last_error: null,
      exit_code: null,
    };
    this.#file = o.file;
    this.#line = o.line;
    this.#line(`${now} worker ${o.worker}: starting (${o.store.kind} ${o.store.location}, ${o.store.wake})`);
    this.#write();
    this.#timer = o.file ? setInterval(() => this.#write(), o.refreshMs ?? 5000) : null;
    this.#timer?.unref();
  }

  get health(): Health {
    return structuredClone(this.#h);
  }

  /** Fold one progress event into the health. */
  observe(p: Progress): void {
    const h = this.#h;
    const drop = (t: string) => {
      h.in_flight = h.in_flight.filter((x) => x !== t);
    };
    switch (p.type) {
      case 'claimed':
        h.counts.claimed++;
        if (!h.in_flight.includes(p.ticket)) h.in_flight.push(p.ticket);
        break;
      case 'finished':
        h.counts.finished++;
        drop(p.ticket);
        break;
      case 'failed':
        if (h.in_flight.includes(p.ticket)) h.counts.failed++;
        drop(p.ticket);
        break;
      case 'waiting':
        drop(p.ticket);
        break;
      case 'lost':
        h.counts.lost++;
        h.last_error = p.reason;
        drop(p.ticket);
        break;
      case 'handed-back':
        h.counts.handed_back++;
        drop(p.ticket);
        break;
      case 'store-error':
        h.last_error = p.reason;
        this.#enter('store-unreachable', `${p.reason}; trying again in ${p.retryMs} ms`);
        this.#write();
        return;
      case 'draining':
        this.#enter('draining', `${p.inFlight} ticket(s) in flight, ${p.graceMs} ms to finish`);
        this.#write();
        return;
      case 'idle':
        if (!h.in_flight.length && h.state !== 'draining')
          this.#enter(
            p.paused ? 'paused' : 'idle',
            p.paused
              ? 'vt resume lets it claim again'
              : p.until
                ? `next timer ${p.until}`
                : 'waiting for work',
          );
        this.#write();
        return;
      case 'stopped':
        this.#enter('stopped', p.reason);
        this.#write();
        return;
      default:
        return;
    }
    if (h.state !== 'draining' && h.state !== 'stopped') {
      if (h.in_flight.length) this.#enter('working', h.in_flight.join(', '));
    }
    this.#write();
  }

  /** The LISTEN connection came up or went down. */
  listening(up: boolean, error?: string): void {
    if (this.#h.store.listening === up) return;
    this.#h.store.listening = up;
    if (error) this.#h.last_error = error;
    this.#line(
      `${new Date().toISOString()} worker ${this.#h.worker}: ${up ? 'listening for new work' : `not listening (${error ?? 'closed'}); polling until it reconnects`}`,
    );
    this.#write();
  }

  /** The worker is done: record how it ends, and stop refreshing the file. */
  close(exitCode: number): void {
    this.#h.exit_code = exitCode;
    if (this.#timer) clearInterval(this.#timer);
    this.#enter('stopped', `exit ${exitCode}`);
    this.#write();
  }

  #enter(state: WorkerState, detail: string): void {
    const h = this.#h;
    if (h.state === state) return;
    h.state = state;
    h.since = new Date().toISOString();
    this.#line(`${h.since} worker ${h.worker}: ${state} (${detail})`);
  }

  #write(): void {
    if (!this.#file) return;
    this.#h.updated_at = new Date().toISOString();
    const tmp = `${this.#file}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, `${JSON.stringify(this.#h, null, 2)}\n`);
      renameSync(tmp, this.#file);
    } catch {
      // A health file that cannot be written (a full disk) must not stop the work; staleness shows it.
    }
  }
}
