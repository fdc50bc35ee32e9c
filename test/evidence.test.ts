// Evidence belongs to a visit: a rework visit that does nothing does not pass, earlier visits count
// only when carried forward on the record, and nobody who worked in a visit approves or waives it.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { VtError } from '../src/errors.ts';
import { parseTrain } from '../src/train/loader.ts';
import { freshEngine, MINI, runVt, tempDir, testBackend, writeFile } from './helpers.ts';
import { describeOnBackends } from './pg.ts';

const lab = { actor: 'lab-1' };
const lead1 = { actor: 'lead-1' };
const lead2 = { actor: 'lead-2' };
const rev = { actor: 'rev-1' };

async function refused(p: Promise<unknown>, code: string, re?: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof VtError, `expected a VtError, got ${e}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

/** The mini train with edits, loaded as if from the fresh project's folder. */
function trainWith(dir: string, edit: (yaml: string) => string) {
  const yaml = edit(readFileSync(MINI, 'utf8'));
  writeFileSync(join(dir, 'vt.yaml'), yaml);
  return parseTrain(yaml, join(dir, 'vt.yaml'));
}

/** Create the mini project, pass triage and do build's work once (visit 1 of build). */
async function inBuild(edit?: (yaml: string) => string) {
  const f = await freshEngine();
  const train = edit ? trainWith(f.dir, edit) : f.train;
  await f.engine.createProject({ name: 'Churn', workspace: f.dir, train }, lead1);
  for (const item of ['asked', 'sized']) await f.engine.tick('churn', item, null, lab);
  writeFile(f.dir, 'docs/brief.md', '# Brief\n');
  await f.engine.addArtifact('churn', 'brief', undefined, lab);
  await f.engine.approve('churn', lead2);
  assert.equal((await f.engine.advance('churn', lead1)).outcome.outcome, 'advanced');
  return f;
}

async function doBuild(f: Awaited<ReturnType<typeof inBuild>>) {
  await f.engine.tick('churn', 'trained', null, lab);
  writeFile(f.dir, 'reports/report.json', '{"auc":0.9}');
  await f.engine.addArtifact('churn', 'report', undefined, lab);
  await f.engine.setMetric('churn', 'auc', 0.9, lab);
  await f.engine.setMetric('churn', 'latency_ms', 10, lab);
}

/** From build visit 1, through check (drift route) back to build: visit 2 of build. */
async function backInBuild(f: Awaited<ReturnType<typeof inBuild>>) {
  await doBuild(f);
  assert.equal((await f.engine.advance('churn', lab)).state.phase, 'check');
  await f.engine.tick('churn', 'reviewed', null, rev);
  await f.engine.setMetric('churn', 'psi', 0.35, rev);
  const drift = await f.engine.advance('churn', lab);
  assert.equal(drift.state.phase, 'build');
  assert.equal(drift.state.phaseVisits.build, 2);
}

describeOnBackends('visits, evidence and trains', () => {
  it('the CLI runs on the backend under test: a folder of its own on SQLite, a database of its own on PostgreSQL', async () => {
    const dir = tempDir('vt-backend-');
    writeFileSync(join(dir, 'vt.yaml'), readFileSync(MINI, 'utf8'));
    const made = await runVt(['project', 'create', 'Churn', '--as', 'lead-1'], { cwd: dir });
    assert.equal(made.code, 0, made.stderr);
    const status = await runVt(['status', 'churn', '--json'], { cwd: dir });
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).id, 'churn');
    assert.equal(existsSync(join(dir, '.vt', 'vt.db')), testBackend.current === 'sqlite');
  });

  describe('evidence belongs to a visit', () => {
    it('a rework visit that does nothing does not pass: earlier ticks, artifacts and metrics do not count', async () => {
      // Regression: the second visits of validation, deployment, monitoring... passed on the first visit's work.
      const f = await inBuild();
      await backInBuild(f);
      const again = await f.engine.advance('churn', lab);
      assert.equal(again.outcome.outcome, 'stayed');
      const by = Object.fromEntries(again.results.map((r) => [r.gate, r]));
      assert.equal(by.done!.status, 'fail');
      assert.match(by.done!.message, /1 of 1 checklist items open in visit 2: trained/);
      assert.equal(by.files!.status, 'fail');
      assert.match(by.files!.message, /not recorded in visit 2/);
      assert.notEqual(by.quality!.status, 'pass', 'auc of visit 1 does not count in visit 2');
      // Doing the work again passes.
      await doBuild(f);
      assert.equal((await f.engine.advance('churn', lab)).outcome.outcome, 'advanced');
    });

    it('a person may carry evidence forward, on the record with a reason; the gate then passes', async () => {
      const f = await inBuild();
      await backInBuild(f);
      await refused(
        f.engine.carryForward(
          'churn',
          { items: ['trained'], artifacts: [], metrics: [], reason: ' ' },
          lead1,
        ),
        'BAD_INPUT',
        /reason/,
      );
      await refused(
        f.engine.carryForward('churn', { items: ['nope'], artifacts: [], metrics: [], reason: 'x' }, lead1),
        'BAD_INPUT',
        /did not record item nope/,
      );
      const c = await f.engine.carryForward(
        'churn',
        {
          items: ['trained'],
          artifacts: ['report'],
          metrics: ['auc', 'latency_ms'],
          reason: 'the model did not change',
        },
        lead1,
      );
      const carried = c.events.find((e) => e.type === 'evidence.carried');
      assert.ok(carried?.type === 'evidence.carried' && carried.payload.by === 'person');
      const a = await f.engine.advance('churn', lab);
      assert.equal(a.outcome.outcome, 'advanced', JSON.stringify(a.results));
    });

    it('a train may carry an item forward itself (carry: true), and says so in an event', async () => {
      const f = await inBuild((y) =>
        y.replace(
          '- { id: trained, text: Model trained }',
          '- { id: trained, text: Model trained, carry: true }',
        ),
      );
      await backInBuild(f);
      const s = await f.engine.state('churn');
      assert.equal(s.evidence.build!.checklist.trained?.ticked, true);
      assert.equal(s.evidence.build!.checklist.trained?.carriedFrom, s.previous.build!.visit);
      const events = await f.store.db
        .selectFrom('events')
        .select(['type', 'payload'])
        .where('type', '=', 'evidence.carried')
        .execute();
      assert.equal(events.length, 1);
      assert.equal(JSON.parse(events[0]!.payload).by, 'train');
    });

    it('a metric gate reads this visit unless the expression names another scope (auc@latest, auc@build)', async () => {
      const f = await inBuild((y) =>
        y
          .replace('expr: auc >= 0.8', 'expr: auc@latest >= 0.8')
          .replace(
            '- { id: done, kind: checklist }\n        - { id: script',
            '- { id: done, kind: checklist }\n        - { id: measured, kind: metric, expr: "auc@build >= 0.8" }\n        - { id: script',
          ),
      );
      await backInBuild(f);
      await f.engine.tick('churn', 'trained', null, lab);
      writeFile(f.dir, 'reports/report.json', '{"auc":0.9}');
      await f.engine.addArtifact('churn', 'report', undefined, lab);
      await f.engine.setMetric('churn', 'latency_ms', 10, lab);
      const a = await f.engine.advance('churn', lab);
      assert.equal(a.outcome.outcome, 'advanced', JSON.stringify(a.results));
      const quality = a.results.find((r) => r.gate === 'quality')!;
      assert.equal(quality.status, 'pass');
    });
  });

  describe('nobody who worked in a visit decides on it', () => {
    it('a worker may neither approve nor waive; a waiver of an approval needs a second person of the role', async () => {
      const f = await freshEngine();
      await f.engine.createProject({ name: 'Churn', workspace: f.dir, train: f.train }, lead1);
      // lead-1 holds the waiving role, but ticked an item: a worker of this visit.
      await f.engine.tick('churn', 'asked', null, lead1);
      const soon = new Date(f.clock.t + 3_600_000);
      await refused(
        f.engine.waive('churn', 'done', 'in a hurry', soon, lead1),
        'NOT_PERMITTED',
        /did work in visit 1/,
      );
      await refused(f.engine.approve('churn', lead1), 'NOT_PERMITTED', /did work in visit 1/);
      await f.engine.tick('churn', 'sized', null, lab);
      writeFile(f.dir, 'docs/brief.md', '# Brief\n');
      await f.engine.addArtifact('churn', 'brief', undefined, lab);
      // lead-2 waives the approval gate: alone, it does not count.
      await f.engine.waive('churn', 'go', 'sponsor away', soon, lead2);
      let a = await f.engine.checkGates('churn', lead2);
      const go = () => a.results.find((r) => r.gate === 'go')!;
      assert.equal(go().status, 'fail');
      assert.match(go().message, /needs a second person of lead/);
      await refused(f.engine.waive('churn', 'go', 'again', soon, lead2), 'NOT_PERMITTED', /second person/);
      await refused(
        f.engine.waive('churn', 'go', 'confirm', soon, rev),
        'NOT_PERMITTED',
        /needs the role lead/,
      );
      await refused(f.engine.waive('churn', 'go', 'confirm', soon, lead1), 'NOT_PERMITTED', /did work/);
      a = await f.engine.checkGates('churn', lead2);
      assert.equal(go().status, 'fail', 'still pending: no second person of the role confirmed it');
    });

    it('a waiver of an approval counts once a second person of the role confirms it, shows who, why and until when, and lapses', async () => {
      const f = await freshEngine();
      const train = trainWith(f.dir, (y) =>
        y.replace('  lead-2: [lead]', '  lead-2: [lead]\n  lead-3: [lead]'),
      );
      await f.engine.createProject({ name: 'Churn', workspace: f.dir, train }, lead1);
      for (const item of ['asked', 'sized']) await f.engine.tick('churn', item, null, lab);
      writeFile(f.dir, 'docs/brief.md', '# Brief\n');
      await f.engine.addArtifact('churn', 'brief', undefined, lab);
      const until = new Date(f.clock.t + 3_600_000);
      await f.engine.waive('churn', 'go', 'sponsor away', until, lead2);
      await f.engine.waive('churn', 'go', 'agreed', until, { actor: 'lead-3' });
      const a = await f.engine.checkGates('churn', lead2);
      const go = a.results.find((r) => r.gate === 'go')!;
      assert.equal(go.status, 'waived');
      assert.match(go.message, /waived by lead-2 and lead-3 until .*: sponsor away/);
      f.clock.t += 2 * 3_600_000;
      const later = await f.engine.checkGates('churn', lead2);
      assert.equal(
        later.results.find((r) => r.gate === 'go')!.status,
        'fail',
        'an expired waiver no longer counts',
      );
    });

    it('an agent session decides nothing: approve, advance, waive, carry are refused and recorded', async () => {
      const f = await freshEngine();
      await f.engine.createProject({ name: 'Churn', workspace: f.dir, train: f.train }, lead1);
      const session = { actor: 'agent:lab', session: 'churn-1-build.s1' };
      const until = new Date(f.clock.t + 3_600_000);
      await refused(f.engine.approve('churn', session), 'NOT_PERMITTED', /an agent session cannot approve/);
      await refused(f.engine.advance('churn', session), 'NOT_PERMITTED', /cannot advance/);
      await refused(f.engine.waive('churn', 'go', 'x', until, session), 'NOT_PERMITTED');
      await refused(f.engine.lifecycle('churn', 'cancel', 'x', session), 'NOT_PERMITTED');
      const refusals = await f.store.db
        .selectFrom('events')
        .select('payload')
        .where('type', '=', 'session.tool-called')
        .execute();
      assert.deepEqual(
        refusals.map((r) => JSON.parse(r.payload).tool),
        ['approve', 'advance', 'waive a gate', 'cancel'],
      );
      const s = await f.engine.state('churn');
      assert.equal(s.approvals.length, 0);
      assert.equal(s.phase, 'triage');
    });
  });

  describe('trains change under running projects', () => {
    it('vt project upgrade: a newly added approver can approve; a train that drops the current phase or its evidence is refused', async () => {
      // Regression: people: was written once per project, so adding an approver to vt.yaml had no effect.
      const dir = tempDir('vt-upgrade-');
      writeFileSync(join(dir, 'vt.yaml'), readFileSync(MINI, 'utf8'));
      const vt = (args: string[], actor = 'lead-1') => runVt(args, { cwd: dir, env: { VT_ACTOR: actor } });
      assert.equal((await vt(['project', 'create', 'Churn'])).code, 0);
      for (const item of ['asked', 'sized'])
        assert.equal((await vt(['tick', 'churn', item], 'lab-1')).code, 0);
      const denied = await vt(['approve', 'churn'], 'ana');
      assert.equal(denied.code, 4, denied.stderr);
      writeFileSync(
        join(dir, 'vt.yaml'),
        readFileSync(MINI, 'utf8').replace('  rev-1: [reviewer]', '  rev-1: [reviewer]\n  ana: [lead]'),
      );
      const up = await vt(['project', 'upgrade', 'churn', '--reason', 'ana joins the leads']);
      assert.equal(up.code, 0, up.stderr);
      assert.match(up.stdout, /~ people ana: null → \["lead"\]/);
      const ok = await vt(['approve', 'churn'], 'ana');
      assert.equal(ok.code, 0, ok.stderr);
      // A train without the phase the project stands in, or without an item ticked in this visit.
      const noTriage = readFileSync(MINI, 'utf8')
        .replace('  - id: triage', '  - id: intake')
        .replace('next: build\n  - id: build', 'next: build\n  - id: build');
      writeFileSync(join(dir, 'v2.yaml'), noTriage);
      const gone = await vt(['project', 'upgrade', 'churn', '--to', 'v2.yaml', '--reason', 'rename']);
      assert.equal(gone.code, 2, gone.stderr);
      assert.match(gone.stderr, /no phase triage/);
      writeFileSync(
        join(dir, 'v3.yaml'),
        readFileSync(MINI, 'utf8').replace('      - { id: sized, text: Value sized }\n', ''),
      );
      const lost = await vt(['project', 'upgrade', 'churn', '--to', 'v3.yaml', '--reason', 'simpler']);
      assert.equal(lost.code, 2, lost.stderr);
      assert.match(lost.stderr, /drops evidence recorded in this visit of triage: checklist item sized/);
    });
  });

  describe('small holes', () => {
    it('an idempotency key reused for another command is refused, naming the first (exit 2); b stays unticked', async () => {
      // Regression: `vt tick P b --idempotency-key k1` after `vt tick P a --idempotency-key k1` printed "✓ ticked b".
      const dir = tempDir('vt-idem-');
      writeFileSync(join(dir, 'vt.yaml'), readFileSync(MINI, 'utf8'));
      const vt = (args: string[]) => runVt(args, { cwd: dir, env: { VT_ACTOR: 'lab-1' } });
      assert.equal((await vt(['project', 'create', 'Churn'])).code, 0);
      assert.equal((await vt(['tick', 'churn', 'asked', '--idempotency-key', 'k1'])).code, 0);
      const same = await vt(['tick', 'churn', 'asked', '--idempotency-key', 'k1']);
      assert.equal(same.code, 0, 'the same command again is a no-op');
      const other = await vt(['tick', 'churn', 'sized', '--idempotency-key', 'k1']);
      assert.equal(other.code, 2, other.stderr);
      assert.match(other.stderr, /already used for another command: vt tick churn asked/);
      const s = JSON.parse((await vt(['status', 'churn', '--json'])).stdout);
      assert.deepEqual(
        s.checklist.filter((c: { ticked: boolean }) => c.ticked).map((c: { id: string }) => c.id),
        ['asked'],
      );
    });

    it('vt status runs nothing: it shows the last recorded evaluation; vt gate check runs and records it', async () => {
      // Regression: vt status ran command gates on every call, unrecorded (a `sleep 5` gate made it take 6 s).
      const dir = tempDir('vt-status-');
      const marker = join(tempDir('vt-marker-'), 'ran');
      // The gate leaves a mark outside its checkout: no sandbox for it.
      const gate = `- { id: script, kind: command, run: [node, -e, "require('fs').appendFileSync('${marker}', 'x')"], timeout_s: 30, sandbox: none }`;
      writeFileSync(
        join(dir, 'vt.yaml'),
        readFileSync(MINI, 'utf8').replace(
          '        - { id: go, kind: approval, role: lead }',
          `        - { id: go, kind: approval, role: lead }\n        ${gate}`,
        ),
      );
      const vt = (args: string[]) => runVt(args, { cwd: dir, env: { VT_ACTOR: 'lead-1' } });
      assert.equal((await vt(['project', 'create', 'Churn'])).code, 0);
      const before = await vt(['status', 'churn']);
      assert.equal(before.code, 0, before.stderr);
      assert.match(before.stdout, /not evaluated in this visit \(vt gate check\)/);
      assert.throws(() => readFileSync(marker), 'vt status ran no gate command');
      const check = await vt(['gate', 'check', 'churn']);
      assert.equal(check.code, 1);
      assert.equal(readFileSync(marker, 'utf8'), 'x', 'vt gate check ran it once');
      const after = JSON.parse((await vt(['status', 'churn', '--json'])).stdout);
      assert.equal(readFileSync(marker, 'utf8'), 'x', 'and vt status did not run it again');
      assert.equal(after.evaluation.by, 'lead-1');
      assert.deepEqual(
        after.evaluation.results.map((r: { gate: string; status: string }) => [r.gate, r.status]),
        [
          ['done', 'fail'],
          ['files', 'fail'],
          ['go', 'fail'],
          ['script', 'pass'],
        ],
      );
    });
  });
});
