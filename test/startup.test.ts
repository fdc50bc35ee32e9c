import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MINI, runVt, tempDir, VT_BIN } from './helpers.ts';

/** Packages a command may load only when it needs them (src/cli/main.ts explains the convention). */
const HEAVY = [
  'kysely',
  'better-sqlite3',
  'zod',
  'yaml',
  'ai',
  '@ai-sdk',
  '@modelcontextprotocol',
  '@octokit',
];

/** Run vt with a module hook that records every module resolved; returns the packages loaded. */
function packagesLoaded(
  args: string[],
  cwd: string,
): { code: number | null; packages: Set<string>; ours: string[] } {
  const dir = tempDir();
  const hook = join(dir, 'hook.mjs');
  const list = join(dir, 'loaded.txt');
  writeFileSync(
    hook,
    `import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const seen = new Set();
registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); seen.add(r.url); return r; } });
process.on('exit', () => writeFileSync(${JSON.stringify(list)}, [...seen].join('\\n')));
`,
  );
  const r = spawnSync(process.execPath, ['--import', hook, VT_BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  const urls = readFileSync(list, 'utf8').split('\n');
  const packages = new Set<string>();
  for (const u of urls) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
    if (m) packages.add(m[1]!);
  }
  return { code: r.status, packages, ours: urls.filter((u) => u.includes('/src/')) };
}

const heavyIn = (packages: Set<string>) =>
  [...packages].filter((p) => HEAVY.some((h) => p === h || p.startsWith(`${h}/`)));

describe('start-up', () => {
  it('vt --help, --version and completion load no heavy module (no store, SDK, zod or yaml)', () => {
    const dir = tempDir();
    for (const args of [['--help'], ['--version'], ['completion', 'bash'], ['project', 'create', '--help']]) {
      const r = packagesLoaded(args, dir);
      assert.equal(r.code, 0, args.join(' '));
      assert.deepEqual(
        heavyIn(r.packages),
        [],
        `vt ${args.join(' ')} loaded ${heavyIn(r.packages).join(', ')}`,
      );
    }
  });

  it('a store command on SQLite loads the store but no SDK, MCP server, YAML, zod, pg or cron-parser', async () => {
    const dir = tempDir();
    cpSync(MINI, join(dir, 'vt.yaml'));
    assert.equal((await runVt(['project', 'create', 'P', '--as', 'lead-1'], { cwd: dir })).code, 0);
    for (const args of [
      ['status', 'p', '--json'],
      ['metric', 'set', 'p', 'auc', '0.5'],
    ]) {
      const r = packagesLoaded(args, dir);
      assert.equal(r.code, 0, args.join(' '));
      assert.ok(r.packages.has('kysely') && r.packages.has('better-sqlite3'), 'the store was used');
      // The stored train is used as stored (no schema), vt.yaml has no integrations block (no YAML),
      // the store is a SQLite file (no pg) and the train has no cron schedule (no cron-parser).
      const unwanted =
        /^(ai|@ai-sdk|@modelcontextprotocol|@octokit|yaml|zod|pg|pg-cursor|cron-parser|luxon)$/;
      const sdk = [...r.packages].filter((p) => unwanted.test(p));
      assert.deepEqual(sdk, [], `vt ${args.join(' ')} loaded ${sdk.join(', ')}`);
      assert.ok(
        !r.ours.some((u) => u.includes('/src/mcp/') || u.includes('/autopilot/github')),
        'no MCP or GitHub code',
      );
    }
  });
});
