import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** What a phase module is given: the phase, the project and where to read and write. */
export interface StepContext {
  phase: string;
  project: string;
  /** The ticket being worked (VT_TICKET), or the phase when run by hand: names this visit's records. */
  ticket: string;
  /** The project's workspace; every artifact path is relative to it. */
  workspace: string;
  /** examples/penguins, where data/ and project-brief.yaml live. */
  exampleDir: string;
}

/** Kinds of context entry a report may carry. */
export type ContextKind = 'decision' | 'fact' | 'assumption' | 'risk' | 'note';

/** The JSON report a step writes to VT_REPORT. */
export interface Report {
  ticks: string[];
  artifacts: { id: string; path: string }[];
  metrics: Record<string, number>;
  context: { kind: ContextKind; text: string }[];
  summary: string;
}

/** A phase module's entry point. */
export type Step = (ctx: StepContext) => Promise<Report>;

/** Absolute path of a workspace-relative path. */
export function wsPath(ctx: StepContext, rel: string): string {
  return join(ctx.workspace, rel);
}

/** True when the workspace holds the file. */
export function exists(ctx: StepContext, rel: string): boolean {
  return existsSync(wsPath(ctx, rel));
}

/** Read a workspace file as UTF-8. */
export function readText(ctx: StepContext, rel: string): string {
  return readFileSync(wsPath(ctx, rel), 'utf8');
}

/** Write a workspace file, creating its folder. */
export function writeText(ctx: StepContext, rel: string, text: string): void {
  const abs = wsPath(ctx, rel);
  mkdirSync(dirname(abs), { recursive: true });
  writeFileSync(abs, text);
}

/** Read and parse a workspace JSON file. */
export function readJson<T>(ctx: StepContext, rel: string): T {
  return JSON.parse(readText(ctx, rel)) as T;
}

/** Write a value as pretty JSON. */
export function writeJson(ctx: StepContext, rel: string, value: unknown): void {
  writeText(ctx, rel, JSON.stringify(value, null, 2) + '\n');
}

/** A markdown template from the workspace's templates/docs folder. */
export function readTemplate(ctx: StepContext, name: string): string {
  const rel = `templates/docs/${name}.md`;
  if (!exists(ctx, rel)) throw new Error(`the workspace has no ${rel}`);
  return readText(ctx, rel);
}

/** The context entry every pre-engagement step adds: client input comes from the brief. */
export const SIMULATED_CLIENT = {
  kind: 'assumption',
  text: 'Client input is simulated: interview notes, scores and plans come from examples/penguins/project-brief.yaml.',
} as const;
