import { dbNow } from './dialect.ts';
import type { Db } from './store.ts';

/**
 * A clock that reads the database's: the local clock plus an offset measured against `dbNow()`
 * (half the round trip taken off), kept monotonic. A worker on a machine whose clock is wrong
 * then stamps events and retry timers as the others do. Leases never depend on it: their times
 * are taken and compared inside SQL (see requireLiveLease). Shaped as the engine's Clock (`now()`)
 * without importing it: the store knows only the engine's event types.
 */
export class DbClock {
  offsetMs = 0;
  #last = 0;
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }
  now(): Date {
    const t = Math.max(Date.now() + this.offsetMs, this.#last);
    this.#last = t;
    return new Date(t);
  }
  /** Measure the offset again; returns it in milliseconds. */
  async sync(): Promise<number> {
    const t0 = Date.now();
    const at = Date.parse(await dbNow(this.#db));
    const t1 = Date.now();
    this.offsetMs = Math.round(at - (t0 + t1) / 2);
    return this.offsetMs;
  }
}
