import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { isoCBOR } from '@simplewebauthn/server/helpers';

/*
 * A passkey in software: a real key pair that answers WebAuthn registration and authentication the
 * way an authenticator does (attestation "none", CBOR encoded by @simplewebauthn's encoder, an
 * independent one from vt's decoder). It stands in for the authenticator only: the server, the
 * engine and `vt audit verify` check what it returns with their own code.
 */

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest();
const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');

export type PasskeyAlg = 'ES256' | 'EdDSA' | 'RS256';

export class SoftPasskey {
  readonly id: Buffer;
  readonly alg: PasskeyAlg;
  readonly #private: KeyObject;
  readonly cose: Buffer;
  counter = 0;
  constructor(alg: PasskeyAlg = 'ES256') {
    this.alg = alg;
    this.id = randomBytes(16);
    const pair =
      alg === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : alg === 'EdDSA'
          ? generateKeyPairSync('ed25519')
          : generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.#private = pair.privateKey;
    const jwk = pair.publicKey.export({ format: 'jwk' });
    const bytes = (s: string | undefined) => new Uint8Array(Buffer.from(s!, 'base64url'));
    const map =
      alg === 'ES256'
        ? new Map<number, number | Uint8Array>([
            [1, 2],
            [3, -7],
            [-1, 1],
            [-2, bytes(jwk.x)],
            [-3, bytes(jwk.y)],
          ])
        : alg === 'EdDSA'
          ? new Map<number, number | Uint8Array>([
              [1, 1],
              [3, -8],
              [-1, 6],
              [-2, bytes(jwk.x)],
            ])
          : new Map<number, number | Uint8Array>([
              [1, 3],
              [3, -257],
              [-1, bytes(jwk.n)],
              [-2, bytes(jwk.e)],
            ]);
    this.cose = Buffer.from(isoCBOR.encode(map));
  }

  get credentialId(): string {
    return b64u(this.id);
  }

  /** The COSE public key, base64url (as the passkeys table and bindings hold it). */
  get publicKey(): string {
    return b64u(this.cose);
  }

  #authData(rpId: string, flags: number, attested: boolean): Buffer {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(++this.counter);
    const parts: Buffer[] = [sha256(rpId), Buffer.from([flags]), count];
    if (attested) {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(this.id.length);
      parts.push(Buffer.alloc(16), len, this.id, this.cose);
    }
    return Buffer.concat(parts);
  }

  /** Answer navigator.credentials.create() for these options (attestation "none", UP and UV set). */
  register(options: { challenge: string; rp: { id?: string } }, origin: string): RegistrationResponseJSON {
    const rpId = options.rp.id ?? new URL(origin).hostname;
    const clientDataJSON = Buffer.from(
      JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin, crossOrigin: false }),
    );
    const attestationObject = isoCBOR.encode(
      new Map<string, unknown>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', new Uint8Array(this.#authData(rpId, 0x45, true))],
      ]) as never,
    );
    return {
      id: this.credentialId,
      rawId: this.credentialId,
      type: 'public-key',
      response: {
        clientDataJSON: b64u(clientDataJSON),
        attestationObject: b64u(attestationObject),
        transports: ['internal'],
      },
      clientExtensionResults: {},
    };
  }

  /** Answer navigator.credentials.get() for a challenge (base64url); `over` bends the answer for attack tests. */
  assert(
    challenge: string,
    origin: string,
    over: { rpId?: string; flags?: number; type?: string; clientChallenge?: string } = {},
  ): AuthenticationResponseJSON {
    const rpId = over.rpId ?? new URL(origin).hostname;
    const clientDataJSON = Buffer.from(
      JSON.stringify({
        type: over.type ?? 'webauthn.get',
        challenge: over.clientChallenge ?? challenge,
        origin,
        crossOrigin: false,
      }),
    );
    const authData = this.#authData(rpId, over.flags ?? 0x05, false);
    const data = Buffer.concat([authData, sha256(clientDataJSON)]);
    const signature =
      this.alg === 'EdDSA'
        ? sign(null, data, this.#private)
        : this.alg === 'ES256'
          ? sign('sha256', data, { key: this.#private, dsaEncoding: 'der' })
          : sign('sha256', data, this.#private);
    return {
      id: this.credentialId,
      rawId: this.credentialId,
      type: 'public-key',
      response: {
        clientDataJSON: b64u(clientDataJSON),
        authenticatorData: b64u(authData),
        signature: b64u(signature),
      },
      clientExtensionResults: {},
    };
  }
}
