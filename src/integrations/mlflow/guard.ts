import { safeUri } from '../../gates/mlflow.ts';
import { MlflowClient, MlflowError } from '../../gates/mlflow-client.ts';
import type { HttpExchange } from '../../gates/types.ts';
import type { GateSpec, Train } from '../../train/schema.ts';
import { aliasSighting, deliveredPayloads, recordSighting, type StoreRunner } from '../outbox-store.ts';
import { PROMOTE_KIND, promotionPrefix } from './writeback.ts';

/*
 * The alias guard: polls the aliases vt promotes (and any listed in integrations.mlflow.guard) and
 * compares each with what it saw last. A move to a version vt itself promoted after a passing gate is
 * fine; any other move (or a removed alias) is flagged once, and the caller opens a ticket for the
 * improvement phase's owner. The first sighting of an alias is taken as it is.
 */

export interface Watched {
  trackingUri: string;
  model: string;
  alias: string;
  /** Projects whose trains promote through this alias: where a flag opens a ticket. */
  projects: string[];
}

export interface Flag {
  trackingUri: string;
  model: string;
  alias: string;
  from: string | null;
  to: string | null;
  projects: string[];
  reason: string;
}

export interface GuardReport {
  checked: number;
  flags: Flag[];
  errors: string[];
}

function walk(gates: readonly GateSpec[], out: Extract<GateSpec, { kind: 'mlflow' }>[]) {
  for (const g of gates) {
    if (g.kind === 'mlflow') out.push(g);
    if (g.kind === 'all' || g.kind === 'any') walk(g.gates, out);
  }
  return out;
}

/** What to watch: every promote alias of an mlflow gate in the projects' trains, plus listed ones. */
export function watchList(
  projects: readonly { id: string; train: Train }[],
  extra: readonly {
    model: string;
    alias: string;
    trackingUri: string | null;
    project?: string | undefined;
  }[],
  defaultUri: string | null,
): Watched[] {
  const byKey = new Map<string, Watched>();
  const add = (uri: string | null | undefined, model: string, alias: string, project: string | null) => {
    if (!uri) return;
    const trackingUri = safeUri(uri);
    const key = JSON.stringify([trackingUri, model, alias]);
    const w = byKey.get(key) ?? { trackingUri, model, alias, projects: [] };
    if (project && !w.projects.includes(project)) w.projects.push(project);
    byKey.set(key, w);
  };
  for (const p of projects)
    for (const phase of p.train.phases)
      for (const g of walk([...phase.gates.entry, ...phase.gates.exit], []))
        if (g.promote && g.model)
          add(
            g.tracking_uri ?? p.train.integrations?.mlflow?.tracking_uri ?? defaultUri,
            g.model,
            g.promote.alias,
            p.id,
          );
  for (const x of extra) add(x.trackingUri ?? defaultUri, x.model, x.alias, x.project ?? null);
  return [...byKey.values()];
}

/** Check every watched alias once. */
export async function guardAliases(opts: {
  store: StoreRunner;
  http: HttpExchange;
  watch: readonly Watched[];
  now: Date;
}): Promise<GuardReport> {
  const report: GuardReport = { checked: 0, flags: [], errors: [] };
  const byModel = new Map<string, Watched[]>();
  for (const w of opts.watch) {
    const key = JSON.stringify([w.trackingUri, w.model]);
    byModel.set(key, [...(byModel.get(key) ?? []), w]);
  }
  for (const ws of byModel.values()) {
    const { trackingUri, model } = ws[0]!;
    let aliases: Record<string, string>;
    try {
      aliases = await new MlflowClient(opts.http, trackingUri).aliases(model);
    } catch (err) {
      report.errors.push(err instanceof MlflowError ? err.message : String(err));
      continue;
    }
    for (const w of ws) {
      report.checked++;
      const key = { tracking_uri: trackingUri, model, alias: w.alias };
      const now = aliases[w.alias] ?? null;
      const seen = await opts.store.transaction((trx) => aliasSighting(trx, key));
      const at = opts.now.toISOString();
      if (!seen || seen.version === now) {
        await opts.store.transaction((trx) =>
          recordSighting(trx, {
            ...key,
            version: now,
            seen_at: at,
            flagged_version: seen?.flagged_version ?? null,
          }),
        );
        continue;
      }
      const ours =
        now !== null &&
        (
          await opts.store.transaction((trx) =>
            deliveredPayloads(
              trx,
              PROMOTE_KIND,
              promotionPrefix({ tracking_uri: trackingUri, model, promote_alias: w.alias, version: now }),
            ),
          )
        ).length > 0;
      if (!ours && seen.flagged_version !== (now ?? '')) {
        report.flags.push({
          trackingUri,
          model,
          alias: w.alias,
          from: seen.version,
          to: now,
          projects: w.projects,
          reason:
            now === null
              ? `@${w.alias} of ${model} was removed (it pointed at v${seen.version}) without a passing vt gate`
              : `@${w.alias} of ${model} moved from ${seen.version ? `v${seen.version}` : 'nothing'} to v${now} without a passing vt gate`,
        });
      }
      await opts.store.transaction((trx) =>
        recordSighting(trx, {
          ...key,
          version: now,
          seen_at: at,
          flagged_version: ours ? null : (now ?? ''),
        }),
      );
    }
  }
  return report;
}
