/**
 * Whether a decision (or an artifact) carries its author's signature. Signed payloads add a
 * `signature` field (a non-empty string or record); this is the one place that decides what counts.
 */
export function isSigned(payload: Readonly<Record<string, unknown>>): boolean {
  const s = payload.signature;
  if (typeof s === 'string') return s.trim().length > 0;
  return s !== null && typeof s === 'object' && Object.keys(s).length > 0;
}
