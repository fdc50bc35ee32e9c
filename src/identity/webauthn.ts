import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import { type CborValue, decodeCbor } from './cbor.ts';

/**
 * WebAuthn assertions (a passkey's signature, W3C Web Authentication §7.2), checked with
 * node:crypto alone and synchronously, so the engine and `vt audit verify` can check a browser's
 * confirmation of a decision offline, with no server and no browser:
 *
 *   signed = authenticatorData ‖ SHA-256(clientDataJSON)
 *   clientDataJSON = {"type":"webauthn.get","challenge":base64url(challenge),"origin":…}
 *   authenticatorData = SHA-256(rpId) ‖ flags ‖ signCount ‖ …
 *
 * Public keys are COSE keys (RFC 9053): ES256/384/512, EdDSA (Ed25519), RS256 and PS256.
 */

/** The parts of an assertion, base64url as the authenticator returned them. */
export interface WebAuthnAssertion {
  authenticator_data: string;
  client_data_json: string;
  signature: string;
}

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;

/** base64url that decodes to exactly these bytes and nothing else (no padding, no stray characters). */
export function strictBase64url(s: unknown, what: string): Buffer {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s)) throw new Error(`${what} is not base64url`);
  const b = Buffer.from(s, 'base64url');
  if (b.toString('base64url') !== s) throw new Error(`${what} is not canonical base64url`);
  return b;
}

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest();

/** A COSE public key with the signature algorithm it names. */
export interface CoseKey {
  alg: number;
  key: KeyObject;
}

const CURVES: Record<number, { crv: string; size: number }> = {
  1: { crv: 'P-256', size: 32 },
  2: { crv: 'P-384', size: 48 },
  3: { crv: 'P-521', size: 66 },
};
const EC_ALGS: Record<number, { hash: string; crv: number }> = {
  [-7]: { hash: 'sha256', crv: 1 },
  [-35]: { hash: 'sha384', crv: 2 },
  [-36]: { hash: 'sha512', crv: 3 },
};

/**
 * The COSE algorithms vt verifies passkey signatures with, in order of preference: EdDSA (Ed25519),
 * ECDSA on P-256, P-384 and P-521, RS256 and PS256. Registration offers these and no other (a
 * passkey made for another algorithm, ML-DSA say, could sign no decision vt accepts).
 */
export const PASSKEY_ALGORITHMS: readonly number[] = [-8, -7, -35, -36, -257, -37];

function bytesAt(m: Map<CborValue, CborValue>, label: number, what: string): Buffer {
  const v = m.get(label);
  if (!Buffer.isBuffer(v)) throw new Error(`the COSE key has no ${what}`);
  return v;
}

/** Read a COSE_Key (base64url of its CBOR, as the passkeys table and passkey bindings hold it). */
export function parseCoseKey(b64: string): CoseKey {
  const raw = strictBase64url(b64, 'the public key');
  const m = decodeCbor(raw);
  if (!(m instanceof Map)) throw new Error('the COSE key is not a CBOR map');
  const kty = m.get(1);
  const alg = m.get(3);
  if (typeof alg !== 'number') throw new Error('the COSE key names no algorithm');
  const b64u = (b: Buffer) => b.toString('base64url');
  if (kty === 2) {
    const spec = EC_ALGS[alg];
    if (!spec) throw new Error(`COSE algorithm ${alg} is not an ECDSA algorithm vt accepts`);
    const crv = CURVES[spec.crv]!;
    if (m.get(-1) !== spec.crv) throw new Error(`COSE algorithm ${alg} needs curve ${crv.crv}`);
    const x = bytesAt(m, -2, 'x');
    const y = bytesAt(m, -3, 'y');
    if (x.length !== crv.size || y.length !== crv.size) throw new Error('the COSE key has a bad point size');
    return {
      alg,
      key: createPublicKey({ key: { kty: 'EC', crv: crv.crv, x: b64u(x), y: b64u(y) }, format: 'jwk' }),
    };
  }
  if (kty === 1) {
    if (alg !== -8) throw new Error(`COSE algorithm ${alg} is not EdDSA`);
    if (m.get(-1) !== 6) throw new Error('only Ed25519 OKP keys are accepted');
    const x = bytesAt(m, -2, 'x');
    if (x.length !== 32) throw new Error('an Ed25519 key is 32 bytes');
    return { alg, key: createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64u(x) }, format: 'jwk' }) };
  }
  if (kty === 3) {
    if (alg !== -257 && alg !== -37) throw new Error(`COSE algorithm ${alg} is not RS256 or PS256`);
    const n = bytesAt(m, -1, 'modulus');
    const e = bytesAt(m, -2, 'exponent');
    const key = createPublicKey({ key: { kty: 'RSA', n: b64u(n), e: b64u(e) }, format: 'jwk' });
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048)
      throw new Error('an RSA passkey needs 2048 bits or more');
    return { alg, key };
  }
  throw new Error(`COSE key type ${String(kty)} is not supported`);
}

function checkSignature(k: CoseKey, data: Buffer, sig: Buffer): boolean {
  if (k.alg === -8) return verify(null, data, k.key, sig);
  const ec = EC_ALGS[k.alg];
  if (ec) return verify(ec.hash, data, { key: k.key, dsaEncoding: 'der' }, sig);
  if (k.alg === -257) return verify('sha256', data, k.key, sig);
  if (k.alg === -37)
    return verify(
      'sha256',
      data,
      { key: k.key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 },
      sig,
    );
  return false;
}

/**
 * Why an assertion does not prove that the passkey `publicKey` (registered for relying party
 * `rpId`) signed `challenge` with the person present and verified, or null when it does.
 */
export function assertionProblem(
  a: WebAuthnAssertion,
  expect: { publicKey: string; rpId: string; challenge: Uint8Array },
): string | null {
  try {
    const clientBytes = strictBase64url(a.client_data_json, 'client_data_json');
    const authData = strictBase64url(a.authenticator_data, 'authenticator_data');
    const sig = strictBase64url(a.signature, 'signature');
    let client: { type?: unknown; challenge?: unknown; origin?: unknown; crossOrigin?: unknown };
    try {
      client = JSON.parse(clientBytes.toString('utf8'));
    } catch {
      return 'client_data_json is not JSON';
    }
    if (client?.type !== 'webauthn.get')
      return `client data type is ${String(client?.type)}, not webauthn.get`;
    if (client.challenge !== Buffer.from(expect.challenge).toString('base64url'))
      return 'the passkey signed another challenge: not this decision';
    if (client.crossOrigin === true) return 'a cross-origin assertion is not accepted';
    let host: string;
    try {
      host = new URL(String(client.origin)).hostname;
    } catch {
      return `the origin ${String(client.origin)} is not a URL`;
    }
    if (host !== expect.rpId && !host.endsWith(`.${expect.rpId}`))
      return `signed for the origin ${String(client.origin)}, not for ${expect.rpId}`;
    if (authData.length < 37) return 'authenticator_data is too short';
    if (!authData.subarray(0, 32).equals(sha256(expect.rpId)))
      return `the authenticator signed for another relying party than ${expect.rpId}`;
    const flags = authData[32]!;
    if (!(flags & FLAG_UP)) return 'the person was not present (UP flag unset)';
    if (!(flags & FLAG_UV)) return 'the person was not verified (UV flag unset)';
    let key: CoseKey;
    try {
      key = parseCoseKey(expect.publicKey);
    } catch (err) {
      return `the passkey's public key is not usable: ${(err as Error).message}`;
    }
    const data = Buffer.concat([authData, sha256(clientBytes)]);
    let ok = false;
    try {
      ok = checkSignature(key, data, sig);
    } catch {
      ok = false;
    }
    return ok ? null : 'the passkey signature does not verify';
  } catch (err) {
    return (err as Error).message;
  }
}
