import { canonicalJson } from '../canonical.ts';
import type { Json } from '../types.ts';
import type { DecisionPayload } from './decisions.ts';

/**
 * Whether a signed payload is exactly the decision being recorded: every field the recorder
 * expects, with the same value, and no field it does not (`time` and `head` are the signer's and
 * are checked apart). `ignore` names fields the recorder cannot know (e.g. the evidence digest of an
 * old waiver, when only the waiver's record is at hand).
 */
export function payloadMismatch(
  payload: DecisionPayload,
  expected: Record<string, Json>,
  ignore: readonly string[] = [],
): string | null {
  const skip = new Set(['time', 'head', ...ignore]);
  for (const [field, want] of Object.entries(expected)) {
    if (skip.has(field)) continue;
    const got = payload[field];
    if (got === undefined || canonicalJson(got) !== canonicalJson(want))
      return `${field} is ${JSON.stringify(got ?? null)}, expected ${JSON.stringify(want)}`;
  }
  const extra = Object.keys(payload).find((k) => !skip.has(k) && !(k in expected));
  return extra ? `the signed payload has a field this decision does not (${extra})` : null;
}
