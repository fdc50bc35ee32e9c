import type { Engine } from '../../engine/engine.ts';
import type { Tickets } from '../../engine/ticket-ops.ts';
import type { Train } from '../../train/schema.ts';
import type { Flag } from './guard.ts';

/** The phase an alias problem is work for: `improvement`, else the first phase the improver owns. */
export function improvementPhase(train: Train): string | null {
  return (
    train.phases.find((p) => p.id === 'improvement')?.id ??
    train.phases.find((p) => p.owner === 'improver')?.id ??
    null
  );
}

/**
 * Open one issue per flag and project, for the improvement phase's owner, with the reason as its title.
 * The idempotency key names the move, so a flag seen again (another guard, a crash) adds nothing.
 */
export async function openGuardIssues(
  engine: Engine,
  tickets: Tickets,
  flags: readonly Flag[],
  onLog?: (line: string) => void,
): Promise<string[]> {
  const opened: string[] = [];
  for (const f of flags)
    for (const project of f.projects) {
      try {
        const s = await engine.state(project);
        const train = await engine.train(s.trainHash);
        const phase = improvementPhase(train);
        const r = await tickets.addIssue(
          project,
          {
            title: `MLflow guard: ${f.reason}`.slice(0, 300),
            priority: 'now',
            labels: ['mlflow-guard'],
            ...(phase ? { phase } : {}),
          },
          {
            actor: 'mlflow-guard',
            idempotencyKey: `mlflow-guard:${f.trackingUri}:${f.model}:${f.alias}:${f.from ?? ''}->${f.to ?? ''}`,
          },
        );
        if (!r.replayed) opened.push(r.issue);
        onLog?.(`mlflow guard: ${f.reason}; issue ${r.issue} in ${project}${phase ? ` (${phase})` : ''}`);
      } catch (err) {
        onLog?.(`mlflow guard: ${f.reason}; no issue in ${project}: ${(err as Error).message}`);
      }
    }
  return opened;
}
