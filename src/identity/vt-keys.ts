import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { VtError } from '../errors.ts';
import {
  type Ed25519Key,
  formatOpenSshPrivateKey,
  generateEd25519,
  parseOpenSshPrivateKey,
} from './key-file.ts';
import { formatPublicKey, parsePublicKeyLine, type SshPublicKey } from './public-key.ts';

/**
 * Keys vt makes for people who have none in ssh-agent: Ed25519, in OpenSSH format (ssh-keygen and
 * ssh-add read them), under `$XDG_CONFIG_HOME/vt/keys/<name>` (default `~/.config/vt/keys/<name>`),
 * mode 0600 in a 0700 folder — outside every workspace, where an agent's session does not look.
 */

/** Key names become file names: no separators, no dot-files. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;

export function vtKeysDir(env: NodeJS.ProcessEnv): string {
  // XDG: a relative XDG_CONFIG_HOME is invalid and ignored.
  const xdg = env.XDG_CONFIG_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.config'), 'vt', 'keys');
}

export function checkKeyName(name: string): string {
  if (!NAME.test(name) || name.endsWith('.pub'))
    throw new VtError(
      'BAD_INPUT',
      `"${name}" is not a usable key name: letters, digits and . _ @ + - (no "/")`,
      {
        hint: 'Try: vt keys init --name alice',
      },
    );
  return name;
}

export function vtKeyPath(env: NodeJS.ProcessEnv, name: string): string {
  return join(vtKeysDir(env), checkKeyName(name));
}

/** A vt key on disk. */
export interface VtKeyFile {
  name: string;
  path: string;
  publicKey: SshPublicKey;
}

/** Refuse a key folder inside `root` (a vt workspace): agents working there could read the key. */
function outsideRoot(dir: string, root: string | null): void {
  if (!root) return;
  const rel = relative(resolve(root), resolve(dir));
  if (rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith('/')))
    throw new VtError('NOT_PERMITTED', `the key folder ${dir} is inside the vt workspace ${root}`, {
      hint: 'Keys live outside every workspace: unset XDG_CONFIG_HOME or point it elsewhere',
    });
}

/** Make a new key `name`; never overwrites one. Returns where it lives and its public half. */
export function initVtKey(
  env: NodeJS.ProcessEnv,
  name: string,
  opts: { comment?: string; workspaceRoot?: string | null } = {},
): VtKeyFile {
  const dir = vtKeysDir(env);
  const path = vtKeyPath(env, name);
  outsideRoot(dir, opts.workspaceRoot ?? null);
  if (existsSync(path) || existsSync(`${path}.pub`))
    throw new VtError('CONFLICT', `a vt key named ${name} already exists at ${path}`, {
      hint: `Keep it (its public key: cat ${path}.pub), or pick another name: vt keys init --name ${name}-2`,
    });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const key: Ed25519Key = generateEd25519(opts.comment ?? `${name}@vt`);
  writeNew(path, formatOpenSshPrivateKey(key), 0o600);
  writeNew(`${path}.pub`, `${formatPublicKey(key.publicKey)}\n`, 0o644);
  return { name, path, publicKey: key.publicKey };
}

/** Create a file that must not exist yet (O_EXCL), with its mode set before any byte is written. */
function writeNew(path: string, text: string, mode: number): void {
  const fd = openSync(path, 'wx', mode);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  chmodSync(path, mode);
}

/** Load a vt key (or any unencrypted OpenSSH Ed25519 key file) to sign with. */
export function loadKeyFile(path: string): Ed25519Key {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new VtError(
      'NOT_FOUND',
      `cannot read the key file ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      {
        hint: 'Make one with: vt keys init',
      },
    );
  }
  return parseOpenSshPrivateKey(text, path);
}

/** The vt keys on disk (public halves only: the private files are not opened). */
export function listVtKeys(env: NodeJS.ProcessEnv): VtKeyFile[] {
  const dir = vtKeysDir(env);
  if (!existsSync(dir)) return [];
  const out: VtKeyFile[] = [];
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.pub') || !NAME.test(f.slice(0, -4))) continue;
    const name = f.slice(0, -4);
    try {
      out.push({
        name,
        path: join(dir, name),
        publicKey: parsePublicKeyLine(readFileSync(join(dir, f), 'utf8').trim()),
      });
    } catch {
      // A damaged .pub is not a key we can offer; `vt keys list` shows only usable ones.
    }
  }
  return out;
}
