import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { VtError } from '../errors.ts';
import {
  ed25519PublicBlob,
  parsePublicKeyBlob,
  type SshPublicKey,
  unsupportedTypeMessage,
} from './public-key.ts';
import { sshString, u32, WireError, WireReader } from './wire.ts';

/**
 * OpenSSH private key files (`openssh-key-v1`, PROTOCOL.key), for unencrypted Ed25519 keys: read
 * one a person made with `ssh-keygen -t ed25519 -N ''`, and write one `ssh-keygen` reads back. A
 * passphrase-protected key is refused: vt never asks for or holds a passphrase; ssh-agent does that.
 */

const MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
const BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const END = '-----END OPENSSH PRIVATE KEY-----';

/** An Ed25519 private key, ready to sign, with its public half. */
export interface Ed25519Key {
  publicKey: SshPublicKey;
  privateKey: KeyObject;
}

const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url');

function fromSeed(seed: Uint8Array, pk: Uint8Array, comment: string): Ed25519Key {
  const privateKey = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: b64url(seed), x: b64url(pk) },
    format: 'jwk',
  });
  // The file names its public key twice; the seed decides. A mismatch is a damaged or doctored file.
  const derived = Buffer.from(createPublicKey(privateKey).export({ format: 'jwk' }).x!, 'base64url');
  if (!derived.equals(Buffer.from(pk)))
    throw new VtError('BAD_INPUT', 'the key file is damaged: its public key does not match its private key');
  return { publicKey: parsePublicKeyBlob(ed25519PublicBlob(pk), comment), privateKey };
}

/** A new random Ed25519 key. */
export function generateEd25519(comment: string): Ed25519Key {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return fromSeed(Buffer.from(jwk.d!, 'base64url'), Buffer.from(jwk.x!, 'base64url'), comment);
}

/** The 32-byte seed and public key of an Ed25519 KeyObject. */
function rawParts(k: Ed25519Key): { seed: Buffer; pk: Buffer } {
  const jwk = k.privateKey.export({ format: 'jwk' });
  return { seed: Buffer.from(jwk.d!, 'base64url'), pk: Buffer.from(jwk.x!, 'base64url') };
}

/** The key as an unencrypted `openssh-key-v1` file, byte for byte the layout ssh-keygen writes. */
export function formatOpenSshPrivateKey(k: Ed25519Key): string {
  const { seed, pk } = rawParts(k);
  const check = randomBytes(4);
  const body = Buffer.concat([
    check,
    check,
    sshString('ssh-ed25519'),
    sshString(pk),
    sshString(Buffer.concat([seed, pk])),
    sshString(k.publicKey.comment),
  ]);
  const pad = Buffer.from(Array.from({ length: (8 - (body.length % 8)) % 8 }, (_, i) => i + 1));
  const blob = Buffer.concat([
    MAGIC,
    sshString('none'),
    sshString('none'),
    sshString(''),
    u32(1),
    sshString(ed25519PublicBlob(pk)),
    sshString(Buffer.concat([body, pad])),
  ]);
  const lines = blob.toString('base64').match(/.{1,70}/g)!;
  return `${BEGIN}\n${lines.join('\n')}\n${END}\n`;
}

/** Read an OpenSSH private key file's text; `where` names it in errors. */
export function parseOpenSshPrivateKey(text: string, where: string): Ed25519Key {
  const trimmed = text.trim();
  if (!trimmed.startsWith(BEGIN)) {
    if (/^-----BEGIN (RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY-----/.test(trimmed))
      throw new VtError(
        'BAD_INPUT',
        `${where} is a PEM key, not an OpenSSH one: vt reads openssh-key-v1 files`,
        {
          hint: `Add it to ssh-agent (ssh-add ${where}) and vt signs through the agent, or make a key with: vt keys init`,
        },
      );
    if (/^(ssh-|ecdsa-|sk-)/.test(trimmed))
      throw new VtError(
        'BAD_INPUT',
        `${where} is a public key; signing needs the private key (or ssh-agent)`,
      );
    throw new VtError('BAD_INPUT', `${where} is not an OpenSSH private key`);
  }
  if (!trimmed.endsWith(END)) throw new VtError('BAD_INPUT', `${where} is cut short: no END line`);
  const b64 = trimmed.slice(BEGIN.length, -END.length).replace(/\s+/g, '');
  const blob = Buffer.from(b64, 'base64');
  try {
    if (!blob.subarray(0, MAGIC.length).equals(MAGIC)) throw new WireError('no openssh-key-v1 magic');
    const r = new WireReader(blob.subarray(MAGIC.length));
    const cipher = r.text();
    const kdf = r.text();
    r.string();
    if (cipher !== 'none' || kdf !== 'none')
      throw new VtError('BAD_INPUT', `${where} is protected by a passphrase, and vt never asks for one`, {
        hint: `Load it into ssh-agent (ssh-add ${where}): vt then signs through the agent. Or make a vt key: vt keys init`,
      });
    const n = r.u32();
    if (n !== 1) throw new VtError('BAD_INPUT', `${where} holds ${n} keys; vt reads files with one`);
    const pubBlob = r.string();
    const priv = new WireReader(r.string());
    r.end('the key file');
    const check1 = priv.u32();
    const check2 = priv.u32();
    if (check1 !== check2) throw new WireError('the check integers differ');
    const type = priv.text();
    if (type !== 'ssh-ed25519') {
      const why =
        type === 'ssh-rsa' || type.startsWith('ecdsa-')
          ? `${type} key files are not read by vt`
          : unsupportedTypeMessage(type);
      throw new VtError('BAD_INPUT', `${where}: ${why}; vt signs from files with ssh-ed25519 keys only`, {
        hint: `Add it to ssh-agent (ssh-add ${where}) and vt signs through the agent, or make one with: vt keys init`,
      });
    }
    const pk = priv.string();
    const sk = priv.string();
    const comment = priv.text();
    const pad = priv.bytes(priv.remaining);
    if (!pad.every((b, i) => b === i + 1) || pad.length >= 255) throw new WireError('bad padding');
    if (pk.length !== 32 || sk.length !== 64 || !sk.subarray(32).equals(pk))
      throw new WireError('the Ed25519 key parts have the wrong sizes or disagree');
    if (!ed25519PublicBlob(pk).equals(pubBlob)) throw new WireError('the public key section disagrees');
    return fromSeed(sk.subarray(0, 32), pk, comment);
  } catch (err) {
    if (err instanceof VtError) throw err;
    throw new VtError(
      'BAD_INPUT',
      `${where} is not a readable OpenSSH private key: ${(err as Error).message}`,
    );
  }
}
