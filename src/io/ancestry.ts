import { readFileSync } from 'node:fs';

/** A process as /proc names it: its pid and start time (clock ticks after boot), which never repeat together. */
export interface ProcessId {
  pid: number;
  start: number;
}

function stat(pid: number | 'self'): { ppid: number; start: number; pid: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const head = Number(text.slice(0, text.indexOf(' ')));
    // pid (comm) state ppid ...: comm may hold spaces and parentheses; parse after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid: head, ppid: Number(rest[1]), start: Number(rest[19]) };
  } catch {
    return null;
  }
}

/** This process and its ancestors up to init, on Linux; empty elsewhere. */
export function ancestry(): ProcessId[] {
  const out: ProcessId[] = [];
  let s = stat('self');
  for (let guard = 0; s && guard < 256; guard++) {
    out.push({ pid: s.pid, start: s.start });
    if (s.ppid <= 1) break;
    s = stat(s.ppid);
  }
  return out;
}

/** The identity of a running process by pid (null when it is gone or /proc is not there). */
export function processId(pid: number): ProcessId | null {
  const s = stat(pid);
  return s ? { pid, start: s.start } : null;
}
