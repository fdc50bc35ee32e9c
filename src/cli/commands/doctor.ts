import { spawnSync } from 'node:child_process';
import { existsSync, statfsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { PACKAGE_ROOT, packageVersion, RUNNING_BUILT } from '../../package.ts';
import type { CliContext } from '../context.ts';
import type { WithCtx } from '../main.ts';
import { json, paint } from '../output.ts';

type Status = 'ok' | 'warn' | 'fail';
interface Finding {
  check: string;
  status: Status;
  message: string;
}

const MIB = 1024 * 1024;

function onPath(env: NodeJS.ProcessEnv, name: string): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

function versionOf(bin: string, args = ['--version']): string | null {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 5000 });
  if (r.status !== 0) return null;
  return (r.stdout || r.stderr).trim().split('\n')[0] ?? '';
}

function diskFinding(what: string, dir: string): Finding {
  try {
    const s = statfsSync(dir);
    const free = s.bavail * s.bsize;
    const text = `${Math.round(free / MIB).toLocaleString('en')} MiB free for ${what} (${dir})`;
    return {
      check: `disk ${what}`,
      status: free < 64 * MIB ? 'fail' : free < 1024 * MIB ? 'warn' : 'ok',
      message: text,
    };
  } catch (err) {
    return {
      check: `disk ${what}`,
      status: 'warn',
      message: `cannot tell free space at ${dir}: ${(err as Error).message}`,
    };
  }
}

/**
 * Store health: the file and SQLite's quick check (or, on PostgreSQL, that the server answers and
 * the schema is this vt's), the chains, and the clock against the newest event.
 */
async function storeFindings(ctx: CliContext): Promise<Finding[]> {
  let target: string;
  try {
    target = ctx.dbTarget();
  } catch (err) {
    // A folder whose store is on PostgreSQL, checked without its URL.
    if (ctx.root())
      return [{ check: 'store', status: 'fail', message: `${(err as Error).message}: set VT_DATABASE_URL` }];
    return [{ check: 'store', status: 'warn', message: 'no vt.yaml here or above, so no store: vt init' }];
  }
  const postgres = /^postgres(ql)?:\/\//.test(target);
  const file = postgres ? null : target.replace(/^sqlite:(\/\/)?/, '');
  const { STORE_WAY_BACK, inspectStoreFile } = await import('../../store/sqlite-file.ts');
  const f = file ? inspectStoreFile(file) : null;
  if (file && f?.state === 'missing')
    return [{ check: 'store', status: 'warn', message: `no store yet at ${file}: vt init` }];
  if (file && f && f.state !== 'ok')
    return [{ check: 'store', status: 'fail', message: `${file} is ${f.state}. ${STORE_WAY_BACK}` }];
  const out: Finding[] = [];
  let location = file ?? 'the PostgreSQL store';
  try {
    const { store } = await ctx.vt({ readonly: true });
    location = store.location;
    const { sql } = await import('kysely');
    if (file && f?.state === 'ok') {
      const quick = await sql<{ quick_check: string }>`pragma quick_check`.execute(store.db);
      const bad = quick.rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
      out.push({
        check: 'store',
        status: bad.length ? 'fail' : 'ok',
        message: bad.length
          ? `${file}: ${bad[0]}. ${STORE_WAY_BACK}`
          : `${file}: ${f.size.toLocaleString('en')} bytes, SQLite quick check ok`,
      });
    } else {
      const { schemaStatus } = await import('../../store/migrate.ts');
      const schema = await schemaStatus(store.db);
      const version = await sql<{ v: string }>`select current_setting('server_version') as v`.execute(
        store.db,
      );
      out.push({
        check: 'store',
        status: schema.pending.length ? 'warn' : 'ok',
        message: `${location}: PostgreSQL ${version.rows[0]?.v ?? '?'} answers; ${
          schema.pending.length
            ? `${schema.pending.length} migrations pending (vt db migrate)`
            : `schema current (${schema.applied.length} migrations)`
        }`,
      });
    }
    const { verifyStore } = await import('../../audit/audit.ts');
    const v = await verifyStore(store.db);
    out.push({
      check: 'audit',
      status: v.ok ? 'ok' : 'fail',
      message: v.ok
        ? `${v.checked} events in ${v.projects} chains verify`
        : `event ${v.firstBad?.project_id}#${v.firstBad?.seq} does not verify: ${v.firstBad?.reason}`,
    });
    const newest = await store.db
      .selectFrom('events')
      .select((eb) => eb.fn.max('ts').as('ts'))
      .executeTakeFirst();
    const last = newest?.ts ? Date.parse(String(newest.ts)) : null;
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    out.push(
      last && Date.now() < last - 5000
        ? {
            check: 'clock',
            status: 'fail',
            message: `this clock (${new Date().toISOString()}) is behind the newest event (${newest?.ts}): fix the time before writing`,
          }
        : { check: 'clock', status: 'ok', message: `${new Date().toISOString()} (time zone ${zone})` },
    );
  } catch (err) {
    const { classifyFailure } = await import('../../failures.ts');
    out.push({
      check: 'store',
      status: 'fail',
      message: (classifyFailure(err, { store: location }) as Error).message,
    });
  }
  if (file) out.push(diskFinding('the store', dirname(file)));
  return out;
}

export function registerDoctor(program: Command, withCtx: WithCtx): void {
  program
    .command('doctor')
    .description(
      'check this machine and the store: Node, store health, git, agent CLIs, sandbox, disk, clock',
    )
    .addHelpText(
      'after',
      '\nExit 1 when a check fails; warnings (a missing agent CLI, little disk) do not fail.\n\nExamples:\n  vt doctor\n  vt doctor --json | jq \'.checks[] | select(.status != "ok")\'',
    )
    .action(
      withCtx(async (ctx) => {
        const env = ctx.io.env;
        const findings: Finding[] = [];
        const major = Number(process.versions.node.split('.')[0]);
        findings.push({
          check: 'node',
          status: major >= 24 ? 'ok' : 'fail',
          message: `Node ${process.versions.node} (${process.execPath})${major >= 24 ? '' : ': vt needs Node 24 or newer'}`,
        });
        findings.push({
          check: 'vt',
          status: 'ok',
          message: `vt ${packageVersion()} from ${PACKAGE_ROOT} (${RUNNING_BUILT ? 'built package' : 'checkout, TypeScript sources'})`,
        });
        findings.push(...(await storeFindings(ctx)));
        const root = ctx.root();
        if (root) findings.push(diskFinding('workspaces', root));
        const git = onPath(env, 'git');
        findings.push(
          git
            ? { check: 'git', status: 'ok', message: versionOf(git) ?? git }
            : {
                check: 'git',
                status: 'warn',
                message: 'git is not on PATH: ticket workspaces are plain folders, not worktrees',
              },
        );
        for (const agent of ['claude', 'codex', 'gemini', 'aider']) {
          const at = onPath(env, agent);
          findings.push({
            check: `agent ${agent}`,
            status: at ? 'ok' : 'warn',
            message: at ? at : `not on PATH: the ${agent} preset sends its tickets to a person`,
          });
        }
        const bwrap = onPath(env, 'bwrap');
        findings.push(
          bwrap
            ? { check: 'sandbox', status: 'ok', message: `bubblewrap: ${versionOf(bwrap) ?? bwrap}` }
            : {
                check: 'sandbox',
                status: 'warn',
                message: 'bubblewrap (bwrap) is not on PATH: executors cannot be sandboxed',
              },
        );
        const ok = findings.every((f) => f.status !== 'fail');
        if (ctx.json) json(ctx.io, { ok, checks: findings });
        else {
          const glyph = {
            ok: paint(ctx.color, 'green', '✓'),
            warn: paint(ctx.color, 'yellow', '!'),
            fail: paint(ctx.color, 'red', '✗'),
          };
          for (const f of findings) ctx.io.out(`${glyph[f.status]} ${f.check.padEnd(14)} ${f.message}\n`);
        }
        return ok ? 0 : 1;
      }),
    );
}
