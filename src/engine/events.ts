import type { GateResult } from '../gates/types.ts';
import type { Priority, TransitionKind } from '../types.ts';

/** Every event the engine appends, by type. Payloads are plain JSON. */
export interface EventMap {
  'project.created': {
    name: string;
    team: string | null;
    priority: Priority;
    budget: number | null;
    train_hash: string;
    train_name: string;
    workspace: string;
    phase: string;
  };
  'checklist.ticked': { phase: string; item: string; note: string | null };
  'checklist.reopened': { phase: string; item: string; reason: string };
  'artifact.recorded': {
    phase: string;
    artifact: string;
    path: string;
    workspace: string;
    sha256: string;
    size: number;
  };
  'metric.recorded': { phase: string; visit: number; name: string; value: number };
  'gate.evaluated': {
    phase: string;
    visit: number;
    side: 'entry' | 'exit';
    passed: boolean;
    results: GateResult[];
  };
  'phase.advanced': { n: number; from: string; to: string; kind: TransitionKind; reason: string | null };
  'project.completed': { n: number; from: string; reason: string | null };
  'approval.recorded': {
    phase: string;
    visit: number;
    role: string;
    decision: 'approve' | 'reject';
    reason: string | null;
    digest: string;
  };
  'gate.waived': { phase: string; gate: string; reason: string; expires_at: string };
  'project.held': { reason: string | null };
  'project.resumed': { reason: string | null };
  'project.cancelled': { reason: string };
  'project.reopened': { reason: string; phase: string };
}

export type EventType = keyof EventMap;
export const EVENT_TYPES = [
  'project.created',
  'checklist.ticked',
  'checklist.reopened',
  'artifact.recorded',
  'metric.recorded',
  'gate.evaluated',
  'phase.advanced',
  'project.completed',
  'approval.recorded',
  'gate.waived',
  'project.held',
  'project.resumed',
  'project.cancelled',
  'project.reopened',
] as const satisfies readonly EventType[];

/** An event before it is stored: its type and payload. */
export type NewEvent = { [K in EventType]: { type: K; payload: EventMap[K] } }[EventType];

/** An event as read back: with its place in the chain and who caused it. */
export type RecordedEvent = NewEvent & {
  project_id: string;
  seq: number;
  ts: string;
  actor: string;
  hash: string;
};

/** One factory per type, so a misspelt type or payload field is a compile error. */
export function event<K extends EventType>(type: K, payload: EventMap[K]): NewEvent {
  return { type, payload } as NewEvent;
}
