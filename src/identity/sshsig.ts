import { createHash } from 'node:crypto';
import { checkSshSignature, parsePublicKeyBlob, type SshPublicKey } from './public-key.ts';
import { sshString, u32, WireError, WireReader } from './wire.ts';

/**
 * SSH signatures (OpenSSH PROTOCOL.sshsig), the format of `ssh-keygen -Y sign` and of git's SSH
 * commit signatures. A signature binds a message to a key *and a namespace*, so one made for git
 * ("git") or for files ("file") never passes as a vt decision ("vt"), and the other way round.
 *
 *   blob        = "SSHSIG" ‖ uint32(1) ‖ string(publickey) ‖ string(namespace) ‖ string(reserved)
 *                 ‖ string(hash_algorithm) ‖ string(signature)
 *   signed data = "SSHSIG" ‖ string(namespace) ‖ string(reserved) ‖ string(hash_algorithm)
 *                 ‖ string(H(message))
 */

export const VT_NAMESPACE = 'vt';
const MAGIC = Buffer.from('SSHSIG', 'latin1');
const VERSION = 1;
const HASHES = ['sha512', 'sha256'] as const;
type HashAlg = (typeof HASHES)[number];
const BEGIN = '-----BEGIN SSH SIGNATURE-----';
const END = '-----END SSH SIGNATURE-----';

/** Anything that can make an SSH signature blob with a key: a key file, ssh-agent, a test double. */
export interface SshSigner {
  publicKey: SshPublicKey;
  /** Sign `data` and return the SSH signature blob (string(algorithm) ‖ string(signature)). */
  sign(data: Uint8Array): Promise<Buffer>;
}

/** The bytes the key actually signs for `message` in `namespace`. */
export function sshsigSignedData(namespace: string, message: Uint8Array, hash: HashAlg = 'sha512'): Buffer {
  return Buffer.concat([
    MAGIC,
    sshString(namespace),
    sshString(''),
    sshString(hash),
    sshString(createHash(hash).update(message).digest()),
  ]);
}

/** The armored text, wrapped at 70 columns as ssh-keygen writes it. */
export function armor(blob: Uint8Array): string {
  const lines =
    Buffer.from(blob)
      .toString('base64')
      .match(/.{1,70}/g) ?? [];
  return `${BEGIN}\n${lines.join('\n')}\n${END}\n`;
}

/** The blob inside an armored signature, or null when the armor is not there. */
export function dearmor(text: string): Buffer | null {
  if (!text.startsWith(BEGIN)) return null;
  let rest = text.slice(BEGIN.length);
  if (rest.startsWith('\r\n')) rest = rest.slice(2);
  else if (rest.startsWith('\n')) rest = rest.slice(1);
  else return null;
  const end = rest.indexOf(`\n${END}`);
  if (end < 0) return null;
  const b64 = rest.slice(0, end).replace(/[\r\n]/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) return null;
  const blob = Buffer.from(b64, 'base64');
  // Only the canonical encoding: otherwise two texts (differing in unused bits) would carry one signature.
  return blob.toString('base64') === b64 ? blob : null;
}

/** Sign `message` in `namespace`; returns the armored signature. The result is checked before it is returned. */
export async function sshsigSign(message: Uint8Array, signer: SshSigner, namespace: string): Promise<string> {
  if (!namespace) throw new Error('an SSH signature needs a namespace');
  const sig = await signer.sign(sshsigSignedData(namespace, message));
  const blob = Buffer.concat([
    MAGIC,
    u32(VERSION),
    sshString(signer.publicKey.blob),
    sshString(namespace),
    sshString(''),
    sshString('sha512'),
    sshString(sig),
  ]);
  const armored = armor(blob);
  // An agent that answers with another key's signature, or a SHA-1 RSA one, is caught here, not later.
  const check = sshsigVerify(armored, message, namespace);
  if (!check.ok) throw new Error(`the signer produced a signature that does not verify: ${check.reason}`);
  return armored;
}

/** The fields of an SSH signature blob. */
export interface ParsedSshsig {
  publicKey: SshPublicKey;
  namespace: string;
  hash: HashAlg;
  signature: Buffer;
}

export type SshsigResult =
  | { ok: true; publicKey: SshPublicKey; namespace: string }
  | { ok: false; reason: string; publicKey: SshPublicKey | null };

/** Parse an armored signature; a string saying why when it is not one. */
export function parseSshsig(armored: string): ParsedSshsig | string {
  const blob = dearmor(armored);
  if (!blob) return 'not an armored SSH signature (-----BEGIN SSH SIGNATURE-----)';
  try {
    const r = new WireReader(blob);
    if (!r.bytes(MAGIC.length).equals(MAGIC)) return 'not an SSH signature: no SSHSIG magic';
    const version = r.u32();
    if (version !== VERSION) return `SSH signature version ${version} is not supported (only ${VERSION})`;
    const keyBlob = r.string();
    const namespace = r.text();
    r.string(); // reserved: ignored when not empty, as the format says
    const hash = r.text();
    const signature = Buffer.from(r.string());
    r.end('the SSH signature');
    if (!(HASHES as readonly string[]).includes(hash))
      return `hash algorithm "${hash}" is not sha512 or sha256`;
    let publicKey: SshPublicKey;
    try {
      publicKey = parsePublicKeyBlob(keyBlob);
    } catch (err) {
      return `the signing key is not usable: ${(err as Error).message}`;
    }
    return { publicKey, namespace, hash: hash as HashAlg, signature };
  } catch (err) {
    if (err instanceof WireError) return `a malformed SSH signature: ${err.message}`;
    throw err;
  }
}

/** Verify an armored signature over `message` in `namespace`; says which key signed, or why it fails. */
export function sshsigVerify(armored: string, message: Uint8Array, namespace: string): SshsigResult {
  const p = parseSshsig(armored);
  if (typeof p === 'string') return { ok: false, reason: p, publicKey: null };
  if (p.namespace !== namespace)
    return {
      ok: false,
      reason: `signed in namespace "${p.namespace}", not "${namespace}"`,
      publicKey: p.publicKey,
    };
  const why = checkSshSignature(p.publicKey.blob, p.signature, sshsigSignedData(namespace, message, p.hash));
  if (why) return { ok: false, reason: why, publicKey: p.publicKey };
  return { ok: true, publicKey: p.publicKey, namespace };
}
