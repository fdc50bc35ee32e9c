import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { VtError } from '../../errors.ts';
import type { CliContext } from '../context.ts';
import type { WithCtx } from '../main.ts';
import { json, paint, safe, table, when } from '../output.ts';

/** Wait `ms`, or less when the signal aborts. */
const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

const int = (name: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new VtError('BAD_INPUT', `${name} must be an integer ≥ ${min}, not "${v}"`);
  return n;
};

async function config(ctx: CliContext) {
  const { loadIntegrations } = await import('../../integrations/config.ts');
  return await loadIntegrations(ctx.root(), ctx.io.env);
}

/** A secret from --secret-file or VT_WEBHOOK_SECRET (never from a flag's value). */
function secretFrom(ctx: CliContext, file: string | undefined): string {
  if (file) {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new VtError(
        'BAD_INPUT',
        `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
  }
  const env = ctx.io.env.VT_WEBHOOK_SECRET;
  if (!env)
    throw new VtError('BAD_INPUT', 'no secret: pass --secret-file FILE or set VT_WEBHOOK_SECRET', {
      hint: 'Make one with: vt notify secret > webhook.secret',
    });
  return env;
}

export function registerNotify(program: Command, withCtx: WithCtx): void {
  const notify = program
    .command('notify')
    .description(
      'webhook notifications: signed (Standard Webhooks), Slack-compatible, sent through the outbox',
    )
    .addHelpText('after', '\nExamples:\n  vt notify list\n  vt notify secret > webhook.secret');

  notify
    .command('list')
    .alias('ls')
    .description('the configured webhook endpoints and how their deliveries stand')
    .addHelpText('after', '\nExamples:\n  vt notify list\n  vt notify list --json | jq .[].pending')
    .action(
      withCtx(async (ctx) => {
        const cfg = await config(ctx);
        const { secretKey } = await import('../../integrations/webhooks/sign.ts');
        const { rowsOfKind } = await import('../../integrations/outbox-store.ts');
        const { WEBHOOK_KIND } = await import('../../integrations/webhooks/notification.ts');
        const { GAVE_UP_AT } = await import('../../integrations/outbox-store.ts');
        const rows = cfg.endpoints.length
          ? await rowsOfKind((await ctx.vt()).store.db, WEBHOOK_KIND, 10_000)
          : [];
        const out = cfg.endpoints.map((e) => {
          let secret = 'ok';
          try {
            secretKey(e.secret());
          } catch (err) {
            secret = (err as Error).message;
          }
          let url = 'ok';
          try {
            e.url();
          } catch (err) {
            url = (err as Error).message;
          }
          const mine = rows.filter((r) => r.payload.startsWith(`{"endpoint":${JSON.stringify(e.id)},`));
          const lastError = mine.find((r) => r.last_error && !r.delivered_at)?.last_error ?? null;
          return {
            id: e.id,
            url: e.describe,
            url_status: url,
            secret_status: secret,
            events: e.events ?? 'all',
            pending: mine.filter((r) => !r.delivered_at && r.next_at !== GAVE_UP_AT).length,
            delivered: mine.filter((r) => r.delivered_at).length,
            gave_up: mine.filter((r) => r.next_at === GAVE_UP_AT).length,
            last_error: lastError,
          };
        });
        if (ctx.json) {
          json(ctx.io, out);
          return 0;
        }
        if (!out.length) {
          ctx.io.err(
            'no webhook endpoints: add integrations.webhooks to vt.yaml or set VT_WEBHOOK_URL (see docs/integrations.md)\n',
          );
          return 0;
        }
        ctx.io.out(
          table(
            ctx.io,
            ['ENDPOINT', 'URL', 'SECRET', 'PENDING', 'DELIVERED', 'GAVE UP', 'LAST ERROR'],
            out.map((e) => [
              e.id,
              e.url_status === 'ok' ? e.url : e.url_status,
              e.secret_status,
              String(e.pending),
              String(e.delivered),
              String(e.gave_up),
              safe(e.last_error ?? ''),
            ]),
          ),
        );
        return 0;
      }),
    );

  notify
    .command('test')
    .description('send a signed test message now, to a configured endpoint or a URL')
    .argument('[endpoint]', 'an endpoint id from vt notify list (default: the only one), or an http(s) URL')
    .option('--secret-file <file>', 'with a URL: the file holding the secret (else VT_WEBHOOK_SECRET)')
    .addHelpText(
      'after',
      '\nThe URL is an argument for receivers whose URL is no secret; Slack-style URLs that carry a token\nbelong in the environment (url_env in vt.yaml, or VT_WEBHOOK_URL).\n\nExamples:\n  vt notify test ops\n  VT_WEBHOOK_SECRET=$(cat webhook.secret) vt notify test https://hooks.example.com/vt',
    )
    .action(
      withCtx(async (ctx, target: string | undefined, o: { secretFile?: string }) => {
        const cfg = await config(ctx);
        const { origin } = await import('../../integrations/config.ts');
        const { renderMessage } = await import('../../integrations/webhooks/message.ts');
        const { signedHeaders } = await import('../../integrations/webhooks/sign.ts');
        let url: string;
        let secret: string;
        let name: string;
        if (target && /^https?:\/\//.test(target)) {
          url = target;
          secret = secretFrom(ctx, o.secretFile);
          name = origin(url);
        } else {
          const ep = target
            ? cfg.endpoints.find((e) => e.id === target)
            : cfg.endpoints.length === 1
              ? cfg.endpoints[0]
              : undefined;
          if (!ep)
            throw new VtError(
              'NOT_FOUND',
              target
                ? `no webhook endpoint "${target}"`
                : cfg.endpoints.length
                  ? 'more than one endpoint: name one'
                  : 'no webhook endpoints configured',
              { hint: 'See: vt notify list' },
            );
          url = ep.url();
          secret = ep.secret();
          name = `${ep.id} (${ep.describe})`;
        }
        const now = new Date();
        const id = `test:${now.getTime()}`;
        const body = JSON.stringify(
          renderMessage(
            {
              type: 'test',
              project: '-',
              note: `A test message from vt on ${now.toISOString()}. If you can read this, the webhook works.`,
            },
            { id, createdAt: now.toISOString() },
          ),
        );
        let status: number | null = null;
        let problem: string | null = null;
        try {
          const res = await fetch(url, {
            method: 'POST',
            headers: signedHeaders(secret, id, now, body),
            body,
            redirect: 'manual',
            signal: AbortSignal.timeout(10_000),
          });
          status = res.status;
          await res.body?.cancel().catch(() => {});
        } catch (err) {
          const e = err as Error & { cause?: { code?: string } };
          problem =
            e.name === 'TimeoutError'
              ? 'no answer within 10 s'
              : (e.cause?.code ?? e.message).split(url).join(origin(url));
        }
        const ok = status !== null && status >= 200 && status < 300;
        if (ctx.json) json(ctx.io, { endpoint: name, id, status, ok, error: problem });
        ctx.io.err(
          ok
            ? `${paint(ctx.color, 'green', '✓')} ${name} accepted the test message (${status})\n`
            : `${paint(ctx.color, 'red', '✗')} ${name} did not accept the test message: ${problem ?? `it answered ${status}`}\n`,
        );
        return ok ? 0 : 1;
      }),
    );

  notify
    .command('deliver')
    .description('send due webhook notifications now (the autopilot also does this as it works)')
    .option('--watch', 'keep delivering until interrupted')
    .option('--interval <ms>', 'with --watch: how often to look', int('--interval', 100), 2000)
    .addHelpText('after', '\nExamples:\n  vt notify deliver\n  vt notify deliver --watch --interval 5000')
    .action(
      withCtx(async (ctx, o: { watch?: boolean; interval: number }) => {
        const cfg = await config(ctx);
        const { deliverWebhooks } = await import('../../integrations/webhooks/deliver.ts');
        const { engine } = await ctx.vt();
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.once('SIGINT', onSignal);
        try {
          do {
            const r = await deliverWebhooks({
              store: engine.store,
              endpoints: cfg.endpoints,
              now: engine.clock.now(),
              onLog: (line) => ctx.io.err(`${safe(line)}\n`),
            });
            if (ctx.json) json(ctx.io, r);
            if (r.delivered || r.failed || r.gaveUp || r.skipped || !o.watch)
              ctx.io.err(
                `${r.delivered} delivered, ${r.failed} to retry, ${r.gaveUp} given up, ${r.skipped} skipped\n`,
              );
            if (o.watch) await pause(o.interval, stop.signal);
          } while (o.watch && !stop.signal.aborted);
        } finally {
          process.off('SIGINT', onSignal);
        }
        return stop.signal.aborted ? 130 : 0;
      }),
    );

  notify
    .command('log')
    .description('recent webhook deliveries, newest first')
    .option('-n, --limit <n>', 'how many', int('--limit', 1), 20)
    .addHelpText('after', '\nExamples:\n  vt notify log\n  vt notify log --json --limit 100')
    .action(
      withCtx(async (ctx, o: { limit: number }) => {
        const { rowsOfKind, GAVE_UP_AT } = await import('../../integrations/outbox-store.ts');
        const { WEBHOOK_KIND } = await import('../../integrations/webhooks/notification.ts');
        const rows = await rowsOfKind((await ctx.vt()).store.db, WEBHOOK_KIND, o.limit);
        const out = rows.map((r) => {
          const p = JSON.parse(r.payload) as { endpoint: string; notification: { type: string } };
          return {
            id: r.id,
            endpoint: p.endpoint,
            type: p.notification.type,
            project: r.project_id,
            status: r.delivered_at
              ? r.last_error
                ? 'skipped'
                : 'delivered'
              : r.next_at === GAVE_UP_AT
                ? 'gave up'
                : 'pending',
            attempts: r.attempts,
            created_at: r.created_at,
            next_at: r.delivered_at || r.next_at === GAVE_UP_AT ? null : r.next_at,
            last_error: r.last_error,
          };
        });
        if (ctx.json) {
          json(ctx.io, out);
          return 0;
        }
        ctx.io.out(
          table(
            ctx.io,
            ['WHEN', 'ENDPOINT', 'TYPE', 'PROJECT', 'STATUS', 'TRIES', 'LAST ERROR'],
            out.map((r) => [
              when(ctx.io, r.created_at),
              r.endpoint,
              r.type,
              r.project,
              r.status,
              String(r.attempts),
              safe(r.last_error ?? ''),
            ]),
          ),
        );
        return 0;
      }),
    );

  notify
    .command('secret')
    .description('print a new random signing secret (whsec_...) for a receiver and vt to share')
    .addHelpText(
      'after',
      '\nExamples:\n  vt notify secret > .vt-webhook.secret && chmod 600 .vt-webhook.secret',
    )
    .action(
      withCtx(async (ctx) => {
        const { newSecret } = await import('../../integrations/webhooks/sign.ts');
        ctx.io.out(`${newSecret()}\n`);
        return 0;
      }),
    );

  notify
    .command('verify')
    .description(
      "check a delivery's signature as a receiver would: the body on stdin, the headers as options",
    )
    .requiredOption('--id <webhook-id>', 'the webhook-id header')
    .requiredOption('--timestamp <seconds>', 'the webhook-timestamp header')
    .requiredOption('--signature <value>', 'the webhook-signature header')
    .option('--secret-file <file>', 'the file holding the secret (else VT_WEBHOOK_SECRET)')
    .addHelpText(
      'after',
      '\nExits 0 when the signature is valid and fresh (within 5 minutes), 1 otherwise.\n\nExamples:\n  vt notify verify --id "$ID" --timestamp "$TS" --signature "$SIG" --secret-file webhook.secret < body.json',
    )
    .action(
      withCtx(async (ctx, o: { id: string; timestamp: string; signature: string; secretFile?: string }) => {
        const { verify } = await import('../../integrations/webhooks/sign.ts');
        const secret = secretFrom(ctx, o.secretFile);
        const body = readFileSync(0, 'utf8');
        const r = verify(
          secret,
          { 'webhook-id': o.id, 'webhook-timestamp': o.timestamp, 'webhook-signature': o.signature },
          body,
        );
        if (ctx.json) json(ctx.io, r);
        ctx.io.err(
          r.ok
            ? `${paint(ctx.color, 'green', '✓')} valid\n`
            : `${paint(ctx.color, 'red', '✗')} ${r.reason}\n`,
        );
        return r.ok ? 0 : 1;
      }),
    );
}
