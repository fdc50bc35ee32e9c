import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { verifyStore } from '../src/audit/audit.ts';
import { Engine } from '../src/engine/engine.ts';
import { VtError } from '../src/errors.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { dumpProjections, rebuildProjections } from '../src/store/projector.ts';
import { freshEngine, writeFile } from './helpers.ts';

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
  | { k: 'hold' | 'resume' | 'cancel' | 'reopen-project'; actor: string };

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
);

const paths: Record<string, string> = {
  brief: 'docs/brief.md',
  report: 'reports/report.json',
  table: 'data/table.csv',
  bogus: 'x.txt',
};

describe('random command sequences (fast-check)', () => {
  it('projections rebuilt from events equal the live ones, the chain verifies, and a fresh fold equals the cached state', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 40 }), async (cmds) => {
        const f = await freshEngine();
        try {
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
              }
            } catch (err) {
              if (!(err instanceof VtError)) throw err;
            }
          }
          const verified = await verifyStore(f.store.db);
          assert.equal(verified.ok, true, JSON.stringify(verified.firstBad));
          const cached = structuredClone(await f.engine.state('p'));
          const fresh = await new Engine({ store: f.store, io: nodeIo }).state('p');
          assert.deepEqual(fresh, cached);
          const live = await dumpProjections(f.store.db);
          await rebuildProjections(f.store);
          assert.deepEqual(await dumpProjections(f.store.db), live);
        } finally {
          await f.store.close();
        }
      }),
      { numRuns: Number(process.env.VT_PROPERTY_RUNS ?? 150) },
    );
  });
});
