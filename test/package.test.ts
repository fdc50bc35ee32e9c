import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ROOT, tempDir } from './helpers.ts';
import { dropTestDatabases, freshPgUrl } from './pg.ts';

/**
 * The package as people get it: `npm pack` (which builds dist/), installed globally into an empty
 * prefix with only Node on PATH and no checkout in sight, then run from an empty folder.
 */
describe('the npm package', () => {
  after(dropTestDatabases);
  it('installs from its tarball and runs: vt --version, vt demo, vt audit verify, and a store on PostgreSQL', async () => {
    const work = tempDir('vt-pack-');
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    for (const k of Object.keys(env)) if (k.startsWith('VT_') || k.startsWith('npm_')) delete env[k];
    const pack = spawnSync('npm', ['pack', '--json', '--pack-destination', work], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
    });
    assert.equal(pack.status, 0, pack.stderr);
    const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as {
      filename: string;
      files: { path: string }[];
    }[];
    const files = info!.files.map((f) => f.path);
    assert.ok(files.includes('dist/vt.cjs'), 'the built CLI is in the package');
    assert.ok(files.includes('dist/examples/penguins/steps/run.js'), 'the demo steps are built');
    assert.ok(files.includes('templates/ml-value-train.yaml'));
    assert.ok(!files.some((f) => f.startsWith('src/') || f.endsWith('.ts')), 'no TypeScript ships');

    // Install with only this Node on PATH (plus the system's tools), from an unrelated folder.
    const prefix = join(work, 'prefix');
    const nodeBin = dirname(process.execPath);
    const cache = join(work, 'cache');
    const clean: NodeJS.ProcessEnv = {
      ...env,
      PATH: `${join(prefix, 'bin')}:${nodeBin}:/usr/bin:/bin`,
      XDG_CACHE_HOME: cache, // the launcher's code cache (bin/vt.js)
    };
    const install = spawnSync(
      'npm',
      [
        'install',
        '-g',
        '--prefix',
        prefix,
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        join(work, info!.filename),
      ],
      { cwd: work, env: clean, encoding: 'utf8', timeout: 540_000 },
    );
    assert.equal(install.status, 0, install.stderr);
    const vt = join(prefix, 'bin', 'vt');
    assert.ok(existsSync(vt) && existsSync(join(prefix, 'bin', 'value-train')));

    const home = join(work, 'home');
    mkdirSync(home);
    const run = (args: string[], cwd: string) =>
      spawnSync(vt, args, { cwd, env: clean, encoding: 'utf8', timeout: 540_000 });
    const version = run(['--version'], home);
    assert.equal(version.status, 0, version.stderr);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(version.stdout.trim(), pkg.version);

    const demo = run(['demo', '--dir', 'd'], home);
    assert.equal(demo.status, 0, `${demo.stderr.slice(-3000)}`);
    assert.match(demo.stderr, /18\/18 phases done/);
    const verify = run(['audit', 'verify'], join(home, 'd'));
    assert.equal(verify.status, 0, verify.stderr);
    assert.match(verify.stderr, /events in 1 chain; \d+ decisions \(\d+ signed\) verify/);
    const doctor = run(['doctor', '--json'], join(home, 'd'));
    assert.equal(
      JSON.parse(doctor.stdout)
        .checks.find((c: { check: string }) => c.check === 'vt')
        .message.includes('built package'),
      true,
    );
    // The same install on a PostgreSQL store: the bundled pg driver, migrations and the bounded verify.
    const onPg = join(home, 'pg');
    mkdirSync(onPg);
    const pgEnv = { ...clean, VT_DATABASE_URL: await freshPgUrl() };
    const pgRun = (args: string[]) => {
      const r = spawnSync(vt, args, { cwd: onPg, env: pgEnv, encoding: 'utf8', timeout: 540_000 });
      assert.equal(r.status, 0, `vt ${args.join(' ')}: ${r.stderr}`);
      return r;
    };
    pgRun(['init', '--as', 'lead-1']);
    pgRun(['project', 'create', 'Churn', '--as', 'lead-1']);
    assert.equal(JSON.parse(pgRun(['status', 'churn', '--json']).stdout).id, 'churn');
    assert.equal(JSON.parse(pgRun(['db', 'status', '--json']).stdout).kind, 'postgres');
    assert.match(pgRun(['audit', 'verify']).stderr, /events in 1 chain/);
    assert.ok(!existsSync(join(onPg, '.vt', 'vt.db')), 'no SQLite store beside the PostgreSQL one');
    // The commands above kept V8's code for the next run, in the user's cache folder.
    const code = join(cache, 'value-train', 'code');
    const [folder] = readdirSync(code);
    assert.ok(folder && readdirSync(join(code, folder)).some((f) => /^core-.*\.cjs\.cache$/.test(f)));
  });
});
