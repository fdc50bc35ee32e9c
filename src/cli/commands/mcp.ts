import type { Command } from 'commander';
import { VtError } from '../../errors.ts';
import { packageVersion } from '../../package.ts';
import type { WithCtx } from '../main.ts';
import { proxyStdio } from '../session-client.ts';

export function registerMcp(program: Command, withCtx: WithCtx): void {
  program
    .command('mcp')
    .description("vt over MCP on stdio: an agent session's tools, or (--person) a person's own view")
    .option(
      '--person',
      "serve a person's own assistant, acting as --as / VT_ACTOR: reads and context, no decisions",
    )
    .addHelpText(
      'after',
      `
For an agent session (what an agent CLI starts as its \`vt\` server): the autopilot serves each
session's tools itself and gives the agent a socket and a token (VT_SESSION_SOCKET,
VT_SESSION_TOKEN; never flags, so the token stays out of process listings). vt mcp carries the
agent's MCP messages to that socket and back: it never opens the store, and it stops answering when
the session ends.

With --person, it serves your own assistant as you (--as, else VT_ACTOR, else your login name):
inbox, status, plan, why_gate_failed, audit_log, and add_context in your name. It offers no
decision (approve, reject, waive, advance, done...): you make those with the vt CLI, signed.

stdout carries the protocol; messages for people go to stderr.

Examples:
  claude mcp add vt -- vt mcp --person --as ana -C /srv/churn
  VT_SESSION_SOCKET=/tmp/vt-s-AbC123/s VT_SESSION_TOKEN=vts_… vt mcp`,
    )
    .action(
      withCtx(async (ctx, o: { person?: boolean }) => {
        const session = ctx.session();
        if (!o.person) {
          if (!session)
            throw new VtError(
              'BAD_INPUT',
              'vt mcp serves one agent session: VT_SESSION_SOCKET and VT_SESSION_TOKEN must be set',
              {
                hint: 'The autopilot sets both in the MCP configuration it gives a cli-agent executor; for your own assistant, use vt mcp --person',
              },
            );
          await proxyStdio(session, process.stdin, process.stdout);
          return 0;
        }
        // An agent's session must not turn itself into a person: its environment gives it away.
        if (session || ctx.io.env.VT_SESSION || ctx.io.env.VT_SESSION_TOKEN)
          throw new VtError('NOT_PERMITTED', 'vt mcp --person cannot run inside an agent session');
        const actor = ctx.actor;
        if (actor.startsWith('agent:'))
          throw new VtError('NOT_PERMITTED', `${actor} is an agent's name: vt mcp --person serves a person`);
        const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js');
        const { Tickets } = await import('../../engine/ticket-ops.ts');
        const { createPersonMcpServer } = await import('../../mcp/person-server.ts');
        const { engine } = await ctx.vt();
        const inflight = new Set<Promise<unknown>>();
        const server = createPersonMcpServer({
          engine,
          tickets: new Tickets(engine),
          actor,
          version: packageVersion(),
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
        ctx.io.err(`vt mcp: serving ${actor} (person)\n`);
        await closed;
        await Promise.allSettled([...inflight]);
        return 0;
      }),
    );
}
