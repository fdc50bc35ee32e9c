import type { MlflowGateSpec, MlflowSelector } from '../train/mlflow-spec.ts';
import type { Json } from '../types.ts';
import { MlflowClient, MlflowError } from './mlflow-client.ts';
import { judge, type MetricThreshold } from './mlflow-threshold.ts';
import type { GateContext, GateResult } from './types.ts';

/*
 * The `mlflow` gate: resolve the candidate (alias -> version -> run) once, read its metric, do the same
 * for a baseline if one is named, judge with MLflow's threshold semantics, then look at the aliases
 * again: if one moved while the gate was checking, the verdict is about a model no longer there, so it
 * is `error`. Every response's SHA-256 is evidence. A missing metric or an unreachable server is
 * `error`, never `pass`.
 */

/** What a selector resolved to. */
export interface Resolved {
  by: 'alias' | 'version' | 'run' | 'search';
  alias: string | null;
  version: string | null;
  run_id: string;
  value: number | null;
}

/** The tracking server a gate reads: the gate's own, the train's, or MLFLOW_TRACKING_URI. */
export function trackingUriOf(spec: MlflowGateSpec, ctx: GateContext): string | null {
  return (
    spec.tracking_uri ??
    ctx.train.integrations?.mlflow?.tracking_uri ??
    ctx.io.http?.env('MLFLOW_TRACKING_URI') ??
    null
  );
}

/** A tracking URI as it may be recorded: credentials in it removed. */
export function safeUri(uri: string): string {
  try {
    const u = new URL(uri);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/+$/, '');
  } catch {
    return '(not a URL)';
  }
}

async function resolve(
  client: MlflowClient,
  model: string | undefined,
  sel: MlflowSelector,
  metric: string,
  step: number | undefined,
): Promise<Resolved> {
  let r: Omit<Resolved, 'value'>;
  if (sel.alias !== undefined) {
    const mv = await client.versionByAlias(model!, sel.alias);
    if (!mv.run_id)
      throw new MlflowError('invalid', `${model} version ${mv.version} (@${sel.alias}) has no run`);
    r = { by: 'alias', alias: sel.alias, version: mv.version, run_id: mv.run_id };
  } else if (sel.version !== undefined) {
    const mv = await client.version(model!, String(sel.version));
    if (!mv.run_id) throw new MlflowError('invalid', `${model} version ${mv.version} has no run`);
    r = { by: 'version', alias: null, version: mv.version, run_id: mv.run_id };
  } else if (sel.run !== undefined) {
    r = { by: 'run', alias: null, version: null, run_id: sel.run };
  } else {
    const run = await client.firstRun(sel.search!);
    if (!run) throw new MlflowError('invalid', 'runs/search found no run');
    r = { by: 'search', alias: null, version: null, run_id: run };
  }
  let value: number | null = null;
  if (step === undefined) {
    const m = (await client.runMetrics(r.run_id)).find((x) => x.key === metric);
    value = m && Number.isFinite(m.value) ? m.value : null;
  } else {
    const at = (await client.metricHistory(r.run_id, metric)).filter((x) => x.step === step);
    const last = at.sort((a, b) => a.timestamp - b.timestamp).at(-1);
    value = last && Number.isFinite(last.value) ? last.value : null;
  }
  return { ...r, value };
}

const describe = (model: string | undefined, r: Resolved) =>
  r.version ? `${model} v${r.version}${r.alias ? ` (@${r.alias})` : ''}, run ${r.run_id}` : `run ${r.run_id}`;

const asJson = (r: Resolved | null): Json =>
  r ? { by: r.by, alias: r.alias, version: r.version, run_id: r.run_id, value: r.value } : null;

export async function mlflowGate(spec: MlflowGateSpec, ctx: GateContext): Promise<GateResult> {
  const criteria: MetricThreshold = {
    threshold: spec.threshold,
    min_absolute_change: spec.min_absolute_change,
    min_relative_change: spec.min_relative_change,
    greater_is_better: spec.greater_is_better,
  };
  const base = {
    gate: spec.id,
    kind: spec.kind,
  };
  const criteriaJson: Json = {
    threshold: spec.threshold ?? null,
    min_absolute_change: spec.min_absolute_change ?? null,
    min_relative_change: spec.min_relative_change ?? null,
    greater_is_better: spec.greater_is_better,
  };
  const uri = trackingUriOf(spec, ctx);
  if (!ctx.io.http || !uri) {
    const message = ctx.io.http
      ? 'no MLflow tracking URI: set tracking_uri on the gate, integrations.mlflow.tracking_uri or MLFLOW_TRACKING_URI'
      : 'this process cannot reach MLflow (no HTTP for gates)';
    return { ...base, status: 'error', message, evidence: { error: message, criteria: criteriaJson } };
  }
  const client = new MlflowClient(ctx.io.http, uri, spec.timeout_s * 1000);
  let candidate: Resolved | null = null;
  let baseline: Resolved | null = null;
  const evidence = (extra: Record<string, Json>) => ({
    tracking_uri: safeUri(uri),
    model: spec.model ?? null,
    metric: spec.metric,
    step: spec.step ?? null,
    candidate: asJson(candidate),
    baseline: asJson(baseline),
    criteria: criteriaJson,
    promote: spec.promote ? { alias: spec.promote.alias, tags: spec.promote.tags } : null,
    calls: client.calls.map((c) => ({ ...c })),
    ...extra,
  });
  try {
    candidate = await resolve(client, spec.model, spec, spec.metric, spec.step);
    if (spec.baseline) baseline = await resolve(client, spec.model, spec.baseline, spec.metric, spec.step);
    const verdict = judge(criteria, candidate.value, baseline?.value ?? null);
    // Aliases may have moved while we read: a verdict about a version no longer there decides nothing.
    for (const r of [candidate, baseline])
      if (r?.by === 'alias') {
        const now = await client.versionByAlias(spec.model!, r.alias!);
        if (now.version !== r.version) {
          const message = `alias @${r.alias} of ${spec.model} moved from v${r.version} to v${now.version} while the gate was checked; check again`;
          return { ...base, status: 'error', message, evidence: evidence({ error: message, moved: true }) };
        }
      }
    const checks = verdict.checks.map((c) => ({ ...c }));
    if (verdict.status === 'error') {
      const whose = verdict.reason.includes('baseline') ? baseline : candidate;
      const message = `${spec.metric} is not logged in ${whose ? describe(spec.model, whose) : 'the run'}`;
      return { ...base, status: 'error', message, evidence: evidence({ error: message, checks }) };
    }
    const what = `${spec.metric} of ${describe(spec.model, candidate)}`;
    const message = `${what}: ${verdict.checks.map((c) => `${c.check} ${c.passed ? 'passed' : 'failed'} (${c.detail})`).join('; ')}`;
    return { ...base, status: verdict.status, message, evidence: evidence({ checks }) };
  } catch (err) {
    const message =
      err instanceof MlflowError ? err.message : `MLflow gate failed: ${(err as Error).message}`;
    return { ...base, status: 'error', message, evidence: evidence({ error: message }) };
  }
}
