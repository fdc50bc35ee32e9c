/**
 * The small part of CBOR (RFC 8949) a COSE public key (RFC 9052/9053) uses: unsigned and negative
 * integers, byte and text strings, arrays, maps and the simple values false/true/null, all of
 * definite length. Anything else (tags, floats, indefinite lengths) is refused: a passkey's public
 * key never needs them, and a decoder that accepts less has less to get wrong.
 */

export type CborValue = number | Buffer | string | boolean | null | CborValue[] | Map<CborValue, CborValue>;

export class CborError extends Error {}

const MAX_DEPTH = 8;

/** Decode one CBOR item that fills `bytes` exactly. */
export function decodeCbor(bytes: Uint8Array): CborValue {
  const buf = Buffer.from(bytes);
  let at = 0;
  const need = (n: number) => {
    if (at + n > buf.length) throw new CborError('CBOR item runs past the end');
  };
  const length = (info: number): number => {
    if (info < 24) return info;
    const size = { 24: 1, 25: 2, 26: 4, 27: 8 }[info];
    if (size === undefined) throw new CborError(`CBOR length encoding ${info} is not supported`);
    need(size);
    let v: number;
    if (size === 8) {
      const big = buf.readBigUInt64BE(at);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new CborError('CBOR integer beyond 2^53');
      v = Number(big);
    } else v = buf.readUIntBE(at, size);
    at += size;
    return v;
  };
  const item = (depth: number): CborValue => {
    if (depth > MAX_DEPTH) throw new CborError('CBOR nesting is too deep');
    need(1);
    const head = buf[at++]!;
    const major = head >> 5;
    const info = head & 31;
    switch (major) {
      case 0:
        return length(info);
      case 1:
        return -1 - length(info);
      case 2:
      case 3: {
        const n = length(info);
        need(n);
        const raw = buf.subarray(at, at + n);
        at += n;
        if (major === 2) return Buffer.from(raw);
        const text = raw.toString('utf8');
        if (!Buffer.from(text, 'utf8').equals(raw)) throw new CborError('CBOR text is not UTF-8');
        return text;
      }
      case 4: {
        const n = length(info);
        const out: CborValue[] = [];
        for (let i = 0; i < n; i++) out.push(item(depth + 1));
        return out;
      }
      case 5: {
        const n = length(info);
        const out = new Map<CborValue, CborValue>();
        for (let i = 0; i < n; i++) {
          const k = item(depth + 1);
          if (typeof k !== 'number' && typeof k !== 'string')
            throw new CborError('CBOR map key is not a number or text');
          if (out.has(k)) throw new CborError(`CBOR map repeats the key ${k}`);
          out.set(k, item(depth + 1));
        }
        return out;
      }
      case 7:
        if (info === 20) return false;
        if (info === 21) return true;
        if (info === 22) return null;
        throw new CborError(`CBOR simple value or float ${info} is not supported`);
      default:
        throw new CborError(`CBOR major type ${major} is not supported`);
    }
  };
  const value = item(0);
  if (at !== buf.length) throw new CborError(`${buf.length - at} byte(s) after the CBOR item`);
  return value;
}
