import { z } from 'zod';
import { fingerprint, isPublicKeyLine, parsePublicKeyLine } from './public-key.ts';
import { parseIsoTime } from './ssh-time.ts';

/**
 * The train's fields for people's keys. A person is either a list of roles (the original form) or
 * `{roles, keys}`; keys may also sit in a top-level `keys:` map. Whichever form is written, the
 * validated train holds `people: {name: [roles]}` and `keys: {name: [...]}`, so the train's hash
 * does not depend on the form, and a train without keys hashes exactly as before.
 */

const IsoTime = z
  .string()
  .refine(
    (s) => parseIsoTime(s) !== null,
    'an ISO 8601 date or date-time with a zone, e.g. 2026-03-01T09:00:00Z',
  );

export const PersonKeySchema = z
  .object({
    key: z
      .string()
      .refine(isPublicKeyLine, 'a public key line: "ssh-ed25519 AAAA… comment" (see: vt keys list)')
      .describe('the public key, as in id_ed25519.pub'),
    valid_after: IsoTime.optional().describe('signatures made before this time are refused (not yet valid)'),
    valid_before: IsoTime.optional().describe(
      'signatures made after this time are refused (expired): rotation',
    ),
    revoked_at: IsoTime.optional().describe(
      'the key was compromised or withdrawn: signatures from then on are refused',
    ),
  })
  .strict()
  .refine(
    (k) =>
      k.valid_after === undefined ||
      k.valid_before === undefined ||
      parseIsoTime(k.valid_after)! < parseIsoTime(k.valid_before)!,
    { message: 'valid_before must be after valid_after', path: ['valid_before'] },
  );
export type PersonKeySpec = z.infer<typeof PersonKeySchema>;

/**
 * `signers:` names an OpenSSH allowed_signers file (relative to the train file). Loading the train
 * from its file reads that file and keeps its text in the train (`{file, text}`), so the train's
 * hash covers who may sign and a project pins it: changing the file is changing the train.
 */
export const SignersSchema = z
  .union([z.string().min(1), z.object({ file: z.string().min(1), text: z.string() }).strict()])
  .describe("an OpenSSH allowed_signers file of people's keys, relative to this file");

/** Whether decisions must be signed: `required` refuses unsigned ones; `optional` (the default) records a signature when given. */
export const DECISION_POLICIES = ['required', 'optional'] as const;
export const DecisionPolicySchema = z
  .object({ signed: z.enum(DECISION_POLICIES).default('optional') })
  .strict();

/** A person: roles only (`[lab, evaluator]`), or roles with the keys that sign their decisions. */
export function personSchema<R extends z.ZodType<string>>(role: R) {
  return z.union([
    z.array(role),
    z.object({ roles: z.array(role).default([]), keys: z.array(PersonKeySchema).default([]) }).strict(),
  ]);
}

type PersonEntry = string[] | { roles: string[]; keys: PersonKeySpec[] };

/** One key, one person: the same key listed for two people would let one decide as the other. */
export function checkKeysUnshared(
  t: { people: Record<string, PersonEntry>; keys?: Record<string, PersonKeySpec[]> | undefined },
  ctx: z.RefinementCtx,
): void {
  const owner = new Map<string, string>();
  const visit = (person: string, keys: readonly PersonKeySpec[], path: (string | number)[]) =>
    keys.forEach((k, i) => {
      // Refinements run even after a field failed: a bad key line is reported by its own check.
      if (!isPublicKeyLine(k.key)) return;
      const fp = fingerprint(parsePublicKeyLine(k.key));
      const other = owner.get(fp);
      if (other !== undefined && other !== person)
        ctx.addIssue({
          code: 'custom',
          path: [...path, i, 'key'],
          message: `this key is also listed for ${other}: one key, one person`,
        });
      else owner.set(fp, person);
    });
  for (const [person, entry] of Object.entries(t.people))
    if (!Array.isArray(entry)) visit(person, entry.keys, ['people', person, 'keys']);
  for (const [person, keys] of Object.entries(t.keys ?? {})) visit(person, keys, ['keys', person]);
}

/** Fold `{roles, keys}` people into `people: {name: roles}` and `keys: {name: keys}` (absent when empty). */
export function splitPeople<
  T extends { people: Record<string, PersonEntry>; keys?: Record<string, PersonKeySpec[]> | undefined },
>(
  t: T,
): Omit<T, 'people' | 'keys'> & { people: Record<string, string[]>; keys?: Record<string, PersonKeySpec[]> } {
  const people: Record<string, string[]> = {};
  const keys: Record<string, PersonKeySpec[]> = {};
  for (const [person, list] of Object.entries(t.keys ?? {})) if (list.length) keys[person] = [...list];
  for (const [person, entry] of Object.entries(t.people)) {
    if (Array.isArray(entry)) people[person] = entry;
    else {
      people[person] = entry.roles;
      if (entry.keys.length) keys[person] = [...(keys[person] ?? []), ...entry.keys];
    }
  }
  const { keys: _k, people: _p, ...rest } = t;
  return Object.keys(keys).length ? { ...rest, people, keys } : { ...rest, people };
}
