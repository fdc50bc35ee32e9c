import assert from 'node:assert/strict';
import { linkSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { verifyStore } from '../src/audit/audit.ts';
import { VtError } from '../src/errors.ts';
import { dumpProjections, rebuildProjections } from '../src/store/projector.ts';
import { freshEngine, removeAtExit, writeFile } from './helpers.ts';
import { describeOnBackends } from './pg.ts';

const lab = { actor: 'lab-1' };
const lead1 = { actor: 'lead-1' };
const lead2 = { actor: 'lead-2' };

async function throwsCode(p: Promise<unknown>, code: string, re?: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof VtError, `expected VtError, got ${e}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

/** Create the mini project and pass triage (lab-1 works, lead-2 approves). */
async function pastTriage() {
  const f = await freshEngine();
  await f.engine.createProject({ name: 'Churn', workspace: f.dir, train: f.train }, lead1);
  for (const item of ['asked', 'sized']) await f.engine.tick('churn', item, null, lab);
  writeFile(f.dir, 'docs/brief.md', '# Brief\n');
  await f.engine.addArtifact('churn', 'brief', undefined, lab);
  await f.engine.approve('churn', lead2);
  const a = await f.engine.advance('churn', lead1);
  assert.equal(a.outcome.outcome, 'advanced');
  return f;
}

describeOnBackends('engine', () => {
  it('creates a project pinned to the train hash, in the first phase', async () => {
    const f = await freshEngine();
    const c = await f.engine.createProject({ name: 'Churn model', workspace: f.dir, train: f.train }, lead1);
    assert.equal(c.state.id, 'churn-model');
    assert.equal(c.state.phase, 'triage');
    assert.equal(c.state.trainHash, f.train.hash);
    await throwsCode(
      f.engine.createProject({ name: 'Churn model', workspace: f.dir, train: f.train }, lead1),
      'CONFLICT',
    );
    await throwsCode(
      f.engine.createProject({ id: 'Bad Id', name: 'x', workspace: f.dir, train: f.train }, lead1),
      'BAD_INPUT',
    );
  });

  it('refuses to advance until every exit gate passes, then moves on', async () => {
    const f = await freshEngine();
    await f.engine.createProject({ name: 'Churn', workspace: f.dir, train: f.train }, lead1);
    const first = await f.engine.advance('churn', lead1);
    assert.equal(first.outcome.outcome, 'stayed');
    assert.deepEqual(
      first.results.map((r) => [r.gate, r.status]),
      [
        ['done', 'fail'],
        ['files', 'fail'],
        ['go', 'fail'],
      ],
    );
    for (const item of ['asked', 'sized']) await f.engine.tick('churn', item, null, lab);
    writeFile(f.dir, 'docs/brief.md', '# Brief\n');
    await f.engine.addArtifact('churn', 'brief', undefined, lab);
    await f.engine.approve('churn', lead2);
    const second = await f.engine.advance('churn', lead1);
    assert.deepEqual(second.outcome, {
      outcome: 'advanced',
      from: 'triage',
      to: 'build',
      kind: 'advance',
      reason: null,
    });
    assert.equal(second.state.visit, 2);
  });

  it('keeps a ticked item ticked unless it is reopened with a recorded reason', async () => {
    const f = await freshEngine();
    await f.engine.createProject({ name: 'Churn', workspace: f.dir, train: f.train }, lead1);
    await f.engine.tick('churn', 'asked', null, lab);
    const again = await f.engine.tick('churn', 'asked', null, lab);
    assert.equal(again.events.length, 0, 'ticking twice appends nothing');
    await throwsCode(f.engine.reopenItem('churn', 'asked', '  ', lab), 'BAD_INPUT', /reason/);
    const r = await f.engine.reopenItem('churn', 'asked', 'sponsor changed the question', lab);
    assert.equal(r.events[0]!.type, 'checklist.reopened');
    const check = await f.engine.checkGates('churn', lab);
    const done = check.results.find((x) => x.gate === 'done')!;
    assert.deepEqual(done.evidence.reopened, ['asked']);
    await throwsCode(f.engine.tick('churn', 'nope', null, lab), 'BAD_INPUT', /not on the checklist/);
  });

  it('refuses approval by someone who did the work, by a non-member, and after the evidence changed', async () => {
    const f = await freshEngine();
    await f.engine.createProject({ name: 'Churn', workspace: f.dir, train: f.train }, lead1);
    await f.engine.tick('churn', 'asked', null, lead1);
    await f.engine.tick('churn', 'sized', null, lab);
    writeFile(f.dir, 'docs/brief.md', '# Brief\n');
    await f.engine.addArtifact('churn', 'brief', undefined, lab);
    await throwsCode(f.engine.approve('churn', lead1), 'NOT_PERMITTED', /did work/);
    await throwsCode(f.engine.approve('churn', { actor: 'rev-1' }), 'NOT_PERMITTED', /needs the role lead/);
    await f.engine.approve('churn', lead2);
    assert.equal((await f.engine.checkGates('churn', lab)).passed, true);
    // The brief changes after approval: the approval no longer counts.
    writeFile(f.dir, 'docs/brief.md', '# Brief v2\n');
    await f.engine.addArtifact('churn', 'brief', undefined, lab);
    const after = await f.engine.checkGates('churn', lab);
    const go = after.results.find((r) => r.gate === 'go')!;
    assert.equal(go.status, 'fail');
    assert.match(go.message, /predate changed evidence/);
  });

  it('a rejection fails the approval gate', async () => {
    const f = await freshEngine();
    await f.engine.createProject({ name: 'Churn', workspace: f.dir, train: f.train }, lead1);
    await throwsCode(f.engine.reject('churn', lead2, { reason: '' }), 'BAD_INPUT');
    await f.engine.reject('churn', lead2, { reason: 'no baseline' });
    const go = (await f.engine.checkGates('churn', lab)).results.find((r) => r.gate === 'go')!;
    assert.equal(go.status, 'fail');
    assert.match(go.message, /rejected by lead-2 \(no baseline\)/);
  });

  it('artifacts gate: recorded, unchanged, non-empty, and valid against JSON Schema and CSV columns', async () => {
    const f = await pastTriage();
    await f.engine.tick('churn', 'trained', null, lab);
    writeFile(f.dir, 'reports/report.json', '{"auc":"high"}');
    await f.engine.addArtifact('churn', 'report', undefined, lab);
    let files = (await f.engine.checkGates('churn', lab)).results.find((r) => r.gate === 'files')!;
    assert.equal(files.status, 'fail');
    assert.match(files.message, /JSON Schema at auc/);
    writeFile(f.dir, 'reports/report.json', '{"auc":0.9}');
    files = (await f.engine.checkGates('churn', lab)).results.find((r) => r.gate === 'files')!;
    assert.match(files.message, /changed since it was recorded/);
    await f.engine.addArtifact('churn', 'report', undefined, lab);
    files = (await f.engine.checkGates('churn', lab)).results.find((r) => r.gate === 'files')!;
    assert.equal(files.status, 'pass', files.message);
    // The optional table is checked when a gate names it through the artifact's validators.
    writeFile(f.dir, 'data/table.csv', 'id,score\n1,0.5\n');
    await f.engine.addArtifact('churn', 'table', undefined, lab);
    const { validateContent } = await import('../src/gates/validators.ts');
    assert.equal(
      validateContent({ kind: 'csv-columns', columns: ['id', 'label'] }, 10, 'id,score\n'),
      'CSV lacks column label',
    );
    writeFile(f.dir, 'empty.txt', '');
  });

  it('metric, all and any gates: an error for a missing metric, a pass through either branch', async () => {
    const f = await pastTriage();
    await f.engine.tick('churn', 'trained', null, lab);
    writeFile(f.dir, 'reports/report.json', '{"auc":0.9}');
    await f.engine.addArtifact('churn', 'report', undefined, lab);
    let q = (await f.engine.checkGates('churn', lab)).results.find((r) => r.gate === 'quality')!;
    assert.equal(q.status, 'error');
    assert.match(q.children![0]!.message, /metric auc was not recorded/);
    await f.engine.setMetric('churn', 'auc', 0.83, lab);
    await f.engine.setMetric('churn', 'latency_ms', 80, lab);
    q = (await f.engine.checkGates('churn', lab)).results.find((r) => r.gate === 'quality')!;
    assert.equal(q.status, 'fail');
    await f.engine.setMetric('churn', 'latency_ms', 20, lab);
    q = (await f.engine.checkGates('churn', lab)).results.find((r) => r.gate === 'quality')!;
    assert.equal(q.status, 'pass', q.message);
    await throwsCode(f.engine.setMetric('churn', 'unknown_metric', 1, lab), 'BAD_INPUT', /not declared/);
    await throwsCode(f.engine.setMetric('churn', 'auc', Number.NaN, lab), 'BAD_INPUT');
  });

  it('a failed exit gate with on_fail reworks; a route follows metrics of the current visit; the last phase completes', async () => {
    const f = await pastTriage();
    const toCheck = async () => {
      await f.engine.tick('churn', 'trained', null, lab);
      writeFile(f.dir, 'reports/report.json', '{"auc":0.9}');
      await f.engine.addArtifact('churn', 'report', undefined, lab);
      await f.engine.setMetric('churn', 'auc', 0.9, lab);
      await f.engine.setMetric('churn', 'latency_ms', 10, lab);
      const a = await f.engine.advance('churn', lab);
      assert.equal(a.outcome.outcome, 'advanced');
      assert.equal(a.state.phase, 'check');
    };
    await toCheck();
    // Checklist open: check fails and on_fail sends the project back to build.
    const rework = await f.engine.advance('churn', lab);
    assert.deepEqual(rework.outcome, { outcome: 'reworked', from: 'check', to: 'build' });
    await toCheck();
    await f.engine.tick('churn', 'reviewed', null, { actor: 'rev-1' });
    await f.engine.setMetric('churn', 'psi', 0.35, { actor: 'rev-1' });
    const drift = await f.engine.advance('churn', lab);
    assert.equal(drift.outcome.outcome, 'advanced');
    assert.deepEqual(
      [drift.outcome.outcome === 'advanced' && drift.outcome.kind, drift.state.phase],
      ['route', 'build'],
    );
    await toCheck();
    // A new visit of check starts empty: the review ticked in the last visit does not count.
    const again = await f.engine.advance('churn', lab);
    assert.deepEqual(again.outcome, { outcome: 'reworked', from: 'check', to: 'build' });
    await toCheck();
    await f.engine.tick('churn', 'reviewed', null, { actor: 'rev-1' });
    // psi 0.35 was recorded in an earlier visit: the route does not fire again, the project moves on.
    const cmd = await f.engine.advance('churn', lab);
    assert.equal(cmd.results.find((r) => r.gate === 'script')!.status, 'pass');
    assert.equal(cmd.state.phase, 'ship');
    await f.engine.tick('churn', 'shipped', null, lab);
    const end = await f.engine.advance('churn', lab);
    assert.equal(end.outcome.outcome, 'completed');
    assert.equal(end.state.status, 'completed');
    await assert.rejects(f.engine.tick('churn', 'shipped', null, lab), /completed/);
    const rows = await f.store.db
      .selectFrom('transitions')
      .select(['n', 'kind', 'to_phase'])
      .orderBy('n')
      .execute();
    assert.deepEqual(
      rows.map((r) => r.kind),
      [
        'advance',
        'advance',
        'rework',
        'advance',
        'route',
        'advance',
        'rework',
        'advance',
        'advance',
        'advance',
      ],
    );
    assert.equal((await verifyStore(f.store.db)).ok, true);
  });

  it('waivers need a waiver role, a reason and a future expiry, and lapse when they expire', async () => {
    const f = await freshEngine();
    await f.engine.createProject({ name: 'Churn', workspace: f.dir, train: f.train }, lead1);
    const soon = new Date(f.clock.t + 60_000);
    await throwsCode(f.engine.waive('churn', 'files', 'no brief yet', soon, lab), 'NOT_PERMITTED');
    await throwsCode(f.engine.waive('churn', 'files', '', soon, lead1), 'BAD_INPUT');
    await throwsCode(
      f.engine.waive('churn', 'files', 'x', new Date(f.clock.t - 1), lead1),
      'BAD_INPUT',
      /future/,
    );
    await throwsCode(f.engine.waive('churn', 'nope', 'x', soon, lead1), 'BAD_INPUT');
    await f.engine.waive('churn', 'files', 'brief comes from the client', soon, lead1);
    let files = (await f.engine.checkGates('churn', lab)).results.find((r) => r.gate === 'files')!;
    assert.equal(files.status, 'waived');
    f.clock.t += 120_000;
    files = (await f.engine.checkGates('churn', lab)).results.find((r) => r.gate === 'files')!;
    assert.equal(files.status, 'fail');
  });

  it('hold, resume, cancel and reopen', async () => {
    const f = await freshEngine();
    await f.engine.createProject({ name: 'Churn', workspace: f.dir, train: f.train }, lead1);
    await f.engine.lifecycle('churn', 'hold', 'waiting on data', lead1);
    await throwsCode(f.engine.tick('churn', 'asked', null, lab), 'INVALID_STATE', /on-hold/);
    await f.engine.lifecycle('churn', 'resume', null, lead1);
    await throwsCode(f.engine.lifecycle('churn', 'cancel', null, lead1), 'BAD_INPUT');
    await f.engine.lifecycle('churn', 'cancel', 'budget cut', lead1);
    await throwsCode(f.engine.advance('churn', lead1), 'INVALID_STATE');
    const r = await f.engine.lifecycle('churn', 'reopen', 'budget back', lead1);
    assert.equal(r.state.status, 'active');
  });

  it('an idempotency key makes a retried call a no-op', async () => {
    const f = await freshEngine();
    await f.engine.createProject(
      { name: 'Churn', workspace: f.dir, train: f.train },
      { ...lead1, idempotencyKey: 'c1' },
    );
    const again = await f.engine.createProject(
      { name: 'Churn', workspace: f.dir, train: f.train },
      { ...lead1, idempotencyKey: 'c1' },
    );
    assert.equal(again.replayed, true);
    await f.engine.setMetric('churn', 'auc', 0.5, { ...lab, idempotencyKey: 'm1' });
    const dup = await f.engine.setMetric('churn', 'auc', 0.5, { ...lab, idempotencyKey: 'm1' });
    assert.equal(dup.replayed, true);
    const n = await f.store.db.selectFrom('metrics').select('seq').execute();
    assert.equal(n.length, 1);
  });

  it('refuses artifact paths that escape the workspace, and stores nothing for them', async () => {
    const f = await freshEngine();
    await f.engine.createProject({ name: 'Churn', workspace: f.dir, train: f.train }, lead1);
    const outside = removeAtExit(join(f.dir, '..', `${f.dir.split('/').pop()}-evil`));
    writeFile(outside, 'secret.md', 'x');
    writeFile(f.dir, 'docs/ok.md', 'ok');
    symlinkSync(join(outside, 'secret.md'), join(f.dir, 'docs', 'link.md'));
    symlinkSync(outside, join(f.dir, 'linkdir'));
    linkSync(join(outside, 'secret.md'), join(f.dir, 'docs', 'hard.md'));
    const hostile = [
      '/etc/passwd',
      '../x',
      'docs/../../x',
      '%2e%2e%2fx',
      'docs%2f..%2f..%2fx',
      '..\\x',
      'docs\\ok.md',
      'a\0b',
      '~/x',
      '',
      `../${outside.split('/').pop()}/secret.md`,
      'docs/link.md',
      'linkdir/secret.md',
      'C:/x',
      'docs/../../../etc/passwd',
      './../x',
      'docs/./../../x',
      '%2E%2E/x',
      '..%2fx',
      '..%5cx',
      '%2e%2e%5cx',
      'docs\u0000.md',
      '\\\\server\\share',
      '/',
      '.',
      'docs',
      '~root/.ssh/id_rsa',
      'docs/hard.md',
    ];
    const before = await f.store.db.selectFrom('events').select('seq').execute();
    for (const p of hostile) {
      await assert.rejects(f.engine.addArtifact('churn', 'brief', p, lab), (e: unknown) => {
        assert.ok(e instanceof VtError && (e.code === 'PATH_ESCAPE' || e.code === 'NOT_FOUND'), `${p}: ${e}`);
        return true;
      });
    }
    const after = await f.store.db.selectFrom('events').select('seq').execute();
    assert.equal(after.length, before.length);
  });

  it('projections rebuilt from events equal the live tables', async () => {
    const f = await pastTriage();
    await f.engine.setMetric('churn', 'auc', 0.7, lab);
    const live = await dumpProjections(f.store.db);
    await rebuildProjections(f.store);
    assert.deepEqual(await dumpProjections(f.store.db), live);
  });
});
