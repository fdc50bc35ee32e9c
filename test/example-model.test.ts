import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { rocAuc } from '../examples/penguins/lib/auc.ts';
import { jsonClient } from '../examples/penguins/lib/client.ts';
import { cohortsOf, generateWindow } from '../examples/penguins/lib/feed.ts';
import { predict, trainModel } from '../examples/penguins/lib/model.ts';
import {
  label,
  type Penguin,
  rawRowsFromJson,
  rejectReason,
  toPenguin,
} from '../examples/penguins/lib/penguins.ts';
import { mulberry32, shuffled } from '../examples/penguins/lib/prng.ts';
import { binShares, binsFor, noiseFloor, psi, quantileEdges } from '../examples/penguins/lib/psi.ts';
import { startScoringServer } from '../examples/penguins/lib/server.ts';
import { pairedAucGain } from '../examples/penguins/lib/significance.ts';
import { readSource } from '../examples/penguins/lib/source.ts';
import { seededSplit } from '../examples/penguins/lib/split.ts';
import { gateBounds, holds, parseBounds, routeBound } from '../examples/penguins/lib/train-file.ts';

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

  it('cannot reach that AUC with shuffled training labels (on average over 20 shuffles)', () => {
    // One shuffle of 100 labels can line up with body mass by chance, and mass tracks sex, so a single
    // noisy model may rank well or badly; averaged over shuffles it is no better than chance.
    const aucs = Array.from({ length: 20 }, (_, k) => {
      const sexes = shuffled(
        train.map((p) => p.sex),
        k + 1,
      );
      return testAuc(
        train.map((p, i) => ({ ...p, sex: sexes[i]! })),
        test,
      );
    });
    const meanAuc = aucs.reduce((a, b) => a + b, 0) / aucs.length;
    assert.ok(meanAuc < 0.65, `mean shuffled-label AUC ${meanAuc}`);
    assert.ok(testAuc(train, test) > Math.max(meanAuc + 0.25, 0.85));
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

  it('is disjoint, covers every row and keeps 30/15/15 with 40% held back', () => {
    const { train, valid, test, heldBack } = seededSplit(ids, 42);
    assert.deepEqual([train.length, valid.length, test.length, heldBack.length], [100, 50, 50, 133]);
    const all = [...train, ...valid, ...test, ...heldBack];
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

describe('thresholds read from the train', () => {
  it('parses single bounds and conjunctions, and nothing else', () => {
    assert.deepEqual(parseBounds('psi > 0.2'), [{ metric: 'psi', op: '>', value: 0.2 }]);
    assert.deepEqual(parseBounds('auc >= 0.75 and f1 >= 0.5'), [
      { metric: 'auc', op: '>=', value: 0.75 },
      { metric: 'f1', op: '>=', value: 0.5 },
    ]);
    for (const expr of ['challenger_auc >= champion_auc', 'psi > 0.2 or auc < 0.7', 'psi * 2 > 0.4', 'psi'])
      assert.equal(parseBounds(expr), null, expr);
    assert.equal(holds({ metric: 'psi', op: '>', value: 0.2 }, 0.2), false);
    assert.equal(holds({ metric: 'psi', op: '>=', value: 0.2 }, 0.2), true);
  });

  it("reads monitoring's psi route from the built-in train, and fails loudly without one", () => {
    const train = parse(readFileSync(join(EXAMPLE, '..', '..', 'templates', 'ml-value-train.yaml'), 'utf8'));
    assert.deepEqual(routeBound(train, 'monitoring', 'psi'), {
      metric: 'psi',
      op: '>',
      value: 0.2,
      to: 'improvement',
    });
    assert.deepEqual(
      gateBounds(train, 'validation').map((b) => `${b.metric} ${b.op} ${b.value}`),
      ['auc >= 0.75', 'f1 >= 0.5'],
    );
    assert.throws(() => routeBound(train, 'training', 'psi'), /no route on a bound of psi/);
  });
});

describe('drift statistics', () => {
  it('picks PSI bins whose sampling floor stays under a third of the threshold', () => {
    assert.equal(binsFor(150, 133, 0.2), 5);
    assert.equal(binsFor(5000, 5000, 0.2), 10);
    assert.ok(noiseFloor(binsFor(150, 133, 0.2), 150, 133) <= 0.2 / 3);
  });

  it('a paired bootstrap finds no gain between equal scores and a gain from better ones', () => {
    const rand = mulberry32(3);
    const y = Array.from({ length: 60 }, (_, i) => i % 2);
    const weak = y.map((v) => v * 0.2 + rand());
    const strong = y.map((v) => v * 1.5 + rand());
    const same = pairedAucGain(y, weak, weak, { seed: 1 });
    assert.deepEqual([same.gain, same.low, same.high], [0, 0, 0]);
    const better = pairedAucGain(y, weak, strong, { seed: 1 });
    assert.ok(better.low > 0, `low ${better.low}`);
    assert.ok(pairedAucGain(y, strong, weak, { seed: 1 }).high < 0);
  });
});

describe('the field feed', () => {
  const { heldBack } = seededSplit(shippedPenguins(), 42);
  it('gives each held-back bird one cohort, the same every season', () => {
    const c = cohortsOf(heldBack);
    const all = [...c.fit, ...c.select, ...c.validate];
    assert.equal(new Set(all).size, heldBack.length);
    assert.deepEqual([c.fit.length, c.select.length, c.validate.length], [45, 44, 44]);
    assert.deepEqual(cohortsOf([...heldBack].reverse()), c, 'independent of input order');
  });

  it('generates each window from its number alone: the same birds, re-measured, heavier females in season 1', () => {
    assert.deepEqual(generateWindow(heldBack, 1), generateWindow(heldBack, 1));
    assert.notDeepEqual(generateWindow(heldBack, 2), generateWindow(heldBack, 3));
    const ratio = (n: number, sex: string) => {
      const w = generateWindow(heldBack, n);
      const m = (rows: readonly Penguin[]) =>
        rows.filter((p) => p.sex === sex).reduce((t, p) => t + p.body_mass_g, 0);
      return m(w) / m(heldBack);
    };
    assert.ok(Math.abs(ratio(1, 'female') - 1.2) < 0.01);
    assert.ok(Math.abs(ratio(1, 'male') - 1) < 0.01);
    assert.ok(Math.abs(ratio(2, 'female') - 1) < 0.01);
  });
});
