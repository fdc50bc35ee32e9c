import { readFileSync } from 'node:fs';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Command } from 'commander';
import { Tickets } from '../../engine/ticket-ops.ts';
import { VtError } from '../../errors.ts';
import { createMcpServer } from '../../mcp/server.ts';
import type { WithCtx } from '../main.ts';

const VERSION = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export function registerMcp(program: Command, withCtx: WithCtx): void {
  program
    .command('mcp')
    .description("serve one agent session's tools over MCP on stdio (session and token from the environment)")
    .addHelpText(
      'after',
      `
The autopilot writes an MCP configuration that starts this for each cli-agent session. It reads
VT_SESSION and VT_SESSION_TOKEN (never flags, so the token stays out of process listings) and
VT_DATABASE_URL; stdout carries the protocol, everything for people goes to stderr.

Example (what an agent's MCP configuration runs):
  VT_SESSION=churn-1-build.s1 VT_SESSION_TOKEN=vts_… VT_DATABASE_URL=/srv/vt/.vt/vt.db vt mcp`,
    )
    .action(
      withCtx(async (ctx) => {
        const env = ctx.io.env;
        const session = env.VT_SESSION;
        const token = env.VT_SESSION_TOKEN;
        if (!session || !token)
          throw new VtError(
            'BAD_INPUT',
            'vt mcp serves one agent session: VT_SESSION and VT_SESSION_TOKEN must be set',
            {
              hint: 'The autopilot sets both in the MCP configuration it gives a cli-agent executor',
            },
          );
        const { engine } = await ctx.vt();
        const inflight = new Set<Promise<unknown>>();
        const server = await createMcpServer({
          engine,
          tickets: new Tickets(engine),
          session,
          token,
          handoffFile: env.VT_HANDOFF || undefined,
          version: VERSION,
          track: (work) => {
            inflight.add(work);
            const done = () => inflight.delete(work);
            work.then(done, done);
          },
        });
        const transport = new StdioServerTransport();
        const closed = new Promise<void>((resolve) => {
          transport.onclose = () => resolve();
          // The SDK's stdio transport does not notice the client going away: end when stdin does.
          process.stdin.once('end', () => void server.close());
          process.stdin.once('close', () => void server.close());
        });
        await server.connect(transport);
        ctx.io.err(`vt mcp: serving session ${session}\n`);
        await closed;
        await Promise.allSettled([...inflight]);
        return 0;
      }),
    );
}
