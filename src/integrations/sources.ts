import type { IssueSource } from '../autopilot/worker.ts';
import type { Engine } from '../engine/engine.ts';
import type { Tickets } from '../engine/ticket-ops.ts';
import type { HttpExchange } from '../gates/types.ts';
import { Background } from './background.ts';
import type { IntegrationsConfig } from './config.ts';
import { guardAliases, watchList } from './mlflow/guard.ts';
import { openGuardIssues } from './mlflow/tickets.ts';
import { deliverPromotions } from './mlflow/writeback.ts';
import { liveProjects } from './outbox-store.ts';
import { deliverWebhooks } from './webhooks/deliver.ts';

/*
 * The integrations as autopilot sources: each autopilot turn kicks webhook and MLflow deliveries in the
 * background (the loop never waits on a receiver), and now and then runs the MLflow alias guard, whose
 * flags become issues for the improvement phase.
 */

export interface IntegrationSources {
  sources: IssueSource[];
  /** Wait for deliveries in flight, at most `ms` (when the autopilot stops). */
  drain(ms: number): Promise<void>;
}

export function integrationSources(deps: {
  engine: Engine;
  tickets: Tickets;
  config: IntegrationsConfig;
  http: HttpExchange;
  /** How often the alias guard looks (it is also run on the first turn). */
  guardEveryMs?: number;
  onLog?: (line: string) => void;
}): IntegrationSources {
  const { engine, config } = deps;
  const store = engine.store;
  const log = deps.onLog ?? (() => {});
  const fail = (what: string) => (err: unknown) => log(`${what}: ${(err as Error).message ?? String(err)}`);
  const runners: Background<unknown>[] = [];
  const sources: IssueSource[] = [];

  if (config.endpoints.length) {
    const hooks = new Background(
      () => deliverWebhooks({ store, endpoints: config.endpoints, now: engine.clock.now(), onLog: log }),
      fail('webhooks'),
    );
    runners.push(hooks);
    sources.push({
      name: 'webhooks',
      sync: async () => 0,
      deliver: async () => {
        hooks.kick();
        return hooks.last?.delivered ?? 0;
      },
    });
  }

  const promote = new Background(
    () => deliverPromotions({ store, http: deps.http, now: engine.clock.now(), onLog: log }),
    fail('mlflow write-back'),
  );
  runners.push(promote);
  let lastGuard = Number.NEGATIVE_INFINITY;
  const guard = new Background(async () => {
    const projects = await Promise.all(
      (await store.transaction((trx) => liveProjects(trx))).map(async (p) => ({
        id: p.id,
        train: await engine.train(p.train_hash),
      })),
    );
    const watch = watchList(
      projects,
      config.mlflow.guard.map((g) => ({ ...g, trackingUri: null })),
      config.mlflow.trackingUri,
    );
    if (!watch.length) return 0;
    const report = await guardAliases({ store, http: deps.http, watch, now: engine.clock.now() });
    for (const e of report.errors) log(`mlflow guard: ${e}`);
    return (await openGuardIssues(engine, deps.tickets, report.flags, log)).length;
  }, fail('mlflow guard'));
  runners.push(guard);
  sources.push({
    name: 'mlflow',
    sync: async () => {
      const now = engine.clock.now().getTime();
      if (now - lastGuard >= (deps.guardEveryMs ?? 60_000)) {
        lastGuard = now;
        guard.kick();
      }
      return 0;
    },
    deliver: async () => {
      promote.kick();
      return promote.last?.delivered ?? 0;
    },
  });

  return {
    sources,
    drain: async (ms) => {
      await Promise.all(runners.map((r) => r.drain(ms)));
    },
  };
}
