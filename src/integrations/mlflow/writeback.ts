import type { OutboxRule } from '../../engine/engine.ts';
import { MlflowClient, MlflowError } from '../../gates/mlflow-client.ts';
import type { GateResult, HttpExchange } from '../../gates/types.ts';
import {
  dueRows,
  GAVE_UP_AT,
  markDelivered,
  type OutboxRow,
  retryLater,
  type StoreRunner,
  takeRow,
} from '../outbox-store.ts';

/*
 * Write-back after a passing promotion: when a phase is left (advanced, routed or completed) in the same
 * commit as an exit evaluation where an `mlflow` gate with `promote` passed, an outbox row asks for the
 * candidate version to be tagged and the alias moved. The deliverer re-checks first that the aliases
 * are where the gate saw them; if one moved, it writes nothing and gives up with the reason.
 */

export const PROMOTE_KIND = 'mlflow.promote';

/** An outbox row's payload; the first four keys identify the move (the guard looks rows up by them). */
export interface PromotionPayload {
  tracking_uri: string;
  model: string;
  promote_alias: string;
  version: string;
  run_id: string;
  /** The alias the gate read the candidate through, if any: it must still point at `version`. */
  candidate_alias: string | null;
  /** The baseline the gate compared with, if by alias: that alias must still point at `version`. */
  baseline: { alias: string; version: string } | null;
  tags: Record<string, string>;
  project: string;
  phase: string;
  gate: string;
  seq: number;
}

/** The key the guard looks for in delivered rows: what vt itself moved where. */
export function promotionPrefix(p: {
  tracking_uri: string;
  model: string;
  promote_alias: string;
  version: string;
}) {
  return JSON.stringify({
    tracking_uri: p.tracking_uri,
    model: p.model,
    promote_alias: p.promote_alias,
    version: p.version,
  }).slice(0, -1);
}

/** Passing mlflow results that ask for a promotion, children of all/any included. */
function promotions(results: readonly GateResult[]): GateResult[] {
  return results.flatMap((r) => [
    ...(r.kind === 'mlflow' && r.status === 'pass' && r.evidence.promote ? [r] : []),
    ...promotions(r.children ?? []),
  ]);
}

/**
 * The outbox rule. The engine calls rules event by event in commit order, so the rule remembers the
 * last passing exit evaluation per project and acts on the transition that follows it in the same
 * commit (same timestamp, later seq). A `vt gate check` that passes without moving on writes nothing.
 */
export function mlflowPromotionRule(): OutboxRule {
  const passed = new Map<string, { seq: number; ts: string; phase: string; results: GateResult[] }>();
  return (_s, e) => {
    if (e.type === 'gate.evaluated') {
      if (e.payload.side !== 'exit') return [];
      if (e.payload.passed)
        passed.set(e.project_id, {
          seq: e.seq,
          ts: e.ts,
          phase: e.payload.phase,
          results: e.payload.results,
        });
      else passed.delete(e.project_id);
      return [];
    }
    if (e.type !== 'phase.advanced' && e.type !== 'project.completed') return [];
    const g = passed.get(e.project_id);
    passed.delete(e.project_id);
    if (!g || g.ts !== e.ts || g.seq >= e.seq || g.phase !== e.payload.from) return [];
    const seq = String(e.seq).padStart(10, '0');
    return promotions(g.results).flatMap((r) => {
      const ev = r.evidence as {
        tracking_uri?: string;
        model?: string;
        candidate?: { alias: string | null; version: string | null; run_id: string } | null;
        baseline?: { by: string; alias: string | null; version: string | null } | null;
        promote?: { alias: string; tags: Record<string, string> };
      };
      if (!ev.tracking_uri || !ev.model || !ev.candidate?.version || !ev.promote) return [];
      const payload: PromotionPayload = {
        tracking_uri: ev.tracking_uri,
        model: ev.model,
        promote_alias: ev.promote.alias,
        version: ev.candidate.version,
        run_id: ev.candidate.run_id,
        candidate_alias: ev.candidate.alias,
        baseline:
          ev.baseline?.by === 'alias' && ev.baseline.alias && ev.baseline.version
            ? { alias: ev.baseline.alias, version: ev.baseline.version }
            : null,
        tags: ev.promote.tags ?? {},
        project: e.project_id,
        phase: g.phase,
        gate: r.gate,
        seq: e.seq,
      };
      return [
        {
          id: `${e.project_id}:${seq}:${PROMOTE_KIND}:${r.gate}`,
          kind: PROMOTE_KIND,
          payload: { ...payload },
        },
      ];
    });
  };
}

export interface PromotionResult {
  delivered: number;
  retried: number;
  refused: { id: string; reason: string }[];
}

/** Rejected calls (4xx other than 408/429) are tried this many times before giving up. */
const MAX_REJECTIONS = 3;
const SENDING_MS = 60_000;

export function promotionBackoffMs(attempts: number): number {
  return Math.min(1000 * 2 ** Math.max(attempts - 1, 0), 300_000);
}

/** Where the aliases are now, against where the gate saw them; null when nothing moved. */
async function moved(client: MlflowClient, p: PromotionPayload): Promise<string | null> {
  if (p.candidate_alias) {
    const now = await client.versionByAlias(p.model, p.candidate_alias);
    if (now.version !== p.version)
      return `@${p.candidate_alias} of ${p.model} moved from v${p.version} to v${now.version} after the gate passed`;
  }
  const mv = await client.version(p.model, p.version);
  if (mv.run_id !== p.run_id)
    return `${p.model} v${p.version} now belongs to run ${mv.run_id}, not ${p.run_id}`;
  if (p.baseline) {
    const now = await client.versionByAlias(p.model, p.baseline.alias).catch((err: unknown) => {
      if (err instanceof MlflowError && err.status === 404) return null;
      throw err;
    });
    if (now?.version !== p.baseline.version)
      return `@${p.baseline.alias} of ${p.model} moved from v${p.baseline.version} to ${now ? `v${now.version}` : 'nothing'} after the gate compared with it`;
  }
  return null;
}

/** Deliver due write-backs: re-check, tag the version, move the alias. */
export async function deliverPromotions(opts: {
  store: StoreRunner;
  http: HttpExchange;
  now: Date;
  batch?: number;
  backoffMs?: (attempts: number) => number;
  onLog?: (line: string) => void;
}): Promise<PromotionResult> {
  const { store, now } = opts;
  const out: PromotionResult = { delivered: 0, retried: 0, refused: [] };
  const rows = await store.transaction((trx) =>
    dueRows(trx, { kind: PROMOTE_KIND, prefix: '{', now: now.toISOString(), limit: opts.batch ?? 20 }),
  );
  for (const row of rows) {
    const until = new Date(now.getTime() + SENDING_MS).toISOString();
    if (!(await store.transaction((trx) => takeRow(trx, row, until)))) continue;
    await deliverOne(opts, row, out);
  }
  return out;
}

async function deliverOne(
  opts: {
    store: StoreRunner;
    http: HttpExchange;
    now: Date;
    backoffMs?: (attempts: number) => number;
    onLog?: (line: string) => void;
  },
  row: OutboxRow,
  out: PromotionResult,
) {
  const { store, now } = opts;
  const attempts = row.attempts + 1;
  const p = JSON.parse(row.payload) as PromotionPayload;
  const client = new MlflowClient(opts.http, p.tracking_uri);
  try {
    const why = await moved(client, p);
    if (why) {
      await store.transaction((trx) =>
        retryLater(trx, row.id, { next_at: GAVE_UP_AT, attempts, last_error: `refused: ${why}` }),
      );
      out.refused.push({ id: row.id, reason: why });
      opts.onLog?.(`mlflow: did not promote ${p.model} v${p.version} to @${p.promote_alias}: ${why}`);
      return;
    }
    const tags = {
      'vt.project': p.project,
      'vt.gate': `${p.phase}/${p.gate}`,
      'vt.event': `${p.project}#${p.seq}`,
      ...p.tags,
    };
    for (const [k, v] of Object.entries(tags)) await client.setVersionTag(p.model, p.version, k, v);
    await client.setAlias(p.model, p.promote_alias, p.version);
    await store.transaction((trx) => markDelivered(trx, row.id, now.toISOString(), attempts));
    out.delivered++;
    opts.onLog?.(
      `mlflow: @${p.promote_alias} of ${p.model} -> v${p.version} (${p.project}, ${p.phase}/${p.gate})`,
    );
  } catch (err) {
    const e = err instanceof MlflowError ? err : new MlflowError('unreachable', (err as Error).message);
    const rejected =
      e.kind === 'http' &&
      e.status !== null &&
      e.status >= 400 &&
      e.status < 500 &&
      e.status !== 408 &&
      e.status !== 429;
    if (rejected && attempts >= MAX_REJECTIONS) {
      await store.transaction((trx) =>
        retryLater(trx, row.id, { next_at: GAVE_UP_AT, attempts, last_error: `gave up: ${e.message}` }),
      );
      out.refused.push({ id: row.id, reason: e.message });
      opts.onLog?.(`mlflow: gave up on ${row.id}: ${e.message}`);
      return;
    }
    const wait = (opts.backoffMs ?? promotionBackoffMs)(attempts);
    await store.transaction((trx) =>
      retryLater(trx, row.id, {
        next_at: new Date(now.getTime() + wait).toISOString(),
        attempts,
        last_error: e.message,
      }),
    );
    out.retried++;
  }
}
