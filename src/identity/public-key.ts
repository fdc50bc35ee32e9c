import { createHash, createPublicKey, type KeyObject, constants as nodeCrypto, verify } from 'node:crypto';
import { VtError } from '../errors.ts';
import { sshString, WireError, WireReader } from './wire.ts';

/**
 * SSH public keys as people hold them: `ssh-ed25519 AAAA… comment` lines, their wire blobs and
 * SHA256 fingerprints (as `ssh-keygen -l` prints them), and checking an SSH signature blob made by
 * one. Ed25519 is what vt makes and recommends; ECDSA (NIST P-256/384/521) and RSA (rsa-sha2-256/512,
 * 2048 bits or more) keys verify too, because node:crypto does them in a few lines and many people's
 * agent keys are of those kinds. Certificates and security keys (sk-*) are refused by name.
 */

export const KEY_TYPES = {
  'ssh-ed25519': { hash: null, curve: null },
  'ecdsa-sha2-nistp256': { hash: 'sha256', curve: 'nistp256' },
  'ecdsa-sha2-nistp384': { hash: 'sha384', curve: 'nistp384' },
  'ecdsa-sha2-nistp521': { hash: 'sha512', curve: 'nistp521' },
  'ssh-rsa': { hash: null, curve: null },
} as const;
export type KeyType = keyof typeof KEY_TYPES;

const CURVES = {
  nistp256: { jwk: 'P-256', bytes: 32 },
  nistp384: { jwk: 'P-384', bytes: 48 },
  nistp521: { jwk: 'P-521', bytes: 66 },
} as const;

/** RSA signature algorithms SSHSIG accepts (never the SHA-1 `ssh-rsa`), with their hashes. */
const RSA_SIG_ALGS = { 'rsa-sha2-512': 'sha512', 'rsa-sha2-256': 'sha256' } as const;
export const RSA_MIN_BITS = 2048;

/** A public key: its type, its wire blob (what fingerprints and signatures name) and its comment. */
export interface SshPublicKey {
  type: KeyType;
  blob: Buffer;
  comment: string;
}

/** A parsed blob with the node:crypto key it stands for. */
interface LoadedKey {
  type: KeyType;
  key: KeyObject;
  /** RSA modulus length in bytes (signatures are left-padded to it). */
  rsaBytes?: number;
}

const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url');

export function isKeyType(t: string): t is KeyType {
  return Object.hasOwn(KEY_TYPES, t);
}

/** Why a key type is not one vt signs or verifies with, in words a person can act on. */
export function unsupportedTypeMessage(type: string): string {
  if (type.includes('-cert-v01@openssh.com'))
    return `${type} is an SSH certificate: vt checks plain keys only; list the person's own key instead`;
  if (type.startsWith('sk-'))
    return `${type} is a security-key (FIDO) key: vt cannot verify those yet; use an ssh-ed25519 key (vt keys init)`;
  if (type === 'ssh-dss')
    return 'ssh-dss (DSA) keys are obsolete and refused; use an ssh-ed25519 key (vt keys init)';
  return `"${type}" is not a key type vt knows: use ssh-ed25519 (or ecdsa-sha2-nistp256/384/521, ssh-rsa)`;
}

/** Parse and check a public key blob; throws WireError or VtError with the reason. */
function loadBlob(blob: Uint8Array): LoadedKey {
  const r = new WireReader(blob);
  const type = r.text();
  if (!isKeyType(type)) throw new VtError('BAD_INPUT', unsupportedTypeMessage(type));
  if (type === 'ssh-ed25519') {
    const pk = r.string();
    r.end('the ssh-ed25519 key');
    if (pk.length !== 32) throw new WireError(`an Ed25519 public key has 32 bytes, not ${pk.length}`);
    return {
      type,
      key: createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(pk) }, format: 'jwk' }),
    };
  }
  if (type === 'ssh-rsa') {
    const e = r.mpint();
    const n = r.mpint();
    r.end('the ssh-rsa key');
    const bits = n.length * 8 - Math.clz32(n[0] ?? 0) + 24;
    if (bits < RSA_MIN_BITS)
      throw new VtError(
        'BAD_INPUT',
        `an RSA key of ${bits} bits is too weak: vt needs ${RSA_MIN_BITS} or more`,
      );
    return {
      type,
      key: createPublicKey({ key: { kty: 'RSA', n: b64url(n), e: b64url(e) }, format: 'jwk' }),
      rsaBytes: n.length,
    };
  }
  const curve = r.text();
  const q = r.string();
  r.end(`the ${type} key`);
  if (curve !== KEY_TYPES[type].curve) throw new WireError(`${type} names curve ${curve}`);
  const c = CURVES[curve as keyof typeof CURVES];
  if (q.length !== 1 + 2 * c.bytes || q[0] !== 4) throw new WireError('an EC point that is not uncompressed');
  const x = q.subarray(1, 1 + c.bytes);
  const y = q.subarray(1 + c.bytes);
  return {
    type,
    key: createPublicKey({ key: { kty: 'EC', crv: c.jwk, x: b64url(x), y: b64url(y) }, format: 'jwk' }),
  };
}

/** A public key from its wire blob, checked; BAD_INPUT with the reason when it is not usable. */
export function parsePublicKeyBlob(blob: Uint8Array, comment = ''): SshPublicKey {
  try {
    return { type: loadBlob(blob).type, blob: Buffer.from(blob), comment };
  } catch (err) {
    throw asKeyError(err);
  }
}

function asKeyError(err: unknown): VtError {
  if (err instanceof VtError) return err;
  const why = err instanceof Error ? err.message : String(err);
  return new VtError('BAD_INPUT', `not a valid SSH public key: ${why}`);
}

/** Parse `type base64 [comment]` (a line of id_ed25519.pub or authorized_keys without options). */
export function parsePublicKeyLine(line: string): SshPublicKey {
  const m = /^\s*(\S+)\s+([A-Za-z0-9+/]+={0,2})(?:\s+(.*?))?\s*$/.exec(line);
  if (!m) {
    const type = line.trim().split(/\s+/)[0] ?? '';
    if (type && !isKeyType(type) && !/^[A-Za-z0-9+/]+=*$/.test(type))
      throw new VtError('BAD_INPUT', unsupportedTypeMessage(type));
    throw new VtError('BAD_INPUT', 'not an SSH public key line: expected "ssh-ed25519 AAAA… comment"', {
      hint: 'Print yours with: vt keys list, or cat ~/.ssh/id_ed25519.pub',
    });
  }
  const [, type, b64, comment] = m;
  if (!isKeyType(type!)) throw new VtError('BAD_INPUT', unsupportedTypeMessage(type!));
  const blob = Buffer.from(b64!, 'base64');
  if (blob.toString('base64') !== b64!.padEnd(Math.ceil(b64!.length / 4) * 4, '='))
    throw new VtError('BAD_INPUT', 'not an SSH public key line: the base64 part is damaged');
  const key = parsePublicKeyBlob(blob, comment ?? '');
  if (key.type !== type)
    throw new VtError('BAD_INPUT', `the key line says ${type} but its blob holds a ${key.type} key`);
  return key;
}

/** Whether `line` is a usable public key line (for schema checks that want a yes or no). */
export function isPublicKeyLine(line: string): boolean {
  try {
    parsePublicKeyLine(line);
    return true;
  } catch {
    return false;
  }
}

/** `type base64 comment`, as ssh-keygen writes .pub files. */
export function formatPublicKey(k: SshPublicKey, comment = k.comment): string {
  return `${k.type} ${k.blob.toString('base64')}${comment ? ` ${comment}` : ''}`;
}

/** SHA256 fingerprint as `ssh-keygen -l` prints it: `SHA256:` and unpadded base64. */
export function fingerprint(k: SshPublicKey | Uint8Array): string {
  const blob = k instanceof Uint8Array ? k : k.blob;
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export function sameKey(a: SshPublicKey, b: SshPublicKey): boolean {
  return a.blob.equals(b.blob);
}

/** The SSH signature blob for an Ed25519 signature: string("ssh-ed25519") ‖ string(sig). */
export function ed25519SignatureBlob(sig: Uint8Array): Buffer {
  return Buffer.concat([sshString('ssh-ed25519'), sshString(sig)]);
}

/** The SSH wire blob of an Ed25519 public key. */
export function ed25519PublicBlob(pk: Uint8Array): Buffer {
  return Buffer.concat([sshString('ssh-ed25519'), sshString(pk)]);
}

/** Check an SSH signature blob over `data` by the key with wire blob `keyBlob`; null when it verifies. */
export function checkSshSignature(keyBlob: Uint8Array, sigBlob: Uint8Array, data: Uint8Array): string | null {
  let loaded: LoadedKey;
  try {
    loaded = loadBlob(keyBlob);
  } catch (err) {
    return asKeyError(err).message;
  }
  try {
    const r = new WireReader(sigBlob);
    const alg = r.text();
    const body = r.string();
    r.end('the signature');
    if (loaded.type === 'ssh-ed25519') {
      if (alg !== 'ssh-ed25519') return `an ${alg} signature from an ssh-ed25519 key`;
      if (body.length !== 64) return 'an Ed25519 signature has 64 bytes';
      return verify(null, data, loaded.key, body) ? null : 'the signature does not match';
    }
    if (loaded.type === 'ssh-rsa') {
      const hash = (RSA_SIG_ALGS as Record<string, string>)[alg];
      if (!hash) return `RSA signature algorithm ${alg} is refused (only rsa-sha2-512 and rsa-sha2-256)`;
      const width = loaded.rsaBytes!;
      if (body.length > width) return 'an RSA signature longer than its modulus';
      const padded = Buffer.concat([Buffer.alloc(width - body.length), body]);
      return verify(hash, data, { key: loaded.key, padding: nodeCrypto.RSA_PKCS1_PADDING }, padded)
        ? null
        : 'the signature does not match';
    }
    if (alg !== loaded.type) return `an ${alg} signature from an ${loaded.type} key`;
    const inner = new WireReader(body);
    const rInt = inner.mpint();
    const sInt = inner.mpint();
    inner.end('the ECDSA signature');
    const { bytes } = CURVES[KEY_TYPES[loaded.type].curve!];
    if (rInt.length > bytes || sInt.length > bytes) return 'an ECDSA signature value out of range';
    const rs = Buffer.concat([
      Buffer.alloc(bytes - rInt.length),
      rInt,
      Buffer.alloc(bytes - sInt.length),
      sInt,
    ]);
    return verify(KEY_TYPES[loaded.type].hash!, data, { key: loaded.key, dsaEncoding: 'ieee-p1363' }, rs)
      ? null
      : 'the signature does not match';
  } catch (err) {
    if (err instanceof WireError) return `a malformed signature: ${err.message}`;
    return `the signature could not be checked: ${err instanceof Error ? err.message : String(err)}`;
  }
}
