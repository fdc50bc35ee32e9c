import { type KeyRing, keyRingOf } from './people.ts';

/** What the ring needs of a pinned train: its people's keys, its signers text, its decision policy. */
type PinnedTrain = Parameters<typeof keyRingOf>[0] & {
  signers?: string | { file: string; text: string } | undefined;
  decisions?: { signed: 'required' | 'optional' } | undefined;
};

/*
 * The keys of a train as a project pinned it (from the store), with no file read: what the engine
 * and `vt audit verify` check signatures against.
 */

const rings = new WeakMap<object, KeyRing>();

/**
 * The key ring of a train as a project pinned it (from the store): its people's keys and the
 * allowed_signers text stored with it. A stored train that names a signers file without its text
 * (pinned before vt kept the text) lists only its people's keys: a file read now is not what was
 * pinned. Cached per train object.
 */
export function ringOfTrain(train: PinnedTrain): KeyRing {
  let ring = rings.get(train);
  if (!ring) {
    const s = train.signers;
    ring = keyRingOf(train, s && typeof s !== 'string' ? { text: s.text, file: s.file } : null, 'vt.yaml');
    rings.set(train, ring);
  }
  return ring;
}

/** Whether the train refuses decisions that are not signed. */
export function signaturesRequired(train: Pick<PinnedTrain, 'decisions'>): boolean {
  return train.decisions?.signed === 'required';
}
