import { type AllowedSigner, formatAllowedSigner, parseAllowedSigners } from './allowed-signers.ts';
import { matchPatternList } from './patterns.ts';
import { fingerprint, parsePublicKeyLine, type SshPublicKey } from './public-key.ts';
import { parseIsoTime } from './ssh-time.ts';
import { VT_NAMESPACE } from './sshsig.ts';

/**
 * Who holds which key, and when. Keys come from the train (`people: name: {keys: […]}`) and from
 * the allowed_signers file the train names (`signers: path`). Each listing has a window
 * (valid_after … valid_before) and, for train keys, an optional revocation time: rotating a key is
 * closing one window and opening another; revoking it marks it compromised from a moment on.
 */

/** How a key stands for a signature made at a given time. */
export const KEY_STATUSES = ['valid', 'not yet valid', 'expired', 'revoked'] as const;
export type KeyStatus = (typeof KEY_STATUSES)[number];

/** One listing of a key for a person (or a principals pattern, from allowed_signers). */
export interface PersonKey {
  /** A person's name (train, matched exactly) or a principals pattern list (allowed_signers). */
  principals: string;
  /** Whether `principals` is a pattern list (allowed_signers) rather than one name. */
  pattern: boolean;
  key: SshPublicKey;
  fingerprint: string;
  /** Epoch ms, inclusive; null for no bound. */
  validAfter: number | null;
  /** Epoch ms, inclusive; null for no bound. */
  validBefore: number | null;
  /** Epoch ms from which signatures by this key are refused as revoked. */
  revokedAt: number | null;
  /** Namespaces pattern list (allowed_signers), or null for any. */
  namespaces: string | null;
  /** Where the listing is: `vt.yaml people.alice.keys[0]` or `allowed_signers:3`. */
  source: string;
}

/** The train's listing of a key, as the schema validated it. */
export interface TrainKey {
  key: string;
  valid_after?: string | undefined;
  valid_before?: string | undefined;
  revoked_at?: string | undefined;
}

/** Whether a listing lets the key sign at `t` (epoch ms). */
export function keyStatusAt(k: PersonKey, t: number): KeyStatus {
  if (k.revokedAt !== null && t >= k.revokedAt) return 'revoked';
  if (k.validAfter !== null && t < k.validAfter) return 'not yet valid';
  if (k.validBefore !== null && t > k.validBefore) return 'expired';
  return 'valid';
}

/** Every key listing vt knows, looked up by person or by key. */
export class KeyRing {
  readonly entries: readonly PersonKey[];
  constructor(entries: readonly PersonKey[]) {
    this.entries = entries;
  }
  /** Listings that name `person` and may sign in the vt namespace, valid or not. */
  keysOf(person: string): PersonKey[] {
    return this.entries.filter(
      (e) =>
        (e.pattern ? matchPatternList(person, e.principals) === 1 : e.principals === person) &&
        (e.namespaces === null || matchPatternList(VT_NAMESPACE, e.namespaces) === 1),
    );
  }
  /** Every listing of the key with this fingerprint, whoever it names. */
  listingsOf(fp: string): PersonKey[] {
    return this.entries.filter((e) => e.fingerprint === fp);
  }
}

/** The listings that let `person` sign at time `at`: the answer to "which keys were valid for P at T". */
export function keysValidAt(ring: KeyRing, person: string, at: Date | number): PersonKey[] {
  const t = typeof at === 'number' ? at : at.getTime();
  return ring.keysOf(person).filter((k) => keyStatusAt(k, t) === 'valid');
}

/** How `key` stands for `person` at `t`, over all its listings: revoked wins, then valid, expired, not yet valid. */
export function statusOfKeyFor(
  ring: KeyRing,
  person: string,
  fp: string,
  t: number,
): { status: KeyStatus; listing: PersonKey } | null {
  const listings = ring.keysOf(person).filter((k) => k.fingerprint === fp);
  if (!listings.length) return null;
  const ranked = listings.map((listing) => ({ status: keyStatusAt(listing, t), listing }));
  for (const want of ['revoked', 'valid', 'expired', 'not yet valid'] as const) {
    const hit = ranked.find((r) => r.status === want);
    if (hit) return hit;
  }
  return null;
}

/** Listings from the train's people (already validated by the train schema). */
export function trainKeyListings(
  keys: Readonly<Record<string, readonly TrainKey[]>>,
  file = 'vt.yaml',
): PersonKey[] {
  const out: PersonKey[] = [];
  for (const [person, list] of Object.entries(keys)) {
    list.forEach((k, i) => {
      const key = parsePublicKeyLine(k.key);
      out.push({
        principals: person,
        pattern: false,
        key,
        fingerprint: fingerprint(key),
        validAfter: k.valid_after === undefined ? null : parseIsoTime(k.valid_after),
        validBefore: k.valid_before === undefined ? null : parseIsoTime(k.valid_before),
        revokedAt: k.revoked_at === undefined ? null : parseIsoTime(k.revoked_at),
        namespaces: null,
        source: `${file} people.${person}.keys[${i}]`,
      });
    });
  }
  return out;
}

/** Listings from an allowed_signers file's entries. */
export function allowedSignerListings(entries: readonly AllowedSigner[]): PersonKey[] {
  return entries.map((e) => ({
    principals: e.principals,
    pattern: true,
    key: e.key,
    fingerprint: fingerprint(e.key),
    validAfter: e.validAfter,
    validBefore: e.validBefore,
    revokedAt: null,
    namespaces: e.namespaces,
    source: `${e.file}:${e.line}`,
  }));
}

/** The key ring of a train: its people's keys plus the allowed_signers file it names (text read by the caller). */
export function keyRingOf(
  train: { keys?: Readonly<Record<string, readonly TrainKey[]>> | undefined },
  signers: { text: string; file: string } | null = null,
  trainFile = 'vt.yaml',
): KeyRing {
  return new KeyRing([
    ...trainKeyListings(train.keys ?? {}, trainFile),
    ...(signers ? allowedSignerListings(parseAllowedSigners(signers.text, signers.file)) : []),
  ]);
}

/**
 * The ring as an allowed_signers file, so anyone can check a decision with `ssh-keygen -Y verify`
 * alone. A revocation becomes a `valid-before` one second earlier (the file has no other way to
 * say it); allowed_signers listings keep their own principals and namespaces.
 */
export function ringToAllowedSigners(ring: KeyRing): string {
  return ring.entries
    .map((e) => {
      const end =
        e.revokedAt === null
          ? e.validBefore
          : Math.min(e.validBefore ?? Number.POSITIVE_INFINITY, e.revokedAt - 1000);
      return formatAllowedSigner({
        principals: e.principals.split(','),
        key: e.key,
        namespaces: e.namespaces === null ? [VT_NAMESPACE] : e.namespaces.split(','),
        validAfter: e.validAfter,
        validBefore: end,
      });
    })
    .map((l) => `${l}\n`)
    .join('');
}
