import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { agentIdentities } from './agent.ts';
import { parseOpenSshPrivateKey } from './key-file.ts';
import { chooseSigner, type SignerSource } from './keys.ts';
import { type KeyRing, type KeyStatus, statusOfKeyFor } from './people.ts';
import { fingerprint, formatPublicKey, parsePublicKeyLine, type SshPublicKey } from './public-key.ts';
import { listVtKeys } from './vt-keys.ts';

/**
 * What keys a person has at hand (ssh-agent, ~/.ssh, vt keys), and who the train says holds them:
 * the data behind `vt keys list` and `vt whoami`. Private key files are opened only to tell
 * whether vt could sign with them (unencrypted Ed25519); nothing of them is returned.
 */

/** How the train lists a key: for whom, and how it stands now. */
export interface Listing {
  person: string;
  status: KeyStatus;
  valid_after: string | null;
  valid_before: string | null;
  revoked_at: string | null;
  source: string;
}

export interface FoundKey {
  source: SignerSource;
  type: string;
  fingerprint: string;
  comment: string;
  /** The private key file (files and vt keys), or null for agent keys. */
  path: string | null;
  public_key: string;
  /** 'yes' when vt can sign with it here, else why not. */
  signs: string;
  listed_for: Listing[];
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Every listing of `key` in the ring, with its standing at `now`. */
export function listingsFor(ring: KeyRing | null, key: SshPublicKey, now: number): Listing[] {
  if (!ring) return [];
  const fp = fingerprint(key);
  const people = [...new Set(ring.listingsOf(fp).map((l) => l.principals))];
  return people.flatMap((person) => {
    // A pattern (allowed_signers) is reported as written; a person's name is checked as that person.
    const l = listingOf(ring, person, key, now);
    return l ? [l] : [];
  });
}

/** How the ring lists `key` for `person` at `now`, or null. */
export function listingOf(ring: KeyRing, person: string, key: SshPublicKey, now: number): Listing | null {
  const s = statusOfKeyFor(ring, person, fingerprint(key), now);
  if (!s) return null;
  const l = s.listing;
  return {
    person,
    status: s.status,
    valid_after: iso(l.validAfter),
    valid_before: iso(l.validBefore),
    revoked_at: iso(l.revokedAt),
    source: l.source,
  };
}

function canSignFrom(path: string): string {
  if (!existsSync(path)) return 'no private key file beside it';
  try {
    parseOpenSshPrivateKey(readFileSync(path, 'utf8'), path);
    return 'yes';
  } catch (err) {
    return `not from the file: ${(err as Error).message.replace(`${path}: `, '').replace(`${path} `, '')}; use ssh-agent`;
  }
}

/** Keys in ssh-agent, ~/.ssh/*.pub and the vt key folder, with the train's listings of each. */
export async function findKeys(
  env: NodeJS.ProcessEnv,
  ring: KeyRing | null,
  now: number,
): Promise<{ keys: FoundKey[]; notes: string[] }> {
  const keys: FoundKey[] = [];
  const notes: string[] = [];
  const held = new Set<string>();
  const add = (source: SignerSource, key: SshPublicKey, path: string | null, signs: string) =>
    keys.push({
      source,
      type: key.type,
      fingerprint: fingerprint(key),
      comment: key.comment,
      path,
      public_key: formatPublicKey(key),
      signs,
      listed_for: listingsFor(ring, key, now),
    });
  if (env.SSH_AUTH_SOCK) {
    try {
      for (const id of await agentIdentities(env.SSH_AUTH_SOCK)) {
        if (!id.key) {
          notes.push(`ssh-agent holds a key vt cannot use (${id.comment}): ${id.unsupported}`);
          continue;
        }
        held.add(fingerprint(id.key));
        add('agent', id.key, null, 'yes');
      }
    } catch (err) {
      notes.push((err as Error).message);
    }
  } else notes.push('no ssh-agent: SSH_AUTH_SOCK is not set');
  const sshDir = join(env.HOME || homedir(), '.ssh');
  if (existsSync(sshDir)) {
    for (const f of readdirSync(sshDir).sort()) {
      if (!f.endsWith('.pub')) continue;
      let key: SshPublicKey;
      try {
        key = parsePublicKeyLine(readFileSync(join(sshDir, f), 'utf8').trim());
      } catch {
        continue; // A certificate, a DSA key, a damaged file: nothing vt could sign with.
      }
      const path = join(sshDir, f.slice(0, -4));
      add('file', key, path, held.has(fingerprint(key)) ? 'yes (through ssh-agent)' : canSignFrom(path));
    }
  }
  for (const k of listVtKeys(env)) add('vt', k.publicKey, k.path, 'yes');
  return { keys, notes };
}

/** Who you are to vt: the name you claim, the key that would sign, and what the train says of it. */
export interface Identity {
  actor: string;
  /** Where the name came from: a flag, VT_ACTOR or the login name — a claim until a signature backs it. */
  actor_from: '--as' | 'VT_ACTOR' | 'login';
  signer: {
    source: SignerSource;
    origin: string;
    type: string;
    fingerprint: string;
    public_key: string;
  } | null;
  /** The train's listing of the signing key for this actor, or null when it does not list it. */
  listing: Listing | null;
  /** Everyone else the train lists the signing key for. */
  also_listed_for: string[];
  train: string | null;
  notes: string[];
}

export async function whoami(opts: {
  actor: string;
  actorFrom: Identity['actor_from'];
  env: NodeJS.ProcessEnv;
  cwd: string;
  ring: KeyRing | null;
  trainFile: string | null;
  keyFile?: string | undefined;
  now: number;
}): Promise<Identity> {
  const { signer, notes } = opts.env.VT_SESSION
    ? { signer: null, notes: [`inside an agent's session (${opts.env.VT_SESSION}): nothing signs here`] }
    : await chooseSigner({
        person: opts.actor,
        env: opts.env,
        cwd: opts.cwd,
        ring: opts.ring,
        keyFile: opts.keyFile,
      });
  const listings = signer ? listingsFor(opts.ring, signer.publicKey, opts.now) : [];
  if (!opts.ring) notes.push('no vt.yaml here: nothing says which keys belong to whom');
  return {
    actor: opts.actor,
    actor_from: opts.actorFrom,
    signer: signer && {
      source: signer.source,
      origin: signer.origin,
      type: signer.publicKey.type,
      fingerprint: fingerprint(signer.publicKey),
      public_key: formatPublicKey(signer.publicKey),
    },
    listing: signer && opts.ring ? listingOf(opts.ring, opts.actor, signer.publicKey, opts.now) : null,
    also_listed_for: listings.filter((l) => l.person !== opts.actor).map((l) => l.person),
    train: opts.trainFile,
    notes,
  };
}
