import { chmodSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { MCP_TOOL_NAMES, record } from '../agents/tools.ts';
import type { Engine } from '../engine/engine.ts';
import type { Tickets } from '../engine/ticket-ops.ts';
import { createMcpServer } from '../mcp/server.ts';
import { issueSessionToken, revokeSessionToken } from '../mcp/session-token.ts';

/**
 * The way an executor's processes reach vt: the worker serves the session's MCP tools on a unix socket
 * in a private folder, and executors get its path and a token — never the store. `vt mcp` (what an
 * agent CLI starts) and `vt tick/artifact/metric/context` inside an executor speak to it. It closes
 * when the session ends, so nothing answers afterwards.
 */
export interface SessionHost {
  /** The socket's path: VT_SESSION_SOCKET. */
  readonly socket: string;
  /** VT_SESSION_TOKEN: the first line a client sends, as JSON `{"token": …}`. */
  readonly token: string;
  /** The private folder holding the socket (bind it into a sandbox). */
  readonly dir: string;
  close(): Promise<void>;
}

const KNOWN = new Set<string>(MCP_TOOL_NAMES);

export async function hostSession(deps: {
  engine: Engine;
  tickets: Tickets;
  projectId: string;
  session: string;
  actor: string;
  handoffFile?: string | undefined;
  version: string;
}): Promise<SessionHost> {
  const { engine } = deps;
  // A short path (unix socket paths are limited to ~108 bytes), private to this user.
  const dir = await mkdtemp(join(tmpdir(), 'vt-s-'));
  chmodSync(dir, 0o700);
  const socket = join(dir, 's');
  const token = await issueSessionToken(engine.store.db, {
    session: deps.session,
    projectId: deps.projectId,
    now: engine.clock.now(),
  });
  const connections = new Set<Socket>();
  const inflight = new Set<Promise<unknown>>();
  const binding = { engine, projectId: deps.projectId, session: deps.session };

  const serve = async (conn: Socket) => {
    connections.add(conn);
    conn.on('close', () => connections.delete(conn));
    conn.on('error', () => conn.destroy());
    // The first line carries the token; the MCP server checks it on every request (a wrong one is
    // refused and recorded there, call by call).
    const first = await readLine(conn);
    let given: unknown;
    try {
      given = (JSON.parse(first ?? '') as { token?: unknown }).token;
    } catch {
      given = undefined;
    }
    if (typeof given !== 'string') {
      await record(binding, deps.actor, 'connect', 'refused', 'NOT_PERMITTED: no session token').catch(
        () => {},
      );
      conn.end(
        `${JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'refused: no session token' } })}\n`,
      );
      return;
    }
    const server = await createMcpServer({
      engine,
      tickets: deps.tickets,
      session: deps.session,
      token: given,
      handoffFile: deps.handoffFile,
      version: deps.version,
      track: (work) => {
        inflight.add(work);
        const done = () => inflight.delete(work);
        work.then(done, done);
      },
    });
    const transport = new StdioServerTransport(conn, conn);
    await server.connect(transport);
    // A call to a tool the session does not have (a decision, a command of a person's) is refused here,
    // and recorded, before the MCP server sees it.
    const handle = transport.onmessage;
    transport.onmessage = (message) => {
      const m = message as { id?: string | number; method?: string; params?: { name?: unknown } };
      if (m.method === 'tools/call' && typeof m.params?.name === 'string' && !KNOWN.has(m.params.name)) {
        const tool = m.params.name.slice(0, 200);
        const reason = `${tool} is not a session tool: an agent session cannot decide or act as a person`;
        const refused = record(binding, deps.actor, tool, 'refused', `NOT_PERMITTED: ${reason}`).catch(
          () => {},
        );
        inflight.add(refused);
        void refused.then(() => {
          inflight.delete(refused);
          void transport.send({
            jsonrpc: '2.0',
            id: m.id ?? 0,
            error: { code: -32601, message: `refused: ${reason}` },
          });
        });
        return;
      }
      handle?.(message);
    };
    conn.on('close', () => void server.close().catch(() => {}));
    conn.resume();
  };

  const server: Server = createServer((conn) => {
    void serve(conn).catch(() => conn.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve());
  });
  chmodSync(socket, 0o600);

  let closed = false;
  return {
    socket,
    token,
    dir,
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of connections) c.destroy();
      await Promise.allSettled([...inflight]);
      await revokeSessionToken(engine.store.db, deps.session).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Read one line from a socket, leaving the rest of the stream to whoever reads next. */
function readLine(conn: Socket): Promise<string | null> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(10);
      if (nl < 0 && buf.length < 4096) return;
      conn.off('data', onData);
      conn.off('end', onEnd);
      conn.pause();
      const line = nl < 0 ? null : buf.subarray(0, nl).toString('utf8');
      const rest = nl < 0 ? Buffer.alloc(0) : buf.subarray(nl + 1);
      if (rest.length) conn.unshift(rest);
      resolve(line);
    };
    const onEnd = () => resolve(null);
    conn.on('data', onData);
    conn.once('end', onEnd);
  });
}
