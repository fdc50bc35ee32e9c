import { type Kysely, sql, type Transaction } from 'kysely';

interface Pending<DB> {
  fn: (trx: Transaction<DB>) => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

const MAX_BATCH = 64;

export interface CommitHooks<DB> {
  /** Runs last in every transaction, after every caller's savepoint; when it fails, the transaction does. */
  beforeCommit?: (trx: Transaction<DB>) => Promise<void>;
  /** Told after every transaction whether it committed (false: rolled back, or its COMMIT failed). */
  settled?: (committed: boolean) => void;
}

/**
 * Group commit: transactions asked for while another is committing run together in the next
 * database transaction, each inside its own savepoint, and share one durable commit. A caller's
 * promise settles only after that commit, so an acknowledged write is as durable as before; a
 * failing caller rolls back its savepoint alone. A step that must run once per transaction, last
 * (the Merkle log's, on SQLite), is `beforeCommit`: when it fails, the whole transaction does; and
 * `settled` hears whether each transaction committed. With one caller at a time this is a plain
 * transaction.
 */
export class GroupCommitter<DB> {
  readonly #db: Kysely<DB>;
  readonly #beforeCommit: (trx: Transaction<DB>) => Promise<void>;
  readonly #settled: (committed: boolean) => void;
  readonly #queue: Pending<DB>[] = [];
  #draining = false;

  constructor(db: Kysely<DB>, hooks: CommitHooks<DB> = {}) {
    this.#db = db;
    this.#beforeCommit = hooks.beforeCommit ?? (async () => {});
    this.#settled = hooks.settled ?? (() => {});
  }

  run<T>(fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#draining) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#queue.length) {
        const batch = this.#queue.splice(0, MAX_BATCH);
        if (batch.length === 1) {
          const [one] = batch as [Pending<DB>];
          await this.#db
            .transaction()
            .execute(async (trx) => {
              const value = await one.fn(trx);
              await this.#beforeCommit(trx);
              return value;
            })
            .then(
              (value) => {
                this.#settled(true);
                one.resolve(value);
              },
              (error) => {
                this.#settled(false);
                one.reject(error);
              },
            );
          continue;
        }
        const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
        try {
          await this.#db.transaction().execute(async (trx) => {
            for (const item of batch) {
              await sql`savepoint vt_group`.execute(trx);
              try {
                const value = await item.fn(trx);
                await sql`release vt_group`.execute(trx);
                outcomes.push({ ok: true, value });
              } catch (error) {
                try {
                  await sql`rollback to vt_group`.execute(trx);
                  await sql`release vt_group`.execute(trx);
                } catch {
                  // SQLite already rolled the whole transaction back (a full disk, an I/O error):
                  // the batch fails with the error that caused it.
                  throw error;
                }
                outcomes.push({ ok: false, error });
              }
            }
            await this.#beforeCommit(trx);
          });
        } catch (commitError) {
          this.#settled(false);
          for (const item of batch) item.reject(commitError);
          continue;
        }
        this.#settled(true);
        batch.forEach((item, i) => {
          const o = outcomes[i]!;
          if (o.ok) item.resolve(o.value);
          else item.reject(o.error);
        });
      }
    } finally {
      this.#draining = false;
    }
  }
}
