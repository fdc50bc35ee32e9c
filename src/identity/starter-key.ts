import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { VtError } from '../errors.ts';
import { agentIdentities } from './agent.ts';
import { parseOpenSshPrivateKey } from './key-file.ts';
import { formatPublicKey, parsePublicKeyLine, type SshPublicKey } from './public-key.ts';
import { initVtKey, vtKeyPath } from './vt-keys.ts';

/**
 * The key a new train lists for the person who writes it (`vt init`), so their first decision can be
 * signed: the key they name (--key), else ssh-agent's first key, else their vt key, else a new vt
 * key (outside every workspace: ~/.config/vt/keys/NAME).
 */
export async function starterKey(opts: {
  person: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
  keyFile?: string | undefined;
  workspaceRoot: string;
}): Promise<{ key: SshPublicKey; source: 'file' | 'agent' | 'vt' | 'new'; origin: string }> {
  const { env, person } = opts;
  if (opts.keyFile) {
    const path = resolve(opts.cwd, opts.keyFile);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new VtError(
        'NOT_FOUND',
        `cannot read the key ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      );
    }
    const key = text.trimStart().startsWith('-----BEGIN')
      ? parseOpenSshPrivateKey(text, path).publicKey
      : parsePublicKeyLine(text.trim().split('\n')[0]!);
    return { key, source: 'file', origin: path };
  }
  if (env.SSH_AUTH_SOCK) {
    try {
      const ids = (await agentIdentities(env.SSH_AUTH_SOCK)).filter((i) => i.key);
      const pick = ids.find((i) => i.key!.type === 'ssh-ed25519') ?? ids[0];
      if (pick?.key) return { key: pick.key, source: 'agent', origin: env.SSH_AUTH_SOCK };
    } catch {
      // An agent that does not answer: fall back to a vt key.
    }
  }
  const path = vtKeyPath(env, person);
  if (existsSync(`${path}.pub`))
    return {
      key: parsePublicKeyLine(readFileSync(`${path}.pub`, 'utf8').trim()),
      source: 'vt',
      origin: path,
    };
  const made = initVtKey(env, person, { workspaceRoot: opts.workspaceRoot });
  return { key: made.publicKey, source: 'new', origin: made.path };
}

/** The public key line as a train lists it. */
export const keyLine = (k: SshPublicKey) => formatPublicKey(k);
