/**
 * Whether a decision (or an artifact) carries its author's signature. Signed payloads add a
 * `signature` field; this is the one place that decides what counts as one.
 */
export function isSigned(payload: Readonly<Record<string, unknown>>): boolean {
  const s = payload.signature;
  if (typeof s === 'string') return s.length > 0;
  return s !== null && typeof s === 'object';
}
