import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  statSync,
  writeSync,
} from 'node:fs';
import { homedir, hostname, userInfo } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { VtError } from '../errors.ts';
import { generateNoteKey, NoteFormatError, type NoteSigner, parseSignerKey } from './note.ts';

/**
 * The log's signing key: one Ed25519 key in the signed-note signer format, kept outside every
 * workspace (agents work in workspaces; a key they could read would let them sign a forged log).
 * Location: $VT_LOG_KEY_FILE, else $XDG_CONFIG_HOME/vt/keys/log.ed25519, else
 * ~/.config/vt/keys/log.ed25519. Made by `vt init` or `vt audit checkpoint --init`, mode 0600.
 */

export function logKeyFile(env: NodeJS.ProcessEnv, home: string = homedir()): string {
  if (env.VT_LOG_KEY_FILE) return resolve(env.VT_LOG_KEY_FILE);
  const config =
    env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(home, '.config');
  return join(config, 'vt', 'keys', 'log.ed25519');
}

/** A key name for a new log key: who made it, where (no spaces or "+", as notes require). */
export function defaultKeyName(): string {
  let user = 'vt';
  try {
    user = userInfo().username || user;
  } catch {}
  const clean = (s: string) => s.replace(/[^A-Za-z0-9._@-]/g, '-');
  return `vt-log/${clean(user)}@${clean(hostname() || 'localhost')}`;
}

function insideWorkspace(file: string, workspace: string): boolean {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  const rel = relative(real(workspace), real(file));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Load the log key, or null when there is none. Refuses a key readable by others or kept inside
 * the workspace (where an agent could read it).
 */
export function loadLogKey(file: string, opts: { workspace?: string | null } = {}): NoteSigner | null {
  if (!existsSync(file)) return null;
  if (opts.workspace && insideWorkspace(file, opts.workspace))
    throw new VtError('NOT_PERMITTED', `the log key ${file} is inside the workspace ${opts.workspace}`, {
      hint: 'Keep it outside every workspace: move it and set VT_LOG_KEY_FILE, or unset VT_LOG_KEY_FILE',
    });
  const st = statSync(file);
  if (!st.isFile()) throw new VtError('BAD_INPUT', `the log key ${file} is not a file`);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0)
    throw new VtError('NOT_PERMITTED', `the log key ${file} can be read by other users`, {
      hint: `Run: chmod 600 ${file}`,
    });
  try {
    return parseSignerKey(readFileSync(file, 'utf8'));
  } catch (err) {
    if (err instanceof NoteFormatError)
      throw new VtError('BAD_INPUT', `${file} is not a log signing key: ${err.message}`);
    throw err;
  }
}

/** Make a new log key at `file` (refusing to replace one), readable by its owner alone. */
export function createLogKey(
  file: string,
  opts: { name?: string; workspace?: string | null } = {},
): NoteSigner {
  if (opts.workspace && insideWorkspace(file, opts.workspace))
    throw new VtError('NOT_PERMITTED', `refusing to make the log key inside the workspace: ${file}`, {
      hint: 'Point VT_LOG_KEY_FILE outside the workspace',
    });
  const { skey } = generateNoteKey(opts.name ?? defaultKeyName());
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      throw new VtError('CONFLICT', `a log key already exists at ${file}`, { hint: 'It is used as it is' });
    throw err;
  }
  try {
    writeSync(fd, `${skey}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return parseSignerKey(skey);
}

/** The log key at `file`, made first when there is none. */
export function ensureLogKey(
  file: string,
  opts: { name?: string | undefined; workspace?: string | null } = {},
): { signer: NoteSigner; created: boolean } {
  const have = loadLogKey(file, opts);
  if (have) return { signer: have, created: false };
  return {
    signer: createLogKey(file, {
      ...(opts.name ? { name: opts.name } : {}),
      workspace: opts.workspace ?? null,
    }),
    created: true,
  };
}
