import { readFile, stat } from 'node:fs/promises';
import { z } from 'zod';
import { sha256 } from '../canonical.ts';
import { buildHandoff } from '../context/handoff.ts';
import { chooseTarget, onlyApprovalsPending, phaseOf } from '../engine/core.ts';
import type { Engine, Who } from '../engine/engine.ts';
import { event } from '../engine/events.ts';
import { currentEvidence, type ProjectState, type SessionState } from '../engine/state.ts';
import type { Tickets } from '../engine/ticket-ops.ts';
import { requireLiveSession } from '../engine/tickets.ts';
import { VtError } from '../errors.ts';
import { writeInside } from '../io/no-follow.ts';
import { resolveInside } from '../io/paths.ts';
import type { Train } from '../train/schema.ts';
import { CONTEXT_KINDS, type GateStatus } from '../types.ts';
import type { TOOL_OUTPUTS } from './tool-outputs.ts';

/*
 * The tools an agent's session is offered, defined once: the MCP server (`vt mcp`) and the llm
 * executor both translate them. Every call is bound to one session: refused unless the session is
 * live, refused when the phase's mode does not allow it, confined to the session's project, phase and
 * workspace, and recorded as a `session.tool-called` event naming the session.
 */

const project = z
  .string()
  .optional()
  .describe("the project id; only the session's own project is accepted (omit it to mean that one)");

interface ToolDef {
  description: string;
  input: z.ZodRawShape;
  /** The `allowed_tools` word of a mode that grants this tool; null for read-only tools every mode has. */
  permission: string | null;
}

export const SESSION_TOOLS = {
  next_task: {
    description:
      "Your task in this session: the project, phase, ticket and issue, the phase's instructions, its checklist (with what is ticked), the artifacts to produce, the metrics to record, its exit gates and the tools you may use.",
    input: {},
    permission: null,
  },
  get_handoff: {
    description:
      'The handoff packet for this phase: where the project stands, what earlier phases produced, and the decisions, assumptions and risks recorded so far (markdown).',
    input: {},
    permission: null,
  },
  status: {
    description:
      "The project's current state: phase, visit, status, checklist, recorded artifacts and metrics.",
    input: { project },
    permission: null,
  },
  tick: {
    description:
      "Tick an item of the current phase's checklist once you have really done it. Items of other phases are refused.",
    input: {
      item: z.string().min(1).describe('the checklist item id'),
      note: z.string().max(2000).optional().describe('what was done, kept with the tick'),
      project,
    },
    permission: 'tick',
  },
  put_artifact: {
    description:
      "Record an artifact of the current phase: write its file in the workspace first; it is hashed where it lies. The path defaults to the train's path for the artifact and must stay inside the workspace.",
    input: {
      artifact: z.string().min(1).describe('the artifact id from the phase'),
      path: z.string().min(1).optional().describe('a path relative to the workspace'),
      project,
    },
    permission: 'put_artifact',
  },
  record_metric: {
    description: 'Record a metric value in the current phase (a metric the train declares).',
    input: {
      name: z.string().min(1).describe('the metric name'),
      value: z.number().describe('a finite number'),
      project,
    },
    permission: 'record_metric',
  },
  add_context: {
    description:
      'Record a fact, decision, assumption, risk or note for the people and agents of later phases.',
    input: {
      kind: z.enum(CONTEXT_KINDS).describe('what kind of entry'),
      text: z.string().min(1).max(4000).describe('the entry, one or a few sentences'),
      project,
    },
    permission: 'add_context',
  },
  check_gates: {
    description:
      "Evaluate the current phase's exit gates and record the result: what passes and what is still missing.",
    input: { project },
    permission: 'check_gates',
  },
  request_advance: {
    description:
      'Ask whether the phase can advance: evaluates the exit gates and says where the project would go. The autopilot advances it when your session ends; you never advance it yourself.',
    input: { project },
    permission: 'request_advance',
  },
  read_file: {
    description: 'Read a text file of the workspace (a path relative to it).',
    input: { path: z.string().min(1).describe('a path relative to the workspace') },
    permission: 'read_files',
  },
  write_file: {
    description: 'Write a text file in the workspace (a path relative to it; folders are created).',
    input: {
      path: z.string().min(1).describe('a path relative to the workspace'),
      content: z.string().max(5_000_000).describe('the whole new content of the file'),
    },
    permission: 'write_files',
  },
} as const satisfies Record<string, ToolDef>;

export type ToolName = keyof typeof SESSION_TOOLS;
type Input<K extends ToolName> = z.infer<z.ZodObject<(typeof SESSION_TOOLS)[K]['input']>>;
type Output<K extends ToolName> = z.infer<(typeof TOOL_OUTPUTS)[K]>;

/** What `vt mcp` serves (coding agents bring their own file tools). */
export const MCP_TOOL_NAMES = [
  'next_task',
  'get_handoff',
  'tick',
  'put_artifact',
  'record_metric',
  'add_context',
  'check_gates',
  'request_advance',
  'status',
] as const satisfies readonly ToolName[];

/** What the llm executor offers a model, before the mode's subset is taken. */
export const LLM_TOOL_NAMES = [
  'tick',
  'put_artifact',
  'record_metric',
  'add_context',
  'read_file',
  'write_file',
  'check_gates',
  'request_advance',
] as const satisfies readonly ToolName[];

/** The phase's mode's `allowed_tools`, or null when the phase has no mode or the mode lists none (no limit). */
export function allowedToolsOf(train: Train, phaseId: string): string[] | null {
  const phase = phaseOf(train, phaseId);
  const mode = phase.mode ? train.modes.find((m) => m.id === phase.mode) : undefined;
  return mode?.allowed_tools.length ? mode.allowed_tools : null;
}

export function isToolAllowed(name: ToolName, allowed: readonly string[] | null): boolean {
  const p = SESSION_TOOLS[name].permission;
  return p === null || allowed === null || allowed.includes(p);
}

/** One session's hold on the tools. The token check (for MCP) happens before a binding is made. */
export interface SessionBinding {
  engine: Engine;
  tickets: Tickets;
  projectId: string;
  session: string;
  /** The handoff packet file given to the session, if any. */
  handoffFile?: string | undefined;
}

export type ToolOutcome = { ok: true; value: unknown } | { ok: false; code: string; message: string };

interface Call {
  b: SessionBinding;
  s: ProjectState;
  sess: SessionState;
  train: Train;
  who: Who;
  allowed: string[] | null;
}

/** Run one tool for a session: check, act through the engine, record. Never throws for a refusal. */
export async function callSessionTool(b: SessionBinding, name: ToolName, raw: unknown): Promise<ToolOutcome> {
  let sess: SessionState | undefined;
  try {
    const s = await b.engine.state(b.projectId);
    sess = s.sessions[b.session];
    if (!sess) throw new VtError('NOT_PERMITTED', `no session "${b.session}" in project ${b.projectId}`);
    requireLiveSession(s, b.session, sess.actor);
    const train = await b.engine.train(s.trainHash);
    const allowed = allowedToolsOf(train, s.phase);
    if (!isToolAllowed(name, allowed)) {
      const mode = phaseOf(train, s.phase).mode;
      throw new VtError(
        'NOT_PERMITTED',
        `${name} is not allowed in ${s.phase} (mode ${mode}: ${allowed!.join(', ')})`,
      );
    }
    const parsed = z.object(SESSION_TOOLS[name].input).safeParse(raw ?? {});
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw new VtError('BAD_INPUT', `${name}: ${i.path.join('.') || 'input'}: ${i.message}`);
    }
    const input = parsed.data as { project?: string };
    if (input.project !== undefined && input.project !== b.projectId)
      throw new VtError(
        'NOT_PERMITTED',
        `this session works on project ${b.projectId}; project ${input.project} is outside it`,
      );
    const call: Call = { b, s, sess, train, who: { actor: sess.actor, session: b.session }, allowed };
    const value = await (HANDLERS[name] as (c: Call, i: unknown) => Promise<unknown>)(call, parsed.data);
    await record(b, sess.actor, name, 'ok', null);
    return { ok: true, value };
  } catch (err) {
    const code = err instanceof VtError ? err.code : 'INTERNAL';
    const message = err instanceof Error ? err.message : String(err);
    await record(b, sess?.actor ?? 'mcp', name, 'refused', `${code}: ${message}`.slice(0, 1000)).catch(
      () => {},
    );
    return { ok: false, code, message };
  }
}

/** The audit record of a call. Not bound to the session, so a refusal is recorded even when it has ended. */
export async function record(
  b: Pick<SessionBinding, 'engine' | 'projectId' | 'session'>,
  actor: string,
  tool: string,
  outcome: 'ok' | 'refused',
  reason: string | null,
): Promise<void> {
  await b.engine.decide(b.projectId, { actor }, () => [
    event('session.tool-called', { session: b.session, tool, outcome, reason }),
  ]);
}

const HANDLERS: { [K in ToolName]: (c: Call, input: Input<K>) => Promise<Output<K>> } = {
  async next_task({ s, sess, train, allowed }) {
    const phase = phaseOf(train, s.phase);
    const ticket = s.tickets[sess.ticket]!;
    const issue = s.issues[ticket.issue];
    return {
      project: s.id,
      project_name: s.name,
      phase: phase.id,
      phase_name: phase.name,
      visit: currentEvidence(s).n,
      ticket: ticket.id,
      issue: issue ? { id: issue.id, title: issue.title, labels: issue.labels } : null,
      role: sess.role,
      workspace: sess.workspace,
      ...instructionsOf(phase.instructions?.trim() ?? phase.description ?? null),
      checklist: phase.checklist.map((c) => ({
        id: c.id,
        text: c.text,
        required: c.required,
        ticked: !!currentEvidence(s).checklist[c.id]?.ticked,
      })),
      artifacts: phase.artifacts.map((a) => ({
        id: a.id,
        path: a.path,
        required: a.required,
        description: a.description ?? null,
        recorded: !!currentEvidence(s).artifacts[a.id],
      })),
      metrics: phase.metrics.map((m) => ({ name: m, value: currentEvidence(s).metrics[m]?.value ?? null })),
      gates: phase.gates.exit.map((g) => ({ id: g.id, kind: g.kind })),
      allowed_tools: allowed ?? 'all',
      how: 'Work in the workspace, then tick what you did, put_artifact the files, record_metric the numbers. check_gates shows what is missing; the autopilot advances the phase after your session ends.',
    };
  },

  get_handoff: ({ b, s, train }) => sessionHandoff(b, s, train),

  async status({ s }) {
    const phase = s.phase;
    return {
      project: s.id,
      name: s.name,
      status: s.status,
      phase,
      visit: currentEvidence(s).n,
      checklist: Object.fromEntries(
        Object.entries(currentEvidence(s).checklist).map(([k, v]) => [k, v.ticked]),
      ),
      artifacts: Object.fromEntries(
        Object.entries(currentEvidence(s).artifacts).map(([k, a]) => [
          k,
          { path: a.path, sha256: a.sha256, size: a.size },
        ]),
      ),
      metrics: Object.fromEntries(Object.entries(s.metrics).map(([k, m]) => [k, m.value])),
    };
  },

  async tick({ b, s, who }, input) {
    const c = await b.engine.tick(b.projectId, input.item, input.note ?? null, who);
    return { phase: s.phase, item: input.item, ticked: true as const, already: c.events.length === 0 };
  },

  async put_artifact({ b, sess, who }, input) {
    const c = await b.engine.addArtifact(b.projectId, input.artifact, input.path, {
      ...who,
      workspace: sess.workspace,
    });
    const rec = currentEvidence(c.state).artifacts[input.artifact];
    if (!rec) throw new VtError('CONFLICT', `${input.artifact} was not recorded; try again`);
    return { artifact: input.artifact, path: rec.path, sha256: rec.sha256, size: rec.size };
  },

  async record_metric({ b, who }, input) {
    await b.engine.setMetric(b.projectId, input.name, input.value, who);
    return { name: input.name, value: input.value };
  },

  async add_context({ b, sess, who }, input) {
    await b.tickets.addContext(
      b.projectId,
      { kind: input.kind, text: input.text, ticket: sess.ticket, session: b.session },
      who,
    );
    return { kind: input.kind, recorded: true as const };
  },

  async check_gates({ b, who }) {
    const c = await b.engine.checkGates(b.projectId, who);
    return { phase: c.state.phase, passed: c.passed, results: brief(c.results) };
  },

  async request_advance({ b, train, who }) {
    const c = await b.engine.checkGates(b.projectId, who);
    const target = chooseTarget(c.state, train);
    const approvals = !c.passed && onlyApprovalsPending(c.results);
    return {
      phase: c.state.phase,
      can_advance: c.passed,
      next: c.passed ? (target.to ?? 'end of the train') : null,
      waiting_for_approval: approvals,
      results: brief(c.results),
      note: c.passed
        ? 'The gates pass: finish your work and end the session; the autopilot advances the project.'
        : approvals
          ? 'Only approvals are missing: a person approves after your session ends.'
          : 'Not yet: fix what the failing gates name, then ask again.',
    };
  },

  async read_file({ sess }, input) {
    const { abs, rel } = await resolveInside(sess.workspace, input.path);
    const size = (await stat(abs)).size;
    const limit = 256 * 1024;
    const buf = await readFile(abs);
    return { path: rel, size, truncated: size > limit, content: buf.subarray(0, limit).toString('utf8') };
  },

  async write_file({ sess }, input) {
    await writeInside(sess.workspace, input.path, input.content);
    const { rel } = await resolveInside(sess.workspace, input.path);
    return { path: rel, bytes: Buffer.byteLength(input.content) };
  },
};

/** The handoff packet given to the session (when its recorded hash still matches), else one built now. */
export async function sessionHandoff(
  b: SessionBinding,
  s: ProjectState,
  train: Train,
): Promise<{ source: 'recorded' | 'current-state'; text: string }> {
  if (b.handoffFile && s.handoff) {
    const text = await readFile(b.handoffFile, 'utf8').catch(() => null);
    if (text !== null && sha256(text) === s.handoff.sha256) return { source: 'recorded', text };
  }
  return { source: 'current-state', text: buildHandoff(s, train).text };
}

/** Past this, next_task gives the start of the instructions: CLIs cut or spill long tool results. */
export const INSTRUCTIONS_IN_TASK = 8000;

function instructionsOf(text: string | null): { instructions: string | null; instructions_truncated?: true } {
  if (text === null || text.length <= INSTRUCTIONS_IN_TASK) return { instructions: text };
  return {
    instructions: `${text.slice(0, INSTRUCTIONS_IN_TASK)}… (${text.length} characters in all: the whole text is in your prompt's handoff and in get_handoff)`,
    instructions_truncated: true,
  };
}

const brief = (results: { gate: string; kind: string; status: GateStatus; message: string }[]) =>
  results.map((r) => ({ gate: r.gate, kind: r.kind, status: r.status, message: r.message }));
