import { parseCsv, toCsv } from './csv.ts';
import { sha256 } from './hash.ts';
import { type ModelFile, modelFromJson, modelToJson } from './model.ts';
import { COLUMNS, type Penguin, toPenguin } from './penguins.ts';
import { readText, type StepContext, writeText } from './workspace.ts';

/** Read cleaned penguins from a workspace CSV (a split or a production batch). */
export function readPenguins(ctx: StepContext, rel: string): Penguin[] {
  return parseCsv(readText(ctx, rel)).map(toPenguin);
}

/** Write penguins as CSV with the standard columns. */
export function writePenguins(ctx: StepContext, rel: string, rows: readonly Penguin[]): void {
  writeText(ctx, rel, toCsv(rows as unknown as Record<string, string | number>[], COLUMNS));
}

/** The three prepared splits. */
export function readSplits(ctx: StepContext): { train: Penguin[]; valid: Penguin[]; test: Penguin[] } {
  return {
    train: readPenguins(ctx, 'data/splits/train.csv'),
    valid: readPenguins(ctx, 'data/splits/valid.csv'),
    test: readPenguins(ctx, 'data/splits/test.csv'),
  };
}

/** Load a saved model from the workspace. */
export function readModel(ctx: StepContext, rel = 'models/model.json'): ModelFile {
  return modelFromJson(readText(ctx, rel));
}

/** Save a model to the workspace. */
export function writeModel(ctx: StepContext, rel: string, model: ModelFile): void {
  writeText(ctx, rel, modelToJson(model));
}

/** A short version tag derived from the saved model's bytes. */
export function modelVersion(model: ModelFile): string {
  return `penguin-sex-lr-${sha256(modelToJson(model)).slice(0, 12)}`;
}
