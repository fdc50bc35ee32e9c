import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';

/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, byte-compatible with Go's
 * golang.org/x/mod/sumdb/note: a text ending in a newline, a blank line, then signature lines
 * `— <name> base64(key ID ‖ signature)`. Key ID = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4].
 * Verifier keys read `name+hex(key ID)+base64(0x01 ‖ public key)`; signer keys
 * `PRIVATE+KEY+name+hex(key ID)+base64(0x01 ‖ seed)`.
 */

const ALG_ED25519 = 0x01;
const SIG_PREFIX = '— ';
const MAX_SIGNATURES = 100;
// DER wrappers that turn a raw 32-byte Ed25519 seed or public key into a key node:crypto reads.
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

/** Verifies note signatures made by one key. */
export interface NoteVerifier {
  readonly name: string;
  /** The 4-byte key ID, as a number (big-endian uint32). */
  readonly keyId: number;
  /** The encoded verifier key: name+hex(id)+base64(0x01 ‖ public key). */
  readonly vkey: string;
  verify(msg: Uint8Array, sig: Uint8Array): boolean;
}

/** Signs notes; holds a private key, so it is never printed or stored by vt. */
export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  readonly verifier: NoteVerifier;
  sign(msg: Uint8Array): Buffer;
}

/** An encoded key or note that does not parse: why, for the message shown to a person. */
export class NoteFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoteFormatError';
  }
}

/** Non-empty, no Unicode space, no plus. */
export function isValidKeyName(name: string): boolean {
  return name !== '' && !/[\s+\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u.test(name);
}

export function keyIdOf(name: string, alg: number, publicKey: Uint8Array): number {
  const h = createHash('sha256')
    .update(name, 'utf8')
    .update(Buffer.from([0x0a, alg]))
    .update(publicKey)
    .digest();
  return h.readUInt32BE(0);
}

const hex8 = (n: number) => n.toString(16).padStart(8, '0');

/** Strict standard base64: decodes and re-encodes to the same text. */
function base64(text: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return null;
  const b = Buffer.from(text, 'base64');
  return b.toString('base64') === text ? b : null;
}

function ed25519Verifier(name: string, publicKey: Buffer): NoteVerifier {
  const keyId = keyIdOf(name, ALG_ED25519, publicKey);
  const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, publicKey]), format: 'der', type: 'spki' });
  return {
    name,
    keyId,
    vkey: `${name}+${hex8(keyId)}+${Buffer.concat([Buffer.from([ALG_ED25519]), publicKey]).toString('base64')}`,
    verify: (msg, sig) => sig.length === 64 && verify(null, msg, key, sig),
  };
}

/** Split off `n` fields at the first "+" each time; the last field keeps any further "+" (base64 has them). */
function cut(text: string, n: number): string[] | null {
  const out: string[] = [];
  let rest = text;
  for (let i = 0; i < n; i++) {
    const at = rest.indexOf('+');
    if (at < 0) return null;
    out.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  out.push(rest);
  return out;
}

/** Parse an encoded verifier key (as Go's note.NewVerifier does, with the same checks). */
export function parseVerifierKey(vkey: string): NoteVerifier {
  const parts = cut(vkey.trim(), 2);
  if (!parts) throw new NoteFormatError('a verifier key reads name+keyid+base64key');
  const [name, id16, key64] = parts as [string, string, string];
  const key = base64(key64);
  if (!isValidKeyName(name) || !/^[0-9a-f]{8}$/.test(id16) || !key || key.length === 0)
    throw new NoteFormatError('malformed verifier key');
  if (Number.parseInt(id16, 16) !== keyIdOf(name, key[0]!, key.subarray(1)))
    throw new NoteFormatError('the verifier key ID does not match its name and key');
  if (key[0] !== ALG_ED25519) throw new NoteFormatError('unknown verifier key algorithm (only Ed25519)');
  if (key.length !== 33) throw new NoteFormatError('an Ed25519 verifier key holds 32 bytes');
  return ed25519Verifier(name, key.subarray(1));
}

function signerFromSeed(name: string, seed: Buffer): NoteSigner {
  const priv: KeyObject = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const spki = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  const verifier = ed25519Verifier(name, spki.subarray(spki.length - 32));
  return { name, keyId: verifier.keyId, verifier, sign: (msg) => sign(null, msg, priv) };
}

/** Parse an encoded signer key (Go's note.NewSigner format). */
export function parseSignerKey(skey: string): NoteSigner {
  const parts = cut(skey.trim(), 4);
  if (parts?.[0] !== 'PRIVATE' || parts[1] !== 'KEY')
    throw new NoteFormatError('a signer key reads PRIVATE+KEY+name+keyid+base64key');
  const [, , name, id16, key64] = parts as [string, string, string, string, string];
  const key = base64(key64);
  if (!isValidKeyName(name) || !/^[0-9a-f]{8}$/.test(id16) || !key || key.length === 0)
    throw new NoteFormatError('malformed signer key');
  if (key[0] !== ALG_ED25519) throw new NoteFormatError('unknown signer key algorithm (only Ed25519)');
  if (key.length !== 33) throw new NoteFormatError('an Ed25519 signer key holds a 32-byte seed');
  const signer = signerFromSeed(name, key.subarray(1));
  if (signer.keyId !== Number.parseInt(id16, 16))
    throw new NoteFormatError('the signer key ID does not match its name and key');
  return signer;
}

/** A new Ed25519 key pair for `name`: the encoded signer key (secret) and verifier key. */
export function generateNoteKey(name: string): { skey: string; vkey: string } {
  if (!isValidKeyName(name)) throw new NoteFormatError(`"${name}" is not a key name: no spaces or "+"`);
  const { privateKey } = generateKeyPairSync('ed25519');
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  const seed = pkcs8.subarray(pkcs8.length - 32);
  const signer = signerFromSeed(name, seed);
  const encoded = Buffer.concat([Buffer.from([ALG_ED25519]), seed]).toString('base64');
  return { skey: `PRIVATE+KEY+${name}+${hex8(signer.keyId)}+${encoded}`, vkey: signer.verifier.vkey };
}

/** Check a note's text can be signed: non-empty, ends in a newline, no control characters. */
function assertText(text: string): void {
  if (!text.endsWith('\n')) throw new NoteFormatError('a note text ends with a newline');
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text))
    throw new NoteFormatError('a note holds no control characters');
}

/** Sign a note text with one key; returns the whole note. */
export function signNote(text: string, signer: NoteSigner): string {
  assertText(text);
  const sig = Buffer.alloc(4);
  sig.writeUInt32BE(signer.keyId);
  const body = Buffer.concat([sig, signer.sign(Buffer.from(text, 'utf8'))]);
  return `${text}\n${SIG_PREFIX}${signer.name} ${body.toString('base64')}\n`;
}

export interface NoteSignature {
  name: string;
  keyId: number;
  base64: string;
}

export type OpenedNote =
  | { ok: true; text: string; verified: NoteSignature[]; unverified: NoteSignature[] }
  | { ok: false; reason: string; text?: string; unverified?: NoteSignature[] };

/**
 * Open a note: parse it and check the signatures of the known keys (as Go's note.Open does).
 * A signature by a known key that fails rejects the note; a note with no verified signature is
 * rejected; signatures by unknown keys are listed, never trusted.
 */
export function openNote(msg: string, known: readonly NoteVerifier[]): OpenedNote {
  if (/[\u0000-\u0009\u000b-\u001f]/.test(msg) || msg.includes('\ufffd'))
    return { ok: false, reason: 'malformed note: control characters or invalid UTF-8' };
  const split = msg.lastIndexOf('\n\n');
  if (split < 0) return { ok: false, reason: 'malformed note: no blank line before the signatures' };
  const text = msg.slice(0, split + 1);
  const sigs = msg.slice(split + 2);
  if (!sigs?.endsWith('\n')) return { ok: false, reason: 'malformed note: no signature lines' };
  const lines = sigs.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) return { ok: false, reason: 'malformed note: too many signatures' };
  const verified: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  const seen = new Set<string>();
  for (const line of lines) {
    if (!line.startsWith(SIG_PREFIX))
      return { ok: false, reason: 'malformed note: a signature line lacks "— "' };
    const rest = line.slice(SIG_PREFIX.length);
    const space = rest.indexOf(' ');
    const name = space < 0 ? rest : rest.slice(0, space);
    const b64 = space < 0 ? '' : rest.slice(space + 1);
    const raw = base64(b64);
    if (!isValidKeyName(name) || !raw || raw.length < 5)
      return { ok: false, reason: 'malformed note: a signature line does not parse' };
    const keyId = raw.readUInt32BE(0);
    const sig = { name, keyId, base64: b64 };
    const v = known.find((k) => k.name === name && k.keyId === keyId);
    if (!v) {
      if (!unverified.some((u) => u.name === name && u.keyId === keyId && u.base64 === b64))
        unverified.push(sig);
      continue;
    }
    const key = `${name}+${keyId}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (!v.verify(Buffer.from(text, 'utf8'), raw.subarray(4)))
      return { ok: false, reason: `invalid signature for key ${name}+${hex8(keyId)}`, text, unverified };
    verified.push(sig);
  }
  if (!verified.length)
    return {
      ok: false,
      reason: unverified.length
        ? `no signature by a known key (signed by ${unverified.map((u) => `${u.name}+${hex8(u.keyId)}`).join(', ')})`
        : 'no signature by a known key',
      text,
      unverified,
    };
  return { ok: true, text, verified, unverified };
}
