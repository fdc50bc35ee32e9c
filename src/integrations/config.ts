import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { VtError } from '../errors.ts';
import type { IntegrationsSpec } from '../train/integrations-schema.ts';

/*
 * Where vt reaches the tools a team already runs: the `integrations:` block of vt.yaml, then the
 * environment. URLs that carry a credential (Slack's do) and every secret come from the environment or
 * a file, never from a flag or from vt.yaml itself.
 */

/** A configured receiver: where it is and how to get its secret (read only when a delivery is signed). */
export interface Endpoint {
  id: string;
  /** Which notifications it takes; null for all. */
  events: readonly string[] | null;
  /** The URL, read when needed (it may be a secret itself: never logged, only its origin). */
  url(): string;
  /** The signing secret (whsec_...), read when needed: from the environment or a file, never stored. */
  secret(): string;
  /** Where the URL comes from, to name in messages without showing it. */
  describe: string;
}

export interface IntegrationsConfig {
  endpoints: Endpoint[];
  drift: string[];
  budgetWarnAt: number;
  mlflow: { trackingUri: string | null; guard: { model: string; alias: string }[] };
}

export const EMPTY_INTEGRATIONS: IntegrationsConfig = {
  endpoints: [],
  drift: [],
  budgetWarnAt: 0.8,
  mlflow: { trackingUri: null, guard: [] },
};

type Env = Record<string, string | undefined>;

function fromEnv(env: Env, name: string, what: string): string {
  const v = env[name];
  if (!v)
    throw new VtError('BAD_INPUT', `${what}: the environment variable ${name} is not set`, {
      hint: `export ${name}=...`,
    });
  return v.trim();
}

function fromFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new VtError(
      'BAD_INPUT',
      `${what}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
}

/** The origin of a URL (scheme, host, port): what may be shown of it. */
export function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(not a URL)';
  }
}

/**
 * The integrations of a project folder: the `integrations:` block of its vt.yaml (only that block is
 * read, so a train problem elsewhere does not stop unrelated commands), plus an endpoint named `env`
 * from VT_WEBHOOK_URL with VT_WEBHOOK_SECRET or VT_WEBHOOK_SECRET_FILE.
 */
export async function loadIntegrations(root: string | null, env: Env): Promise<IntegrationsConfig> {
  const spec = root ? await readIntegrationsBlock(join(root, 'vt.yaml')) : undefined;
  const endpoints: Endpoint[] = (spec?.webhooks ?? []).map((w) => {
    const what = `webhook ${w.id}`;
    return {
      id: w.id,
      events: w.events ?? null,
      url: () => (w.url ? w.url : fromEnv(env, w.url_env!, what)),
      secret: () =>
        w.secret_env
          ? fromEnv(env, w.secret_env, what)
          : fromFile(isAbsolute(w.secret_file!) ? w.secret_file! : join(root!, w.secret_file!), what),
      describe: w.url ? origin(w.url) : `$${w.url_env}`,
    };
  });
  if (env.VT_WEBHOOK_URL && !endpoints.some((e) => e.id === 'env')) {
    const what = 'webhook env (VT_WEBHOOK_URL)';
    endpoints.push({
      id: 'env',
      events: null,
      url: () => fromEnv(env, 'VT_WEBHOOK_URL', what),
      secret: () =>
        env.VT_WEBHOOK_SECRET_FILE
          ? fromFile(env.VT_WEBHOOK_SECRET_FILE, what)
          : fromEnv(env, 'VT_WEBHOOK_SECRET', what),
      describe: '$VT_WEBHOOK_URL',
    });
  }
  return {
    endpoints,
    drift: spec?.notifications.drift ?? [],
    budgetWarnAt: spec?.notifications.budget_warn_at ?? 0.8,
    mlflow: {
      trackingUri: spec?.mlflow?.tracking_uri ?? env.MLFLOW_TRACKING_URI ?? null,
      guard: spec?.mlflow?.guard ?? [],
    },
  };
}

/**
 * The `integrations:` block of a train file, validated. Most trains have none: a file with no such
 * top-level key (and not written as one flow mapping) is not parsed at all, since parsing a whole
 * train and building the block's schema cost a short write command more than its own work.
 */
async function readIntegrationsBlock(file: string): Promise<IntegrationsSpec | undefined> {
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, 'utf8');
  if (!/^["']?integrations["']?[ \t]*:/m.test(text) && !text.trimStart().startsWith('{')) return undefined;
  const [{ parse }, { IntegrationsSchema }] = await Promise.all([
    import('yaml'),
    import('../train/integrations-schema.ts'),
  ]);
  let raw: unknown;
  try {
    raw = (parse(text) as { integrations?: unknown } | null)?.integrations;
  } catch {
    return undefined; // the train loader reports YAML problems where the train is used
  }
  if (raw === undefined) return undefined;
  const r = IntegrationsSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new VtError('TRAIN_INVALID', `${file}: integrations.${i.path.join('.')}: ${i.message}`, {
      hint: 'See docs/integrations.md for the integrations block',
    });
  }
  return r.data;
}
