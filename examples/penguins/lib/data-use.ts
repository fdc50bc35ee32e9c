import type { Penguin } from './penguins.ts';
import { type StepContext, writeJson } from './workspace.ts';

/*
 * Every step that reads birds records which ones, and what for, in reports/data-use/<ticket>.json, so
 * anyone can check that no bird used to choose a model (or a setting) is later used to validate one.
 */

/** What a step did with a set of birds. */
export const PURPOSES = ['fit', 'choose', 'validate', 'monitor', 'analyse', 'smoke-test'] as const;
export type Purpose = (typeof PURPOSES)[number];

export interface DataUse {
  /** Where the birds came from: a split (`train`) or a window cohort (`window-1/select`). */
  set: string;
  purpose: Purpose;
  /** Bird ids (the source row numbers): a bird keeps its id in every season it is caught. */
  ids: number[];
}

export interface DataUseManifest {
  phase: string;
  ticket: string;
  uses: DataUse[];
}

/** Workspace path of this visit's manifest. */
export function manifestPath(ctx: StepContext): string {
  return `reports/data-use/${ctx.ticket.replace(/[^A-Za-z0-9._-]/g, '_')}.json`;
}

/** Write this visit's manifest; returns its path. */
export function recordDataUse(
  ctx: StepContext,
  uses: { set: string; purpose: Purpose; rows: readonly Penguin[] }[],
): string {
  const manifest: DataUseManifest = {
    phase: ctx.phase,
    ticket: ctx.ticket,
    uses: uses.map((u) => ({
      set: u.set,
      purpose: u.purpose,
      ids: [...new Set(u.rows.map((p) => p.id))].sort((a, b) => a - b),
    })),
  };
  const path = manifestPath(ctx);
  writeJson(ctx, path, manifest);
  return path;
}

/** Purposes that must never share a bird: fitting, choosing and validating. */
const EXCLUSIVE: readonly Purpose[] = ['fit', 'choose', 'validate'];

/**
 * Birds used for two of fit, choose and validate anywhere in the project: one line per bird and pair,
 * naming the visits and sets. Empty when every held-out judgement was made on birds nothing else used.
 */
export function findLeaks(manifests: readonly DataUseManifest[]): string[] {
  const where = new Map<string, Map<number, string>>(); // purpose -> bird -> first "ticket (set)"
  for (const p of EXCLUSIVE) where.set(p, new Map());
  for (const m of manifests)
    for (const u of m.uses) {
      const seen = where.get(u.purpose);
      if (!seen) continue;
      for (const id of u.ids) if (!seen.has(id)) seen.set(id, `${m.ticket} (${u.set})`);
    }
  const out: string[] = [];
  for (const [i, a] of EXCLUSIVE.entries())
    for (const b of EXCLUSIVE.slice(i + 1)) {
      const left = where.get(a)!;
      const right = where.get(b)!;
      for (const [id, at] of left) {
        const other = right.get(id);
        if (other) out.push(`bird ${id}: ${a} in ${at}, ${b} in ${other}`);
      }
    }
  return out;
}
