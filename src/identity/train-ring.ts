import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { VtError } from '../errors.ts';
import { type KeyRing, keyRingOf } from './people.ts';

/** What the key ring needs of a train: its people's keys and the signers file it names. */
type TrainKeys = Parameters<typeof keyRingOf>[0] & { signers?: string | undefined };

/**
 * The key ring of a train file: its people's keys, plus the allowed_signers file it names under
 * `signers:` (relative to the train file). Note that the file's content is read now and is not
 * part of the train's hash: whoever can write it can change who may sign.
 */
export function keyRingForTrain(
  loaded: { train: TrainKeys; file: string },
  read: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): KeyRing {
  const { train, file } = loaded;
  if (!train.signers) return keyRingOf(train, null, file);
  const path = resolve(dirname(file), train.signers);
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    throw new VtError(
      'NOT_FOUND',
      `the train names signers: ${train.signers}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`,
      { hint: `Create ${path} (allowed_signers format), or remove signers: from ${file}` },
    );
  }
  return keyRingOf(train, { text, file: path }, file);
}
