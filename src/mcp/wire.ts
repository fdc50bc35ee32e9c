import { type CallToolResult, ErrorCode, McpError, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { redact, redactDeep, stripControl } from '../redact.ts';

/*
 * Translation between vt's tools and the MCP wire: tool listings with JSON Schemas for input and
 * output, results with structuredContent, refusals as tool errors or JSON-RPC errors.
 */

/** A tool as vt defines it: zod shapes in, a zod object out, MCP annotations. */
export interface ToolSpec {
  description: string;
  input: z.ZodRawShape;
  output: z.ZodObject;
  annotations: NonNullable<Tool['annotations']>;
}

/** The tools/list entry of a tool: JSON Schemas (draft 7) for its input and its structured output. */
export function listEntry(name: string, t: ToolSpec): Tool {
  return {
    name,
    description: t.description,
    inputSchema: z.toJSONSchema(z.object(t.input), { target: 'draft-7', io: 'input' }) as Tool['inputSchema'],
    outputSchema: z.toJSONSchema(t.output, { target: 'draft-7', io: 'output' }) as Tool['outputSchema'],
    annotations: t.annotations,
  };
}

export type Outcome = { ok: true; value: unknown } | { ok: false; code: string; message: string };

/** A tool's result: the value as structuredContent and, for clients that read only text, as JSON text. */
export function toResult(outcome: Outcome): CallToolResult {
  if (outcome.ok) {
    // Tool results quote the record (context, previews, gate output): redacted on their way out.
    const value = redactDeep(outcome.value);
    return {
      content: [{ type: 'text', text: JSON.stringify(value) }],
      structuredContent: value as Record<string, unknown>,
    };
  }
  return {
    content: [{ type: 'text', text: `refused (${outcome.code}): ${redact(outcome.message)}` }],
    isError: true,
  };
}

/** A refused list, read or get request: a JSON-RPC error carrying vt's code and reason. */
export function refusal(code: string, message: string): McpError {
  return new McpError(
    code === 'NOT_FOUND' || code === 'BAD_INPUT' ? ErrorCode.InvalidParams : ErrorCode.InvalidRequest,
    `refused (${code}): ${redact(message)}`,
  );
}

/** A name a client sent, made safe to record: no control characters, at most 200 characters. */
export const clientName = (name: unknown) => stripControl(String(name ?? '')).slice(0, 200) || '(none)';
