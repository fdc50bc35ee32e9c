import { sha256 } from '../canonical.ts';
import { VtError } from '../errors.ts';
import { ERASED_TEXT, erasureMarkerText } from '../store/erasure-marker.ts';
import type { Json } from '../types.ts';
import { event, type NewEvent } from './events.ts';
import type { ProjectState } from './state.ts';

/*
 * Erasing an event's free text: a person's decision, for a secret or personal data that reached
 * the record. The event keeps its place, its digest and everything that drives state (phases,
 * gates' verdicts, metrics, hashes of artifacts); what people or agents wrote in it — texts, notes,
 * reasons, summaries, previews, titles, gate messages and evidence — becomes ERASED_TEXT. That
 * residue replaces the payload in the store, so the state and projections folded from the events
 * keep working and no longer hold the text.
 */

/** Keys whose string values are free text, wherever they appear in a payload. */
const TEXT_KEYS = new Set([
  'text',
  'note',
  'reason',
  'summary',
  'preview',
  'title',
  'message',
  'detail',
  'description',
  'comment',
  'body',
  'output',
  'tail',
  'output_tail',
  'outputTail',
  'stdout',
  'stderr',
]);
/** Keys under which every string is free text (a gate's evidence quotes outputs and files). */
const DEEP_KEYS = new Set(['evidence']);
/** Top-level fields that are free text only in some event types. */
const TEXT_FIELDS_OF: Readonly<Record<string, readonly string[]>> = {
  'project.created': ['name', 'team'],
};

export interface Residue {
  /** The payload with its free text replaced by ERASED_TEXT. */
  residue: { [k: string]: Json };
  /** Where the erased strings were, e.g. `text`, `results[0].message`. */
  fields: string[];
  /** The erased strings themselves, to scrub copies kept beside the events (never stored). */
  texts: string[];
}

/** The residue of a payload: its shape, without its free text. */
export function residueOf(type: string, payload: { [k: string]: Json }): Residue {
  const fields: string[] = [];
  const texts: string[] = [];
  const extra = new Set(TEXT_FIELDS_OF[type] ?? []);
  const walk = (v: Json, path: string, key: string, text: boolean): Json => {
    if (typeof v === 'string') {
      if (!text || v === '' || v === ERASED_TEXT) return v;
      fields.push(path);
      texts.push(v);
      return ERASED_TEXT;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}[${i}]`, key, text));
    if (v !== null && typeof v === 'object') {
      const out: { [k: string]: Json } = {};
      for (const [k, x] of Object.entries(v))
        out[k] = walk(
          x,
          path ? `${path}.${k}` : k,
          k,
          text || TEXT_KEYS.has(k) || DEEP_KEYS.has(k) || (!path && extra.has(k)),
        );
      return out;
    }
    return v;
  };
  const residue = walk(payload, '', '', false) as { [k: string]: Json };
  return { residue, fields, texts };
}

/** The event to erase, as the engine read it from the store. */
export interface ErasureTarget {
  seq: number;
  type: string;
  /** The stored payload, parsed; for an erased event, its marker. */
  payload: { [k: string]: Json };
  /** Set when the payload is an erasure marker already: the seq of the erasure that made it. */
  erasedBy: number | null;
}

export interface Erasure {
  events: NewEvent[];
  /** The text that replaces the payload column (an erasure marker). */
  marker: string;
  fields: string[];
  texts: string[];
}

/**
 * Decide an erasure: refused without a reason, for a missing event, an event erased already, an
 * erasure record, or an event with no free text; otherwise one `event.erased` event (appended next,
 * so its seq is the state's seq + 1, which the marker names) and the marker to store.
 */
export function decideErase(
  s: ProjectState,
  seq: number,
  target: ErasureTarget | undefined,
  reason: string,
): Erasure {
  const why = reason.trim();
  if (!why)
    throw new VtError('BAD_INPUT', 'an erasure needs a reason: who asked for it and why', {
      hint: `Example: vt audit erase ${s.id} ${seq} --reason "API key pasted by mistake; rotated"`,
    });
  if (!Number.isSafeInteger(seq) || seq < 1)
    throw new VtError('BAD_INPUT', `"${seq}" is not an event number (a whole number from 1)`);
  if (!target || target.seq !== seq)
    throw new VtError('NOT_FOUND', `project ${s.id} has no event #${seq} (its chain ends at #${s.seq})`, {
      hint: `See: vt audit log ${s.id}`,
    });
  if (target.erasedBy !== null)
    throw new VtError('CONFLICT', `event ${s.id}#${seq} was already erased (by #${target.erasedBy})`, {
      hint: `See: vt audit verify ${s.id}`,
    });
  if (target.type === 'event.erased')
    throw new VtError('BAD_INPUT', `event ${s.id}#${seq} is an erasure record; it cannot be erased itself`);
  const { residue, fields, texts } = residueOf(target.type, target.payload);
  if (!fields.length)
    throw new VtError(
      'BAD_INPUT',
      `event ${s.id}#${seq} (${target.type}) holds no free text to erase: its fields are identifiers, hashes and numbers`,
    );
  const marker = erasureMarkerText(s.seq + 1, residue);
  return {
    events: [
      event('event.erased', { seq, type: target.type, fields, reason: why, marker_sha256: sha256(marker) }),
    ],
    marker,
    fields,
    texts,
  };
}
