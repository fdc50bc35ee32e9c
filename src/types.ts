/**
 * Terminology
 * - train:     the methodology as code (vt.yaml): phases, roles, modes, gates, transitions; pinned by content hash.
 * - phase:     one step of a train, owned by a role, with a checklist, artifacts, gates and transitions.
 * - role:      who owns a phase (conductor, lab, ops...), played by an executor or a person.
 * - project:   one run of a train: name, team, priority, budget, current phase and status.
 * - gate:      a check at a transition that returns pass, fail or error with evidence.
 * - artifact:  a file a phase produces, recorded with its sha256 and size, confined to the workspace.
 * - metric:    a named number recorded for a project (auc, psi...), read by metric gates and routes.
 * - event:     an append-only, hash-chained record of a change: who, when, what, why.
 * - visit:     one stay of a project in a phase, from entering it to leaving it; numbered per project.
 * - issue:     a unit of queued work for a project and phase.
 * - ticket:    a phase x issue work item with a status, attempts and a workspace.
 * - session:   one run of one executor (or person) on one ticket.
 * - executor:  what plays a role: a command, a coding-agent CLI, a model, or a human.
 */

/** Where executors and command gates run: in bubblewrap when it is there (`bwrap`), never (`none`), or only there (`required`). */
export const SANDBOX_MODES = ['bwrap', 'none', 'required'] as const;
export type SandboxMode = (typeof SANDBOX_MODES)[number];

/**
 * Project lifecycle statuses; drives the TypeScript union, the SQL CHECK and the status glyphs.
 * `working`: its work goes on (tickets are claimed, schedules fall due). A project becomes `operating`
 * when it enters the operations cycle of its train, and stays so until a person retires it.
 */
export const PROJECT_STATUSES = {
  active: { glyph: '●', word: 'active', working: true },
  operating: { glyph: '⟳', word: 'operating', working: true },
  'on-hold': { glyph: '⏸', word: 'on hold', working: false },
  cancelled: { glyph: '✗', word: 'cancelled', working: false },
  completed: { glyph: '✓', word: 'completed', working: false },
  retired: { glyph: '∎', word: 'retired', working: false },
} as const;
export type ProjectStatus = keyof typeof PROJECT_STATUSES;
/** The statuses in which a project's work goes on: derived from PROJECT_STATUSES. */
export const WORKING_STATUSES = (Object.keys(PROJECT_STATUSES) as ProjectStatus[]).filter(
  (s) => PROJECT_STATUSES[s].working,
);

/** Gate verdicts. `error` means the gate could not decide (a missing metric, a crashed command). */
export const GATE_STATUSES = {
  pass: { glyph: '✓', word: 'passed' },
  fail: { glyph: '✗', word: 'failed' },
  error: { glyph: '!', word: 'error' },
  waived: { glyph: '~', word: 'waived' },
} as const;
export type GateStatus = keyof typeof GATE_STATUSES;

/** Ticket statuses (phase x issue work items); the autopilot claims only `queued` ones. */
export const TICKET_STATUSES = {
  queued: { glyph: '○', word: 'queued' },
  running: { glyph: '●', word: 'running' },
  'awaiting-gates': { glyph: '◐', word: 'awaiting gates' },
  'awaiting-approval': { glyph: '⏸', word: 'awaiting approval' },
  'awaiting-human': { glyph: '✋', word: 'awaiting a person' },
  blocked: { glyph: '⛔', word: 'blocked' },
  done: { glyph: '✓', word: 'done' },
  reworked: { glyph: '↺', word: 'rework' },
  cancelled: { glyph: '✗', word: 'cancelled' },
} as const;
export type TicketStatus = keyof typeof TICKET_STATUSES;

/** Kinds of context entries sessions write; the handoff packet is built from them. */
export const CONTEXT_KINDS = ['fact', 'decision', 'assumption', 'risk', 'note'] as const;
export type ContextKind = (typeof CONTEXT_KINDS)[number];

export const PRIORITIES = ['now', 'next', 'future'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const STAGES = ['pre-engagement', 'delivery', 'operations'] as const;
export type Stage = (typeof STAGES)[number];

/** How a project left one phase for another. */
export const TRANSITION_KINDS = ['advance', 'route', 'rework'] as const;
export type TransitionKind = (typeof TRANSITION_KINDS)[number];

/**
 * Roles an API token grants, per project or for every project. Each lists what it lets a person do
 * through `vt serve`; the engine still decides whether the person may decide (train roles,
 * segregation of duties).
 */
export const API_ROLES = ['viewer', 'operator', 'approver', 'admin'] as const;
export type ApiRole = (typeof API_ROLES)[number];
export const API_PERMISSIONS = {
  viewer: ['read'],
  operator: ['read', 'operate'],
  approver: ['read', 'decide'],
  admin: ['read', 'operate', 'decide', 'admin'],
} as const satisfies Record<ApiRole, readonly string[]>;
export type ApiPermission = (typeof API_PERMISSIONS)[ApiRole][number];

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** The kinds of webhook notification, in the order docs list them. */
export const NOTIFICATION_TYPES = [
  'approval-needed',
  'ticket-blocked',
  'gate-failed',
  'drift-detected',
  'budget-nearly-spent',
  'schedule-missed',
  'test',
] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];
