import { EVENTS_CHANNEL } from '../store/migrations/028_worker_wake.ts';
import type { Db, Store } from '../store/store.ts';
import { headGseq } from './queries.ts';

/**
 * What wakes live streams when events may have been committed. The default polls the store's head
 * position; a PostgreSQL store can wake on LISTEN/NOTIFY instead. A wake-up is only a hint: streams
 * always read what is new by position, so a spurious or missed wake-up loses and repeats nothing.
 */
export interface WakeSource {
  /** Call `wake` whenever new events may exist; returns a function that stops it. */
  start(wake: () => void): () => void;
}

/** Poll `max(gseq)` (an index lookup) every `intervalMs`, waking only when it moved. */
export function pollingWake(db: Db, intervalMs = 250): WakeSource {
  return {
    start(wake) {
      let last = -1;
      let busy = false;
      const timer = setInterval(async () => {
        if (busy) return;
        busy = true;
        try {
          const head = await headGseq(db);
          if (head !== last) {
            last = head;
            wake();
          }
        } catch {
          // A failed poll (a busy or closing store) is retried on the next tick.
        } finally {
          busy = false;
        }
      }, intervalMs);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}

/**
 * PostgreSQL: wake on the NOTIFY every event append sends (in its transaction, so only once it
 * committed), over a connection of its own that reconnects by itself (and wakes on reconnect, as
 * notifications sent meanwhile are lost). No polling. Stores that cannot listen fall back to polling.
 */
export function notifyWake(store: Store, fallback: Db = store.db): WakeSource {
  if (!store.listen) return pollingWake(fallback);
  const listen = store.listen.bind(store);
  return {
    start(wake) {
      const listener = listen(EVENTS_CHANNEL, { onNotify: wake });
      return () => void listener.close();
    },
  };
}

/** Fans one wake source out to every open stream. */
export class Feed {
  readonly #listeners = new Set<() => void>();
  #stop: (() => void) | null = null;
  readonly #source: WakeSource;

  constructor(source: WakeSource) {
    this.#source = source;
  }

  /** Resolve at the next wake-up, or after `ms`, or when `signal` aborts. */
  next(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#listeners.add(done);
      signal.addEventListener('abort', done, { once: true });
      if (!this.#stop) this.#stop = this.#source.start(() => this.#wakeAll());
    });
  }

  #wakeAll(): void {
    for (const l of [...this.#listeners]) l();
  }

  close(): void {
    this.#stop?.();
    this.#stop = null;
    this.#wakeAll();
  }
}
