import { cleanRows, RANGES } from '../lib/clean.ts';
import { parseCsv } from '../lib/csv.ts';
import { writePenguins } from '../lib/io.ts';
import { label, MEASUREMENTS, type Penguin } from '../lib/penguins.ts';
import { SHARES, seededSplit } from '../lib/split.ts';
import { round } from '../lib/stats.ts';
import { mdTable } from '../lib/template.ts';
import { type Report, readText, type StepContext, writeText } from '../lib/workspace.ts';

/** Seed of the train/valid/test split. */
export const SPLIT_SEED = 42;

const pct = (x: number) => `${Math.round(x * 100)}%`;

/** Preparation: cleaning rules, the target, and a seeded split with birds held back for later seasons. */
export async function run(ctx: StepContext): Promise<Report> {
  const raw = parseCsv(readText(ctx, 'data/raw/dataset.csv'));
  const { clean, dropped } = cleanRows(raw);
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
    `Seeded random split (mulberry32, seed ${SPLIT_SEED}): ${pct(SHARES.train)} train, ${pct(SHARES.valid)} validation,`,
    `${pct(SHARES.test)} test. The other ${splits.heldBack.length} birds are held back, in no split: they stand for the birds`,
    'the field team will catch in later seasons, and only the field feed (lib/feed.ts) hands them out,',
    'one monitoring window at a time. Each row is a distinct bird and the source has no date or band',
    'number, so there is no time or individual to group by; a random split by bird cannot leak one bird',
    'into two splits.',
    '',
    mdTable(
      ['Split', 'Rows', 'Share male'],
      (['train', 'valid', 'test', 'heldBack'] as const).map((s) => [
        s === 'heldBack' ? 'held back (field feed)' : s,
        splits[s].length,
        share(splits[s]),
      ]),
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
        text: `Split seed ${SPLIT_SEED}: train ${splits.train.length}, valid ${splits.valid.length}, test ${splits.test.length}; ${splits.heldBack.length} birds held back for the field feed.`,
      },
    ],
    summary: `Cleaned ${raw.length} raw rows to ${clean.length} and split them ${splits.train.length}/${splits.valid.length}/${splits.test.length}, holding back ${splits.heldBack.length}.`,
  };
}
