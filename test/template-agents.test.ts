// The built-in train with agents: every role has work, every phase's instructions tell an agent what
// it needs (its files, its metrics, and only tools its mode allows), and `vt init --agents` writes the
// executors without touching the rest of the file.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { resolveExecutor } from '../src/agents/dispatch.ts';
import { PEOPLE_PHASES, TEMPLATES_DIR } from '../src/cli/commands/setup.ts';
import { lintTrain } from '../src/train/lint.ts';
import { parseTrain } from '../src/train/loader.ts';
import { folderStore, runVt, tempDir } from './helpers.ts';
import { describeOnBackends, rawStore } from './pg.ts';

const TEMPLATE = readFileSync(join(TEMPLATES_DIR, 'ml-value-train.yaml'), 'utf8');
const { train } = parseTrain(TEMPLATE, 'ml-value-train.yaml');
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the built-in train, worked by agents', () => {
  it('gives every role work: Studio designs the model and co-works training and deployment', () => {
    for (const role of train.roles) {
      const owns = train.phases.filter((p) => p.owner === role.id).map((p) => p.id);
      const supports = train.phases.filter((p) => p.support?.includes(role.id)).map((p) => p.id);
      assert.ok(owns.length + supports.length > 0, `${role.id} has no phase`);
    }
    const phase = (id: string) => train.phases.find((p) => p.id === id)!;
    assert.deepEqual(
      [phase('model-architecture').owner, phase('model-architecture').support],
      ['studio', ['lab']],
    );
    assert.deepEqual([phase('training').owner, phase('training').support], ['lab', ['studio']]);
    assert.deepEqual([phase('deployment').owner, phase('deployment').support], ['ops', ['studio']]);
  });

  it("names, in each phase's instructions, the files to write and the metrics to record, and asks only for allowed tools", () => {
    for (const p of train.phases) {
      const text = p.instructions ?? '';
      const mode = train.modes.find((m) => m.id === p.mode)!;
      for (const a of p.artifacts.filter((x) => x.required))
        assert.ok(text.includes(a.path), `${p.id}: the instructions name ${a.path}`);
      for (const m of p.metrics)
        assert.ok(text.includes(m), `${p.id}: the instructions name the metric ${m}`);
      if (/\b(in context|as an? (fact|decision|risk)|as (facts|risks|decisions))\b/.test(text))
        assert.ok(
          mode.allowed_tools.includes('add_context'),
          `${p.id} asks for context, so mode ${mode.id} allows add_context`,
        );
      if (p.artifacts.some((a) => a.required))
        assert.ok(
          mode.allowed_tools.includes('write_files'),
          `${p.id} has files to write, so mode ${mode.id} allows it`,
        );
      if (p.metrics.length)
        assert.ok(
          mode.allowed_tools.includes('record_metric'),
          `${p.id} records metrics, so mode ${mode.id} allows it`,
        );
      for (const s of p.support ?? [])
        assert.match(
          text,
          new RegExp(`${train.roles.find((r) => r.id === s)!.name} supports`),
          `${p.id} says what ${s} does`,
        );
    }
  });
});

describeOnBackends('vt init --agents', () => {
  it('writes the agent as every role’s executor, keeps people on the phases that need them, and changes nothing else', async () => {
    const dir = tempDir('vt-init-agents-');
    dirs.push(dir);
    const r = await runVt(['init', '--agents', 'codex', '--as', 'ana'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /every role is worked by codex/);
    const text = readFileSync(join(dir, 'vt.yaml'), 'utf8');
    const loaded = parseTrain(text, join(dir, 'vt.yaml'));
    assert.deepEqual(lintTrain(loaded), []);
    for (const p of loaded.train.phases) {
      const role = loaded.train.roles.find((x) => x.id === p.owner)!;
      const spec = resolveExecutor(p, role, 'churn', {});
      if (PEOPLE_PHASES.includes(p.id)) assert.deepEqual(spec, { kind: 'human' }, p.id);
      else
        assert.deepEqual([spec.kind, spec.kind === 'cli-agent' && spec.preset], ['cli-agent', 'codex'], p.id);
    }
    // Every line of the template is still there, in order: the executors are insertions only.
    const lines = text.split('\n');
    let at = 0;
    for (const line of TEMPLATE.split('\n').filter((l) => l !== 'people: {}')) {
      const found = lines.indexOf(line, at);
      assert.ok(found >= 0, `kept: ${line}`);
      at = found + 1;
    }
    assert.equal(
      text.match(/^ {4}executor: \{ kind: cli-agent, preset: codex \}$/gm)?.length,
      train.roles.length,
    );
  });

  it('takes an llm executor, and refuses a name it does not know without writing anything', async () => {
    const dir = tempDir('vt-init-agents-');
    dirs.push(dir);
    const ok = await runVt(
      ['init', '--agents', 'llm:openai-compatible:qwen2.5:7b@http://127.0.0.1:11434/v1'],
      { cwd: dir },
    );
    assert.equal(ok.code, 0, ok.stderr);
    const loaded = parseTrain(readFileSync(join(dir, 'vt.yaml'), 'utf8'), 'vt.yaml');
    assert.deepEqual(loaded.train.roles[0]!.executor, {
      kind: 'llm',
      provider: 'openai-compatible',
      model: 'qwen2.5:7b',
      base_url: 'http://127.0.0.1:11434/v1',
      max_steps: 20,
      timeout_s: 1800,
    });
    const empty = tempDir('vt-init-agents-');
    dirs.push(empty);
    const bad = await runVt(['init', '--agents', 'emacs'], { cwd: empty });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--agents="emacs" is not an executor/);
    assert.throws(() => readFileSync(join(empty, 'vt.yaml')), /ENOENT/);
    // Nor the store: no .vt/vt.db, or on PostgreSQL not one table in the folder's database.
    const target = await folderStore(empty);
    if (!target.startsWith('postgres')) assert.equal(existsSync(target), false);
    else {
      const db = await rawStore(target);
      try {
        const tables = await db.all(
          'select table_name from information_schema.tables where table_schema = current_schema()',
        );
        assert.deepEqual(tables, []);
      } finally {
        await db.close();
      }
    }
  });
});
