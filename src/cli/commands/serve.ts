import type { Command } from 'commander';
import { VtError } from '../../errors.ts';
import { packageVersion } from '../../package.ts';
import type { WithCtx } from '../main.ts';
import { json, paint } from '../output.ts';

const VERSION = packageVersion();

export function registerServe(program: Command, withCtx: WithCtx): void {
  program
    .command('serve')
    .description('serve the HTTP API and the web dashboard (127.0.0.1 by default); runs until interrupted')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port (0 picks a free one)', (v) => Number.parseInt(v, 10), 7411)
    .option('--allow-host <name...>', 'extra host names the server answers to (DNS-rebinding defence)')
    .option(
      '--passkeys <policy>',
      'required: every decision made over HTTP must be confirmed with a passkey',
      'optional',
    )
    .option('--no-dashboard', 'serve the API only')
    .addHelpText(
      'after',
      `
Examples:
  vt token create --person ana --grant approver   # prints a token once; keep it
  vt serve                                        # then open http://localhost:7411/ and paste the token
  vt serve --port 0 --json                        # prints {"url": ...} when listening
  curl -H "Authorization: Bearer $VT_TOKEN" http://127.0.0.1:7411/api/attention

The OpenAPI document is at /api/openapi.json; live events at /api/stream (server-sent events).`,
    )
    .action(
      withCtx(
        async (
          ctx,
          o: { host: string; port: number; allowHost?: string[]; passkeys: string; dashboard: boolean },
        ) => {
          if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535)
            throw new VtError('BAD_INPUT', '--port must be a whole number from 0 to 65535');
          if (o.passkeys !== 'required' && o.passkeys !== 'optional')
            throw new VtError('BAD_INPUT', `--passkeys must be required or optional, not "${o.passkeys}"`);
          const { startServer } = await import('../../api/server.ts');
          const { loadIntegrations } = await import('../../integrations/config.ts');
          const server = await startServer({
            db: ctx.dbTarget(),
            integrations: await loadIntegrations(ctx.root(), ctx.io.env),
            audit: ctx.audit(),
            host: o.host,
            port: o.port,
            allowHosts: o.allowHost ?? [],
            passkeys: o.passkeys,
            ...(o.dashboard ? {} : { assetsDir: null }),
            version: VERSION,
          });
          if (ctx.json) json(ctx.io, { url: server.url, port: server.port });
          else ctx.io.out(`${server.url}\n`);
          ctx.io.err(
            `${paint(ctx.color, 'green', '●')} serving ${server.url} (API at ${server.url}api/openapi.json); Ctrl-C stops\n`,
          );
          await new Promise<void>((resolve) => {
            const stop = () => resolve();
            process.once('SIGINT', stop);
            process.once('SIGTERM', stop);
          });
          await server.close();
          ctx.io.err('stopped\n');
          return 0;
        },
      ),
    );
}
