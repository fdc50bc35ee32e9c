import { type ChildProcess, spawnSync } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, delimiter, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { PACKAGE_ROOT } from '../package.ts';
import { SANDBOX_MODES, type SandboxMode } from '../types.ts';

/*
 * Executors and command gates run under bubblewrap on Linux: the system read-only, their own folders
 * writable, and the store, vt's state, other sessions, the home folder's keys and agent sockets out of
 * sight. vt commits a session's work from outside; nothing inside can reach the store but the
 * session's socket.
 */

/** Where a sandboxed command works and what it may see beyond the system and its tools. */
export interface SandboxRequest {
  /** The train's setting; absent: VT_SANDBOX, else bwrap. */
  mode: SandboxMode | undefined;
  /** What runs, for messages: "the command executor of session t1.s1". */
  what: string;
  /** The program (argv[0]): its install is made visible read-only, wherever it lies. */
  program: string;
  /** The PATH the program is looked up on. */
  path: string;
  cwd: string;
  /** Folders it writes: its worktree, its session's folder, its socket's folder. */
  writable: readonly string[];
  /** Folders visible read-only, with anything hidden inside them hidden again (the project folder). */
  visible?: readonly string[];
  /** Files and folders it reads though they lie in hidden places (the handoff, vt's launcher, the git repository). */
  readable?: readonly string[];
  /** Folders hidden besides the defaults (the project's .vt/, the store's folder). */
  hidden?: readonly string[];
  /** Configuration folders of an agent CLI, writable: nothing else of the home folder is visible. */
  agentHome?: readonly string[];
}

/** A request without what the runner knows itself (the program, its PATH, its folder). */
export type SandboxPlace = Omit<SandboxRequest, 'program' | 'path' | 'cwd'>;

/** How to run a command in the sandbox: what runProcess needs. */
export interface SandboxWrap {
  /** The bwrap command line that runs argv inside. */
  wrap(argv: readonly string[]): string[];
  /** Standard I/O for spawn: a fourth pipe on which bwrap names the process that holds the namespace. */
  readonly stdio: ['pipe', 'pipe', 'pipe', 'pipe'];
  /** Watch a started bwrap: `gone()` resolves once nothing inside it is left. */
  attach(child: ChildProcess): { gone(): Promise<void> };
}

/** The sandbox to run in (null: without one), or why the command may not run at all. */
export type SandboxPlan = { wrap: SandboxWrap | null } | { refused: string };

export type SandboxStatus =
  | { available: true; bwrap: string; version: string }
  | { available: false; reason: string };

/** Flags every sandbox gets: own namespaces but the network, no capabilities, dies with vt. */
const BASE = [
  '--unshare-all',
  '--share-net',
  '--die-with-parent',
  '--new-session',
  // As root, bwrap keeps every capability unless told: with them, `umount -l /tmp` undoes the sandbox.
  '--cap-drop',
  'ALL',
];
/** How long to wait for a namespace to be gone once its holder was killed (reported by not resolving sooner). */
const GONE_LIMIT_MS = 30_000;

const VT_INSTALL = PACKAGE_ROOT;

const statusCache = new Map<string, SandboxStatus>();
let warned = false;
const protectedStores = new Set<string>();

/** Keep a store out of every sandbox this process starts (the wiring registers SQLite stores). */
export function hideFromSandboxes(storeTarget: string): void {
  for (const p of storePaths(storeTarget)) protectedStores.add(p);
}

/**
 * What to hide of a store target (a path or sqlite:PATH): its folder, and its files one by one in
 * case that folder must stay visible. Nothing for a server URL.
 */
export function storePaths(target: string): string[] {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target) && !target.startsWith('sqlite:')) return [];
  const file = resolve(target.replace(/^sqlite:(\/\/)?/, ''));
  return [dirname(file), ...['', '-wal', '-shm', '-journal'].map((x) => file + x)];
}

/**
 * Whether commands can run in a sandbox here: bubblewrap on PATH, and able to make its namespaces
 * (a probe run with the flags vt uses). Cached per PATH; `vt doctor` reports it.
 */
export function sandboxAvailable(env: NodeJS.ProcessEnv = process.env): SandboxStatus {
  const key = env.PATH ?? '';
  const known = statusCache.get(key);
  if (known) return known;
  const status = probe(env);
  statusCache.set(key, status);
  return status;
}

function probe(env: NodeJS.ProcessEnv): SandboxStatus {
  if (process.platform !== 'linux')
    return { available: false, reason: `bubblewrap runs on Linux only, not ${process.platform}` };
  const bwrap = onPath('bwrap', env.PATH);
  if (!bwrap)
    return {
      available: false,
      reason:
        'bubblewrap (bwrap) is not installed on this machine: apt-get install bubblewrap (dnf install bubblewrap)',
    };
  const version = spawnSync(bwrap, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const run = spawnSync(bwrap, [...BASE, '--ro-bind', '/', '/', '--proc', '/proc', '--', 'true'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (run.status !== 0)
    return {
      available: false,
      reason: `${bwrap} cannot make a sandbox here: ${(run.stderr || run.error?.message || `exit ${run.status}`).trim()} (user namespaces may be disabled: sysctl kernel.unprivileged_userns_clone=1)`,
    };
  return { available: true, bwrap, version: (version.stdout ?? '').trim().replace(/^bubblewrap\s*/, '') };
}

/** The mode in force: the train's setting, else VT_SANDBOX, else bwrap. */
export function sandboxMode(
  setting: SandboxMode | undefined,
  env: NodeJS.ProcessEnv = process.env,
): SandboxMode {
  if (setting) return setting;
  const fromEnv = env.VT_SANDBOX?.trim();
  if (!fromEnv) return 'bwrap';
  if ((SANDBOX_MODES as readonly string[]).includes(fromEnv)) return fromEnv as SandboxMode;
  return 'required'; // a typo must not turn the sandbox off; planSandbox names it
}

/** Whether a command with this setting runs in a sandbox here (bubblewrap works and the mode is not none). */
export function sandboxes(setting: SandboxMode | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  return sandboxMode(setting, env) !== 'none' && sandboxAvailable(env).available;
}

/**
 * Decide how a command runs: in a sandbox, without one (sandbox: none, or bwrap missing — said once
 * on stderr), or not at all (sandbox: required without bwrap, or a bad VT_SANDBOX).
 */
export function planSandbox(
  req: SandboxRequest,
  env: NodeJS.ProcessEnv = process.env,
  warn: (line: string) => void = (line) => process.stderr.write(line),
): SandboxPlan {
  const fromEnv = env.VT_SANDBOX?.trim();
  if (!req.mode && fromEnv && !(SANDBOX_MODES as readonly string[]).includes(fromEnv))
    return { refused: `VT_SANDBOX="${fromEnv}" is not one of ${SANDBOX_MODES.join(', ')}` };
  const mode = sandboxMode(req.mode, env);
  if (mode === 'none') return { wrap: null };
  const status = sandboxAvailable(env);
  if (!status.available) {
    if (mode === 'required')
      return { refused: `${req.what} needs a sandbox (sandbox: required): ${status.reason}` };
    if (!warned) {
      warned = true;
      warn(
        `vt: executors and command gates run without a sandbox: ${status.reason}. Set sandbox: none in vt.yaml to say that is intended, or sandbox: required to refuse.\n`,
      );
    }
    return { wrap: null };
  }
  return { wrap: bwrapWrap(status.bwrap, bwrapArgs(req, env)) };
}

/** The bwrap arguments (before `--` and the command) for a request. */
export function bwrapArgs(req: SandboxRequest, env: NodeJS.ProcessEnv = process.env): string[] {
  const home = real(env.HOME || homedir());
  // Broad hiding: temporary folders (other sessions' sockets, agents' sockets), the runtime folder,
  // the whole home folder.
  const broad = unique(
    ['/tmp', '/var/tmp', '/run', env.XDG_RUNTIME_DIR, env.TMPDIR, home].flatMap((p) => existingDir(p)),
  ).filter((p) => p !== '/');
  // Narrow hiding, applied again inside anything made visible: keys, vt's state and the store.
  const narrow = unique(
    [
      ...['.ssh', '.gnupg', join('.config', 'vt'), '.aws', '.netrc', '.git-credentials', '.docker'].map((f) =>
        join(home, f),
      ),
      // vt's keys live under $XDG_CONFIG_HOME/vt when that is set (src/identity/vt-keys.ts).
      ...(env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME) ? [join(env.XDG_CONFIG_HOME, 'vt')] : []),
      ...(req.hidden ?? []),
      ...protectedStores,
      ...(process.getuid?.() === 0 ? rootSecrets() : []),
    ].flatMap((p) => existing(p)),
  );
  const args = [...BASE, '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc'];
  // A folder becomes an empty tmpfs; a file, /dev/null on a nodev mount (EACCES). Only the outermost
  // of a set: what lies inside a hidden folder is gone with it.
  const hideAll = (paths: readonly string[]) => {
    const dirs = paths.filter(isDir);
    for (const p of paths) {
      if (dirs.some((d) => d !== p && inside(p, d))) continue;
      if (isDir(p)) args.push('--tmpfs', p);
      else args.push('--ro-bind', '/dev/null', p);
    }
  };
  hideAll([...broad, ...narrow]);
  // Tools stay visible wherever they lie (a hidden file inside them is hidden again below); the
  // project folder only where nothing hides it. Name resolution may live under /run.
  const resolv = existing('/etc/resolv.conf')[0];
  const tools = [
    ...(resolv ? [dirname(resolv)] : []),
    nodePrefix(),
    VT_INSTALL,
    ...installOf(req.program, req.path),
  ]
    .flatMap((p) => existing(p))
    .filter((p) => [...broad, ...narrow].some((h) => inside(p, h)));
  const asked = (req.visible ?? [])
    .flatMap((p) => existing(p))
    .filter((p) => !narrow.some((n) => inside(p, n)));
  // Never the root or a folder holding a hidden one (the home folder itself, say): that would undo it.
  const visible = unique([...tools, ...asked]).filter((p) => p !== '/' && !broad.some((b) => inside(b, p)));
  for (const p of visible) args.push('--ro-bind', p, p);
  hideAll([...broad, ...narrow].filter((p) => visible.some((v) => inside(p, v) && p !== v)));
  // What the command is given, at its real path and at the path its environment names (which may
  // run through a symlink in a hidden folder).
  const hidden = [...broad, ...narrow];
  const bind = (flag: string, paths: readonly string[] | undefined) => {
    const seen = new Set<string>();
    for (const given of paths ?? [])
      for (const src of existing(given))
        for (const dest of unique([src, ...(throughHiddenLink(given, hidden) ? [resolve(given)] : [])]))
          if (!seen.has(dest)) {
            seen.add(dest);
            args.push(flag, src, dest);
          }
  };
  bind('--ro-bind', req.readable);
  bind('--bind', req.agentHome);
  bind('--bind', req.writable);
  args.push('--chdir', real(req.cwd));
  return args;
}

function bwrapWrap(bwrap: string, args: readonly string[]): SandboxWrap {
  return {
    wrap: (argv) => [bwrap, ...args, '--info-fd', '3', '--', ...argv],
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    attach(child) {
      // bwrap names the process that holds the pid namespace (its pid 1); with --new-session it is in
      // a session of its own, so the group runProcess kills holds only bwrap. Killing bwrap kills it
      // (--die-with-parent), and the kernel ends everything in its namespace with it.
      let text = '';
      const holder = new Promise<{ pid: number; start: number } | null>((done) => {
        const info = child.stdio[3] as Readable | null | undefined;
        if (!info) return done(null);
        info.on('data', (chunk: Buffer) => {
          text += chunk.toString('utf8');
          const pid = /"child-pid":\s*(\d+)/.exec(text)?.[1];
          if (pid) done(identity(Number(pid)));
        });
        info.on('error', () => done(null));
        info.on('close', () => done(null));
      });
      return {
        async gone() {
          const h = await Promise.race([holder, new Promise<null>((r) => setTimeout(() => r(null), 1000))]);
          child.stdio[3]?.destroy();
          if (!h) return;
          const started = Date.now();
          while (alive(h) && Date.now() - started < GONE_LIMIT_MS)
            await new Promise((r) => setTimeout(r, 10));
        },
      };
    },
  };
}

/** True when `given` runs through a symbolic link that lies in a hidden folder (so is not there inside). */
function throughHiddenLink(given: string, hidden: readonly string[]): boolean {
  let prefix = '/';
  for (const part of resolve(given).split('/').filter(Boolean)) {
    prefix = join(prefix, part);
    try {
      if (lstatSync(prefix).isSymbolicLink() && hidden.some((h) => inside(real(dirname(prefix)), h)))
        return true;
    } catch {
      return false;
    }
  }
  return false;
}

/** Agent CLIs' own configuration and credential folders, by preset (bound writable when they exist). */
export function agentHomeOf(preset: string | undefined, env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.HOME || homedir();
  switch (preset) {
    case 'claude':
      return [env.CLAUDE_CONFIG_DIR || join(home, '.claude'), join(home, '.claude.json')];
    case 'codex':
      return [env.CODEX_HOME || join(home, '.codex')];
    case 'gemini':
      return [join(home, '.gemini')];
    case 'aider':
      return [join(home, '.aider'), join(home, '.aider.conf.yml'), join(home, '.aider.model.settings.yml')];
    default:
      return [];
  }
}

/** The git repository a worktree belongs to (its common folder), to show read-only; null for none. */
export function gitDirOf(worktree: string): string | null {
  try {
    const dotGit = join(worktree, '.git');
    if (isDir(dotGit)) return dotGit;
    const m = /^gitdir:\s*(.+)$/m.exec(readFileSync(dotGit, 'utf8'));
    if (!m) return null;
    const own = resolve(worktree, m[1]!.trim());
    const common = existsSync(join(own, 'commondir'))
      ? resolve(own, readFileSync(join(own, 'commondir'), 'utf8').trim())
      : own;
    return common;
  } catch {
    return null;
  }
}

/** Folders a program needs to run: the PATH folder it is found in, and its real install. */
function installOf(program: string, path: string): string[] {
  const found = onPath(program, path);
  if (!found) return [];
  const out = [dirname(found)];
  const realFile = real(found);
  const modules = realFile.lastIndexOf('/node_modules/');
  // An npm package: its node_modules folder (its dependencies and platform binaries lie beside it).
  if (modules >= 0) out.push(realFile.slice(0, modules + '/node_modules'.length));
  else out.push(dirname(realFile));
  // A Python virtual environment: the whole environment.
  const prefix = dirname(dirname(found));
  if (basename(dirname(found)) === 'bin' && existsSync(join(prefix, 'pyvenv.cfg'))) out.push(prefix);
  return out;
}

/** Node's install: the folder above its bin/ (its libraries), else its own folder. */
function nodePrefix(): string {
  const dir = dirname(real(process.execPath));
  return basename(dir) === 'bin' ? dirname(dir) : dir;
}

/** Files only root may read that an uid-0 process without capabilities still could. */
function rootSecrets(): string[] {
  let hostKeys: string[] = [];
  try {
    hostKeys = readdirSync('/etc/ssh')
      .filter((f) => /^ssh_host_.*_key$/.test(f))
      .map((f) => join('/etc/ssh', f));
  } catch {
    // no ssh server
  }
  return ['/etc/shadow', '/etc/gshadow', ...hostKeys];
}

/** Where `command` is found on `path` (absolute, executable), or null. */
export function onPath(command: string, path: string | undefined): string | null {
  const executable = (file: string) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (command.includes('/')) return isAbsolute(command) && executable(command) ? command : null;
  for (const dir of (path ?? '').split(delimiter))
    if (dir && isAbsolute(dir) && executable(join(dir, command))) return join(dir, command);
  return null;
}

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/** The real path of `p` when it exists (as a list, to flatMap). */
function existing(p: string | undefined): string[] {
  if (!p || !isAbsolute(p)) return [];
  try {
    return [realpathSync(p)];
  } catch {
    return [];
  }
}

function existingDir(p: string | undefined): string[] {
  return existing(p).filter(isDir);
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** True when `child` is `parent` or lies below it. */
function inside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

function unique(xs: readonly string[]): string[] {
  return [...new Set(xs)];
}

function identity(pid: number): { pid: number; start: number } | null {
  const s = procStat(pid);
  return s ? { pid, start: s.start } : null;
}

function procStat(pid: number): { state: string; start: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0]!, start: Number(rest[19]) };
  } catch {
    return null;
  }
}

/** A zombie counts as gone: when a pid namespace's first process has exited, all of it has. */
function alive(p: { pid: number; start: number }): boolean {
  const s = procStat(p.pid);
  return !!s && s.start === p.start && s.state !== 'Z' && s.state !== 'X';
}
