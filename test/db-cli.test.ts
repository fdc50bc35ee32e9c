import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { verifyStore } from '../src/audit/audit.ts';
import { MIGRATIONS } from '../src/store/migrations/index.ts';
import { openStore } from '../src/store/store.ts';
import { autoTrainYaml, runVt, spawnCollect, tempDir, VT_BIN } from './helpers.ts';
import { dropTestDatabases, freshPgUrl } from './pg.ts';

describe('vt db and the CLI on PostgreSQL', () => {
  after(dropTestDatabases);

  it('status, migrate, copy to PostgreSQL and back, app-role: exit codes and output', async () => {
    const dir = tempDir();
    const vt = (args: string[], env: Record<string, string> = {}) => runVt(args, { cwd: dir, env });
    assert.equal((await vt(['init'])).code, 0);
    assert.equal((await vt(['project', 'create', 'Churn'])).code, 0);
    assert.equal((await vt(['tick', 'churn', 'capture-request'])).code, 0);
    const local = await vt(['db', 'status']);
    assert.equal(local.code, 0, local.stderr);
    const n = Object.keys(MIGRATIONS).length;
    assert.match(local.stdout, new RegExp(`^sqlite\t.*vt\\.db\t${n}/${n} migrations\n$`));

    const empty = await freshPgUrl();
    const behind = await vt(['db', 'status', '--json', '--db', empty]);
    assert.equal(behind.code, 1, 'exit 1 while migrations are pending');
    assert.equal(JSON.parse(behind.stdout).pending.length, n);
    const dry = await vt(['db', 'migrate', '--dry-run', '--db', empty]);
    assert.equal(dry.stdout.split('\n')[0], '001_core');
    assert.equal((await vt(['db', 'status', '--db', empty])).code, 1, 'a dry run changes nothing');
    const migrated = await vt(['db', 'migrate', '--db', empty]);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.equal((await vt(['db', 'status', '--db', empty])).code, 0);

    // A checkpoint of the SQLite store's Merkle log (vt init made the log key), kept in audit/.
    assert.equal((await vt(['audit', 'checkpoint'])).code, 0);
    const copied = await vt(['db', 'copy', '--from', '.vt/vt.db', '--to', empty]);
    assert.equal(copied.code, 0, copied.stderr);
    assert.match(copied.stderr, /copied 2 events in 1 chains/);
    assert.match(copied.stderr, /merkle_nodes: 3 rows/);
    const onPg = { VT_DATABASE_URL: empty };
    const verify = await vt(['audit', 'verify', '--json'], onPg);
    assert.equal(verify.code, 0, verify.stderr);
    assert.equal(JSON.parse(verify.stdout).checked, 2);
    assert.equal(
      JSON.parse(verify.stdout).log.checkpoint.size,
      2,
      "the copy is the same log: the SQLite store's checkpoint verifies against it",
    );
    // The copy is the store from now on: commands write to PostgreSQL, and its log extends the signed one.
    assert.equal((await vt(['tick', 'churn', 'size-value'], onPg)).code, 0);
    assert.equal((await vt(['audit', 'checkpoint'], onPg)).code, 0);
    assert.equal((await vt(['audit', 'verify'], onPg)).code, 0);
    const status = JSON.parse((await vt(['status', 'churn', '--json'], onPg)).stdout);
    assert.deepEqual(
      status.checklist.filter((c: { ticked: boolean }) => c.ticked).map((c: { id: string }) => c.id),
      ['capture-request', 'size-value'],
    );
    const again = await vt(['db', 'copy', '--from', '.vt/vt.db', '--to', empty]);
    assert.equal(again.code, 2, 'copying into a store that holds events is refused');
    assert.match(again.stderr, /already holds 3 events/);
    const back = join(dir, 'back.db');
    assert.equal((await vt(['db', 'copy', '--from', empty, '--to', back])).code, 0);
    const backVerify = await vt(['audit', 'verify', '--json', '--db', back]);
    assert.equal(backVerify.code, 0, backVerify.stderr);
    assert.equal(JSON.parse(backVerify.stdout).log.checkpoint.size, 3);

    // A PostgreSQL store's backup is a copy to a SQLite file (above), and vt db backup says so.
    const backup = await vt(['db', 'backup', 'b.db'], onPg);
    assert.equal(backup.code, 2);
    assert.match(backup.stderr, /works on a SQLite store\n.*vt db copy --from "\$VT_DATABASE_URL" --to FILE/);

    const role = await vt(['db', 'app-role', 'vt_app']);
    assert.match(role.stdout, /revoke update, delete, truncate on events from vt_app;/);
    assert.equal((await vt(['db', 'app-role', 'vt app; drop table events'])).code, 2);
    const help = await vt(['db', 'copy', '--help']);
    assert.match(help.stdout, /Examples:\n {2}vt db copy --from \.vt\/vt\.db --to postgres:/);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a folder made on PostgreSQL: a command without VT_DATABASE_URL stops, and starts no SQLite store beside it', async () => {
    const dir = tempDir();
    const url = await freshPgUrl();
    const onPg = { VT_DATABASE_URL: url };
    const without = { VT_DATABASE_URL: '' };
    const vt = (args: string[], env: Record<string, string>, cwd = dir) => runVt(args, { cwd, env });
    const init = await vt(['init'], onPg);
    assert.equal(init.code, 0, init.stderr);
    const mark = readFileSync(join(dir, '.vt', 'store'), 'utf8');
    assert.match(mark, /^postgres\n/);
    assert.ok(!mark.includes('127.0.0.1') && !mark.includes('postgres://'), 'the mark names no server');
    assert.equal((await vt(['project', 'create', 'Churn'], onPg)).code, 0);

    // A new shell that forgot the URL: reads and writes stop with the reason, in the folder and below.
    mkdirSync(join(dir, 'notebooks'));
    for (const [args, cwd] of [
      [['status'], dir],
      [['project', 'create', 'Fraud'], dir],
      [['tick', 'churn', 'capture-request'], join(dir, 'notebooks')],
      [['audit', 'verify'], dir],
    ] as const) {
      const r = await vt([...args], without, cwd);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /is on PostgreSQL, and VT_DATABASE_URL is not set/);
      assert.match(r.stderr, /Set VT_DATABASE_URL=postgres:\/\/… \(or pass --db\)/);
    }
    assert.ok(!existsSync(join(dir, '.vt', 'vt.db')), 'no second store was started');
    const list = await vt(['project', 'list', '--json'], onPg);
    assert.deepEqual(
      JSON.parse(list.stdout).map((p: { id: string }) => p.id),
      ['churn'],
      'nothing was written anywhere else',
    );
    assert.equal(
      JSON.parse((await vt(['status', 'churn', '--json'], onPg)).stdout).checklist[0].ticked,
      false,
    );
    // --db names the store as well as the variable does.
    assert.equal((await vt(['status', 'churn', '--db', url], without)).code, 0);
    // A folder whose store moved to .vt/vt.db drops the mark, as the mark itself says.
    const copied = await vt(['db', 'copy', '--from', url, '--to', '.vt/vt.db'], without);
    assert.equal(copied.code, 0, copied.stderr);
    rmSync(join(dir, '.vt', 'store'));
    const local = await vt(['status', 'churn', '--json'], without);
    assert.equal(local.code, 0, local.stderr);
    assert.equal(JSON.parse(local.stdout).id, 'churn');
    rmSync(dir, { recursive: true, force: true });
  });

  it('two autopilot processes share a PostgreSQL store: every ticket done once, every chain verifies', {
    timeout: 600_000,
  }, async () => {
    const dir = tempDir('vt-pg-auto-');
    writeFileSync(join(dir, 'vt.yaml'), autoTrainYaml(3));
    // Gates judge the commit a session recorded: the folder is a git repository with a first commit.
    const g = (...a: string[]) =>
      execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', ...a], {
        stdio: 'ignore',
      });
    g('init', '-q');
    g('add', '-A');
    g('commit', '-qm', 'init');
    const url = await freshPgUrl();
    const env = { VT_DATABASE_URL: url, NO_COLOR: '1' };
    const projects = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'];
    for (const p of projects) {
      assert.equal((await runVt(['project', 'create', p], { cwd: dir, env })).code, 0);
      assert.equal((await runVt(['issue', 'add', 'work', '-p', p], { cwd: dir, env })).code, 0);
    }
    const workers = [1, 2].map(() =>
      spawnCollect([VT_BIN, 'autopilot', '--json', '--concurrency', '2'], {
        cwd: dir,
        env,
      }),
    );
    const results = await Promise.all(workers.map((w) => w.done));
    for (const [i, r] of results.entries()) assert.equal(r.code, 0, workers[i]!.err());
    const store = await openStore(url);
    const tickets = await store.db
      .selectFrom('tickets')
      .select(['id', 'status', 'reason', 'phase'])
      .execute();
    assert.ok(tickets.length >= projects.length);
    assert.deepEqual(
      tickets.filter((t) => t.status !== 'done'),
      [],
    );
    const finished = await store.db
      .selectFrom('events')
      .select('payload')
      .where('type', '=', 'ticket.finished')
      .execute();
    const ids = finished.map((f) => JSON.parse(f.payload).ticket);
    assert.equal(new Set(ids).size, ids.length, 'no ticket finished twice');
    const claimedBy = await store.db
      .selectFrom('events')
      .select('payload')
      .where('type', '=', 'ticket.claimed')
      .execute();
    const by = new Set(claimedBy.map((c) => JSON.parse(c.payload).worker));
    assert.equal((await verifyStore(store.db)).ok, true);
    await store.close();
    assert.ok(by.size >= 1);
    rmSync(dir, { recursive: true, force: true });
  });
});
