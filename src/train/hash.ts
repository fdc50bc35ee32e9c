import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Train } from './schema.ts';

/** sha256 of the train's canonical JSON (RFC 8785): what a project pins and the store keys it by. */
export function trainHash(train: Train): string {
  return createHash('sha256').update(canonicalize(train)!).digest('hex');
}
