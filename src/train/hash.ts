import canonicalize from 'canonicalize';
import { sha256 } from '../canonical.ts';
import type { Train } from './schema.ts';

/** The train's canonical JSON (RFC 8785): how the store keeps a train, and what its hash is of. */
export function canonicalTrain(train: Train): string {
  return canonicalize(train)!;
}

/** sha256 of the train's canonical JSON: what a project pins and the store keys it by. */
export function trainHash(train: Train): string {
  return sha256(canonicalTrain(train));
}
