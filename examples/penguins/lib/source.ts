import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from './hash.ts';

/** Path of the shipped dataset inside the example folder. */
export const SOURCE_FILE = 'data/penguins.json';

/** The shipped Palmer penguins records with the file's size and SHA-256. */
export function readSource(exampleDir: string): {
  records: Record<string, unknown>[];
  bytes: number;
  sha256: string;
} {
  const buf = readFileSync(join(exampleDir, SOURCE_FILE));
  const records = JSON.parse(buf.toString('utf8')) as unknown;
  if (!Array.isArray(records)) throw new Error(`${SOURCE_FILE} is not a JSON array`);
  return { records: records as Record<string, unknown>[], bytes: buf.length, sha256: sha256(buf) };
}
