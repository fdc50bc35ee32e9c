import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { streamRedactor, stripControl } from '../redact.ts';
import type { SandboxWrap } from './sandbox.ts';

const KILL_GRACE_MS = 2000;
const TAIL_CHARS = 4096;
/** How long to wait for a killed group to be gone before giving up on it (it is reported). */
const GONE_LIMIT_MS = 30_000;

export interface ProcessRun {
  argv: readonly string[];
  cwd: string;
  /** The whole environment of the process (see childEnv): nothing is inherited implicitly. */
  env: Record<string, string>;
  /** Written to the process's standard input (closed at once when absent). */
  input?: string;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Output (stdout and stderr), redacted and stripped of control sequences, a line at a time. */
  onOutput?: (text: string) => void;
  /** Told the process group id once the process runs (crash recovery kills a stale group by it). */
  onStart?: (pgid: number) => void;
  /** Run inside this sandbox (see sandbox.ts): argv is wrapped, and the run ends once all inside it has. */
  sandbox?: SandboxWrap | null | undefined;
}

export interface ProcessEnd {
  exitCode: number | null;
  killedBy: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  /** Set when the process could not be started at all (ENOENT, EACCES...). */
  spawnError: NodeJS.ErrnoException | null;
  durationMs: number;
  /** The last few kilobytes of output, redacted. */
  tail: string;
  /** Processes of the group still alive when we stopped waiting (0 when the group is gone). */
  survivors: number;
}

/** Variables a scrubbed environment keeps: enough to find programs and a home, nothing secret. */
const SCRUBBED_KEEP = ['PATH', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TERM', 'USER', 'LOGNAME', 'SHELL'];
/** Variables no child of vt ever gets: the store and its credentials, and the way to a person's keys. */
const NEVER_PASSED =
  /^(VT_DATABASE_URL|VT_DB|DATABASE_URL|PG[A-Z]+|VT_SIGNING_KEY|VT_LOG_KEY_FILE|SSH_AUTH_SOCK|SSH_AGENT_PID|GPG_AGENT_INFO)$/;

/**
 * The environment of a child process: this process's environment without the store's
 * credentials, or (scrubbed) only PATH, locale and the like, plus `extra`.
 */
export function childEnv(
  extra: Record<string, string>,
  opts: { scrubbed?: boolean; from?: NodeJS.ProcessEnv } = {},
): Record<string, string> {
  const from = opts.from ?? process.env;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(from)) {
    if (v === undefined || NEVER_PASSED.test(k)) continue;
    if (opts.scrubbed && !SCRUBBED_KEEP.includes(k)) continue;
    out[k] = v;
  }
  return { ...out, ...extra };
}

/** Live (not zombie) processes in a process group. Linux reads /proc; elsewhere, kill(-pgid, 0). */
export function groupMembers(pgid: number): number {
  if (process.platform !== 'linux') {
    try {
      process.kill(-pgid, 0);
      return 1;
    } catch {
      return 0;
    }
  }
  let n = 0;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return 0;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses: parse after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(rest[2]) === pgid && rest[0] !== 'Z' && rest[0] !== 'X') n++;
  }
  return n;
}

function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // already gone
  }
}

/**
 * End a whole process group: SIGTERM, a grace period, then SIGKILL; resolves once no live process
 * is left in it (or after a generous limit, returning how many survived).
 */
export async function killGroup(pgid: number, graceMs = KILL_GRACE_MS): Promise<number> {
  if (!groupMembers(pgid)) return 0;
  signalGroup(pgid, 'SIGTERM');
  const started = Date.now();
  let killed = false;
  for (;;) {
    const left = groupMembers(pgid);
    if (!left) return 0;
    const waited = Date.now() - started;
    if (!killed && waited >= graceMs) {
      signalGroup(pgid, 'SIGKILL');
      killed = true;
    }
    if (waited >= graceMs + GONE_LIMIT_MS) return left;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Run argv without a shell, in a process group of its own: context through the environment, data
 * through stdin. A timeout or an abort ends the whole group (SIGTERM, grace, SIGKILL); so does the
 * leader's exit, so nothing it started in the background outlives it. Resolves only once the group
 * is gone. Never rejects. Gates and executors both run their commands through here.
 */
export function runProcess(run: ProcessRun): Promise<ProcessEnd> {
  const started = performance.now();
  return new Promise((resolve) => {
    let timedOut = false;
    let aborted = false;
    let tail = '';
    // Each stream is cut into whole lines and redacted as it comes (a private key over several
    // pieces is dropped from its BEGIN line to its END line), so a secret never straddles two pieces.
    const stream = () => {
      const clean = streamRedactor();
      const decoder = new TextDecoder();
      let pending = '';
      const emit = (text: string) => {
        const safe = clean(stripControl(text));
        tail = (tail + safe).slice(-TAIL_CHARS);
        run.onOutput?.(safe);
      };
      return {
        emit,
        take(chunk: Buffer) {
          pending += decoder.decode(chunk, { stream: true });
          const cut = pending.lastIndexOf('\n');
          if (cut >= 0) {
            emit(pending.slice(0, cut + 1));
            pending = pending.slice(cut + 1);
          }
        },
        flush() {
          pending += decoder.decode();
          if (pending) emit(pending);
          pending = '';
        },
      };
    };
    const outLines = stream();
    const errLines = stream();
    const argv = run.sandbox ? run.sandbox.wrap(run.argv) : run.argv;
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: run.cwd,
      env: run.env,
      shell: false,
      // A new session and process group: the group id is the child's pid.
      detached: true,
      stdio: run.sandbox?.stdio ?? ['pipe', 'pipe', 'pipe'],
    });
    const inside = run.sandbox?.attach(child);
    const pgid = child.pid;
    if (pgid !== undefined) run.onStart?.(pgid);
    let ending: Promise<number> | null = null;
    const endGroup = () => {
      if (pgid === undefined) return Promise.resolve(0);
      ending ??= killGroup(pgid);
      return ending;
    };
    const timer = setTimeout(() => {
      timedOut = true;
      void endGroup();
    }, run.timeoutMs);
    const onAbort = () => {
      aborted = true;
      void endGroup();
    };
    if (run.signal?.aborted) onAbort();
    else run.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (c: Buffer) => outLines.take(c));
    child.stderr.on('data', (c: Buffer) => errLines.take(c));
    child.stdin.on('error', () => {}); // the command may not read its input
    child.stdin.end(run.input ?? '');
    let settled = false;
    const closed = new Promise<void>((r) => child.on('close', () => r()));
    const finish = async (end: Pick<ProcessEnd, 'exitCode' | 'killedBy' | 'spawnError'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      run.signal?.removeEventListener('abort', onAbort);
      const survivors = await endGroup();
      await inside?.gone();
      // The pipes close once every holder is gone; one that escaped the group must not hold us up.
      await Promise.race([closed, new Promise((r) => setTimeout(r, 500))]);
      child.stdout.destroy();
      child.stderr.destroy();
      outLines.flush();
      errLines.flush();
      resolve({
        ...end,
        timedOut,
        aborted,
        durationMs: Math.round(performance.now() - started),
        tail,
        survivors,
      });
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'EACCES' || child.pid === undefined) {
        outLines.emit(`${err.message}\n`);
        void finish({ exitCode: null, killedBy: null, spawnError: err });
      }
    });
    // 'exit', not 'close': a background grandchild holding the pipes open must not keep us waiting;
    // the leader's exit ends the group, and its output drains meanwhile.
    child.on('exit', (code, signal) => {
      void finish({ exitCode: code, killedBy: signal, spawnError: null });
    });
  });
}
