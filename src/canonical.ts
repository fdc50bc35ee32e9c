import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { VtError } from './errors.ts';
import type { Json } from './types.ts';

/**
 * RFC 8785 canonical JSON of a value that must be plain JSON. Anything that would not survive a
 * JSON round trip unchanged (undefined, NaN, Dates, BigInt, unsafe integers, lone surrogates) is
 * refused, so the bytes we hash are the bytes anyone can recompute.
 */
export function canonicalJson(value: unknown): string {
  assertPlainJson(value, '$');
  return canonicalize(value)!;
}

export function sha256(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function assertPlainJson(value: unknown, path: string): asserts value is Json {
  const bad = (why: string) => {
    throw new VtError('BAD_INPUT', `${path} is not plain JSON: ${why}`);
  };
  if (value === null || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) bad(`${value} is not a finite number`);
    if (Number.isInteger(value) && !Number.isSafeInteger(value)) bad(`${value} is beyond 2^53`);
    return;
  }
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) bad('a string holds a lone surrogate');
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      assertPlainJson(v, `${path}[${i}]`);
    });
    return;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null)
      bad(`a ${proto?.constructor?.name ?? 'non-plain'} object`);
    for (const [k, v] of Object.entries(value)) {
      if (LONE_SURROGATE.test(k)) bad('a key holds a lone surrogate');
      if (v === undefined) bad(`${k} is undefined`);
      assertPlainJson(v, `${path}.${k}`);
    }
    return;
  }
  bad(`a ${typeof value}`);
}
