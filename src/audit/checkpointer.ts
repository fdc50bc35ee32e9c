import type { RecordedEvent } from '../engine/events.ts';
import { VtError } from '../errors.ts';
import type { AuditDir } from './audit-dir.ts';
import { type KnownCheckpoint, type LogStore, writeCheckpoint } from './checkpoint-writer.ts';
import { loadLogKey } from './log-key.ts';
import type { NoteSigner } from './note.ts';

/** Events after which a checkpoint is written at once: a gate passed, a phase moved, a person decided. */
export function isMilestone(e: RecordedEvent): boolean {
  switch (e.type) {
    case 'gate.evaluated':
      return e.payload.passed;
    case 'phase.advanced':
    case 'project.completed':
    case 'approval.recorded':
    case 'gate.waived':
      return true;
    default:
      return false;
  }
}

export interface CheckpointerOptions {
  store: LogStore;
  dir: AuditDir;
  keyFile: string;
  /** The workspace the key must stay out of. */
  workspace?: string | null;
  warn: (message: string) => void;
  now?: () => number;
  /** At most this long between a commit and the checkpoint covering it (default 60 s). */
  everyMs?: number;
  /** At most this many events uncovered (default 1,000). */
  everyEvents?: number;
  /**
   * At least this long between two checkpoints of this process while commits keep coming (default
   * 1 s): a milestone then waits out the rest of it, so a busy worker signs about once a second
   * instead of back to back. The first one, and any that `flush` or `close` finds owed, go at once.
   */
  minGapMs?: number;
}

/**
 * Keeps checkpoints coming after commits: after a milestone or 1,000 events (at once, or at most
 * `minGapMs` after the previous checkpoint), and at most 60 s after any commit. Never inside a
 * transaction; a failure is a warning, never a lost commit. Without a log key it stays idle
 * (`vt audit verify` says the log is not anchored).
 */
export class Checkpointer {
  readonly #o: Required<Omit<CheckpointerOptions, 'workspace'>> & { workspace: string | null };
  #signer: NoteSigner | null | undefined;
  #off = false;
  #pending = 0;
  /** When the latest checkpoint was written (by this process, or the file's time at start). */
  #lastAt: number | undefined;
  /** When this process last finished writing one (for the gap between two). */
  #doneAt: number | undefined;
  /** A milestone (or 1,000 events) is not yet covered by a checkpoint written or under way. */
  #owed = false;
  #timer: NodeJS.Timeout | null = null;
  #timerAt = Number.POSITIVE_INFINITY;
  #running: Promise<void> | null = null;
  #closed = false;
  /** The last checkpoint this process wrote, and the folder as it left it. */
  #known: KnownCheckpoint | null = null;
  /** Checkpoints written by this process (for tests and reports). */
  written = 0;

  /** True while a milestone waits for a checkpoint (out of the gap, or behind one being written). */
  get owed(): boolean {
    return this.#owed;
  }

  constructor(o: CheckpointerOptions) {
    this.#o = {
      now: Date.now,
      everyMs: 60_000,
      everyEvents: 1000,
      minGapMs: 1000,
      ...o,
      workspace: o.workspace ?? null,
    };
  }

  /** The engine's after-commit hook. */
  readonly onCommitted = (events: readonly RecordedEvent[]): void => {
    if (this.#closed || this.#off) return;
    this.#pending += events.length;
    if (this.#lastAt === undefined) this.#lastAt = this.#o.dir.latest()?.writtenAt ?? 0;
    const due = this.#o.everyMs - (this.#o.now() - this.#lastAt);
    if (events.some(isMilestone) || this.#pending >= this.#o.everyEvents || due <= 0) {
      this.#owed = true;
      this.#at(this.#gapLeft());
    } else this.#at(due);
  };

  #gapLeft(): number {
    return this.#doneAt === undefined ? 0 : this.#doneAt + this.#o.minGapMs - this.#o.now();
  }

  /** Write a checkpoint in `ms` (now when ≤ 0), unless one is already set to start sooner. */
  #at(ms: number): void {
    if (ms <= 0) {
      this.#start();
      return;
    }
    const at = this.#o.now() + ms;
    if (this.#timer && this.#timerAt <= at) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#start(), ms);
    this.#timer.unref();
  }

  #start(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAt = Number.POSITIVE_INFINITY;
    if (this.#off) return;
    // Due while one is being written (which may not cover what made it due): next, after the gap.
    if (this.#running) {
      this.#owed = true;
      return;
    }
    this.#running = this.#write().finally(() => {
      this.#running = null;
      if (this.#owed && !this.#closed && !this.#off) this.#at(this.#gapLeft());
    });
  }

  async #write(): Promise<void> {
    // What is committed by now is covered: the state is read after this point.
    this.#owed = false;
    this.#pending = 0;
    try {
      const signer = this.#key();
      if (!signer) return;
      const w = await writeCheckpoint(this.#o.store, this.#o.dir, signer, { known: this.#known });
      this.#known = w.known;
      if (w.written) this.written++;
    } catch (err) {
      this.#o.warn(`⚠ checkpoint not written: ${(err as Error).message}\n`);
      if (err instanceof VtError && err.code !== 'STORE_ERROR') this.#off = true;
    } finally {
      this.#lastAt = this.#doneAt = this.#o.now();
    }
  }

  #key(): NoteSigner | null {
    if (this.#signer === undefined)
      this.#signer = loadLogKey(this.#o.keyFile, { workspace: this.#o.workspace });
    if (!this.#signer) this.#off = true;
    return this.#signer;
  }

  /** Write at once a checkpoint owed (waiting out the gap), and wait for any being written. */
  async flush(): Promise<void> {
    for (;;) {
      if (this.#running) await this.#running;
      else if (this.#owed && !this.#off) this.#start();
      else return;
    }
  }

  /** Stop: no new checkpoints after what is owed; one being written completes. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
