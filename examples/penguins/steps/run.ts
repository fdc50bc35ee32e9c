// Entry point of the penguins example's step scripts: `node examples/penguins/steps/run.ts`, run by a
// `command` executor with the workspace as cwd. Reads VT_PHASE, runs that phase's module and writes
// its JSON report to VT_REPORT. Standard input (the task) is not read.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Report, Step, StepContext } from '../lib/workspace.ts';

/** Each phase of the train and the module that works it. */
const STEPS: Record<string, () => Promise<{ run: Step }>> = {
  'opportunity-triage': () => import('./opportunity-triage.ts'),
  'discovery-framing': () => import('./discovery-framing.ts'),
  'client-readiness': () => import('./client-readiness.ts'),
  'scope-pitch': () => import('./scope-pitch.ts'),
  'pre-kickoff': () => import('./pre-kickoff.ts'),
  'data-sources': () => import('./data-sources.ts'),
  extraction: () => import('./extraction.ts'),
  preparation: () => import('./preparation.ts'),
  exploration: () => import('./exploration.ts'),
  'feature-engineering': () => import('./feature-engineering.ts'),
  'model-architecture': () => import('./model-architecture.ts'),
  training: () => import('./training.ts'),
  validation: () => import('./validation.ts'),
  deployment: () => import('./deployment.ts'),
  monitoring: () => import('./monitoring.ts'),
  evaluation: () => import('./evaluation.ts'),
  improvement: () => import('./improvement.ts'),
  retraining: () => import('./retraining.ts'),
};

/** A required environment variable, or a clear error. */
function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

/** Check that every artifact the report names was written. */
function checkReport(ctx: StepContext, report: Report): void {
  for (const a of report.artifacts) {
    if (isAbsolute(a.path) || !existsSync(join(ctx.workspace, a.path))) {
      throw new Error(`artifact ${a.id} was not written at ${a.path}`);
    }
  }
}

async function main(): Promise<void> {
  const phase = env('VT_PHASE');
  const load = STEPS[phase];
  if (!load) throw new Error(`no step for phase "${phase}"`);
  const workspace = resolve(process.env.VT_WORKSPACE ?? process.cwd());
  const ctx: StepContext = {
    phase,
    project: process.env.VT_PROJECT ?? 'penguins',
    ticket: process.env.VT_TICKET ?? phase,
    workspace,
    exampleDir: resolve(process.env.VT_EXAMPLE_DIR ?? join(dirname(fileURLToPath(import.meta.url)), '..')),
  };
  const reportPath = resolve(workspace, env('VT_REPORT'));
  const report = await (await load()).run(ctx);
  checkReport(ctx, report);
  mkdirSync(dirname(reportPath), { recursive: true });
  writeFileSync(reportPath, JSON.stringify(report, null, 2) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(
    `penguins step ${process.env.VT_PHASE ?? '?'} failed: ${(err as Error).stack ?? err}\n`,
  );
  process.exit(1);
});
