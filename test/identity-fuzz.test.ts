import { describe, it } from 'node:test';
import fc from 'fast-check';
import { VtError } from '../src/errors.ts';
import { parseAllowedSigners } from '../src/identity/allowed-signers.ts';
import {
  formatOpenSshPrivateKey,
  generateEd25519,
  parseOpenSshPrivateKey,
} from '../src/identity/key-file.ts';
import { keySigner } from '../src/identity/keys.ts';
import { formatPublicKey, parsePublicKeyBlob, parsePublicKeyLine } from '../src/identity/public-key.ts';
import { armor, dearmor, sshsigSign, sshsigVerify } from '../src/identity/sshsig.ts';

/** Hostile or careless input gets a typed answer: a VtError(BAD_INPUT) or a failed verdict, never a crash. */
const typed = (fn: () => unknown) => {
  try {
    fn();
    return true;
  } catch (err) {
    return err instanceof VtError && err.code === 'BAD_INPUT';
  }
};

const key = generateEd25519('k');
const line = formatPublicKey(key.publicKey);

describe('parsers answer hostile input with typed errors', () => {
  // Text built from the pieces that matter to the grammar, so the fuzzer reaches deep branches.
  const piece = fc.constantFrom(
    '"',
    ',',
    ' ',
    '\t',
    '\\"',
    '#',
    'cert-authority',
    'namespaces=',
    'valid-after=',
    'valid-before=',
    '"20260101"',
    '"vt"',
    'alice',
    '*',
    '!',
    line,
    'ssh-ed25519',
    'AAAA',
    '\n',
    '=',
    'Z',
  );
  const text = fc
    .array(fc.oneof(piece, fc.string({ maxLength: 4 })), { maxLength: 12 })
    .map((a) => a.join(''));

  it('allowed_signers text', () => {
    fc.assert(
      fc.property(text, (t) => typed(() => parseAllowedSigners(t, 'f'))),
      { numRuns: 2000 },
    );
  });

  it('public key lines, and altered or truncated key blobs', () => {
    fc.assert(
      fc.property(text, (t) => typed(() => parsePublicKeyLine(t))),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.nat({ max: 8 }), (at, delta, cut) => {
        const b = Buffer.from(key.publicKey.blob);
        b[at % b.length] = (b[at % b.length]! + delta) & 0xff;
        return typed(() => parsePublicKeyBlob(b.subarray(0, b.length - cut)));
      }),
      { numRuns: 1000 },
    );
  });

  it('SSH signatures: any bytes after any prefix give a failed verdict, never a throw', async () => {
    const sig = await sshsigSign(Buffer.from('m'), keySigner(key, 'vt', 'mem'), 'vt');
    const blob = dearmor(sig)!;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.nat(), (junk, at) => {
        const spliced = Buffer.concat([blob.subarray(0, at % blob.length), junk]);
        return spliced.equals(blob) || sshsigVerify(armor(spliced), Buffer.from('m'), 'vt').ok === false;
      }),
      { numRuns: 1000 },
    );
  });

  it('private key files: an altered one is refused, or read as the very same key (never another)', () => {
    const lines = formatOpenSshPrivateKey(key).trimEnd().split('\n');
    const body = lines.slice(1, -1).join('');
    fc.assert(
      fc.property(fc.nat(), fc.constantFrom('A', 'B', 'g', '/', '+', '0'), (at, ch) => {
        const i = at % body.length;
        const text = `${lines[0]}\n${body.slice(0, i)}${ch}${body.slice(i + 1)}\n${lines.at(-1)}\n`;
        try {
          // An edit inside the comment still reads: the key itself must then be unchanged.
          return parseOpenSshPrivateKey(text, 'k').publicKey.blob.equals(key.publicKey.blob);
        } catch (err) {
          return err instanceof VtError;
        }
      }),
      { numRuns: 1000 },
    );
  });
});
