import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { redact } from '../redact.ts';

/** The most a session's log (its transcript) may take on disk: its start and its end are kept. */
export const SESSION_LOG_MAX_BYTES = 1024 * 1024;

/** A session's transcript, appended as it comes (redacted: writers pass whole lines), capped in size. */
export interface SessionLog {
  write(text: string): void;
  /**
   * Write what was kept of the end (after a note of what was dropped), then `footer`. Throws the first
   * write error (a full disk): a log that could not be written is the run's failure, never a crash.
   */
  close(footer?: string): void;
}

/**
 * A log that keeps the first half of its budget as written and the last half in memory, so a runaway
 * transcript (a model answering megabytes, a CLI stuck in a loop) costs at most `maxBytes`, and the
 * end, where CLIs print their usage and vt its verdict, is always there.
 */
export function openSessionLog(file: string, maxBytes = SESSION_LOG_MAX_BYTES): SessionLog {
  mkdirSync(dirname(file), { recursive: true });
  const head = Math.floor(maxBytes / 2);
  const tailMax = maxBytes - head;
  let written = 0;
  let tail: Buffer[] = [];
  let tailBytes = 0;
  let dropped = 0;
  let failed: Error | null = null;
  const append = (data: Buffer) => {
    if (failed) return;
    try {
      appendFileSync(file, data);
    } catch (err) {
      failed = err as Error;
    }
  };
  return {
    write(text) {
      let buf = Buffer.from(redact(text), 'utf8');
      if (written < head) {
        const room = head - written;
        append(buf.subarray(0, room));
        written += Math.min(room, buf.length);
        buf = buf.subarray(room);
      }
      if (!buf.length) return;
      tail.push(buf);
      tailBytes += buf.length;
      while (tailBytes > tailMax) {
        const first = tail[0]!;
        const over = tailBytes - tailMax;
        if (first.length <= over) {
          tail.shift();
          tailBytes -= first.length;
          dropped += first.length;
        } else {
          tail[0] = first.subarray(over);
          tailBytes -= over;
          dropped += over;
        }
      }
    },
    close(footer = '') {
      const note = dropped
        ? `\n[vt] … ${dropped} bytes of this transcript were dropped here: a session's log keeps its first and last ${Math.round(maxBytes / 2048)} KiB …\n`
        : '';
      append(Buffer.concat([Buffer.from(note), ...tail, Buffer.from(redact(footer))]));
      tail = [];
      tailBytes = 0;
      if (failed) throw failed;
    },
  };
}
