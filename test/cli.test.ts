import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { buildProgram, COMMAND_MODULES, commandWord, main } from '../src/cli/main.ts';
import type { Io } from '../src/cli/output.ts';
import { MINI, runVt, tempDir } from './helpers.ts';
import { describeOnBackends } from './pg.ts';

const silent: Io = { out: () => {}, err: () => {}, isTTY: false, env: {} };

/** Every command path in the CLI, e.g. ['project', 'create']. */
async function commandPaths(): Promise<string[][]> {
  const out: string[][] = [];
  const walk = (cmd: Command, prefix: string[]) => {
    for (const c of cmd.commands) {
      const path = [...prefix, c.name()];
      out.push(path);
      if (c.commands.length) walk(c, path);
    }
  };
  walk(await buildProgram(silent, async () => {}), []);
  return out;
}

describeOnBackends('cli', () => {
  describe('the CLI', () => {
    it('builds only the commands of the module named; COMMAND_MODULES names exactly what each module registers', async () => {
      const all = new Set<string>();
      for (const m of COMMAND_MODULES) {
        const p = new Command('vt');
        m.register(p, (fn) => fn as never);
        assert.deepEqual(
          p.commands.map((c) => c.name()).sort(),
          [...m.commands].sort(),
          `the module listed for ${m.commands.join(', ')}`,
        );
        for (const c of m.commands) {
          assert.ok(!all.has(c), `${c} is listed twice`);
          all.add(c);
        }
      }
      const full = await buildProgram(silent, async () => {});
      assert.deepEqual(full.commands.map((c) => c.name()).sort(), [...all].sort());
      assert.equal(commandWord(full, ['--db', 'x.db', '-C', 'dir', '--json', 'status', 'p']), 'status');
      assert.equal(commandWord(full, ['--db=x.db', '--as', 'lead-1', 'metric', 'set']), 'metric');
      assert.equal(commandWord(full, ['--help']), null);
      const one = await buildProgram(silent, async () => {}, ['--as', 'x', 'status', 'p']);
      assert.deepEqual(one.commands.map((c) => c.name()).sort(), ['project', 'status']);
    });

    it('every command, group and subcommand has help text with a description and an example, and exits 0 for --help', async () => {
      const paths = await commandPaths();
      assert.ok(paths.length >= 30, `${paths.length} commands`);
      for (const p of paths) {
        let out = '';
        let err = '';
        const io: Io = { out: (t) => (out += t), err: (t) => (err += t), isTTY: false, env: {} };
        const code = await main([...p, '--help'], io);
        assert.equal(code, 0, `${p.join(' ')} --help: ${err}`);
        assert.match(out, /^Usage: vt /m, p.join(' '));
        assert.ok(out.split('\n').length > 3, `${p.join(' ')} has a description`);
        assert.match(out, /^Examples?\b.*:?$/m, `${p.join(' ')} --help shows an example`);
        assert.match(out, /\n {2}(\S+=\S+ )*(vt |source |id=)/, `${p.join(' ')}: the example runs vt`);
      }
    });

    it('a mistyped command gets "did you mean" and exit 2, with --help too; exit codes are documented', async () => {
      const dir = tempDir();
      const r = await runVt(['statsu'], { cwd: dir });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /Did you mean status\?/);
      // An unknown command with --help is a usage error, not the top-level help with exit 0.
      const withHelp = await runVt(['statsu', '--help'], { cwd: dir });
      assert.equal(withHelp.code, 2);
      assert.equal(withHelp.stdout, '');
      assert.match(withHelp.stderr, /unknown command "vt statsu"[\s\S]*Did you mean status\?/);
      const sub = await runVt(['--as', 'x', 'project', 'lsit', '--help'], { cwd: dir });
      assert.equal(sub.code, 2);
      assert.match(sub.stderr, /unknown command "vt project lsit"[\s\S]*Did you mean list\?/);
      const version = await runVt(['--version'], { cwd: dir });
      assert.equal(version.code, 0);
      assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
      const codes = await runVt(['help', 'exit-codes'], { cwd: dir });
      assert.equal(codes.code, 0);
      assert.match(codes.stdout, /1 +a negative verdict/);
      assert.match(codes.stdout, /5 +no space left/);
    });

    it('stdout carries data only; errors are JSON with --json; tables are tab-separated when piped', async () => {
      const dir = tempDir();
      cpSync(MINI, join(dir, 'vt.yaml'));
      const created = await runVt(['project', 'create', 'Alpha Beta', '--as', 'lead-1'], { cwd: dir });
      assert.equal(created.stdout, 'alpha-beta\n');
      const bad = await runVt(['tick', 'alpha-beta', 'nope', '--json'], { cwd: dir });
      assert.equal(bad.code, 2);
      assert.equal(bad.stdout, '');
      const err = JSON.parse(bad.stderr);
      assert.equal(err.error.code, 'BAD_INPUT');
      assert.match(err.error.hint, /Items: asked, sized, extra/);
      const list = await runVt(['project', 'list'], { cwd: dir });
      const cols = list.stdout.trim().split('\t');
      assert.equal(cols[0], 'alpha-beta');
      assert.match(cols.at(-1)!, /^\d{4}-\d\d-\d\dT/);
      const missing = await runVt(['status', 'nobody'], { cwd: dir });
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /no project "nobody"/);
      const denied = await runVt(['approve', 'alpha-beta', '--as', 'rev-1'], { cwd: dir });
      assert.equal(denied.code, 4);
    });

    it('titles with control characters, ANSI escapes and shell metacharacters are stored as data and printed safely', async () => {
      const dir = tempDir();
      cpSync(MINI, join(dir, 'vt.yaml'));
      const name = 'x\u001b[31mred\u001b[0m $(touch pwned) `id`; rm -rf /';
      const r = await runVt(['project', 'create', name, '--id', 'hostile', '--as', 'lead-1'], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      const s = await runVt(['status', 'hostile'], { cwd: dir });
      assert.ok(!s.stdout.includes('\u001b'), 'no escape sequence reaches the terminal');
      assert.match(s.stdout, /\$\(touch pwned\)/);
      const { existsSync } = await import('node:fs');
      assert.equal(existsSync(join(dir, 'pwned')), false);
    });
  });
});
