import { connect, type Socket } from 'node:net';
import { VtError } from '../errors.ts';

/*
 * Inside an executor, vt has no store: it reaches its session through the socket the worker serves
 * (VT_SESSION_SOCKET, proven by VT_SESSION_TOKEN). Two uses: `vt mcp` pipes an agent CLI's MCP stdio
 * to it, and `vt tick|artifact add|metric set|context add` call the session's tools through it.
 */

export interface SessionEnv {
  socket: string;
  token: string;
}

/** The session socket an executor was given, or null outside an executor. */
export function sessionEnv(env: NodeJS.ProcessEnv): SessionEnv | null {
  const socket = env.VT_SESSION_SOCKET;
  if (!socket) return null;
  return { socket, token: env.VT_SESSION_TOKEN ?? '' };
}

function open(s: SessionEnv): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const conn = connect(s.socket);
    conn.once('connect', () => {
      conn.write(`${JSON.stringify({ token: s.token })}\n`);
      resolve(conn);
    });
    conn.once('error', (err) =>
      reject(
        new VtError(
          'NOT_PERMITTED',
          `the session is not reachable (${(err as Error).message}): it has ended`,
          {
            hint: 'A session answers only while its executor runs',
          },
        ),
      ),
    );
  });
}

/** Pipe stdin/stdout to the session's MCP server (what an agent CLI runs as its `vt` MCP server). */
export async function proxyStdio(
  s: SessionEnv,
  stdin: NodeJS.ReadableStream,
  stdout: NodeJS.WritableStream,
): Promise<void> {
  const conn = await open(s);
  stdin.pipe(conn);
  conn.pipe(stdout);
  await new Promise<void>((resolve) => {
    conn.once('close', () => resolve());
    stdin.once('end', () => conn.end());
  });
}

/** Call one of the session's tools; returns its structured result, or throws the refusal. */
export async function callSessionTool(
  s: SessionEnv,
  tool: string,
  args: Record<string, unknown>,
): Promise<unknown> {
  const conn = await open(s);
  let buf = '';
  const waiting = new Map<number, (m: { result?: unknown; error?: { message: string } }) => void>();
  conn.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let m: { id?: number | null; result?: unknown; error?: { message: string } };
      try {
        m = JSON.parse(line);
      } catch {
        continue;
      }
      if (m.id === null && m.error) for (const w of waiting.values()) w(m);
      else if (typeof m.id === 'number') waiting.get(m.id)?.(m);
    }
  });
  let next = 1;
  const request = (method: string, params: unknown) =>
    new Promise<{ result?: unknown; error?: { message: string } }>((resolve) => {
      const id = next++;
      waiting.set(id, resolve);
      conn.once('close', () => resolve({ error: { message: 'the session closed the connection' } }));
      conn.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    });
  try {
    const init = await request('initialize', {
      protocolVersion: '2025-06-18',
      capabilities: {},
      clientInfo: { name: 'vt-cli', version: '1' },
    });
    if (init.error) throw new VtError('NOT_PERMITTED', init.error.message);
    conn.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
    const r = await request('tools/call', { name: tool, arguments: args });
    if (r.error) throw new VtError('NOT_PERMITTED', r.error.message);
    const result = r.result as {
      isError?: boolean;
      structuredContent?: unknown;
      content?: { type: string; text?: string }[];
    };
    const text = result.content?.map((c) => c.text ?? '').join('\n') ?? '';
    if (result.isError) {
      const code = /\(([A-Z_]+)\)/.exec(text)?.[1];
      throw new VtError(
        code === 'BAD_INPUT' || code === 'PATH_ESCAPE' || code === 'NOT_FOUND' ? code : 'NOT_PERMITTED',
        text,
      );
    }
    if (result.structuredContent !== undefined) return result.structuredContent;
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  } finally {
    conn.destroy();
  }
}
