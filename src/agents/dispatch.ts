import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { phaseOf } from '../engine/core.ts';
import type { Engine } from '../engine/engine.ts';
import type { ProjectState } from '../engine/state.ts';
import type { Tickets } from '../engine/ticket-ops.ts';
import { VtError } from '../errors.ts';
import type { SandboxPlace } from '../io/sandbox.ts';
import { redactDeep } from '../redact.ts';
import {
  CLI_AGENT_PRESETS,
  ExecutorSchema,
  type ExecutorSpec,
  type Phase,
  type Role,
  type Train,
} from '../train/schema.ts';
import { reportFileOf, runCliSession } from './cli-session.ts';
import { DEFAULT_STEP_TIMEOUT_S, languageModel, runLlm, sessionToolSet } from './executors/llm.ts';
import { DEFAULT_RETRY } from './executors/model-faults.ts';
import { budgetCaps, priceOf, remainingBudget, spentSoFar } from './executors/pricing.ts';
import { allowedToolsOf, isToolAllowed, LLM_TOOL_NAMES, MCP_TOOL_NAMES, record } from './tools.ts';
import type { ExecutorResult } from './types.ts';

/*
 * Routing a session to an agent executor: which executor a role gets (the train, or an override in
 * the environment), the prompt it is given, the session token and MCP configuration of a cli-agent,
 * the model and tools of an llm executor, and the budget caps both answer to.
 */

type AgentSpec = Extract<ExecutorSpec, { kind: 'cli-agent' | 'llm' }>;

const envName = (id: string) => id.toUpperCase().replace(/[^A-Z0-9]/g, '_');

/**
 * The executor for a phase: VT_EXECUTOR_<PROJECT>__<ROLE>, then VT_EXECUTOR_<ROLE>, then the phase's
 * executor, then the role's, else a person. An override is JSON of an executor spec, or a shorthand:
 * `human`, `cli-agent:<preset>`, `llm:<provider>:<model>[@<base_url>]`.
 */
export function resolveExecutor(
  phase: Phase,
  role: Role,
  projectId: string,
  env: NodeJS.ProcessEnv = process.env,
): ExecutorSpec {
  for (const name of [
    `VT_EXECUTOR_${envName(projectId)}__${envName(role.id)}`,
    `VT_EXECUTOR_${envName(role.id)}`,
  ]) {
    const text = env[name]?.trim();
    if (text) return parseOverride(name, text);
  }
  return phase.executor ?? role.executor ?? { kind: 'human' };
}

/**
 * An executor from its shorthand (`human`, `claude`, `cli-agent:codex`,
 * `llm:<provider>:<model>[@<base_url>]`) or JSON; `name` says where it came from, for the error.
 */
export function parseExecutorShorthand(name: string, text: string): ExecutorSpec {
  const bare = (CLI_AGENT_PRESETS as readonly string[]).includes(text) ? `cli-agent:${text}` : text;
  return parseOverride(name, bare);
}

function parseOverride(name: string, text: string): ExecutorSpec {
  let value: unknown;
  if (text.startsWith('{')) {
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new VtError('BAD_INPUT', `${name} is not valid JSON: ${(err as Error).message}`);
    }
  } else if (text === 'human') value = { kind: 'human' };
  else if (text.startsWith('cli-agent:'))
    value = { kind: 'cli-agent', preset: text.slice('cli-agent:'.length) };
  else if (text.startsWith('llm:')) {
    const rest = text.slice(4);
    const provider = rest.slice(0, rest.indexOf(':'));
    const [model, base] = rest.slice(provider.length + 1).split(/@(.*)/s);
    value = { kind: 'llm', provider, model, ...(base ? { base_url: base } : {}) };
  } else value = null;
  const r = ExecutorSchema.safeParse(value);
  if (!r.success)
    throw new VtError('BAD_INPUT', `${name}="${text}" is not an executor: ${r.error.issues[0]?.message}`, {
      hint: `Use human, cli-agent:claude, llm:anthropic:claude-sonnet-4-5, llm:openai-compatible:qwen2.5@http://127.0.0.1:11434/v1, or JSON`,
    });
  return r.data;
}

/** A short name for progress lines. */
export function executorLabel(spec: ExecutorSpec): string {
  switch (spec.kind) {
    case 'command':
      return spec.run.join(' ');
    case 'human':
      return 'human';
    case 'cli-agent':
      return spec.preset ? `cli-agent:${spec.preset}` : `cli-agent:${spec.run![0]}`;
    case 'llm':
      return `llm:${spec.provider}:${spec.model}`;
  }
}

/** The system framing and the task of a session, shared by every agent executor. */
export function buildAgentPrompt(x: {
  s: ProjectState;
  train: Train;
  session: string;
  workspace: string;
  handoff: string;
  allowed: readonly string[] | null;
  /** How the agent reports: MCP tools, the llm executor's tools, or a report file. */
  via: 'mcp' | 'tools' | { reportFile: string };
}): { system: string; prompt: string } {
  const sess = x.s.sessions[x.session]!;
  const phase = phaseOf(x.train, sess.phase);
  const role = x.train.roles.find((r) => r.id === sess.role);
  const ticket = x.s.tickets[sess.ticket]!;
  const issue = x.s.issues[ticket.issue];
  const tools = x.via === 'mcp' ? MCP_TOOL_NAMES.filter((t) => isToolAllowed(t, x.allowed)).join(', ') : '';
  const report =
    typeof x.via === 'object'
      ? `When you are done, write ${x.via.reportFile} in the workspace root, as JSON: {"ticks": ["<checklist item id>"], "artifacts": [{"id": "<artifact id>", "path": "<path in the workspace>"}], "metrics": {"<name>": <number>}, "context": [{"kind": "decision", "text": "…"}], "summary": "…"}. Only list what you really did.`
      : x.via === 'mcp'
        ? `Report through the vt MCP server's tools (${tools}): write each artifact's file in the workspace, then put_artifact it; tick the checklist items you really did; record_metric the numbers. next_task and status show where the ticket stands; check_gates and request_advance say what is still missing.`
        : 'Report with your tools: write files with write_file, then put_artifact them; tick checklist items you really did; record_metric the numbers; check_gates says what is still missing.';
  const owner = x.train.roles.find((r) => r.id === phase.owner);
  const system = [
    `You are the ${role?.name ?? sess.role} agent of a Value Train project${role?.description ? ` (${role.description.trim()})` : ''}.`,
    `You work one ticket of one phase, in the workspace ${x.workspace}, and nowhere else.`,
    sess.role === phase.owner
      ? ''
      : `${owner?.name ?? phase.owner} owns this phase and has worked the ticket before you; you support it: review what is there, do your part of the task, and record only what you did.`,
    report,
    x.allowed
      ? `This phase's mode allows: ${x.allowed.join(', ')}. Anything else is refused and recorded.`
      : '',
    'You cannot approve, reject, waive or advance: people decide approvals, and the autopilot advances the phase after your session ends.',
  ]
    .filter(Boolean)
    .join('\n');
  // The phase's instructions are in the handoff packet (its "Your task" section): given once.
  const prompt = [
    `# Ticket ${ticket.id}: ${issue?.title ?? ''}`,
    `Project ${x.s.id}, phase ${phase.name} (${phase.id}), session ${x.session}.`,
    `\n${x.handoff.trim()}`,
  ].join('\n');
  return { system, prompt };
}

/** Everything an agent executor needs for one session, from the worker. */
export interface AgentSessionContext {
  engine: Engine;
  tickets: Tickets;
  /** The folder holding vt.yaml and .vt/. */
  root: string;
  /** The store, as the worker was told to reach it. */
  dbTarget: string;
  projectId: string;
  ticket: string;
  session: string;
  workspace: string;
  /** The handoff packet file. */
  handoff: string;
  logFile: string;
  /** Where the worker looks for a report file after the session. */
  reportFile: string;
  /** The VT_* context (and PATH) for the agent's process. */
  env: Record<string, string>;
  signal?: AbortSignal;
  /** Where API keys, overrides and budget caps are read: the process environment unless a test says otherwise. */
  processEnv?: NodeJS.ProcessEnv;
  /** The socket the worker serves the session's tools on (null for the in-process llm executor). */
  host: { socket: string; token: string } | null;
  onStart?: (pgid: number) => void;
  /** The sandbox a cli-agent runs in (see src/io/sandbox.ts). */
  sandbox?: SandboxPlace | undefined;
}

/** Run a cli-agent or llm executor for a session the worker opened. Never throws for an expected failure. */
export async function runAgentSession(spec: AgentSpec, ctx: AgentSessionContext): Promise<ExecutorResult> {
  const penv = ctx.processEnv ?? process.env;
  const s = await ctx.engine.state(ctx.projectId);
  const train = await ctx.engine.train(s.trainHash);
  const allowed = allowedToolsOf(train, s.sessions[ctx.session]!.phase);
  const caps = budgetCaps(spec.kind === 'llm' ? spec.budget : undefined, penv);
  const left = remainingBudget(caps, await spentSoFar(ctx.engine.store.db, ctx.projectId, ctx.ticket));
  if (left && left.usd <= 0)
    return {
      outcome: 'unavailable',
      exitCode: null,
      message: `budget cap reached: the ${left.which} cap of $${left.cap} is spent`,
    };
  const dir = join(ctx.root, '.vt', 'sessions', ctx.session);
  mkdirSync(dir, { recursive: true });
  const handoff = readFileSync(ctx.handoff, 'utf8');
  const base = { s, train, session: ctx.session, workspace: ctx.workspace, handoff, allowed };

  if (spec.kind === 'llm') {
    const made = languageModel(spec, penv);
    if ('unavailable' in made) return { outcome: 'unavailable', exitCode: null, message: made.unavailable };
    // What a prompt quotes (tickets, context, previews, the handoff) is redacted once more on its way out.
    const { system, prompt } = redactDeep(buildAgentPrompt({ ...base, via: 'tools' }));
    writeFileSync(join(dir, 'prompt.md'), `${system}\n\n${prompt}`);
    const actor = s.sessions[ctx.session]!.actor;
    const binding = {
      engine: ctx.engine,
      tickets: ctx.tickets,
      projectId: ctx.projectId,
      session: ctx.session,
      handoffFile: ctx.handoff,
    };
    return runLlm({
      model: made.model,
      system,
      prompt,
      tools: sessionToolSet(binding, LLM_TOOL_NAMES),
      activeTools: LLM_TOOL_NAMES.filter((t) => isToolAllowed(t, allowed)),
      maxSteps: spec.max_steps,
      price: priceOf(spec.model, spec.price, penv),
      budget: left ? { usd: left.usd, which: left.which } : null,
      timeoutMs: spec.timeout_s * 1000,
      stepTimeoutMs: (spec.step_timeout_s ?? DEFAULT_STEP_TIMEOUT_S) * 1000,
      retries: spec.retries ?? DEFAULT_RETRY.retries,
      logFile: ctx.logFile,
      signal: ctx.signal,
      onRefused: (tool, reason) => record(binding, actor, tool, 'refused', reason),
    });
  }

  const reportFile = reportFileOf(spec);
  const { system, prompt } = redactDeep(
    buildAgentPrompt({ ...base, via: reportFile ? { reportFile } : 'mcp' }),
  );
  if (!ctx.host) throw new VtError('INTERNAL', `session ${ctx.session} has no socket to serve its tools on`);
  return runCliSession(spec, {
    root: ctx.root,
    host: ctx.host,
    ...(ctx.onStart ? { onStart: ctx.onStart } : {}),
    sandbox: ctx.sandbox,
    session: ctx.session,
    workspace: ctx.workspace,
    handoff: ctx.handoff,
    logFile: ctx.logFile,
    reportFile: ctx.reportFile,
    env: ctx.env,
    processEnv: penv,
    signal: ctx.signal,
    allowed,
    prompt: `${system}\n\n${prompt}`,
  });
}
