import type { Generated } from 'kysely';

/** The database as Kysely sees it. Events are the truth; every other table is a projection of them. */
export interface DB {
  trains: TrainsTable;
  events: EventsTable;
  projects: ProjectsTable;
  checklist: ChecklistTable;
  artifacts: ArtifactsTable;
  metrics: MetricsTable;
  approvals: ApprovalsTable;
  waivers: WaiversTable;
  transitions: TransitionsTable;
  issues: IssuesTable;
  tickets: TicketsTable;
  sessions: SessionsTable;
  context: ContextTable;
  handoffs: HandoffsTable;
  alerts: AlertsTable;
  leases: LeasesTable;
  outbox: OutboxTable;
  control: ControlTable;
  session_tokens: SessionTokensTable;
  commits: CommitsTable;
  session_processes: SessionProcessesTable;
  idempotency_requests: IdempotencyRequestsTable;
  api_tokens: ApiTokensTable;
  api_token_grants: ApiTokenGrantsTable;
  passkeys: PasskeysTable;
  webhook_attempts: WebhookAttemptsTable;
  mlflow_aliases: MlflowAliasesTable;
  claim_heads: ClaimHeadsTable;
  snapshots: SnapshotsTable;
  counters: CountersTable;
  passkey_bindings: PasskeyBindingsTable;
  scheduled_visits: ScheduledVisitsTable;
  merkle_nodes: MerkleNodesTable;
  merkle_log: MerkleLogTable;
}

/** Each due time of a scheduled phase's visit, and the ticket queued when it fell due (a projection). */
export interface ScheduledVisitsTable {
  project_id: string;
  phase: string;
  due_at: string;
  visit: number;
  schedule: string;
  period_ms: number;
  seq: number;
  ticket: string | null;
  queued_at: string | null;
  late_ms: number | null;
  missed: Generated<number>;
}

/** What each idempotency key was first used for (operational). */
export interface IdempotencyRequestsTable {
  project_id: string;
  key: string;
  request: string;
  seq: number;
}

/** The group leader process of a live session's executor (operational). */
export interface SessionProcessesTable {
  session: string;
  project_id: string;
  actor: string;
  pid: number;
  start: number;
  host: string;
  created_at: string;
}

/** Content-addressed train bodies: insert-only, shared by every project that pins the same hash. */
export interface TrainsTable {
  hash: string;
  name: string;
  body: string;
  created_at: string;
  /** The train schema's fingerprint when the body was stored (`TRAIN_FORMAT`); null before 072. */
  format: string | null;
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
  /** Position in the store-wide commit order (1, 2, ...); not part of the chain hash. */
  gseq: number;
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
  last_claim_at: string | null;
  /** Which visit of its current phase the project is in (1 the first time). */
  phase_visit: number;
  /** When the project entered its current phase. */
  phase_since: string;
  /** When the project entered its train's operations cycle (operating until retired), or null. */
  operating_since: string | null;
}

/** Checklist items per phase visit: who ticked (or reopened) them, and in which session. */
export interface ChecklistTable {
  project_id: string;
  phase: string;
  /** The project-wide visit number. */
  visit: number;
  item: string;
  ticked: number;
  actor: string;
  ts: string;
  reason: string | null;
  session: string | null;
  carried_from: number | null;
}

/** Artifacts per phase visit, with the commit they are judged in. */
export interface ArtifactsTable {
  project_id: string;
  phase: string;
  visit: number;
  artifact: string;
  path: string;
  workspace: string;
  sha256: string;
  size: number;
  actor: string;
  ts: string;
  seq: number;
  session: string | null;
  commit_sha: string | null;
  carried_from: number | null;
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
  session: string | null;
  carried_from: number | null;
}

/** Commits recorded for a visit: what its artifact and command gates judged. */
export interface CommitsTable {
  project_id: string;
  seq: number;
  phase: string;
  visit: number;
  session: string | null;
  ticket: string | null;
  commit_sha: string;
  tree: string;
  actor: string;
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
  visit: number | null;
  confirms: number | null;
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

export interface IssuesTable {
  id: string;
  project_id: string;
  title: string;
  priority: string;
  /** JSON array of label strings. */
  labels: string;
  phase: string;
  source: string;
  external_repo: string | null;
  external_number: number | null;
  assignee: string | null;
  closed: number;
  created_at: string;
  seq: number;
}

export interface TicketsTable {
  id: string;
  project_id: string;
  issue: string;
  phase: string;
  visit: number;
  branch: string;
  base: string | null;
  status: string;
  attempts: number;
  lease_gen: number;
  worker: string | null;
  not_before: string | null;
  session: string | null;
  reason: string | null;
  priority: string;
  labels: string;
  created_at: string;
  updated_at: string;
  seq: number;
  /** Priority rank (0 now ... 3) while the ticket waits to be claimed (queued, awaiting-gates); else null. */
  claim_rank: number | null;
}

/** Per active project and rank: the oldest ticket waiting in its current phase (the claim index). */
export interface ClaimHeadsTable {
  project_id: string;
  rank: number;
  /** The project's last claim time, '' when never claimed. */
  last_claim_at: string;
  created_at: string;
  seq: number;
  ticket: string;
}

/** The latest folded state of a project (a cache; see src/store/snapshots.ts). */
export interface SnapshotsTable {
  project_id: string;
  seq: number;
  head_hash: string;
  shape: string;
  /** JSON of the ProjectState at `seq`. */
  state: string;
  created_at: string;
}

/** PostgreSQL only: named counters; `gseq` numbers events in commit order. */
export interface CountersTable {
  name: string;
  value: number;
}

export interface SessionsTable {
  id: string;
  project_id: string;
  ticket: string;
  phase: string;
  role: string;
  executor: string;
  actor: string;
  workspace: string;
  log: string;
  started_at: string;
  ended_at: string | null;
  outcome: string | null;
  exit_code: number | null;
  summary: string | null;
  tokens_in: number | null;
  tokens_out: number | null;
  cost: number | null;
}

export interface ContextTable {
  project_id: string;
  seq: number;
  kind: string;
  text: string;
  phase: string;
  ticket: string | null;
  session: string | null;
  actor: string;
  ts: string;
}

export interface HandoffsTable {
  project_id: string;
  seq: number;
  phase: string;
  visit: number;
  path: string;
  sha256: string;
  tokens: number;
  truncated: number;
  ts: string;
}

export interface AlertsTable {
  project_id: string;
  seq: number;
  ticket: string | null;
  reason: string;
  ts: string;
}

/** Who holds a ticket, until when. Operational: heartbeats move expires_at without an event. */
export interface LeasesTable {
  ticket: string;
  project_id: string;
  worker: string;
  lease_gen: number;
  expires_at: string;
}

/** Side effects for outside systems (GitHub comments...), written in the same transaction as their events. */
export interface OutboxTable {
  id: string;
  project_id: string;
  kind: string;
  payload: string;
  attempts: number;
  next_at: string;
  delivered_at: string | null;
  last_error: string | null;
  created_at: string;
}

export interface ControlTable {
  key: string;
  value: string;
  updated_at: string;
}

/** The sha256 of each live agent session's token (operational; the token itself is never stored). */
export interface SessionTokensTable {
  session: string;
  project_id: string;
  token_sha256: string;
  created_at: string;
}

/** A person's API token for `vt serve`: only its sha256 is kept. Operational. */
export interface ApiTokensTable {
  id: string;
  person: string;
  label: string | null;
  token_sha256: string;
  created_by: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

/** What a token may do: a role on one project, or on every project (`*`). */
export interface ApiTokenGrantsTable {
  token_id: string;
  project: string;
  role: string;
}

/** A person's WebAuthn credential: the public key that confirms their decisions in a browser. */
export interface PasskeysTable {
  credential_id: string;
  person: string;
  /** base64url of the COSE public key. */
  public_key: string;
  counter: number;
  /** JSON array of transport hints. */
  transports: string;
  label: string | null;
  created_at: string;
}

/** One attempt to deliver a webhook outbox row (operational; the URL and secret are never stored). */
export interface WebhookAttemptsTable {
  outbox_id: string;
  attempt: number;
  endpoint: string;
  at: string;
  /** delivered, failed, gave-up or skipped */
  outcome: string;
  http_status: number | null;
  duration_ms: number;
  error: string | null;
}

/** The version an MLflow alias pointed at when the guard last looked, and the move it last flagged. */
export interface MlflowAliasesTable {
  tracking_uri: string;
  model: string;
  alias: string;
  version: string | null;
  seen_at: string;
  flagged_version: string | null;
}

/** Where a passkey was registered, and its owner's SSH-signed binding of it to them (JSON of a PasskeyBinding). */
export interface PasskeyBindingsTable {
  credential_id: string;
  person: string;
  /** The relying party (host name) it was registered for. */
  rp_id: string;
  binding: string | null;
  created_at: string;
}

/** Perfect-subtree hashes of the global Merkle log (level 0: leaves); derived from events, insert-only. */
export interface MerkleNodesTable {
  /** nodePosition(level, idx): the order nodes are completed in, so appends go to the end. */
  pos: number;
  level: number;
  idx: number;
  /** SHA-256, 32 bytes */
  hash: Buffer;
}

/**
 * The Merkle log's one row (id 1): its origin. Its size and compact range are read from
 * `merkle_nodes` (migration 073 dropped the columns that repeated them).
 */
export interface MerkleLogTable {
  id: number;
  origin: string;
}

export type { Generated };
