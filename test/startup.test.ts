import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { stateSourceDigest } from '../src/store/snapshots.ts';
import { MINI, ROOT, runVt, tempDir, VT_BIN } from './helpers.ts';
import { dropTestDatabases, freshPgUrl } from './pg.ts';

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

/** A chunk the built package's launcher compiled, and how V8 took the code cache it was given. */
interface Compiled {
  file: string;
  cache: 'none' | 'accepted' | 'rejected';
}

/**
 * Run `bin` (a vt launcher) under a module hook: the URLs of the modules it loaded, in order (with
 * the chunks the built package's launcher compiles itself, as vm.Scripts), the built-in modules
 * Node loaded for it, and what became of each chunk's code cache.
 */
function runRecorded(
  bin: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): { code: number | null; stderr: string; urls: string[]; builtins: string[]; compiled: Compiled[] } {
  const dir = tempDir();
  const hook = join(dir, 'hook.mjs');
  const list = join(dir, 'loaded.json');
  writeFileSync(
    hook,
    `import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
const urls = [];
const compiled = [];
registerHooks({ load(url, ctx, next) { urls.push(url); return next(url, ctx); } });
const Script = vm.Script;
vm.Script = class extends Script {
  constructor(code, options) {
    super(code, options);
    urls.push(pathToFileURL(options.filename).href);
    const cache = !options.cachedData ? 'none' : this.cachedDataRejected ? 'rejected' : 'accepted';
    compiled.push({ file: options.filename, cache });
  }
};
process.on('exit', () => writeFileSync(${JSON.stringify(list)}, JSON.stringify({ urls, compiled, builtins: process.moduleLoadList })));
`,
  );
  const r = spawnSync(process.execPath, ['--import', hook, bin, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  const seen = JSON.parse(readFileSync(list, 'utf8')) as {
    urls: string[];
    compiled: Compiled[];
    builtins: string[];
  };
  return {
    code: r.status,
    stderr: r.stderr,
    urls: seen.urls.filter((u) => u !== pathToFileURL(hook).href),
    builtins: seen.builtins.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)),
    compiled: seen.compiled,
  };
}

/** Run vt from the checkout; the packages it loaded. */
function packagesLoaded(
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): { code: number | null; packages: Set<string>; ours: string[] } {
  const { code, urls } = runRecorded(VT_BIN, args, cwd, env);
  const packages = new Set<string>();
  for (const u of urls) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
    if (m) packages.add(m[1]!);
  }
  return { code, packages, ours: urls.filter((u) => u.includes('/src/')) };
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

  it('a store command on PostgreSQL loads pg but not better-sqlite3, an SDK, an MCP server, YAML, zod or cron-parser', async () => {
    const dir = tempDir();
    cpSync(MINI, join(dir, 'vt.yaml'));
    const env = { VT_DATABASE_URL: await freshPgUrl() };
    after(dropTestDatabases);
    assert.equal((await runVt(['project', 'create', 'P', '--as', 'lead-1'], { cwd: dir, env })).code, 0);
    for (const args of [
      ['status', 'p', '--json'],
      ['metric', 'set', 'p', 'auc', '0.5'],
    ]) {
      const r = packagesLoaded(args, dir, env);
      assert.equal(r.code, 0, args.join(' '));
      assert.ok(r.packages.has('kysely') && r.packages.has('pg'), 'the store was used');
      const unwanted =
        /^(ai|@ai-sdk|@modelcontextprotocol|@octokit|yaml|zod|better-sqlite3|cron-parser|luxon)$/;
      const sdk = [...r.packages].filter((p) => unwanted.test(p));
      assert.deepEqual(sdk, [], `vt ${args.join(' ')} loaded ${sdk.join(', ')}`);
      assert.ok(!existsSync(join(dir, '.vt', 'vt.db')), 'no SQLite store beside the PostgreSQL one');
    }
  });
});

/**
 * The package as installed runs JavaScript built by scripts/build.ts. What keeps its start-up short
 * is structural, so it is checked as structure, not as time: a command loads a handful of files,
 * and the built-ins it never uses are not loaded (docs/benchmarks.md has the timings).
 */
describe('start-up of the built package', () => {
  const pkg = join(tempDir('vt-built-'), 'value-train');
  const project = tempDir();
  before(async () => {
    mkdirSync(pkg);
    for (const f of ['bin', 'templates', 'package.json'])
      cpSync(join(ROOT, f), join(pkg, f), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
    const built = spawnSync(
      process.execPath,
      [join(ROOT, 'scripts', 'build.ts'), '--out', join(pkg, 'dist')],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(built.status, 0, built.stderr);
    cpSync(MINI, join(project, 'vt.yaml'));
    const made = spawnSync(
      process.execPath,
      [join(pkg, 'bin', 'vt.js'), 'project', 'create', 'P', '--as', 'lead-1'],
      { cwd: project, encoding: 'utf8', env: { ...process.env, XDG_CACHE_HOME: cacheHome } },
    );
    assert.equal(made.status, 0, made.stderr);
  });

  // The launcher's code cache, kept out of the home folder.
  const cacheHome = tempDir();

  /** Run the built vt; the files it loaded and the built-in modules Node loaded for it. */
  function loaded(args: string[]): { files: string[]; builtins: string[] } {
    const r = runRecorded(join(pkg, 'bin', 'vt.js'), args, project, { XDG_CACHE_HOME: cacheHome });
    assert.equal(r.code, 0, `vt ${args.join(' ')}: ${r.stderr}`);
    return {
      files: r.urls
        .filter((u) => u.startsWith('file:'))
        // node_modules is a link to the checkout's, so its files are named from node_modules/ on
        .map((u) =>
          u.includes('/node_modules/')
            ? u.slice(u.indexOf('/node_modules/') + 1)
            : u.slice(u.indexOf('/value-train/') + 13),
        ),
      builtins: r.builtins,
    };
  }
  // node:net is not among them: stdout and stderr are pipes here, which Node opens as sockets.
  const UNUSED_BY_HELP = ['crypto', 'child_process', 'fs/promises', 'readline', 'worker_threads', 'zlib'];

  it("keys stored snapshots by the digest of the sources' state code, as the checkout does", () => {
    // The package has no sources to read: without the digest built in, every package version would
    // share one snapshot shape and reuse snapshots folded by different code.
    const chunks = join(pkg, 'dist', 'chunks');
    const text = readdirSync(chunks)
      .map((f) => readFileSync(join(chunks, f), 'utf8'))
      .join('\n');
    assert.ok(
      text.includes(JSON.stringify(stateSourceDigest())),
      'the digest of src/engine/state.ts is built in',
    );
  });

  it('vt --help loads the entry and one chunk of commands, and no built-in it does not use', () => {
    const r = loaded(['--help']);
    assert.ok(r.files.length <= 4, `vt --help loaded ${r.files.length} files: ${r.files.join(', ')}`);
    assert.ok(
      r.files.every((f) => f.startsWith('bin/') || f.startsWith('dist/')),
      r.files.join(', '),
    );
    const extra = UNUSED_BY_HELP.filter((m) => r.builtins.includes(m));
    assert.deepEqual(extra, [], `vt --help loaded node:${extra.join(', node:')}`);
  });

  it('a store command loads a few chunks and one file of better-sqlite3, and no child_process', () => {
    for (const args of [
      ['status', 'p', '--json'],
      ['metric', 'set', 'p', 'auc', '0.5'],
    ]) {
      const r = loaded(args);
      assert.ok(
        r.files.length <= 8,
        `vt ${args.join(' ')} loaded ${r.files.length} files: ${r.files.join(', ')}`,
      );
      const outside = r.files.filter((f) => !f.startsWith('bin/') && !f.startsWith('dist/'));
      assert.deepEqual(outside, ['node_modules/better-sqlite3/lib/binding.js'], `vt ${args.join(' ')}`);
      const extra = ['child_process', 'readline', 'worker_threads'].filter((m) => r.builtins.includes(m));
      assert.deepEqual(extra, [], `vt ${args.join(' ')} loaded node:${extra.join(', node:')}`);
    }
  });

  /** Run the built vt with its code cache under `home`: exit code, stderr, what became of each chunk's cache. */
  function cached(home: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    const r = runRecorded(join(pkg, 'bin', 'vt.js'), args, project, { XDG_CACHE_HOME: home, ...env });
    assert.equal(r.code, 0, `vt ${args.join(' ')}: ${r.stderr}`);
    return new Map(r.compiled.map((c) => [basename(c.file), c.cache]));
  }
  const cacheFolder = (home: string) => {
    const code = join(home, 'value-train', 'code');
    const [only, ...more] = readdirSync(code);
    assert.ok(only && more.length === 0, 'one folder for this install and Node');
    return join(code, only);
  };
  const metricSet = ['metric', 'set', 'p', 'auc', '0.5'];
  /** The cache file of a chunk (the entry's is named by a hash of its text). */
  const cacheOf = (folder: string, chunk: string) =>
    join(
      folder,
      chunk === 'vt.cjs'
        ? readdirSync(folder).find((f) => /^vt-[0-9a-f]+\.cjs\.cache$/.test(f))!
        : `${chunk}.cache`,
    );

  it('keeps the code cache a run wrote and uses it on the next run of the command', () => {
    const home = tempDir();
    const first = cached(home, metricSet);
    assert.ok(first.size >= 3, [...first.keys()].join(', '));
    assert.deepEqual(new Set(first.values()), new Set(['none']), 'no cache on the first run');
    const folder = cacheFolder(home);
    assert.equal(statSync(folder).mode & 0o777, 0o700, "the cache folder is the user's alone");
    for (const chunk of first.keys()) {
      const file = cacheOf(folder, chunk);
      assert.ok(existsSync(file), `${chunk} has a cache`);
      assert.equal(statSync(file).mode & 0o777, 0o600);
    }
    const second = cached(home, metricSet);
    assert.deepEqual([...second.keys()], [...first.keys()]);
    assert.deepEqual(new Set(second.values()), new Set(['accepted']), JSON.stringify([...second]));
    // Another command adds what it compiled; the chunks the first one wrote are still taken.
    const status = cached(home, ['status', 'p', '--json']);
    assert.deepEqual(new Set(status.values()), new Set(['accepted']), JSON.stringify([...status]));
    assert.deepEqual(readFileSync(join(folder, 'commands'), 'utf8').split('\n'), ['metric set', 'status']);
  });

  it('a damaged cache is rejected and written anew; the command runs as without one', () => {
    const home = tempDir();
    const first = cached(home, metricSet);
    const folder = cacheFolder(home);
    const chunks = [...first.keys()];
    // One file truncated, the others overwritten with bytes of the same length.
    chunks.forEach((chunk, i) => {
      const file = cacheOf(folder, chunk);
      const size = statSync(file).size;
      writeFileSync(file, i === 0 ? readFileSync(file).subarray(0, size >> 1) : Buffer.alloc(size, 0x5a));
    });
    const damaged = cached(home, metricSet);
    assert.deepEqual(new Set(damaged.values()), new Set(['rejected']), JSON.stringify([...damaged]));
    const again = cached(home, metricSet);
    assert.deepEqual(new Set(again.values()), new Set(['accepted']), JSON.stringify([...again]));
  });

  it('a cache of chunks this install no longer has, or a half-written file, is removed when the cache is written', () => {
    const home = tempDir();
    cached(home, metricSet);
    const folder = cacheFolder(home);
    writeFileSync(join(folder, 'core-0ld0ld00.cjs.cache'), 'from an earlier version');
    writeFileSync(join(folder, 'commands.4242'), 'left by a writer that was killed');
    cached(home, ['status', 'p', '--json']); // a command the cache has not seen: it is written
    assert.ok(!existsSync(join(folder, 'core-0ld0ld00.cjs.cache')));
    assert.ok(!existsSync(join(folder, 'commands.4242')));
    assert.ok(
      readdirSync(folder).some((f) => /^core-.*\.cjs\.cache$/.test(f)),
      "this build's core stays",
    );
  });

  it('after an upgrade in place, runs the new code, not the cache of the old', () => {
    // V8 takes a cache made from any source of the same length. The chunks' names are hashes of
    // their content; the entry's is fixed, so its cache is named by a hash of its text.
    const copy = join(tempDir('vt-upgraded-'), 'value-train');
    cpSync(pkg, copy, { recursive: true });
    const home = tempDir();
    const run = () => runRecorded(join(copy, 'bin', 'vt.js'), metricSet, project, { XDG_CACHE_HOME: home });
    assert.equal(run().code, 0);
    assert.equal(run().compiled.find((c) => basename(c.file) === 'vt.cjs')?.cache, 'accepted');
    // The new version's entry: the same length, and its main answers 42.
    const entry = join(copy, 'dist', 'vt.cjs');
    const text = readFileSync(entry, 'utf8');
    const line = 'exports.main = require_cli.main;';
    assert.ok(text.includes(line), text);
    writeFileSync(entry, text.replace(line, 'exports.main = async () => 42;'.padEnd(line.length)));
    assert.equal(readFileSync(entry, 'utf8').length, text.length);
    const upgraded = run();
    assert.equal(upgraded.code, 42, 'the new code ran');
    assert.equal(upgraded.compiled.find((c) => basename(c.file) === 'vt.cjs')?.cache, 'none');
  });

  it('runs without a cache where none can be written, or with NODE_DISABLE_COMPILE_CACHE', () => {
    const home = tempDir();
    const blocked = join(home, 'a-file');
    writeFileSync(blocked, '');
    for (let i = 0; i < 2; i++) {
      const r = cached(blocked, metricSet);
      assert.deepEqual(new Set(r.values()), new Set(['none']));
    }
    const off = tempDir();
    for (let i = 0; i < 2; i++) cached(off, metricSet, { NODE_DISABLE_COMPILE_CACHE: '1' });
    assert.deepEqual(readdirSync(off), [], 'nothing written');
  });
});
