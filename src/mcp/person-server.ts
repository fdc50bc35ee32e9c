import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import {
  callPersonTool,
  PERSON_TOOL_NAMES,
  PERSON_TOOLS,
  type PersonBinding,
} from '../agents/person-tools.ts';
import { clientName, listEntry, toResult } from './wire.ts';

/** What `vt mcp --person` lists: reads, and context in the person's name; never a decision. */
export const PERSON_TOOL_LIST = PERSON_TOOL_NAMES.map((name) => listEntry(name, PERSON_TOOLS[name]));

/**
 * The MCP face of vt for a person's own assistant (`claude mcp add vt -- vt mcp --person`), acting
 * as that person: what waits for them, where projects stand, why a gate failed, the audit log, and
 * adding context in their name. A translation layer over callPersonTool. Decisions are not offered:
 * they need the person's own signature, with the vt CLI.
 */
export function createPersonMcpServer(
  deps: PersonBinding & { version: string; track?: (w: Promise<unknown>) => void },
): McpServer {
  const mcp = new McpServer(
    { name: 'vt', version: deps.version },
    {
      instructions: `Value Train, for ${deps.actor}: inbox says what waits for you, why_gate_failed why a phase is stuck, status and plan where projects stand. Decisions (approve, reject, waive, advance, done) are not tools here: ${deps.actor} makes them with the vt CLI, signed.`,
    },
  );
  mcp.server.registerCapabilities({ tools: {} });
  mcp.server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: PERSON_TOOL_LIST }));
  mcp.server.setRequestHandler(CallToolRequestSchema, async (req) => {
    const work = callPersonTool(deps, clientName(req.params.name), req.params.arguments ?? {}).then(toResult);
    deps.track?.(work);
    return work;
  });
  return mcp;
}
