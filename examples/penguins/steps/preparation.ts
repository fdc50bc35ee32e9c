import { parseCsv } from '../lib/csv.ts';
import { writePenguins } from '../lib/io.ts';
import { label, MEASUREMENTS, type Penguin, rejectReason, toPenguin } from '../lib/penguins.ts';
import { seededSplit } from '../lib/split.ts';
import { round } from '../lib/stats.ts';
import { mdTable } from '../lib/template.ts';
import { type Report, readText, type StepContext, writeText } from '../lib/workspace.ts';

/** Seed of the train/valid/test split. */
export const SPLIT_SEED = 42;

/** Physically plausible ranges; values outside are treated as recording errors. */
const RANGES: Record<(typeof MEASUREMENTS)[number], [number, number]> = {
  bill_length_mm: [25, 70],
  bill_depth_mm: [10, 25],
  flipper_length_mm: [160, 240],
  body_mass_g: [2000, 7000],
};

/** Preparation: cleaning rules, the target, and a seeded 60/20/20 split. */
export async function run(ctx: StepContext): Promise<Report> {
  const raw = parseCsv(readText(ctx, 'data/raw/dataset.csv'));
  const dropped: { id: string; reason: string }[] = [];
  const seen = new Set<string>();
  const clean: Penguin[] = [];
  for (const row of raw) {
    const why = rejectReason(row);
    if (why) {
      dropped.push({ id: row.id!, reason: why });
      continue;
    }
    const p = toPenguin(row);
    const out = MEASUREMENTS.find((m) => p[m] < RANGES[m][0] || p[m] > RANGES[m][1]);
    if (out) {
      dropped.push({ id: row.id!, reason: `${out} out of range` });
      continue;
    }
    const key = JSON.stringify({ ...p, id: 0 });
    if (seen.has(key)) {
      dropped.push({ id: row.id!, reason: 'duplicate of an earlier row' });
      continue;
    }
    seen.add(key);
    clean.push(p);
  }
  const splits = seededSplit(clean, SPLIT_SEED);
  for (const name of ['train', 'valid', 'test'] as const)
    writePenguins(ctx, `data/splits/${name}.csv`, splits[name]);

  const missingRate = dropped.length / raw.length;
  const reasons = new Map<string, number>();
  for (const d of dropped) reasons.set(d.reason, (reasons.get(d.reason) ?? 0) + 1);
  const share = (rows: Penguin[]) => round(rows.filter((p) => label(p) === 1).length / rows.length, 3);
  const report = [
    '# Preparation',
    '',
    '## Cleaning rules',
    '1. Drop a row with any missing measurement (cannot be scored; imputing would invent a bird).',
    '2. Drop a row whose sex is missing or not MALE/FEMALE (no target; "." is a data-entry error).',
    `3. Drop a row with a measurement outside a plausible range (${MEASUREMENTS.map((m) => `${m} ${RANGES[m].join('-')}`).join(', ')}).`,
    '4. Drop exact duplicates of an earlier row (same species, island, measurements and sex).',
    '',
    mdTable(
      ['Reason', 'Rows dropped'],
      [...reasons.entries()].map(([r, n]) => [r, n]),
    ),
    '',
    `Raw rows ${raw.length}, dropped ${dropped.length} (${round(missingRate * 100, 1)}%), kept ${clean.length}. Dropped ids: ${dropped.map((d) => d.id).join(', ')}.`,
    '',
    '## Target',
    'y = 1 when sex is male, 0 when female (molecular sexing in the source study). The prediction is',
    'made at capture, from measurements taken at the same capture, so no later information is used.',
    '',
    '## Split',
    `Seeded random split (mulberry32, seed ${SPLIT_SEED}), 60/20/20. Each row is a distinct bird and the`,
    'source has no date or band number, so there is no time or individual to group by; a random split',
    'by bird cannot leak one bird into two splits.',
    '',
    mdTable(
      ['Split', 'Rows', 'Share male'],
      (['train', 'valid', 'test'] as const).map((s) => [s, splits[s].length, share(splits[s])]),
    ),
    '',
    '## Data dictionary',
    mdTable(
      ['Column', 'Type', 'Meaning'],
      [
        ['id', 'integer', 'Row number in the source file (1-based); not a feature'],
        ['species', 'category', 'Adelie, Chinstrap or Gentoo'],
        ['island', 'category', 'Biscoe, Dream or Torgersen'],
        ['bill_length_mm', 'number', 'Culmen length, mm'],
        ['bill_depth_mm', 'number', 'Culmen depth, mm'],
        ['flipper_length_mm', 'number', 'Flipper length, mm'],
        ['body_mass_g', 'number', 'Body mass, g'],
        ['sex', 'category', 'male or female: the target'],
      ],
    ),
    '',
  ].join('\n');
  writeText(ctx, 'reports/preparation.md', report);

  return {
    ticks: ['clean-data', 'define-target', 'split-data', 'record-quality', 'write-data-dictionary'],
    artifacts: [
      { id: 'train-split', path: 'data/splits/train.csv' },
      { id: 'valid-split', path: 'data/splits/valid.csv' },
      { id: 'test-split', path: 'data/splits/test.csv' },
      { id: 'preparation-report', path: 'reports/preparation.md' },
    ],
    metrics: { row_count: clean.length, missing_rate: round(missingRate) },
    context: [
      {
        kind: 'decision',
        text: `Rows with a missing measurement or sex are dropped, not imputed (${dropped.length} of ${raw.length}).`,
      },
      {
        kind: 'fact',
        text: `Split seed ${SPLIT_SEED}: train ${splits.train.length}, valid ${splits.valid.length}, test ${splits.test.length}.`,
      },
    ],
    summary: `Cleaned ${raw.length} raw rows to ${clean.length} and split them ${splits.train.length}/${splits.valid.length}/${splits.test.length}.`,
  };
}
