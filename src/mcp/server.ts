import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import {
  callSessionTool,
  MCP_TOOL_NAMES,
  record,
  SESSION_TOOLS,
  type SessionBinding,
  type ToolName,
} from '../agents/tools.ts';
import type { Engine } from '../engine/engine.ts';
import type { Tickets } from '../engine/ticket-ops.ts';
import { requireLiveSession } from '../engine/tickets.ts';
import { VtError } from '../errors.ts';
import type { Train } from '../train/schema.ts';
import { projectOfSession, projectOfSessionToken } from './session-token.ts';

export interface McpServerDeps {
  engine: Engine;
  tickets: Tickets;
  /** VT_SESSION: the session this connection works for. */
  session: string;
  /** VT_SESSION_TOKEN: checked against the stored hash on every request. */
  token: string;
  /** VT_HANDOFF: the packet file handed to the session, if any. */
  handoffFile?: string | undefined;
  version: string;
  /** Told of every request in flight, so the caller can let them finish before closing the store. */
  track?: (work: Promise<unknown>) => void;
}

/**
 * The MCP face of one agent session: tools, resources (the train, the project's state, the handoff
 * packet) and one prompt per role. A translation layer only: every tool goes through
 * callSessionTool, and every request first proves the session token.
 */
export async function createMcpServer(deps: McpServerDeps): Promise<McpServer> {
  const server = new McpServer(
    { name: 'vt', version: deps.version },
    {
      instructions:
        'Value Train: work one ticket of one phase. Call next_task first, then do the work in the workspace and report it with tick, put_artifact and record_metric. check_gates and request_advance tell you what is missing.',
    },
  );

  /** The binding for this request, or a refusal (recorded in the session's project when it is known). */
  const authenticate = async (tool: string): Promise<SessionBinding> => {
    const projectId = deps.token
      ? await projectOfSessionToken(deps.engine.store.db, deps.session, deps.token)
      : null;
    if (!projectId) {
      const claimed = await projectOfSession(deps.engine.store.db, deps.session);
      if (claimed)
        await record(
          { engine: deps.engine, projectId: claimed, session: deps.session },
          'mcp',
          tool,
          'refused',
          'NOT_PERMITTED: the session token does not match a live session',
        ).catch(() => {});
      throw new VtError(
        'NOT_PERMITTED',
        `the session token does not match a live session ${deps.session}; a token is valid only while its session runs`,
      );
    }
    return {
      engine: deps.engine,
      tickets: deps.tickets,
      projectId,
      session: deps.session,
      handoffFile: deps.handoffFile,
    };
  };

  const call = async (name: ToolName, input: unknown) => {
    let b: SessionBinding;
    try {
      b = await authenticate(name);
    } catch (err) {
      return { ok: false as const, code: 'NOT_PERMITTED', message: (err as Error).message };
    }
    return callSessionTool(b, name, input);
  };

  for (const name of MCP_TOOL_NAMES) {
    const def = SESSION_TOOLS[name];
    server.registerTool(
      name,
      {
        description: def.description,
        inputSchema: def.input,
        annotations: { readOnlyHint: def.permission === null },
      },
      (input: unknown) => {
        const work = call(name, input).then(toResult);
        deps.track?.(work);
        return work;
      },
    );
  }

  /** Read-only views need a live session too: the token, then the session's own state; recorded. */
  const view = async (what: 'train' | 'state') => {
    const b = await authenticate(`resource:${what}`);
    const s = await deps.engine.state(b.projectId);
    const actor = s.sessions[b.session]?.actor ?? 'mcp';
    try {
      requireLiveSession(s, b.session, actor);
    } catch (err) {
      await record(b, actor, `resource:${what}`, 'refused', (err as Error).message);
      throw err;
    }
    await record(b, actor, `resource:${what}`, 'ok', null);
    return { s, train: await deps.engine.train(s.trainHash) };
  };

  server.registerResource(
    'train',
    'vt://train',
    { description: 'The train the project follows (JSON)', mimeType: 'application/json' },
    async (uri) => {
      const { train } = await view('train');
      return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(train) }] };
    },
  );
  server.registerResource(
    'state',
    'vt://state',
    { description: "The project's state, folded from its events (JSON)", mimeType: 'application/json' },
    async (uri) => {
      const { s } = await view('state');
      return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(s) }] };
    },
  );
  server.registerResource(
    'handoff',
    'vt://handoff',
    { description: 'The handoff packet of the current phase (markdown)', mimeType: 'text/markdown' },
    async (uri) => {
      const outcome = await callSessionTool(await authenticate('get_handoff'), 'get_handoff', {});
      if (!outcome.ok) throw new VtError('NOT_PERMITTED', outcome.message);
      const { text } = outcome.value as { text: string };
      return { contents: [{ uri: uri.href, mimeType: 'text/markdown', text }] };
    },
  );

  // Prompts name the train's roles, so they are known once the token is: without it, none are offered.
  const known = await projectOfSessionToken(deps.engine.store.db, deps.session, deps.token).catch(() => null);
  if (known) {
    const s = await deps.engine.state(known);
    const train = await deps.engine.train(s.trainHash);
    for (const role of train.roles) {
      server.registerPrompt(
        `role-${role.id}`,
        { description: `What the ${role.name} role is asked to do in each phase it owns` },
        async () => {
          await authenticate(`prompt:role-${role.id}`);
          return {
            description: `${role.name}: phase instructions`,
            messages: [{ role: 'user', content: { type: 'text', text: roleInstructions(train, role.id) } }],
          };
        },
      );
    }
  }
  return server;
}

/** The instructions of every phase a role owns, as one prompt. */
export function roleInstructions(train: Train, roleId: string): string {
  const role = train.roles.find((r) => r.id === roleId)!;
  const phases = train.phases.filter((p) => p.owner === roleId);
  return [
    `You work as ${role.name}${role.description ? `: ${role.description.trim()}` : ''}.`,
    ...phases.map(
      (p) =>
        `\n## ${p.name} (${p.id})\n${p.instructions?.trim() ?? p.description?.trim() ?? '(no instructions)'}`,
    ),
  ].join('\n');
}

function toResult(outcome: Awaited<ReturnType<typeof callSessionTool>>): CallToolResult {
  if (outcome.ok) return { content: [{ type: 'text', text: JSON.stringify(outcome.value) }] };
  return {
    content: [{ type: 'text', text: `refused (${outcome.code}): ${outcome.message}` }],
    isError: true,
  };
}
