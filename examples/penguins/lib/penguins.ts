import type { CsvRow } from './csv.ts';

/** One cleaned penguin: the model's unit of prediction. */
export interface Penguin {
  id: number;
  species: string;
  island: string;
  bill_length_mm: number;
  bill_depth_mm: number;
  flipper_length_mm: number;
  body_mass_g: number;
  sex: 'male' | 'female';
}

/** The measurement columns, in a fixed order. */
export const MEASUREMENTS = ['bill_length_mm', 'bill_depth_mm', 'flipper_length_mm', 'body_mass_g'] as const;

/** A measurement column name. */
export type Measurement = (typeof MEASUREMENTS)[number];

/** The columns of data/raw/dataset.csv and of the prepared splits. */
export const COLUMNS = ['id', 'species', 'island', ...MEASUREMENTS, 'sex'] as const;

/** Source field (vega-datasets penguins.json) for each raw column. */
export const SOURCE_FIELDS: Record<string, string> = {
  species: 'Species',
  island: 'Island',
  bill_length_mm: 'Beak Length (mm)',
  bill_depth_mm: 'Beak Depth (mm)',
  flipper_length_mm: 'Flipper Length (mm)',
  body_mass_g: 'Body Mass (g)',
  sex: 'Sex',
};

/** Turn the shipped JSON records into raw CSV rows, unchanged except for column names and a 1-based id. */
export function rawRowsFromJson(records: readonly Record<string, unknown>[]): CsvRow[] {
  return records.map((rec, i) => {
    const row: CsvRow = { id: String(i + 1) };
    for (const [col, field] of Object.entries(SOURCE_FIELDS)) {
      const v = rec[field];
      row[col] = v === null || v === undefined ? '' : String(v);
    }
    return row;
  });
}

/** Why a raw row cannot be used, or null when it is clean. */
export function rejectReason(row: CsvRow): string | null {
  for (const m of MEASUREMENTS) if (row[m] === '' || !Number.isFinite(Number(row[m]))) return `missing ${m}`;
  const sex = (row.sex ?? '').toUpperCase();
  if (sex !== 'MALE' && sex !== 'FEMALE') return row.sex ? `invalid sex "${row.sex}"` : 'missing sex';
  return null;
}

/** Parse a clean CSV row (raw or prepared) into a penguin; call rejectReason first. */
export function toPenguin(row: CsvRow): Penguin {
  return {
    id: Number(row.id),
    species: row.species!,
    island: row.island!,
    bill_length_mm: Number(row.bill_length_mm),
    bill_depth_mm: Number(row.bill_depth_mm),
    flipper_length_mm: Number(row.flipper_length_mm),
    body_mass_g: Number(row.body_mass_g),
    sex: row.sex!.toLowerCase() === 'male' ? 'male' : 'female',
  };
}

/** The binary target: 1 for male, 0 for female. */
export function label(p: Penguin): number {
  return p.sex === 'male' ? 1 : 0;
}
