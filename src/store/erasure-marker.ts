import { canonicalJson } from '../canonical.ts';
import type { Json } from '../types.ts';

/**
 * What an erased event's payload column holds instead of its payload: the seq of the `event.erased`
 * event that erased it, and the payload's residue (its shape with every free-text field replaced
 * by ERASED_TEXT), so the event still folds into the project's state and projections.
 *
 * The chain covers `payload_sha256`, which is kept, so the chain still verifies; the marker's own
 * digest is recorded in the `event.erased` event, so the residue is as tamper-evident as any payload.
 * In canonical JSON the marker always starts with `{"erased_by_seq":` (its keys sort first), which
 * no event payload does.
 */
export interface ErasureMarker {
  erased_by_seq: number;
  residue: { [k: string]: Json };
}

export const ERASED_TEXT = '[erased]';
const PREFIX = '{"erased_by_seq":';

export function erasureMarkerText(erasedBySeq: number, residue: { [k: string]: Json }): string {
  return canonicalJson({ erased_by_seq: erasedBySeq, residue });
}

/** The marker a stored payload is, or null when it is an ordinary payload. */
export function parseErasureMarker(payload: string): ErasureMarker | null {
  if (!payload.startsWith(PREFIX)) return null;
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const m = v as Record<string, unknown>;
  const keys = Object.keys(m);
  if (keys.length !== 2 || !Number.isSafeInteger(m.erased_by_seq)) return null;
  const residue = m.residue;
  if (residue === null || typeof residue !== 'object' || Array.isArray(residue)) return null;
  return m as unknown as ErasureMarker;
}

/** The payload an event folds with: the residue of an erased one, else the payload itself. */
export function foldablePayload(payload: string): unknown {
  const parsed = JSON.parse(payload);
  if (!payload.startsWith(PREFIX)) return parsed;
  return parseErasureMarker(payload)?.residue ?? parsed;
}
