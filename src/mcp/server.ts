import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  CallToolRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { TOOL_ANNOTATIONS, TOOL_OUTPUTS } from '../agents/tool-outputs.ts';
import {
  callSessionTool,
  MCP_TOOL_NAMES,
  record,
  SESSION_TOOLS,
  type SessionBinding,
  sessionHandoff,
  type ToolName,
} from '../agents/tools.ts';
import type { Engine } from '../engine/engine.ts';
import type { ProjectState } from '../engine/state.ts';
import type { Tickets } from '../engine/ticket-ops.ts';
import { requireLiveSession } from '../engine/tickets.ts';
import { VtError } from '../errors.ts';
import { redactDeep } from '../redact.ts';
import type { Train } from '../train/schema.ts';
import { projectOfSession, projectOfSessionToken } from './session-token.ts';
import { clientName, listEntry, refusal, toResult } from './wire.ts';

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

/** What `vt mcp` lists: fixed, so an agent's view of its tools cannot be changed by what it reads. */
export const SESSION_TOOL_LIST = MCP_TOOL_NAMES.map((name) =>
  listEntry(name, {
    description: SESSION_TOOLS[name].description,
    input: SESSION_TOOLS[name].input,
    output: TOOL_OUTPUTS[name],
    annotations: TOOL_ANNOTATIONS[name],
  }),
);

const RESOURCES = [
  {
    uri: 'vt://train',
    name: 'train',
    description: 'The train the project follows (JSON)',
    mimeType: 'application/json',
  },
  {
    uri: 'vt://state',
    name: 'state',
    description: "The project's state, folded from its events (JSON)",
    mimeType: 'application/json',
  },
  {
    uri: 'vt://handoff',
    name: 'handoff',
    description: 'The handoff packet of the current phase (markdown)',
    mimeType: 'text/markdown',
  },
] as const;

/**
 * The MCP face of one agent session: tools, resources (the train, the project's state, the handoff
 * packet) and one prompt per role. A translation layer only: every request first proves the session
 * token and that the session is live, every tool goes through callSessionTool, and every request
 * (listings, reads, prompts and calls, refused or malformed ones included) is recorded as a
 * `session.tool-called` event with what was asked and why it was refused.
 */
export async function createMcpServer(deps: McpServerDeps): Promise<McpServer> {
  const mcp = new McpServer(
    { name: 'vt', version: deps.version },
    {
      instructions:
        'Value Train: work one ticket of one phase. Call next_task first, then do the work in the workspace and report it with tick, put_artifact and record_metric. check_gates and request_advance tell you what is missing.',
    },
  );
  const server = mcp.server;
  server.registerCapabilities({ tools: {}, resources: {}, prompts: {} });

  /** The binding for this request, or a refusal (recorded in the session's project when it is known). */
  const authenticate = async (what: string): Promise<SessionBinding> => {
    const projectId = deps.token
      ? await projectOfSessionToken(deps.engine.store.db, deps.session, deps.token)
      : null;
    if (!projectId) {
      const claimed = await projectOfSession(deps.engine.store.db, deps.session);
      if (claimed)
        await record(
          { engine: deps.engine, projectId: claimed, session: deps.session },
          'mcp',
          what,
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

  /** A listing or read: the token, then a live session, then the answer; recorded either way. */
  const open = async <T>(
    what: string,
    answer: (b: SessionBinding, s: ProjectState, train: Train) => Promise<T>,
  ) => {
    let b: SessionBinding;
    try {
      b = await authenticate(what);
    } catch (err) {
      throw refusal('NOT_PERMITTED', (err as Error).message);
    }
    const s = await deps.engine.state(b.projectId);
    const actor = s.sessions[b.session]?.actor ?? 'mcp';
    let value: T;
    try {
      requireLiveSession(s, b.session, actor);
      value = await answer(b, s, await deps.engine.train(s.trainHash));
    } catch (err) {
      const code = err instanceof VtError ? err.code : 'INTERNAL';
      await record(b, actor, what, 'refused', `${code}: ${(err as Error).message}`.slice(0, 1000)).catch(
        () => {},
      );
      throw refusal(code, (err as Error).message);
    }
    await record(b, actor, what, 'ok', null);
    // Resources and prompts quote the record (the state, the handoff): redacted on their way out.
    return redactDeep(value);
  };

  const tracked =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    (...a: A): Promise<R> => {
      const work = fn(...a);
      deps.track?.(work.catch(() => {}));
      return work;
    };

  server.setRequestHandler(
    ListToolsRequestSchema,
    tracked(async () => open('tools/list', async () => ({ tools: SESSION_TOOL_LIST }))),
  );

  server.setRequestHandler(
    CallToolRequestSchema,
    tracked(async (req) => {
      const name = clientName(req.params.name);
      let b: SessionBinding;
      try {
        b = await authenticate(name);
      } catch (err) {
        return toResult({ ok: false, code: 'NOT_PERMITTED', message: (err as Error).message });
      }
      if (!(MCP_TOOL_NAMES as readonly string[]).includes(name)) {
        const message = `there is no tool "${name}"; the tools are ${MCP_TOOL_NAMES.join(', ')}`;
        const s = await deps.engine.state(b.projectId);
        await record(b, s.sessions[b.session]?.actor ?? 'mcp', name, 'refused', `BAD_INPUT: ${message}`);
        return toResult({ ok: false, code: 'BAD_INPUT', message });
      }
      return toResult(await callSessionTool(b, name as ToolName, req.params.arguments ?? {}));
    }),
  );

  server.setRequestHandler(
    ListResourcesRequestSchema,
    tracked(async () => open('resources/list', async () => ({ resources: [...RESOURCES] }))),
  );
  server.setRequestHandler(
    ListResourceTemplatesRequestSchema,
    tracked(async () => open('resources/templates/list', async () => ({ resourceTemplates: [] }))),
  );
  server.setRequestHandler(
    ReadResourceRequestSchema,
    tracked(async (req) => {
      const uri = clientName(req.params.uri);
      return open(`resource:${uri}`, async (b, s, train) => {
        const text =
          uri === 'vt://train'
            ? JSON.stringify(train)
            : uri === 'vt://state'
              ? JSON.stringify(s)
              : uri === 'vt://handoff'
                ? (await sessionHandoff(b, s, train)).text
                : null;
        if (text === null)
          throw new VtError(
            'NOT_FOUND',
            `no resource ${uri}; the resources are ${RESOURCES.map((r) => r.uri).join(', ')}`,
          );
        const mimeType = RESOURCES.find((r) => r.uri === uri)!.mimeType;
        return { contents: [{ uri, mimeType, text }] };
      });
    }),
  );

  server.setRequestHandler(
    ListPromptsRequestSchema,
    tracked(async () =>
      open('prompts/list', async (_b, _s, train) => ({
        prompts: train.roles.map((r) => ({
          name: `role-${r.id}`,
          description: `What the ${r.name} role is asked to do in each phase it owns`,
        })),
      })),
    ),
  );
  server.setRequestHandler(
    GetPromptRequestSchema,
    tracked(async (req) => {
      const name = clientName(req.params.name);
      return open(`prompt:${name}`, async (_b, _s, train) => {
        const role = train.roles.find((r) => `role-${r.id}` === name);
        if (!role)
          throw new VtError(
            'NOT_FOUND',
            `no prompt "${name}"; the prompts are ${train.roles.map((r) => `role-${r.id}`).join(', ')}`,
          );
        return {
          description: `${role.name}: phase instructions`,
          messages: [
            {
              role: 'user' as const,
              content: { type: 'text' as const, text: roleInstructions(train, role.id) },
            },
          ],
        };
      });
    }),
  );
  return mcp;
}

/** The instructions of every phase a role owns or supports, as one prompt. */
export function roleInstructions(train: Train, roleId: string): string {
  const role = train.roles.find((r) => r.id === roleId)!;
  const phases = train.phases.filter((p) => p.owner === roleId || p.support?.includes(roleId));
  return [
    `You work as ${role.name}${role.description ? `: ${role.description.trim()}` : ''}.`,
    ...phases.map(
      (p) =>
        `\n## ${p.name} (${p.id})${p.owner === roleId ? '' : `, supporting ${p.owner}`}\n${p.instructions?.trim() ?? p.description?.trim() ?? '(no instructions)'}`,
    ),
  ].join('\n');
}
