import type { Command } from 'commander';
import { VtError } from '../../errors.ts';
import type { WithCtx } from '../main.ts';
import { proxyStdio } from '../session-client.ts';

export function registerMcp(program: Command, withCtx: WithCtx): void {
  program
    .command('mcp')
    .description("an agent session's tools over MCP on stdio (what an agent CLI starts as its `vt` server)")
    .addHelpText(
      'after',
      `
The autopilot serves each session's tools itself and gives the agent a socket and a token
(VT_SESSION_SOCKET, VT_SESSION_TOKEN; never flags, so the token stays out of process listings).
vt mcp carries the agent's MCP messages to that socket and back: it never opens the store, and it
stops answering when the session ends. stdout carries the protocol; messages for people go to stderr.

Example (what the MCP configuration the autopilot writes for an agent runs):
  VT_SESSION_SOCKET=/tmp/vt-s-AbC123/s VT_SESSION_TOKEN=vts_… vt mcp`,
    )
    .action(
      withCtx(async (ctx) => {
        const session = ctx.session();
        if (!session)
          throw new VtError(
            'BAD_INPUT',
            'vt mcp serves one agent session: VT_SESSION_SOCKET and VT_SESSION_TOKEN must be set',
            {
              hint: 'The autopilot sets both in the MCP configuration it gives a cli-agent executor',
            },
          );
        await proxyStdio(session, process.stdin, process.stdout);
        return 0;
      }),
    );
}
