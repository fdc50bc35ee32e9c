import { z } from 'zod';
import {
  checkKeysUnshared,
  DecisionPolicySchema,
  PersonKeySchema,
  personSchema,
  SignersSchema,
  splitPeople,
} from '../identity/people-schema.ts';
import { PRIORITIES, SANDBOX_MODES, type SandboxMode, STAGES } from '../types.ts';
import { IntegrationsSchema } from './integrations-schema.ts';
import { checkMlflowGate, MlflowGateFields, type MlflowGateSpec } from './mlflow-spec.ts';
import { type ScheduleSpec, scheduleProblem } from './schedule.ts';

/** Ids are kebab or snake case words: they appear in branch names, file names and URLs. */
const Id = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,62}$/, 'an id: lowercase letters, digits, "-" or "_", starting with a letter');
/** Metric names may be dotted (model.auc) so they read like the tools that produced them. */
const MetricName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_.]{0,62}$/, 'a metric name: letters, digits, "_" or "."');

/** Coding-agent CLIs with a built-in preset (see src/agents/executors/presets.ts). */
export const CLI_AGENT_PRESETS = ['claude', 'codex', 'gemini', 'aider'] as const;
export type CliAgentPreset = (typeof CLI_AGENT_PRESETS)[number];
export { SANDBOX_MODES, type SandboxMode };
/** Model providers the llm executor can reach (openai-compatible covers Ollama, vLLM, llama.cpp). */
export const LLM_PROVIDERS = ['anthropic', 'openai', 'openai-compatible'] as const;
const Sandbox = z
  .enum(SANDBOX_MODES)
  .optional()
  .describe('bwrap (default: in a sandbox when bubblewrap is installed), none, or required (never without)');

export const ExecutorSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('command'),
      run: z.array(z.string()).min(1).describe('argv of the command, run without a shell in the workspace'),
      timeout_s: z.number().positive().max(86_400).default(600),
      report: z
        .string()
        .optional()
        .describe('a JSON report file the command writes, relative to the workspace'),
      sandbox: Sandbox,
    })
    .strict(),
  z.object({ kind: z.literal('human') }).strict(),
  z
    .object({
      kind: z.literal('cli-agent'),
      preset: z.enum(CLI_AGENT_PRESETS).optional().describe('a coding-agent CLI vt knows how to drive'),
      run: z
        .array(z.string())
        .min(1)
        .optional()
        .describe(
          'or a generic template: argv with {prompt_file}, {mcp_config}, {workspace}, {node}, {root}',
        ),
      model: z.string().optional().describe("passed to the preset's --model flag; also prices its tokens"),
      args: z.array(z.string()).default([]).describe("extra arguments appended to the preset's command"),
      timeout_s: z.number().positive().max(86_400).default(1800),
      sandbox: Sandbox,
    })
    .strict()
    .refine((e) => (e.preset === undefined) !== (e.run === undefined), {
      message: 'a cli-agent executor needs either a preset or a run template (not both)',
    }),
  z
    .object({
      kind: z.literal('llm'),
      provider: z.enum(LLM_PROVIDERS),
      model: z.string().min(1),
      base_url: z.string().optional().describe('the API base URL (required for openai-compatible)'),
      max_steps: z.number().int().positive().default(20),
      timeout_s: z.number().positive().max(86_400).default(1800).describe('the whole session (a phase)'),
      // Optional (defaults applied where they are used), so trains that do not set them keep their hash.
      step_timeout_s: z
        .number()
        .positive()
        .max(3600)
        .optional()
        .describe('one model call (default 300); a call that outlives it is retried once'),
      retries: z
        .number()
        .int()
        .min(0)
        .max(20)
        .optional()
        .describe(
          'retries of a model call after a transient fault: 429, 5xx, a dropped connection (default 5)',
        ),
      price: z
        .object({ input: z.number().nonnegative(), output: z.number().nonnegative() })
        .strict()
        .optional()
        .describe("USD per million input and output tokens, instead of vt's price table"),
      budget: z
        .object({ ticket: z.number().nonnegative().optional(), project: z.number().nonnegative().optional() })
        .strict()
        .optional()
        .describe('USD caps on model spend per ticket and per project (VT_BUDGET_*_USD override them)'),
    })
    .strict(),
]);
export type ExecutorSpec = z.infer<typeof ExecutorSchema>;

export const ValidatorSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('json-schema'), schema: z.record(z.string(), z.unknown()) }).strict(),
  z.object({ kind: z.literal('csv-columns'), columns: z.array(z.string()).min(1) }).strict(),
  z.object({ kind: z.literal('max-size'), bytes: z.number().int().positive() }).strict(),
]);
export type ValidatorSpec = z.infer<typeof ValidatorSchema>;

export type GateSpec =
  | { id: string; kind: 'checklist'; items?: string[] | undefined; description?: string | undefined }
  | { id: string; kind: 'artifacts'; artifacts?: string[] | undefined; description?: string | undefined }
  | { id: string; kind: 'metric'; expr: string; description?: string | undefined }
  | {
      id: string;
      kind: 'command';
      run: string[];
      timeout_s: number;
      sandbox?: SandboxMode | undefined;
      description?: string | undefined;
    }
  | { id: string; kind: 'approval'; role: string; count: number; description?: string | undefined }
  | { id: string; kind: 'all' | 'any'; gates: GateSpec[]; description?: string | undefined }
  | MlflowGateSpec;

const gateBase = { id: Id, description: z.string().optional() };
export const GateSchema: z.ZodType<GateSpec> = z.lazy(() =>
  z.discriminatedUnion('kind', [
    z.object({ ...gateBase, kind: z.literal('checklist'), items: z.array(Id).optional() }).strict(),
    z.object({ ...gateBase, kind: z.literal('artifacts'), artifacts: z.array(Id).optional() }).strict(),
    z.object({ ...gateBase, kind: z.literal('metric'), expr: z.string().min(1) }).strict(),
    z
      .object({
        ...gateBase,
        kind: z.literal('command'),
        run: z.array(z.string()).min(1),
        timeout_s: z.number().positive().max(3600).default(60),
        sandbox: Sandbox,
      })
      .strict(),
    z
      .object({
        ...gateBase,
        kind: z.literal('approval'),
        role: Id,
        count: z.number().int().min(1).default(1),
      })
      .strict(),
    z.object({ ...gateBase, kind: z.enum(['all', 'any']), gates: z.array(GateSchema).min(1) }).strict(),
    z
      .object({ ...gateBase, ...MlflowGateFields })
      .strict()
      .superRefine((g, ctx) => {
        const problem = checkMlflowGate(g);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
  ]),
);

const Carry = z
  .boolean()
  .optional()
  .describe('carry it into the next visit of the phase (a rework loop), instead of starting empty');

export const ChecklistItemSchema = z
  .object({ id: Id, text: z.string().min(1), required: z.boolean().default(true), carry: Carry })
  .strict();

export const ArtifactSchema = z
  .object({
    id: Id,
    path: z.string().min(1).describe('where the file lives, relative to the workspace'),
    required: z.boolean().default(true),
    description: z.string().optional(),
    template: z.string().optional().describe('a markdown template under templates/docs to start from'),
    validators: z.array(ValidatorSchema).default([]),
    carry: Carry,
  })
  .strict();

export const RouteSchema = z
  .object({
    when: z.string().min(1).describe('a metric expression over metrics recorded during this visit'),
    to: Id,
    reason: z.string().optional(),
  })
  .strict();

/** When a phase's visits fall due: `{ every: 1d }` or `{ cron: "0 6 * * 1", tz: UTC }` (see docs/train.md). */
export const ScheduleSchema = z
  .object({
    every: z.string().optional().describe('a period: 30m, 12h, 1d, 1w'),
    cron: z
      .string()
      .optional()
      .describe('five cron fields (minute hour day-of-month month day-of-week), or @daily, @weekly…'),
    tz: z.string().optional().describe('the IANA time zone of the cron fields (default UTC)'),
  })
  .strict()
  .superRefine((spec: ScheduleSpec, ctx) => {
    const problem = scheduleProblem(spec);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export const PhaseSchema = z
  .object({
    id: Id,
    name: z.string().min(1),
    stage: z.enum(STAGES),
    owner: Id.describe('the role that owns the phase'),
    support: z
      .array(Id)
      .optional()
      .describe(
        "roles that co-work the phase: their agents get the handoff after the owner's and may add evidence",
      ),
    mode: Id.optional(),
    description: z.string().optional(),
    instructions: z.string().optional().describe("what the owning role is asked to do: the phase's prompt"),
    checklist: z.array(ChecklistItemSchema).default([]),
    artifacts: z.array(ArtifactSchema).default([]),
    metrics: z.array(MetricName).default([]).describe('metrics this phase records'),
    gates: z
      .object({ entry: z.array(GateSchema).default([]), exit: z.array(GateSchema).default([]) })
      .strict()
      .default({ entry: [], exit: [] }),
    next: Id.nullable().optional().describe('the phase after this one; null or absent ends the train'),
    on_fail: Id.optional().describe('where a failed exit gate sends the project (a rework loop)'),
    routes: z.array(RouteSchema).default([]).describe('conditional next phases, first match wins'),
    executor: ExecutorSchema.optional(),
    schedule: ScheduleSchema.optional().describe(
      'visits of this phase fall due on a schedule: the autopilot queues each one when it is due',
    ),
  })
  .strict();

export const RoleSchema = z
  .object({
    id: Id,
    name: z.string().min(1),
    description: z.string().optional(),
    can_waive: z.boolean().default(false).describe('whether members of this role may waive gates'),
    executor: ExecutorSchema.optional(),
  })
  .strict();

export const ModeSchema = z
  .object({ id: Id, description: z.string().optional(), allowed_tools: z.array(z.string()).default([]) })
  .strict();

export const MetricSchema = z
  .object({
    id: MetricName,
    description: z.string().optional(),
    direction: z.enum(['higher', 'lower', 'none']).default('none'),
  })
  .strict();

export const TrainSchema = z
  .object({
    version: z.literal(1),
    name: Id,
    description: z.string().optional(),
    roles: z.array(RoleSchema).min(1),
    modes: z.array(ModeSchema).default([]),
    metrics: z.array(MetricSchema).default([]),
    people: z
      .record(z.string(), personSchema(Id))
      .default({})
      .describe('who holds which roles (and keys): name -> [role ids], or name -> {roles, keys}'),
    keys: z
      .record(z.string(), z.array(PersonKeySchema))
      .optional()
      .describe(
        'who holds which public keys, when people: lists roles only: name -> [{key, valid_after?, …}]',
      ),
    signers: SignersSchema.optional(),
    decisions: DecisionPolicySchema.optional().describe(
      "whether people's decisions must be signed (signed: required) or may be (optional, the default)",
    ),
    sandbox: Sandbox.describe(
      'where executors and command gates run unless they say otherwise: bwrap (default), none or required',
    ),
    deployment: Id.optional().describe(
      'the phase whose first forward exit counts as deployment in vt metrics (default: the phase with id "deployment")',
    ),
    defaults: z
      .object({ priority: z.enum(PRIORITIES).default('next') })
      .strict()
      .default({ priority: 'next' }),
    phases: z.array(PhaseSchema).min(1),
    integrations: IntegrationsSchema.optional().describe('MLflow and webhooks: see docs/integrations.md'),
  })
  .strict()
  .superRefine(checkKeysUnshared)
  .transform(splitPeople);

export type Train = z.infer<typeof TrainSchema>;
export type Phase = z.infer<typeof PhaseSchema>;
export type Role = z.infer<typeof RoleSchema>;
export type ArtifactSpec = z.infer<typeof ArtifactSchema>;
export type ChecklistItem = z.infer<typeof ChecklistItemSchema>;

/** The JSON Schema of vt.yaml, for editor completion (`vt schema`). */
export function trainJsonSchema(): unknown {
  return z.toJSONSchema(TrainSchema, { io: 'input', unrepresentable: 'any' });
}
