import { sign as edSign } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { VtError } from '../errors.ts';
import { type AgentIdentity, agentIdentities, agentSign } from './agent.ts';
import type { Ed25519Key } from './key-file.ts';
import type { KeyRing } from './people.ts';
import { ed25519SignatureBlob, fingerprint, parsePublicKeyLine, type SshPublicKey } from './public-key.ts';
import type { SshSigner } from './sshsig.ts';
import { loadKeyFile, vtKeyPath } from './vt-keys.ts';

/**
 * Signers: where a person's signature comes from. In order of preference:
 *   1. `--key FILE` or VT_SIGNING_KEY: an unencrypted OpenSSH Ed25519 private key file, or a public
 *      key file (like git's user.signingKey) whose private half ssh-agent holds;
 *   2. ssh-agent (SSH_AUTH_SOCK): its first key the train lists for the person;
 *   3. the person's vt key (`vt keys init`).
 */

export const SIGNER_SOURCES = ['file', 'agent', 'vt'] as const;
export type SignerSource = (typeof SIGNER_SOURCES)[number];

export interface Signer extends SshSigner {
  source: SignerSource;
  /** The key file, or the agent socket. */
  origin: string;
}

/** A signer over an Ed25519 key held in this process. */
export function keySigner(k: Ed25519Key, source: SignerSource, origin: string): Signer {
  return {
    publicKey: k.publicKey,
    source,
    origin,
    sign: async (data) => ed25519SignatureBlob(edSign(null, data, k.privateKey)),
  };
}

/** A signer that asks ssh-agent to sign with `key`. */
export function agentSigner(sock: string, key: SshPublicKey): Signer {
  return { publicKey: key, source: 'agent', origin: sock, sign: (data) => agentSign(sock, key, data) };
}

/** What the person asked to sign with: a private key file, or a public key the agent must hold. */
async function explicitSigner(file: string, env: NodeJS.ProcessEnv, cwd: string): Promise<Signer> {
  const path = resolve(cwd, file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new VtError(
      'NOT_FOUND',
      `cannot read the signing key ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }
  if (!text.trimStart().startsWith('-----BEGIN')) {
    const pub = parsePublicKeyLine(text.trim().split('\n')[0]!);
    const sock = env.SSH_AUTH_SOCK;
    if (!sock)
      throw new VtError(
        'BAD_INPUT',
        `${path} is a public key, and no ssh-agent is running to hold its private half`,
        {
          hint: 'Start one and add the key (eval "$(ssh-agent)"; ssh-add), or pass the private key file',
        },
      );
    const held = (await agentIdentities(sock)).find((i) => i.blob.equals(pub.blob));
    if (!held)
      throw new VtError('NOT_FOUND', `ssh-agent does not hold ${fingerprint(pub)} (${path})`, {
        hint: 'Add it: ssh-add',
      });
    return agentSigner(sock, pub);
  }
  return keySigner(loadKeyFile(path), 'file', path);
}

/**
 * Environment variables that lead to a person's keys. An agent's session must not inherit them:
 * whoever can reach the agent socket can sign as its owner. Executors should start without them.
 */
export const SIGNING_ENV = ['SSH_AUTH_SOCK', 'SSH_AGENT_PID', 'VT_SIGNING_KEY'] as const;

/** `env` without the variables that reach a person's keys (for the processes an agent runs). */
export function withoutSigningEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const k of SIGNING_ENV) delete out[k];
  return out;
}

/** The signer for `person`, with notes on what was looked at (for `vt whoami` and error hints). */
export async function chooseSigner(opts: {
  person: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
  ring: KeyRing | null;
  keyFile?: string | undefined;
}): Promise<{ signer: Signer | null; notes: string[] }> {
  const { env, person, ring } = opts;
  const notes: string[] = [];
  // Belt and braces only (a session can unset the variable): the real guard is that an agent's
  // processes get no agent socket and cannot read the key folder.
  if (env.VT_SESSION)
    throw new VtError('NOT_PERMITTED', "inside an agent's session vt signs no one's decisions", {
      hint: 'People sign their decisions from their own shell, outside sessions',
    });
  const file = opts.keyFile ?? (env.VT_SIGNING_KEY || undefined);
  if (file) return { signer: await explicitSigner(file, env, opts.cwd), notes };
  const sock = env.SSH_AUTH_SOCK;
  if (sock) {
    let ids: AgentIdentity[] = [];
    try {
      ids = await agentIdentities(sock);
    } catch (err) {
      notes.push(`ssh-agent not used: ${(err as Error).message}`);
    }
    const known = new Set(ring?.keysOf(person).map((k) => k.fingerprint) ?? []);
    const hit = ids.find((i) => i.key && known.has(fingerprint(i.key)));
    if (hit?.key) return { signer: agentSigner(sock, hit.key), notes };
    if (ids.length)
      notes.push(`ssh-agent holds ${ids.length} key(s), none listed for ${person} in the train`);
  } else notes.push('no ssh-agent (SSH_AUTH_SOCK is not set)');
  let path: string | null = null;
  try {
    path = vtKeyPath(env, person);
  } catch {
    notes.push(`"${person}" cannot name a vt key file`);
  }
  if (path && existsSync(path)) return { signer: keySigner(loadKeyFile(path), 'vt', path), notes };
  if (path) notes.push(`no vt key at ${path}`);
  return { signer: null, notes };
}

/** Like chooseSigner, but a missing signer is an error that says how to get one. */
export async function requireSigner(opts: Parameters<typeof chooseSigner>[0]): Promise<Signer> {
  const { signer, notes } = await chooseSigner(opts);
  if (signer) return signer;
  throw new VtError('NOT_FOUND', `no key to sign as ${opts.person}: ${notes.join('; ')}`, {
    hint: `Make one with: vt keys init --name ${opts.person}, then add its public key under people: in vt.yaml`,
  });
}
