import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { rocAuc } from '../examples/penguins/lib/auc.ts';
import { jsonClient } from '../examples/penguins/lib/client.ts';
import { predict, trainModel } from '../examples/penguins/lib/model.ts';
import {
  label,
  type Penguin,
  rawRowsFromJson,
  rejectReason,
  toPenguin,
} from '../examples/penguins/lib/penguins.ts';
import { mulberry32, shuffled } from '../examples/penguins/lib/prng.ts';
import { binShares, psi, quantileEdges } from '../examples/penguins/lib/psi.ts';
import { startScoringServer } from '../examples/penguins/lib/server.ts';
import { readSource } from '../examples/penguins/lib/source.ts';
import { seededSplit } from '../examples/penguins/lib/split.ts';

const EXAMPLE = join(import.meta.dirname, '..', 'examples', 'penguins');
const HP = { numSteps: 1000, learningRate: 0.005 };

/** The shipped birds, cleaned as the preparation step does (missing values and bad sex dropped). */
function shippedPenguins(): Penguin[] {
  return rawRowsFromJson(readSource(EXAMPLE).records)
    .filter((r) => rejectReason(r) === null)
    .map(toPenguin);
}

/** Test-split AUC of a model trained on the given training rows. */
function testAuc(train: readonly Penguin[], test: readonly Penguin[], hp = HP): number {
  return rocAuc(test.map(label), predict(trainModel(train, hp), test));
}

/** Brute-force AUC over all positive/negative pairs, ties counting one half. */
function pairwiseAuc(y: readonly number[], s: readonly number[]): number {
  let wins = 0;
  let pairs = 0;
  y.forEach((yi, i) => {
    if (yi !== 1) return;
    y.forEach((yj, j) => {
      if (yj !== 0) return;
      pairs++;
      wins += s[i]! > s[j]! ? 1 : s[i] === s[j] ? 0.5 : 0;
    });
  });
  return wins / pairs;
}

describe('penguins example model', () => {
  const rows = shippedPenguins();
  const { train, test } = seededSplit(rows, 42);

  it('cleans the shipped data to the birds with a known sex and all measurements', () => {
    assert.equal(readSource(EXAMPLE).records.length, 344);
    assert.equal(rows.length, 333);
    assert.ok(rows.every((p) => Number.isFinite(p.body_mass_g) && (p.sex === 'male' || p.sex === 'female')));
  });

  it('reaches a real test-split AUC when trained on the shipped data', () => {
    const auc = testAuc(train, test);
    assert.ok(auc >= 0.85 && auc <= 1, `test AUC ${auc}`);
  });

  it('cannot reach that AUC with shuffled training labels', () => {
    const sexes = shuffled(
      train.map((p) => p.sex),
      7,
    );
    const noisy = train.map((p, i) => ({ ...p, sex: sexes[i]! }));
    const auc = testAuc(noisy, test);
    assert.ok(auc < 0.7, `shuffled-label AUC ${auc}`);
  });

  it('cannot reach that AUC untrained (zero weights) or with random scores', () => {
    const untrained = trainModel(train, { numSteps: 0, learningRate: 0.005 });
    const scores = predict(untrained, test);
    assert.ok(scores.every((s) => s === 0.5));
    assert.equal(rocAuc(test.map(label), scores), 0.5);
    const random = Array.from({ length: 20 }, (_, k) => {
      const rand = mulberry32(100 + k);
      return rocAuc(
        test.map(label),
        test.map(() => rand()),
      );
    });
    assert.ok(Math.max(...random) < 0.7, `best random-score AUC ${Math.max(...random)}`);
    const meanRandom = random.reduce((a, b) => a + b, 0) / random.length;
    assert.ok(Math.abs(meanRandom - 0.5) < 0.05, `mean random-score AUC ${meanRandom}`);
  });

  it('trains deterministically', () => {
    assert.deepEqual(trainModel(train, HP).coefficients, trainModel(train, HP).coefficients);
  });

  it('serves the same probability over HTTP as offline', async () => {
    const model = trainModel(train, HP);
    const server = await startScoringServer(model, 'test');
    const client = jsonClient(server.url);
    try {
      const { sex: _sex, id: _id, ...features } = test[0]!;
      const ok = await client.post('/score', features);
      assert.equal(ok.status, 200);
      assert.equal((ok.body as { probability_male: number }).probability_male, predict(model, [test[0]!])[0]);
      assert.equal((await client.post('/score', { species: 'Adelie' })).status, 400);
    } finally {
      client.destroy();
      await server.close();
    }
  });
});

describe('rocAuc', () => {
  it('is 1 for a perfect ranking and 0 for an inverted one', () => {
    assert.equal(rocAuc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]), 1);
    assert.equal(rocAuc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]), 0);
  });

  it('averages ties', () => {
    assert.equal(rocAuc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]), 0.5);
    // Pairs (pos, neg): (0.5, 0.1) win, (0.5, 0.5) tie, (0.9, 0.1) win, (0.9, 0.5) win: 3.5 / 4.
    assert.equal(rocAuc([0, 1, 0, 1], [0.1, 0.5, 0.5, 0.9]), 0.875);
  });

  it('matches the pairwise definition on tied random data', () => {
    const rand = mulberry32(11);
    const y = Array.from({ length: 200 }, () => (rand() < 0.4 ? 1 : 0));
    const s = y.map((v) => Math.round((rand() + v * 0.3) * 10) / 10);
    assert.ok(Math.abs(rocAuc(y, s) - pairwiseAuc(y, s)) < 1e-12);
  });

  it('is NaN with one class only', () => {
    assert.ok(Number.isNaN(rocAuc([1, 1], [0.2, 0.4])));
  });
});

describe('psi', () => {
  const rand = mulberry32(5);
  const normal = () => Array.from({ length: 12 }, rand).reduce((a, b) => a + b, 0) - 6;
  const reference = Array.from({ length: 2000 }, normal);

  it('is 0 for identical samples and near 0 for another draw of the same distribution', () => {
    assert.equal(psi(reference, reference), 0);
    const again = Array.from({ length: 2000 }, normal);
    assert.ok(psi(reference, again) < 0.05, `same-distribution PSI ${psi(reference, again)}`);
  });

  it('is above 0.2 for a shifted distribution', () => {
    const shifted = reference.map((x) => x + 0.7);
    assert.ok(psi(reference, shifted) > 0.2, `shifted PSI ${psi(reference, shifted)}`);
  });

  it('uses 10 reference-quantile bins that each hold a tenth of the reference', () => {
    const edges = quantileEdges(reference, 10);
    assert.equal(edges.length, 9);
    const shares = binShares(reference, edges);
    assert.ok(shares.every((s) => Math.abs(s - 0.1) < 0.002));
  });
});

describe('seededSplit', () => {
  const ids = Array.from({ length: 333 }, (_, i) => i + 1);

  it('is deterministic for a seed and differs across seeds', () => {
    assert.deepEqual(seededSplit(ids, 42), seededSplit(ids, 42));
    assert.notDeepEqual(seededSplit(ids, 42).test, seededSplit(ids, 43).test);
  });

  it('is disjoint, covers every row and keeps 60/20/20', () => {
    const { train, valid, test } = seededSplit(ids, 42);
    assert.deepEqual([train.length, valid.length, test.length], [200, 67, 66]);
    const all = [...train, ...valid, ...test];
    assert.equal(new Set(all).size, ids.length);
    assert.deepEqual(
      all.sort((a, b) => a - b),
      ids,
    );
  });
});

describe('step runner', () => {
  it('fails with a message for an unknown phase', () => {
    const r = spawnSync(process.execPath, [join(EXAMPLE, 'steps', 'run.ts')], {
      env: { ...process.env, VT_PHASE: 'no-such-phase', VT_REPORT: '/dev/null' },
      encoding: 'utf8',
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no step for phase "no-such-phase"/);
  });
});
