import type { Generated } from 'kysely';

/** The database as Kysely sees it. Events are the truth; every other table is a projection of them. */
export interface DB {
  trains: TrainsTable;
  events: EventsTable;
  projects: ProjectsTable;
  checklist: ChecklistTable;
  artifacts: ArtifactsTable;
  metrics: MetricsTable;
  gate_results: GateResultsTable;
  approvals: ApprovalsTable;
  waivers: WaiversTable;
  transitions: TransitionsTable;
}

/** Content-addressed train bodies: insert-only, shared by every project that pins the same hash. */
export interface TrainsTable {
  hash: string;
  name: string;
  body: string;
  created_at: string;
}

export interface EventsTable {
  project_id: string;
  seq: number;
  ts: string;
  actor: string;
  type: string;
  /** Canonical JSON text (RFC 8785) of the payload, exactly the bytes that were hashed. */
  payload: string;
  payload_sha256: string;
  prev_hash: string;
  hash: string;
  idempotency_key: string | null;
}

export interface ProjectsTable {
  id: string;
  name: string;
  team: string | null;
  priority: string;
  budget: number | null;
  train_hash: string;
  workspace: string;
  phase: string;
  status: string;
  visit: number;
  transitions: number;
  created_at: string;
  updated_at: string;
  head_seq: number;
  head_hash: string;
}

export interface ChecklistTable {
  project_id: string;
  phase: string;
  item: string;
  ticked: number;
  actor: string;
  ts: string;
  reason: string | null;
}

export interface ArtifactsTable {
  project_id: string;
  phase: string;
  artifact: string;
  path: string;
  workspace: string;
  sha256: string;
  size: number;
  actor: string;
  ts: string;
  seq: number;
}

export interface MetricsTable {
  project_id: string;
  seq: number;
  name: string;
  phase: string;
  visit: number;
  value: number;
  actor: string;
  ts: string;
}

export interface GateResultsTable {
  project_id: string;
  seq: number;
  phase: string;
  visit: number;
  side: string;
  gate: string;
  kind: string;
  status: string;
  evidence: string;
  ts: string;
}

export interface ApprovalsTable {
  project_id: string;
  seq: number;
  phase: string;
  visit: number;
  role: string;
  actor: string;
  decision: string;
  reason: string | null;
  digest: string;
  ts: string;
}

export interface WaiversTable {
  project_id: string;
  seq: number;
  phase: string;
  gate: string;
  actor: string;
  reason: string;
  expires_at: string;
  ts: string;
}

export interface TransitionsTable {
  project_id: string;
  n: number;
  seq: number;
  from_phase: string;
  to_phase: string | null;
  kind: string;
  reason: string | null;
  ts: string;
}

export type { Generated };
