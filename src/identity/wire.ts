/**
 * The SSH wire encoding (RFC 4251 §5) that keys, signatures, SSHSIG blobs and the agent protocol
 * share: uint32 big-endian lengths, length-prefixed strings, and mpints.
 */

/** A uint32, big-endian. */
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** A length-prefixed string (bytes or UTF-8 text). */
export function sshString(data: Uint8Array | string): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  return Buffer.concat([u32(bytes.length), bytes]);
}

/** An unsigned big-endian integer as an SSH mpint: no needless leading zeros, a 0x00 before a high bit. */
export function mpint(unsigned: Uint8Array): Buffer {
  let i = 0;
  while (i < unsigned.length && unsigned[i] === 0) i++;
  const body = Buffer.from(unsigned.subarray(i));
  return sshString(body.length && body[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), body]) : body);
}

/** Thrown when bytes do not parse: callers turn it into the answer that fits (a bad key, a bad signature). */
export class WireError extends Error {
  override name = 'WireError';
}

/** Reads the SSH wire encoding from a buffer, refusing anything that runs past its end. */
export class WireReader {
  readonly #buf: Buffer;
  #pos = 0;
  constructor(buf: Uint8Array) {
    this.#buf = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  get remaining(): number {
    return this.#buf.length - this.#pos;
  }
  bytes(n: number): Buffer {
    if (n < 0 || n > this.remaining) throw new WireError(`needs ${n} bytes, ${this.remaining} left`);
    const out = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }
  byte(): number {
    return this.bytes(1)[0]!;
  }
  u32(): number {
    return this.bytes(4).readUInt32BE(0);
  }
  string(): Buffer {
    return this.bytes(this.u32());
  }
  /** A string that must be text (names of algorithms, namespaces, comments). */
  text(): string {
    const b = this.string();
    const s = b.toString('utf8');
    if (!Buffer.from(s, 'utf8').equals(b)) throw new WireError('a text field is not valid UTF-8');
    return s;
  }
  /** An mpint that must be non-negative; returned without its sign byte. */
  mpint(): Buffer {
    const b = this.string();
    if (b.length && b[0]! & 0x80) throw new WireError('a negative mpint');
    if (b.length > 1 && b[0] === 0 && !(b[1]! & 0x80))
      throw new WireError('an mpint with a needless leading zero');
    return b[0] === 0 ? b.subarray(1) : b;
  }
  /** Everything must have been read: trailing bytes are a malformed (or smuggled) encoding. */
  end(what: string): void {
    if (this.remaining !== 0) throw new WireError(`${what} has ${this.remaining} trailing bytes`);
  }
}
