import type { Command } from 'commander';
import { VtError } from '../../errors.ts';
import { API_ROLES } from '../../types.ts';
import type { WithCtx } from '../main.ts';
import { json, paint, table, when } from '../output.ts';
import { parseExpiry } from './work.ts';

export function registerToken(program: Command, withCtx: WithCtx): void {
  const token = program
    .command('token')
    .description('API tokens for vt serve: create (shown once), list, revoke')
    .addHelpText('after', '\nExamples:\n  vt token create --person ana --grant approver\n  vt token list');
  token
    .command('create')
    .description('make an API token for a person; prints it once on stdout (only its sha256 is stored)')
    .requiredOption('--person <name>', 'who the token acts as (decisions are recorded in this name)')
    .option(
      '--grant <grant...>',
      `ROLE or ROLE:PROJECT; roles: ${API_ROLES.join(', ')} (without :PROJECT, on every project)`,
    )
    .option('--label <text>', 'what the token is for')
    .option('--expires <when>', 'e.g. 30d, 12h, or an ISO date (default: never)')
    .addHelpText(
      'after',
      `
Examples:
  vt token create --person ana --grant approver --label "ana's laptop" > ~/.vt-token
  vt token create --person ci --grant viewer:churn-model --expires 30d
Roles: viewer reads; operator also advances, holds, resumes, retries; approver reads and approves,
rejects, waives (the train must give the person the gate's role); admin does all of these.`,
    )
    .action(
      withCtx(async (ctx, o: { person: string; grant?: string[]; label?: string; expires?: string }) => {
        const { createToken, parseGrant } = await import('../../api/tokens.ts');
        const { store, engine } = await ctx.vt();
        const now = engine.clock.now();
        const grants = (o.grant ?? ['viewer']).map(parseGrant);
        const { id, token: secret } = await createToken(
          store,
          {
            person: o.person,
            grants,
            label: o.label ?? null,
            expiresAt: o.expires ? parseExpiry(o.expires, now) : null,
            by: ctx.actor,
          },
          now,
        );
        if (ctx.json) json(ctx.io, { id, token: secret, person: o.person, grants });
        else ctx.io.out(`${secret}\n`);
        ctx.io.err(
          `${paint(ctx.color, 'green', '✓')} token ${id} for ${o.person} (${grants.map((g) => `${g.role}:${g.project}`).join(', ')}); it is shown only this once\n`,
        );
        return 0;
      }),
    );
  token
    .command('list')
    .alias('ls')
    .description('list tokens: id, person, grants, state (never the secret)')
    .option('--wide', 'do not truncate')
    .addHelpText('after', '\nExamples:\n  vt token list\n  vt token list --json')
    .action(
      withCtx(async (ctx, o: { wide?: boolean }) => {
        const { listTokens } = await import('../../api/tokens.ts');
        const { store } = await ctx.vt();
        const rows = await listTokens(store.db);
        if (ctx.json) {
          json(ctx.io, rows);
          return 0;
        }
        if (!rows.length) ctx.io.err('no tokens yet: vt token create --person NAME --grant viewer\n');
        const now = Date.now();
        ctx.io.out(
          table(
            ctx.io,
            ['id', 'person', 'grants', 'state', 'created', 'label'],
            rows.map((r) => [
              r.id,
              r.person,
              r.grants.map((g) => `${g.role}:${g.project}`).join(','),
              r.revoked_at
                ? '✗ revoked'
                : r.expires_at && Date.parse(r.expires_at) <= now
                  ? '✗ expired'
                  : '✓ live',
              when(ctx.io, r.created_at),
              r.label ?? '',
            ]),
            o,
          ),
        );
        return 0;
      }),
    );
  token
    .command('revoke')
    .description('revoke a token by id: requests with it are refused from now on')
    .argument('<id>', 'token id (see vt token list)')
    .addHelpText('after', '\nExample:\n  vt token revoke t3f9a0c21b7e4')
    .action(
      withCtx(async (ctx, id: string) => {
        if (/^vt_/.test(id))
          throw new VtError('BAD_INPUT', 'give the token id (vt token list), not the secret', {
            hint: 'A secret on the command line shows in ps and shell history',
          });
        const { revokeToken } = await import('../../api/tokens.ts');
        const { store, engine } = await ctx.vt();
        await revokeToken(store.db, id, engine.clock.now());
        if (ctx.json) json(ctx.io, { id, revoked: true });
        ctx.io.err(`${paint(ctx.color, 'green', '✓')} revoked ${id}\n`);
        return 0;
      }),
    );
}
