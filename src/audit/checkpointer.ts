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
}

/**
 * Keeps checkpoints coming after commits: at once after a milestone, after 1,000 events, and at
 * most 60 s after any commit. Never inside a transaction; a failure is a warning, never a lost
 * commit. Without a log key it stays idle (`vt audit verify` says the log is not anchored).
 */
export class Checkpointer {
  readonly #o: Required<Omit<CheckpointerOptions, 'workspace'>> & { workspace: string | null };
  #signer: NoteSigner | null | undefined;
  #off = false;
  #pending = 0;
  #lastAt: number | undefined;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #again = false;
  #closed = false;
  /** The last checkpoint this process wrote, and the folder as it left it. */
  #known: KnownCheckpoint | null = null;
  /** Checkpoints written by this process (for tests and reports). */
  written = 0;

  constructor(o: CheckpointerOptions) {
    this.#o = {
      now: Date.now,
      everyMs: 60_000,
      everyEvents: 1000,
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
    if (events.some(isMilestone) || this.#pending >= this.#o.everyEvents || due <= 0) this.#kick();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => this.#kick(), due);
      this.#timer.unref();
    }
  };

  #kick(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#drain().finally(() => {
      this.#running = null;
    });
  }

  async #drain(): Promise<void> {
    do {
      this.#again = false;
      this.#pending = 0;
      try {
        const signer = this.#key();
        if (!signer) return;
        const w = await writeCheckpoint(this.#o.store, this.#o.dir, signer, { known: this.#known });
        this.#known = w.known;
        this.#lastAt = this.#o.now();
        if (w.written) this.written++;
      } catch (err) {
        this.#o.warn(`⚠ checkpoint not written: ${(err as Error).message}\n`);
        if (err instanceof VtError && err.code !== 'STORE_ERROR') this.#off = true;
      }
    } while (this.#again && !this.#off);
  }

  #key(): NoteSigner | null {
    if (this.#signer === undefined)
      this.#signer = loadLogKey(this.#o.keyFile, { workspace: this.#o.workspace });
    if (!this.#signer) this.#off = true;
    return this.#signer;
  }

  /** Wait for a checkpoint being written. */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Stop: no new checkpoints; one being written completes. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.flush();
  }
}
