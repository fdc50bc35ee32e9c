import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { VtError } from '../errors.ts';
import { type KeyRing, keyRingOf } from './people.ts';

/** What the key ring needs of a train: its people's keys and the signers file it names. */
type TrainKeys = Parameters<typeof keyRingOf>[0] & {
  signers?: string | { file: string; text: string } | undefined;
};

/**
 * The key ring of a train file: its people's keys, plus the allowed_signers file it names under
 * `signers:`. A train loaded from its file carries that file's text (`signers: {file, text}`,
 * covered by its hash); a train parsed from text alone names the file, which is read now.
 */
export function keyRingForTrain(
  loaded: { train: TrainKeys; file: string },
  read: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): KeyRing {
  const { train, file } = loaded;
  const signers = train.signers;
  if (!signers) return keyRingOf(train, null, file);
  if (typeof signers !== 'string')
    return keyRingOf(train, { text: signers.text, file: resolve(dirname(file), signers.file) }, file);
  const path = resolve(dirname(file), signers);
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    throw new VtError(
      'NOT_FOUND',
      `the train names signers: ${signers}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`,
      { hint: `Create ${path} (allowed_signers format), or remove signers: from ${file}` },
    );
  }
  return keyRingOf(train, { text, file: path }, file);
}
