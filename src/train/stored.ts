import { sha256 } from '../canonical.ts';
import { TRAIN_FORMAT } from './format.ts';
import { trainHash } from './hash.ts';
import type { Train } from './schema.ts';

/**
 * A train as the store keeps it. A body stored in the current format that still hashes to its name
 * is exactly what the schema produced when it was stored, so it is used as it is. vt stores a train
 * as its canonical JSON, so the check hashes the stored text; a body stored as plain JSON (by an
 * earlier vt) is canonicalized first, which costs a short command a few milliseconds. Any other body
 * (stored by an older vt, or edited in the database) is parsed with the schema again, which fills
 * what an older schema left out and refuses what no schema would produce. The schema module is
 * loaded only then: building zod's schemas costs a short command more than the rest of its work.
 */
export async function storedTrain(
  hash: string,
  body: string,
  format: string | null | undefined,
): Promise<Train> {
  const json: unknown = JSON.parse(body);
  if (format === TRAIN_FORMAT && (sha256(body) === hash || trainHash(json as Train) === hash))
    return json as Train;
  const { TrainSchema } = await import('./schema.ts'); // zod's schemas take longer to build than a short command
  return TrainSchema.parse(json);
}
