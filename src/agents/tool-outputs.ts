import { z } from 'zod';
import { CONTEXT_KINDS } from '../types.ts';
import type { ToolName } from './tools.ts';

/*
 * What each session tool returns (its MCP outputSchema, and the shape of its structuredContent) and
 * how it behaves (its MCP annotations). A client may validate results against these schemas, and
 * test/mcp.test.ts does so with the official client, so a handler cannot drift from them.
 */

const gateResults = z
  .array(
    z.object({
      gate: z.string(),
      kind: z.string(),
      status: z.enum(['pass', 'fail', 'error', 'waived']),
      message: z.string(),
    }),
  )
  .describe('each exit gate: pass, fail, error or waived, and why');

export const TOOL_OUTPUTS = {
  next_task: z.object({
    project: z.string(),
    project_name: z.string(),
    phase: z.string(),
    phase_name: z.string(),
    visit: z.number().int(),
    ticket: z.string(),
    issue: z.object({ id: z.string(), title: z.string(), labels: z.array(z.string()) }).nullable(),
    role: z.string(),
    workspace: z.string().describe('the folder to work in (absolute)'),
    instructions: z.string().nullable(),
    instructions_truncated: z.literal(true).optional().describe('the instructions were cut: see get_handoff'),
    checklist: z.array(
      z.object({ id: z.string(), text: z.string(), required: z.boolean(), ticked: z.boolean() }),
    ),
    artifacts: z.array(
      z.object({
        id: z.string(),
        path: z.string(),
        required: z.boolean(),
        description: z.string().nullable(),
        recorded: z.boolean(),
      }),
    ),
    metrics: z.array(z.object({ name: z.string(), value: z.number().nullable() })),
    gates: z.array(z.object({ id: z.string(), kind: z.string() })),
    allowed_tools: z.union([z.array(z.string()), z.literal('all')]),
    how: z.string(),
  }),
  get_handoff: z.object({
    source: z
      .enum(['recorded', 'current-state'])
      .describe('the packet recorded for this visit, or one built now'),
    text: z.string().describe('markdown'),
  }),
  status: z.object({
    project: z.string(),
    name: z.string(),
    status: z.string(),
    phase: z.string(),
    visit: z.number().int(),
    checklist: z.record(z.string(), z.boolean()),
    artifacts: z.record(z.string(), z.object({ path: z.string(), sha256: z.string(), size: z.number() })),
    metrics: z.record(z.string(), z.number()),
  }),
  tick: z.object({
    phase: z.string(),
    item: z.string(),
    ticked: z.literal(true),
    already: z.boolean().describe('it was ticked before: nothing new was recorded'),
  }),
  put_artifact: z.object({
    artifact: z.string(),
    path: z.string(),
    sha256: z.string(),
    size: z.number(),
  }),
  record_metric: z.object({ name: z.string(), value: z.number() }),
  add_context: z.object({ kind: z.enum(CONTEXT_KINDS), recorded: z.literal(true) }),
  check_gates: z.object({ phase: z.string(), passed: z.boolean(), results: gateResults }),
  request_advance: z.object({
    phase: z.string(),
    can_advance: z.boolean(),
    next: z.string().nullable().describe('where the project would go'),
    waiting_for_approval: z.boolean(),
    results: gateResults,
    note: z.string(),
  }),
  read_file: z.object({ path: z.string(), size: z.number(), truncated: z.boolean(), content: z.string() }),
  write_file: z.object({ path: z.string(), bytes: z.number() }),
} as const satisfies Record<ToolName, z.ZodObject>;

/** MCP tool annotations: hints a client may use to decide what to ask a person about. */
export interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

const read: ToolAnnotations = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
};
/** Records evidence. Nothing is ever erased (the log keeps every earlier record), so not destructive. */
const record = (idempotent: boolean): ToolAnnotations => ({
  readOnlyHint: false,
  destructiveHint: false,
  idempotentHint: idempotent,
  openWorldHint: false,
});

/**
 * How each tool behaves. Every tool works only on the session's own project and workspace (a closed
 * world). tick, put_artifact and record_metric give the same record when repeated with the same
 * input; check_gates and request_advance record an evaluation each time, with the same outcome;
 * add_context adds an entry each time. write_file replaces a file's whole content.
 */
export const TOOL_ANNOTATIONS: Record<ToolName, ToolAnnotations> = {
  next_task: read,
  get_handoff: read,
  status: read,
  read_file: read,
  tick: record(true),
  put_artifact: record(true),
  record_metric: record(true),
  add_context: record(false),
  check_gates: record(true),
  request_advance: record(true),
  write_file: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
};
