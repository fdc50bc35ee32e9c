import { cleanRows } from './clean.ts';
import { parseCsv } from './csv.ts';
import { readPenguins, writePenguins } from './io.ts';
import type { Penguin } from './penguins.ts';
import { gaussian, mulberry32, shuffled } from './prng.ts';
import { exists, readJson, readText, type StepContext, writeJson } from './workspace.ts';

/*
 * The field feed: the seasons of birds the deployed model meets after delivery. The feed draws from
 * the birds preparation held back (in no split), and reveals one window at a time: a monitoring visit
 * asks for the next window and gets it only then. What a season is like is decided here, by window
 * number, never by the model or by what happened in the project.
 */

/** Where revealed windows live in the workspace. */
export const WINDOWS_DIR = 'data/windows';

/** Seed of the instrument noise: window n uses FEED_SEED + n. */
const FEED_SEED = 2026;
/** Seed of the cohort draw (which held-back birds are for fitting, choosing and validating). */
const COHORT_SEED = 7;
/** How many seasons the feed has; a monitoring visit past the last one fails loudly. */
export const MAX_WINDOWS = 8;

/**
 * Held-back birds have one fixed role in every season, so no bird is ever used both to choose a model
 * and to validate one: `fit` may train a challenger, `select` decides promotion (and evaluation's
 * comparison), `validate` is scored only by validation.
 */
export const COHORTS = ['fit', 'select', 'validate'] as const;
export type Cohort = (typeof COHORTS)[number];
const COHORT_SHARES: Record<Cohort, number> = { fit: 0.34, select: 0.33, validate: 0.33 };

/** A season's field conditions, known to the feed only (the monitoring step sees just the birds). */
interface Season {
  /** Body mass multiplier for females and males. */
  mass: { female: number; male: number };
}

/**
 * Season 1 is weighed before egg-laying: females carry eggs and fat reserves, 20% heavier; males are
 * unchanged. Every later season is an ordinary one. Each bird is remeasured with ~1% instrument noise.
 */
function seasonOf(n: number): Season {
  return n === 1 ? { mass: { female: 1.2, male: 1 } } : { mass: { female: 1, male: 1 } };
}

/** The birds preparation held back: clean raw rows that are in none of the three splits. */
export function heldBackBirds(ctx: StepContext): Penguin[] {
  const inSplits = new Set(
    ['train', 'valid', 'test'].flatMap((s) => readPenguins(ctx, `data/splits/${s}.csv`).map((p) => p.id)),
  );
  const { clean } = cleanRows(parseCsv(readText(ctx, 'data/raw/dataset.csv')));
  return clean.filter((p) => !inSplits.has(p.id)).sort((a, b) => a.id - b.id);
}

/** The fixed cohort of each held-back bird (seeded; the same in every season). */
export function cohortsOf(birds: readonly Penguin[]): Record<Cohort, number[]> {
  const order = shuffled(
    birds.map((p) => p.id).sort((a, b) => a - b),
    COHORT_SEED,
  );
  const nFit = Math.round(order.length * COHORT_SHARES.fit);
  const nSelect = Math.round(order.length * COHORT_SHARES.select);
  const sorted = (ids: number[]) => [...ids].sort((a, b) => a - b);
  return {
    fit: sorted(order.slice(0, nFit)),
    select: sorted(order.slice(nFit, nFit + nSelect)),
    validate: sorted(order.slice(nFit + nSelect)),
  };
}

/** Window n: every held-back bird caught again in season n, remeasured (seeded by n). */
export function generateWindow(birds: readonly Penguin[], n: number): Penguin[] {
  const season = seasonOf(n);
  const rand = mulberry32(FEED_SEED + n);
  const jitter = (x: number, digits: number) => {
    const f = 10 ** digits;
    return Math.round(x * (1 + 0.01 * gaussian(rand)) * f) / f;
  };
  return birds.map((p) => ({
    ...p,
    bill_length_mm: jitter(p.bill_length_mm, 1),
    bill_depth_mm: jitter(p.bill_depth_mm, 1),
    flipper_length_mm: jitter(p.flipper_length_mm, 0),
    body_mass_g: jitter(p.body_mass_g * season.mass[p.sex], 0),
  }));
}

/** Workspace path of window n. */
export function windowPath(n: number): string {
  return `${WINDOWS_DIR}/window-${n}.csv`;
}

/** Numbers of the windows revealed so far in this workspace (1, 2, ...). */
export function revealedWindows(ctx: StepContext): number[] {
  const out: number[] = [];
  for (let n = 1; n <= MAX_WINDOWS && exists(ctx, windowPath(n)); n++) out.push(n);
  return out;
}

/**
 * Reveal the next window: the one after the last revealed in this workspace. A visit that is re-run
 * starts from the same files, so it reveals the same window again, with the same birds.
 */
export function revealNextWindow(ctx: StepContext): { n: number; rows: Penguin[] } {
  const n = revealedWindows(ctx).length + 1;
  if (n > MAX_WINDOWS) throw new Error(`the field feed has no season after window ${MAX_WINDOWS}`);
  const birds = heldBackBirds(ctx);
  if (!exists(ctx, `${WINDOWS_DIR}/cohorts.json`))
    writeJson(ctx, `${WINDOWS_DIR}/cohorts.json`, cohortsOf(birds));
  const rows = generateWindow(birds, n);
  writePenguins(ctx, windowPath(n), rows);
  return { n, rows };
}

/** The birds of window n. */
export function readWindow(ctx: StepContext, n: number): Penguin[] {
  return readPenguins(ctx, windowPath(n));
}

/** The birds of window n in one cohort. */
export function windowCohort(ctx: StepContext, n: number, cohort: Cohort): Penguin[] {
  const ids = new Set(readJson<Record<Cohort, number[]>>(ctx, `${WINDOWS_DIR}/cohorts.json`)[cohort]);
  return readWindow(ctx, n).filter((p) => ids.has(p.id));
}
