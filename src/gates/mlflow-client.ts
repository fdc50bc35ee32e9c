import { sha256 } from '../canonical.ts';
import { redact, stripControl } from '../redact.ts';
import type { HttpExchange } from './types.ts';

/*
 * A small client for MLflow's REST API (/api/2.0/mlflow/...), over the HTTP the caller injects. It keeps
 * a record of every call (method, path and query, status, SHA-256 of the body) for evidence; the token
 * goes only into the Authorization header and is never recorded.
 */

export interface MlflowCall {
  call: string;
  status: number;
  sha256: string;
}

/** A failed call: `unreachable` (no answer), `http` (an error status) or `invalid` (not the expected JSON). */
export class MlflowError extends Error {
  readonly kind: 'unreachable' | 'http' | 'invalid';
  readonly status: number | null;
  readonly errorCode: string | null;
  constructor(
    kind: MlflowError['kind'],
    message: string,
    status: number | null = null,
    errorCode: string | null = null,
  ) {
    super(message);
    this.name = 'MlflowError';
    this.kind = kind;
    this.status = status;
    this.errorCode = errorCode;
  }
}

export interface ModelVersion {
  name: string;
  version: string;
  run_id: string | null;
  aliases: string[];
  tags: Record<string, string>;
}

export interface Metric {
  key: string;
  value: number;
  step: number;
  timestamp: number;
}

const API = '/api/2.0/mlflow';

const clean = (s: string) => redact(stripControl(s)).slice(0, 500);

function versionOf(raw: unknown): ModelVersion {
  const mv = (raw as { model_version?: Record<string, unknown> } | null)?.model_version;
  if (!mv || (typeof mv.version !== 'string' && typeof mv.version !== 'number'))
    throw new MlflowError('invalid', 'the answer has no model_version');
  const tags = Array.isArray(mv.tags)
    ? Object.fromEntries(
        (mv.tags as { key: string; value: string }[]).map((t) => [String(t.key), String(t.value)]),
      )
    : {};
  return {
    name: String(mv.name ?? ''),
    version: String(mv.version),
    run_id: typeof mv.run_id === 'string' && mv.run_id ? mv.run_id : null,
    aliases: Array.isArray(mv.aliases) ? (mv.aliases as unknown[]).map(String) : [],
    tags,
  };
}

function metricsOf(list: unknown): Metric[] {
  if (!Array.isArray(list)) return [];
  return list
    .filter((m): m is Record<string, unknown> => !!m && typeof m === 'object')
    .map((m) => ({
      key: String(m.key),
      value: Number(m.value),
      step: Number(m.step ?? 0),
      timestamp: Number(m.timestamp ?? 0),
    }));
}

export class MlflowClient {
  readonly trackingUri: string;
  readonly calls: MlflowCall[] = [];
  readonly #http: HttpExchange;
  readonly #timeoutMs: number;

  constructor(http: HttpExchange, trackingUri: string, timeoutMs = 10_000) {
    this.#http = http;
    this.trackingUri = trackingUri.replace(/\/+$/, '');
    this.#timeoutMs = timeoutMs;
  }

  #auth(): Record<string, string> {
    const token = this.#http.env('MLFLOW_TRACKING_TOKEN');
    if (token) return { authorization: `Bearer ${token}` };
    const user = this.#http.env('MLFLOW_TRACKING_USERNAME');
    const pass = this.#http.env('MLFLOW_TRACKING_PASSWORD');
    if (user && pass) return { authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` };
    return {};
  }

  async #call(
    method: 'GET' | 'POST',
    path: string,
    query: Record<string, string>,
    body?: unknown,
  ): Promise<unknown> {
    const qs = new URLSearchParams(query).toString();
    const rel = `${API}/${path}${qs ? `?${qs}` : ''}`;
    const call = `${method} ${rel}`;
    let res: { status: number; body: string };
    try {
      res = await this.#http.request({
        url: `${this.trackingUri}${rel}`,
        method,
        headers: {
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...this.#auth(),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        timeoutMs: this.#timeoutMs,
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const why =
        e.name === 'TimeoutError' ? `no answer within ${this.#timeoutMs} ms` : (e.cause?.code ?? e.message);
      throw new MlflowError(
        'unreachable',
        `MLflow at ${this.trackingUri} is unreachable (${clean(why)}): ${call}`,
      );
    }
    this.calls.push({ call, status: res.status, sha256: sha256(res.body) });
    let data: unknown;
    try {
      data = res.body ? JSON.parse(res.body) : {};
    } catch {
      throw new MlflowError(
        'invalid',
        `MLflow answered ${res.status} with a body that is not JSON: ${call}`,
        res.status,
      );
    }
    if (res.status < 200 || res.status >= 300) {
      const d = data as { error_code?: unknown; message?: unknown };
      const code = typeof d.error_code === 'string' ? d.error_code : null;
      const msg = typeof d.message === 'string' ? d.message : '';
      throw new MlflowError(
        'http',
        `MLflow answered ${res.status}${code ? ` ${code}` : ''}${msg ? `: ${clean(msg)}` : ''} (${call})`,
        res.status,
        code,
      );
    }
    return data;
  }

  /** GET registered-models/alias: the version an alias points at. */
  async versionByAlias(name: string, alias: string): Promise<ModelVersion> {
    return versionOf(await this.#call('GET', 'registered-models/alias', { name, alias }));
  }

  /** GET model-versions/get. */
  async version(name: string, version: string): Promise<ModelVersion> {
    return versionOf(await this.#call('GET', 'model-versions/get', { name, version }));
  }

  /** GET registered-models/get: the model's aliases, as alias -> version. */
  async aliases(name: string): Promise<Record<string, string>> {
    const rm = (
      (await this.#call('GET', 'registered-models/get', { name })) as {
        registered_model?: { aliases?: unknown };
      }
    ).registered_model;
    if (!rm) throw new MlflowError('invalid', 'the answer has no registered_model');
    const list = Array.isArray(rm.aliases) ? (rm.aliases as { alias: string; version: string }[]) : [];
    return Object.fromEntries(list.map((a) => [String(a.alias), String(a.version)]));
  }

  /** GET model-versions/search with a filter (e.g. name='penguins'). */
  async searchVersions(filter: string, maxResults = 100): Promise<ModelVersion[]> {
    const r = (await this.#call('GET', 'model-versions/search', {
      filter,
      max_results: String(maxResults),
    })) as {
      model_versions?: unknown[];
    };
    return (r.model_versions ?? []).map((mv) => versionOf({ model_version: mv }));
  }

  /** GET runs/get: the latest value of each metric of a run. */
  async runMetrics(runId: string): Promise<Metric[]> {
    const r = (await this.#call('GET', 'runs/get', { run_id: runId })) as {
      run?: { data?: { metrics?: unknown } };
    };
    if (!r.run) throw new MlflowError('invalid', 'the answer has no run');
    return metricsOf(r.run.data?.metrics);
  }

  /** GET metrics/get-history: every logged value of one metric (pages followed, at most 20). */
  async metricHistory(runId: string, key: string): Promise<Metric[]> {
    const out: Metric[] = [];
    let token = '';
    for (let page = 0; page < 20; page++) {
      const r = (await this.#call('GET', 'metrics/get-history', {
        run_id: runId,
        metric_key: key,
        max_results: '25000',
        ...(token ? { page_token: token } : {}),
      })) as { metrics?: unknown; next_page_token?: string };
      out.push(...metricsOf(r.metrics));
      token = r.next_page_token ?? '';
      if (!token) break;
    }
    return out;
  }

  /** POST runs/search: the first run matching (one result asked for). */
  async firstRun(q: {
    experiment_ids: string[];
    filter?: string | undefined;
    order_by?: string[] | undefined;
  }): Promise<string | null> {
    const r = (await this.#call('POST', 'runs/search', {}, { ...q, max_results: 1 })) as {
      runs?: { info?: { run_id?: string; run_uuid?: string } }[];
    };
    const info = r.runs?.[0]?.info;
    return info?.run_id ?? info?.run_uuid ?? null;
  }

  /** POST model-versions/set-tag. */
  async setVersionTag(name: string, version: string, key: string, value: string): Promise<void> {
    await this.#call('POST', 'model-versions/set-tag', {}, { name, version, key, value });
  }

  /** POST registered-models/alias: point an alias at a version. */
  async setAlias(name: string, alias: string, version: string): Promise<void> {
    await this.#call('POST', 'registered-models/alias', {}, { name, alias, version });
  }
}
