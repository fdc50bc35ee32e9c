import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { verifyStore } from '../src/audit/audit.ts';
import { Engine } from '../src/engine/engine.ts';
import { currentEvidence, type ProjectState } from '../src/engine/state.ts';
import { VtError } from '../src/errors.ts';
import type { GateResult } from '../src/gates/types.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { dumpProjections, rebuildProjections } from '../src/store/projector.ts';
import type { Store } from '../src/store/store.ts';
import { freshEngine, testBackend, writeFile } from './helpers.ts';
import { describeOnBackends } from './pg.ts';

const actors = ['lab-1', 'lead-1', 'lead-2', 'rev-1'];
const items = ['asked', 'sized', 'extra', 'trained', 'reviewed', 'shipped', 'bogus'];
const artifacts = ['brief', 'report', 'table', 'bogus'];
const metrics = ['auc', 'psi', 'latency_ms', 'nope'];

type Cmd =
  | { k: 'tick'; actor: string; item: string }
  | { k: 'reopen'; actor: string; item: string }
  | { k: 'metric'; actor: string; name: string; value: number }
  | { k: 'artifact'; actor: string; id: string; content: string }
  | { k: 'approve' | 'reject' | 'advance' | 'check'; actor: string }
  | { k: 'waive'; actor: string; gate: string }
  | { k: 'hold' | 'resume' | 'cancel' | 'reopen-project'; actor: string }
  | { k: 'carry'; actor: string; item: string; metric: string }
  | { k: 'work'; actor: string; psi: number };

const actor = fc.constantFrom(...actors);
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ k: fc.constant('tick' as const), actor, item: fc.constantFrom(...items) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('reopen' as const), actor, item: fc.constantFrom(...items) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('metric' as const),
      actor,
      name: fc.constantFrom(...metrics),
      value: fc.double({ min: 0, max: 100, noNaN: true }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('artifact' as const),
      actor,
      id: fc.constantFrom(...artifacts),
      content: fc.constantFrom('', '{"auc":0.9}', 'id,label\n1,0\n', '# text'),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constantFrom('approve' as const, 'reject' as const), actor }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('advance' as const), actor }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('check' as const), actor }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('waive' as const),
      actor,
      gate: fc.constantFrom('done', 'files', 'go', 'quality'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constantFrom('hold' as const, 'resume' as const, 'cancel' as const, 'reopen-project' as const),
      actor,
    }),
  },
  {
    // The whole of the current phase's work at once, so sequences get far enough to loop back.
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('work' as const),
      actor: fc.constant('lab-1'),
      psi: fc.constantFrom(0.1, 0.35),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('carry' as const),
      actor,
      item: fc.constantFrom(...items),
      metric: fc.constantFrom(...metrics),
    }),
  },
);

/** Sequences that get on: mostly a phase's whole work, an approval by someone who did none, an advance. */
const work = fc.record({
  k: fc.constant('work' as const),
  actor: fc.constant('lab-1'),
  psi: fc.constantFrom(0.1, 0.35),
});
const progress: fc.Arbitrary<Cmd[]> = fc
  .array(
    fc.oneof(
      {
        weight: 6,
        arbitrary: fc.tuple(
          work,
          fc.constant<Cmd>({ k: 'approve', actor: 'lead-2' }),
          fc.constant<Cmd>({ k: 'advance', actor: 'lead-1' }),
        ),
      },
      { weight: 2, arbitrary: fc.tuple(fc.constant<Cmd>({ k: 'advance', actor: 'lead-1' })) },
      {
        weight: 2,
        arbitrary: fc.tuple(
          fc.record({
            k: fc.constant('carry' as const),
            actor: fc.constant('lead-1'),
            item: fc.constantFrom(...items),
            metric: fc.constantFrom(...metrics),
          }),
        ),
      },
      { weight: 2, arbitrary: fc.tuple(cmd) },
    ),
    { minLength: 1, maxLength: 20 },
  )
  .map((blocks) => blocks.flat());

const paths: Record<string, string> = {
  brief: 'docs/brief.md',
  report: 'reports/report.json',
  table: 'data/table.csv',
  bogus: 'x.txt',
};

/** Run a command sequence against a fresh mini project; refused commands (VtError) are skipped. */
async function runCommands(f: Awaited<ReturnType<typeof freshEngine>>, cmds: Cmd[]): Promise<void> {
  await f.engine.createProject({ name: 'P', workspace: f.dir, train: f.train }, { actor: 'lead-1' });
  for (const c of cmds) {
    const who = { actor: c.actor };
    try {
      switch (c.k) {
        case 'tick':
          await f.engine.tick('p', c.item, null, who);
          break;
        case 'reopen':
          await f.engine.reopenItem('p', c.item, 'changed', who);
          break;
        case 'metric':
          await f.engine.setMetric('p', c.name, c.value, who);
          break;
        case 'artifact':
          writeFile(f.dir, paths[c.id]!, c.content);
          await f.engine.addArtifact('p', c.id, undefined, who);
          break;
        case 'approve':
          await f.engine.approve('p', who);
          break;
        case 'reject':
          await f.engine.reject('p', who, { reason: 'no' });
          break;
        case 'advance':
          await f.engine.advance('p', who);
          break;
        case 'check':
          await f.engine.checkGates('p', who);
          break;
        case 'waive':
          await f.engine.waive('p', c.gate, 'ok', new Date(f.clock.t + 5000), who);
          break;
        case 'hold':
        case 'resume':
        case 'cancel':
          await f.engine.lifecycle('p', c.k, 'why', who);
          break;
        case 'reopen-project':
          await f.engine.lifecycle('p', 'reopen', 'why', who);
          break;
        case 'work': {
          const s = await f.engine.state('p');
          const phase = f.train.train.phases.find((x) => x.id === s.phase)!;
          for (const item of phase.checklist) await f.engine.tick('p', item.id, null, who);
          for (const a of phase.artifacts.filter((x) => x.required)) {
            writeFile(f.dir, a.path, a.id === 'report' ? '{"auc":0.9}' : `# ${a.id}\n`);
            await f.engine.addArtifact('p', a.id, undefined, who);
          }
          for (const m of phase.metrics)
            await f.engine.setMetric('p', m, m === 'psi' ? c.psi : m === 'auc' ? 0.9 : 10, who);
          if (phase.id === 'build') await f.engine.setMetric('p', 'latency_ms', 10, who);
          break;
        }
        case 'carry':
          await f.engine.carryForward(
            'p',
            { items: [c.item], artifacts: [], metrics: [c.metric], reason: 'still holds' },
            who,
          );
          break;
      }
    } catch (err) {
      if (!(err instanceof VtError)) throw err;
    }
  }
}

/**
 * Runs per property: 150, or VT_PROPERTY_RUNS. On PostgreSQL each run makes a database of its own
 * (about a second), so it runs 40 unless told otherwise.
 */
const propertyRuns = () =>
  Number(process.env.VT_PROPERTY_RUNS ?? (testBackend.current === 'postgres' ? 40 : 150));

describeOnBackends('properties', () => {
  describe('random command sequences (fast-check)', () => {
    it('projections rebuilt from events equal the live ones and agree with the folded state; the chain verifies; a fresh fold equals the cached state', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 40 }), async (cmds) => {
          const f = await freshEngine();
          try {
            await runCommands(f, cmds);
            const verified = await verifyStore(f.store.db);
            assert.equal(verified.ok, true, JSON.stringify(verified.firstBad));
            const cached = structuredClone(await f.engine.state('p'));
            const fresh = await new Engine({ store: f.store, io: nodeIo }).state('p');
            assert.deepEqual(fresh, cached);
            const live = await dumpProjections(f.store.db);
            await rebuildProjections(f.store);
            assert.deepEqual(await dumpProjections(f.store.db), live);
            await assertFoldsAgree(f.store, cached);
          } finally {
            await f.store.close();
          }
        }),
        { numRuns: propertyRuns() },
      );
    });
    it('no gate ever passes on evidence of an earlier visit unless it was carried forward (on the record)', async (t) => {
      let revisits = 0;
      let passes = 0;
      await fc.assert(
        fc.asyncProperty(progress, async (cmds) => {
          const f = await freshEngine();
          try {
            await runCommands(f, cmds);
            const events = (
              await f.store.db
                .selectFrom('events')
                .selectAll()
                .where('project_id', '=', 'p')
                .orderBy('seq')
                .execute()
            ).map((e) => ({ seq: e.seq, type: e.type, p: JSON.parse(e.payload) }));
            for (const e of events) {
              if (e.type !== 'gate.evaluated' || e.p.side !== 'exit' || !e.p.passed) continue;
              const before = events.filter(
                (x) => x.seq < e.seq && x.p.phase === e.p.phase && x.p.visit === e.p.visit,
              );
              const carried = (kind: 'items' | 'artifacts' | 'metrics', id: string) =>
                before.some((x) => x.type === 'evidence.carried' && x.p[kind].includes(id));
              const ticked = (item: string) => {
                const last = before
                  .filter((x) => x.type.startsWith('checklist.') && x.p.item === item)
                  .at(-1);
                return last?.type === 'checklist.ticked' || carried('items', item);
              };
              const recorded = (type: string, key: string, id: string) =>
                before.some((x) => x.type === type && x.p[key] === id);
              const check = (r: GateResult) => {
                if (r.status !== 'pass') return;
                const ev = r.evidence as Record<string, unknown>;
                if (r.kind === 'checklist')
                  for (const item of ev.ticked as string[])
                    assert.ok(ticked(item), `${r.gate} passed on ${item}, not ticked in visit ${e.p.visit}`);
                if (r.kind === 'artifacts')
                  for (const a of ev.artifacts as { artifact: string }[])
                    assert.ok(
                      recorded('artifact.recorded', 'artifact', a.artifact) ||
                        carried('artifacts', a.artifact),
                      `${r.gate} passed on ${a.artifact}, not recorded in visit ${e.p.visit}`,
                    );
                if (r.kind === 'metric')
                  for (const name of Object.keys(ev.observed as Record<string, number>))
                    if (!name.includes('@'))
                      assert.ok(
                        recorded('metric.recorded', 'name', name) || carried('metrics', name),
                        `${r.gate} passed on ${name}, not measured in visit ${e.p.visit}`,
                      );
                for (const c of r.children ?? []) check(c);
              };
              for (const r of e.p.results as GateResult[]) check(r);
              passes++;
              if (
                events.some(
                  (x) =>
                    x.type === 'phase.advanced' &&
                    x.p.to === e.p.phase &&
                    x.p.kind !== 'advance' &&
                    x.seq < e.seq,
                )
              )
                revisits++;
            }
          } finally {
            await f.store.close();
          }
        }),
        { numRuns: propertyRuns() },
      );
      t.diagnostic(
        `${passes} passing evaluations checked, ${revisits} of them in a phase the project came back to`,
      );
      assert.ok(revisits > 0, 'the sequences reached rework visits that passed');
    });
  });

  /**
   * The engine folds each event twice — into its state (evolve) and into the SQL projections
   * (project) — so the two must agree on everything both hold.
   */
  async function assertFoldsAgree(store: Store, s: ProjectState): Promise<void> {
    const db = store.db;
    const row = await db.selectFrom('projects').selectAll().where('id', '=', s.id).executeTakeFirstOrThrow();
    assert.deepEqual(
      [
        row.phase,
        row.status,
        row.visit,
        row.phase_visit,
        row.transitions,
        row.head_seq,
        row.head_hash,
        row.train_hash,
      ],
      [s.phase, s.status, s.visit, s.phaseVisits[s.phase], s.transitions, s.seq, s.headHash, s.trainHash],
      'the projects row',
    );
    const ev = currentEvidence(s);
    const items = await db
      .selectFrom('checklist')
      .selectAll()
      .where('project_id', '=', s.id)
      .where('phase', '=', s.phase)
      .where('visit', '=', s.visit)
      .execute();
    assert.deepEqual(
      Object.fromEntries(items.map((r) => [r.item, !!r.ticked])),
      Object.fromEntries(Object.entries(ev.checklist).map(([k, v]) => [k, v.ticked])),
      "this visit's checklist",
    );
    const arts = await db
      .selectFrom('artifacts')
      .selectAll()
      .where('project_id', '=', s.id)
      .where('phase', '=', s.phase)
      .where('visit', '=', s.visit)
      .execute();
    assert.deepEqual(
      Object.fromEntries(arts.map((r) => [r.artifact, [r.sha256, r.commit_sha]])),
      Object.fromEntries(Object.entries(ev.artifacts).map(([k, v]) => [k, [v.sha256, v.commit]])),
      "this visit's artifacts",
    );
    const metrics = await db
      .selectFrom('metrics')
      .selectAll()
      .where('project_id', '=', s.id)
      .where('phase', '=', s.phase)
      .where('visit', '=', s.visit)
      .orderBy('seq')
      .execute();
    assert.deepEqual(
      Object.fromEntries(metrics.map((r) => [r.name, r.value])),
      Object.fromEntries(Object.entries(ev.metrics).map(([k, v]) => [k, v.value])),
      "this visit's metrics",
    );
    const commits = await db
      .selectFrom('commits')
      .selectAll()
      .where('project_id', '=', s.id)
      .where('visit', '=', s.visit)
      .orderBy('seq')
      .execute();
    assert.equal(commits.at(-1)?.commit_sha ?? null, ev.commit?.commit ?? null, "this visit's commit");
    const approvals = await db
      .selectFrom('approvals')
      .select(['actor', 'decision', 'digest'])
      .where('project_id', '=', s.id)
      .where('visit', '=', s.visit)
      .orderBy('seq')
      .execute();
    assert.deepEqual(
      approvals,
      s.approvals.map((a) => ({ actor: a.actor, decision: a.decision, digest: a.digest })),
      "this visit's approvals",
    );
  }
});
