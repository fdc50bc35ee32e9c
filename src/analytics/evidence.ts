const SHA256 = /^[0-9a-f]{64}$/;

/**
 * Whether a decision or an artifact names the evidence it rests on: a file's sha256, an evidence
 * digest (what an approval was given on), or an explicit evidence record.
 */
export function hasEvidence(payload: Readonly<Record<string, unknown>>): boolean {
  for (const key of ['sha256', 'digest'] as const) {
    const v = payload[key];
    if (typeof v === 'string' && SHA256.test(v)) return true;
  }
  const e = payload.evidence;
  return e !== null && e !== undefined && (typeof e !== 'object' || Object.keys(e).length > 0);
}
