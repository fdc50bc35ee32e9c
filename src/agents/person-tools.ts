import { z } from 'zod';
import { phaseOf } from '../engine/core.ts';
import type { Engine } from '../engine/engine.ts';
import type { RecordedEvent } from '../engine/events.ts';
import { currentEvidence } from '../engine/state.ts';
import type { Tickets } from '../engine/ticket-ops.ts';
import { VtError } from '../errors.ts';
import type { GateResult } from '../gates/types.ts';
import { readEvents, toRecorded } from '../store/append.ts';
import type { GateSpec } from '../train/schema.ts';
import { CONTEXT_KINDS } from '../types.ts';
import type { ToolAnnotations } from './tool-outputs.ts';

/*
 * The tools a person's own assistant gets from `vt mcp --person`, acting as that person: what waits
 * for them, where projects stand, why a gate failed (as recorded), the audit log, and adding context
 * in their name. No decision is offered (approve, reject, waive, advance, done, hold, cancel):
 * decisions carry the person's own signature, made with the vt CLI, never by an assistant.
 */

/** The words a decision tool would have: none of them is ever a person tool (a test holds this). */
export const DECISIONS = [
  'approve',
  'reject',
  'waive',
  'advance',
  'done',
  'hold',
  'resume',
  'cancel',
  'reopen',
  'retry',
];

const project = z.string().min(1).max(64).describe('the project id (see status)');

const read: ToolAnnotations = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
};

const gateResult: z.ZodType<GateResult> = z.lazy(() =>
  z.object({
    gate: z.string(),
    kind: z.string(),
    status: z.enum(['pass', 'fail', 'error', 'waived']),
    message: z.string(),
    evidence: z.record(z.string(), z.any()),
    children: z.array(gateResult).optional(),
  }),
) as z.ZodType<GateResult>;

export const PERSON_TOOLS = {
  inbox: {
    description:
      'What waits for a person across all projects: approvals, work handed to a person, blocked tickets; for_you says whether it is yours (you hold the role that approves or owns it), with the command to act.',
    input: {},
    output: z.object({
      actor: z.string(),
      roles: z.array(z.string()).describe('the roles you hold in any project'),
      items: z.array(
        z.object({
          ticket: z.string(),
          project: z.string(),
          phase: z.string(),
          status: z.string(),
          since: z.string(),
          reason: z.string().nullable(),
          for_you: z.boolean(),
          why: z.string(),
          next: z.string().describe('the command a person runs (decisions are yours to sign)'),
        }),
      ),
    }),
    annotations: read,
  },
  status: {
    description:
      "Where projects stand. Without a project: every project's phase and status. With one: its phase, checklist (who ticked what), artifacts, metrics, approvals and open tickets.",
    input: { project: project.optional() },
    output: z.object({
      projects: z
        .array(
          z.object({
            id: z.string(),
            name: z.string(),
            phase: z.string(),
            status: z.string(),
            visit: z.number(),
          }),
        )
        .optional(),
      project: z
        .object({
          id: z.string(),
          name: z.string(),
          status: z.string(),
          phase: z.string(),
          phase_name: z.string(),
          visit: z.number(),
          checklist: z.array(
            z.object({
              id: z.string(),
              text: z.string(),
              required: z.boolean(),
              ticked_by: z.string().nullable(),
            }),
          ),
          artifacts: z.array(
            z.object({
              id: z.string(),
              path: z.string(),
              recorded: z.boolean(),
              sha256: z.string().nullable(),
            }),
          ),
          metrics: z.record(z.string(), z.number()),
          approvals: z.array(
            z.object({
              actor: z.string(),
              role: z.string(),
              decision: z.string(),
              reason: z.string().nullable(),
            }),
          ),
          open_tickets: z.array(z.object({ ticket: z.string(), phase: z.string(), status: z.string() })),
        })
        .optional(),
    }),
    annotations: read,
  },
  plan: {
    description:
      "A project's path through its train: each phase with its owner, supporting roles and whether it is done, current or ahead, and what the current phase still needs.",
    input: { project },
    output: z.object({
      project: z.string(),
      current: z.string(),
      phases: z.array(
        z.object({
          id: z.string(),
          name: z.string(),
          owner: z.string(),
          support: z.array(z.string()),
          state: z.enum(['done', 'current', 'ahead']),
        }),
      ),
      still_needed: z.object({
        checklist: z.array(z.string()).describe('required items not ticked yet'),
        artifacts: z.array(z.string()).describe('required artifacts not recorded yet'),
        metrics: z.array(z.string()).describe('metrics not recorded in this visit'),
        gates: z.array(z.string()).describe('exit gates, with their kind'),
      }),
    }),
    annotations: read,
  },
  why_gate_failed: {
    description:
      "Why the current phase's exit gates did not pass, from the last recorded evaluation (vt gate check or the autopilot): each failing gate with its message and evidence. Nothing is evaluated here.",
    input: { project },
    output: z.object({
      project: z.string(),
      phase: z.string(),
      visit: z.number(),
      evaluated: z.boolean(),
      evaluated_at: z.string().nullable(),
      evaluated_by: z.string().nullable(),
      passed: z.boolean().nullable(),
      failing: z.array(gateResult),
      hint: z.string(),
    }),
    annotations: read,
  },
  audit_log: {
    description:
      "A project's most recent events from its hash-chained audit log: who did what, when, and why.",
    input: { project, limit: z.number().int().min(1).max(200).optional().describe('how many (default 30)') },
    output: z.object({
      project: z.string(),
      events: z.array(
        z.object({
          seq: z.number(),
          ts: z.string(),
          actor: z.string(),
          type: z.string(),
          payload: z.record(z.string(), z.any()),
        }),
      ),
    }),
    annotations: read,
  },
  add_context: {
    description:
      "Add a fact, decision, assumption, risk or note to a project's context, in your name, for the people and agents of later phases.",
    input: {
      project,
      kind: z.enum(CONTEXT_KINDS).describe('what kind of entry'),
      text: z.string().min(1).max(4000).describe('the entry, one or a few sentences'),
    },
    output: z.object({
      project: z.string(),
      kind: z.enum(CONTEXT_KINDS),
      phase: z.string(),
      actor: z.string(),
      recorded: z.literal(true),
    }),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  },
} as const;

export type PersonToolName = keyof typeof PERSON_TOOLS;
export const PERSON_TOOL_NAMES = Object.keys(PERSON_TOOLS) as PersonToolName[];

export interface PersonBinding {
  engine: Engine;
  tickets: Tickets;
  /** Who the assistant acts for (--as, VT_ACTOR). */
  actor: string;
}

type Outcome = { ok: true; value: unknown } | { ok: false; code: string; message: string };

/** Run one person tool: validate, read or act as the person, never decide. Never throws for a refusal. */
export async function callPersonTool(b: PersonBinding, name: string, raw: unknown): Promise<Outcome> {
  try {
    if (!(name in PERSON_TOOLS))
      throw new VtError(
        'BAD_INPUT',
        `there is no tool "${name}"${DECISIONS.includes(name) ? ': decisions need your own signature, made with the vt CLI' : ''}; the tools are ${PERSON_TOOL_NAMES.join(', ')}`,
      );
    const def = PERSON_TOOLS[name as PersonToolName];
    const parsed = z.object(def.input).safeParse(raw ?? {});
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw new VtError('BAD_INPUT', `${name}: ${i.path.join('.') || 'input'}: ${i.message}`);
    }
    const value = await (
      HANDLERS[name as PersonToolName] as (b: PersonBinding, i: unknown) => Promise<unknown>
    )(b, parsed.data);
    return { ok: true, value };
  } catch (err) {
    return {
      ok: false,
      code: err instanceof VtError ? err.code : 'INTERNAL',
      message: (err as Error).message,
    };
  }
}

/** Every approval role among gates (through all/any). */
function approvalRoles(gates: readonly GateSpec[]): string[] {
  return gates.flatMap((g) =>
    g.kind === 'approval' ? [g.role] : g.kind === 'all' || g.kind === 'any' ? approvalRoles(g.gates) : [],
  );
}

async function projectIds(engine: Engine): Promise<string[]> {
  const rows = await engine.store.db.selectFrom('projects').select('id').orderBy('id').execute();
  return rows.map((r) => r.id);
}

async function events(engine: Engine, projectId: string): Promise<RecordedEvent[]> {
  return (await readEvents(engine.store.db, projectId)).map(toRecorded);
}

const WAITING = ['awaiting-approval', 'awaiting-human', 'blocked'];

const HANDLERS: {
  [K in PersonToolName]: (
    b: PersonBinding,
    input: z.infer<z.ZodObject<(typeof PERSON_TOOLS)[K]['input']>>,
  ) => Promise<unknown>;
} = {
  async inbox({ engine, actor }) {
    const items = [];
    const held = new Set<string>();
    for (const id of await projectIds(engine)) {
      const s = await engine.state(id);
      const train = await engine.train(s.trainHash);
      const roles = train.people[actor] ?? [];
      for (const r of roles) held.add(r);
      const waiting = Object.values(s.tickets).filter((t) => WAITING.includes(t.status));
      if (!waiting.length) continue;
      const log = await events(engine, id);
      for (const t of waiting) {
        const phase = phaseOf(train, t.phase);
        const last = log.findLast((e) => e.type === 'ticket.status' && e.payload.ticket === t.id);
        const approvers = approvalRoles(phase.gates.exit);
        const mine =
          t.status === 'awaiting-approval'
            ? approvers.filter((r) => roles.includes(r))
            : roles.filter((r) => r === phase.owner || (phase.support ?? []).includes(r));
        const visit = t.phase === s.phase ? currentEvidence(s) : s.evidence[t.phase];
        const worked = (visit?.contributors ?? []).includes(actor);
        const forYou = mine.length > 0 && !(t.status === 'awaiting-approval' && worked);
        items.push({
          ticket: t.id,
          project: id,
          phase: t.phase,
          status: t.status,
          since: last?.ts ?? s.updatedAt,
          reason: last?.type === 'ticket.status' ? last.payload.reason : null,
          for_you: forYou,
          why:
            t.status === 'awaiting-approval'
              ? worked
                ? `you worked in ${t.phase} this visit, so another ${approvers.join(' or ')} approves it`
                : mine.length
                  ? `you hold ${mine.join(', ')}, which approves ${t.phase}`
                  : `it needs ${approvers.join(' or ')}, which you do not hold`
              : mine.length
                ? `you hold ${mine.join(', ')}, which works ${t.phase}`
                : `${phase.owner} works ${t.phase}; you do not hold it`,
          next:
            t.status === 'awaiting-approval'
              ? `vt approve ${id} (or vt reject ${id} --reason …)`
              : t.status === 'blocked'
                ? `vt retry ${t.id}`
                : `vt done ${t.id} when the work is done`,
        });
      }
    }
    items.sort((a, b) => Number(b.for_you) - Number(a.for_you) || a.since.localeCompare(b.since));
    return { actor, roles: [...held].sort(), items };
  },

  async status({ engine }, input) {
    if (!input.project) {
      const projects = [];
      for (const id of await projectIds(engine)) {
        const s = await engine.state(id);
        projects.push({ id, name: s.name, phase: s.phase, status: s.status, visit: s.visit });
      }
      return { projects };
    }
    const s = await engine.state(input.project);
    const train = await engine.train(s.trainHash);
    const phase = phaseOf(train, s.phase);
    return {
      project: {
        id: s.id,
        name: s.name,
        status: s.status,
        phase: s.phase,
        phase_name: phase.name,
        visit: s.visit,
        checklist: phase.checklist.map((c) => {
          const t = currentEvidence(s).checklist[c.id];
          return { id: c.id, text: c.text, required: c.required, ticked_by: t?.ticked ? t.actor : null };
        }),
        artifacts: phase.artifacts.map((a) => {
          const r = currentEvidence(s).artifacts[a.id];
          return { id: a.id, path: r?.path ?? a.path, recorded: !!r, sha256: r?.sha256 ?? null };
        }),
        metrics: Object.fromEntries(Object.entries(s.metrics).map(([k, m]) => [k, m.value])),
        approvals: s.approvals.map((a) => ({
          actor: a.actor,
          role: a.role,
          decision: a.decision,
          reason: a.reason,
        })),
        open_tickets: Object.values(s.tickets)
          .filter((t) => !['done', 'cancelled', 'reworked'].includes(t.status))
          .map((t) => ({ ticket: t.id, phase: t.phase, status: t.status })),
      },
    };
  },

  async plan({ engine }, input) {
    const s = await engine.state(input.project);
    const train = await engine.train(s.trainHash);
    const visited = new Set(Object.values(s.tickets).map((t) => t.phase));
    const at = train.phases.findIndex((p) => p.id === s.phase);
    const phase = phaseOf(train, s.phase);
    return {
      project: s.id,
      current: s.phase,
      phases: train.phases.map((p, i) => ({
        id: p.id,
        name: p.name,
        owner: p.owner,
        support: p.support ?? [],
        state: (p.id === s.phase ? 'current' : visited.has(p.id) || i < at ? 'done' : 'ahead') as
          | 'done'
          | 'current'
          | 'ahead',
      })),
      still_needed: {
        checklist: phase.checklist
          .filter((c) => c.required && !currentEvidence(s).checklist[c.id]?.ticked)
          .map((c) => c.id),
        artifacts: phase.artifacts
          .filter((a) => a.required && !currentEvidence(s).artifacts[a.id])
          .map((a) => a.id),
        metrics: phase.metrics.filter((m) => currentEvidence(s).metrics[m] === undefined),
        gates: phase.gates.exit.map((g) => `${g.id} (${g.kind})`),
      },
    };
  },

  async why_gate_failed({ engine }, input) {
    const s = await engine.state(input.project);
    const last = s.evaluations[s.phase];
    const visit = currentEvidence(s).n;
    if (!last || last.visit !== s.visit || last.side !== 'exit')
      return {
        project: s.id,
        phase: s.phase,
        visit,
        evaluated: false,
        evaluated_at: null,
        evaluated_by: null,
        passed: null,
        failing: [],
        hint: `no evaluation of ${s.phase}'s exit gates is recorded in this visit: vt gate check ${s.id} records one`,
      };
    return {
      project: s.id,
      phase: s.phase,
      visit,
      evaluated: true,
      evaluated_at: last.ts,
      evaluated_by: last.actor,
      passed: last.passed,
      failing: last.results.filter((r) => r.status === 'fail' || r.status === 'error'),
      hint: last.passed
        ? 'the gates passed at their last evaluation'
        : `fix what the failing gates name, then vt gate check ${s.id}`,
    };
  },

  async audit_log({ engine }, input) {
    await engine.state(input.project); // NOT_FOUND for an unknown project
    const log = await events(engine, input.project);
    return {
      project: input.project,
      events: log.slice(-(input.limit ?? 30)).map((e) => ({
        seq: e.seq,
        ts: e.ts,
        actor: e.actor,
        type: e.type,
        payload: e.payload as Record<string, unknown>,
      })),
    };
  },

  async add_context({ tickets, actor }, input) {
    const c = await tickets.addContext(input.project, { kind: input.kind, text: input.text }, { actor });
    return { project: input.project, kind: input.kind, phase: c.state.phase, actor, recorded: true as const };
  },
};
