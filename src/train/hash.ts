import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Train } from './schema.ts';

/** The train's canonical JSON (RFC 8785): how the store keeps a train, and what its hash is of. */
export function canonicalTrain(train: Train): string {
  return canonicalize(train)!;
}

/** sha256 of the train's canonical JSON: what a project pins and the store keys it by. */
export function trainHash(train: Train): string {
  return createHash('sha256').update(canonicalTrain(train)).digest('hex');
}
