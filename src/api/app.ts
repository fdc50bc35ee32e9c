import { Hono } from 'hono';
import { z } from 'zod';
import { VtError } from '../errors.ts';
import { redactDeep } from '../redact.ts';
import type { ApiDeps } from './deps.ts';
import { toHttpError } from './errors.ts';
import { type HostPolicy, requireLocalOrigin } from './guard.ts';
import { openApiDocument } from './openapi.ts';
import { parse, type Route } from './route.ts';
import { actRoutes } from './routes/act.ts';
import { auditRoutes } from './routes/audit.ts';
import { passkeyRoutes } from './routes/passkeys.ts';
import { readRoutes } from './routes/read.ts';
import { valueRoutes } from './routes/value.ts';
import type { StaticAssets } from './static.ts';
import { authenticate, require } from './tokens.ts';

/** Every route of the API, in the order the OpenAPI document lists them. */
export const ROUTES: Route[] = [
  ...readRoutes,
  ...actRoutes,
  ...auditRoutes,
  ...passkeyRoutes,
  ...valueRoutes,
];

const MAX_BODY = 256 * 1024;

/** Read a JSON body (or none): malformed JSON and oversized bodies are clear 400s. */
async function jsonBody(req: Request): Promise<unknown> {
  const text = await req.text();
  if (text.length > MAX_BODY) throw new VtError('BAD_INPUT', `the request body is over ${MAX_BODY} bytes`);
  if (!text.trim()) return {};
  const type = req.headers.get('content-type') ?? '';
  if (!/^application\/json\b/i.test(type))
    throw new VtError('BAD_INPUT', 'send the request body as JSON (Content-Type: application/json)');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new VtError('BAD_INPUT', `the request body is not valid JSON: ${(err as Error).message}`);
  }
}

const bearer = (h: string | undefined) => (h && /^Bearer\s+(\S+)$/i.exec(h)?.[1]) || null;

/** The HTTP API (and, when given, the dashboard's static files) as a Hono app. */
export function createApp(deps: ApiDeps, opts: { hosts: HostPolicy; assets?: StaticAssets | null }): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    const { status, body } = toHttpError(err);
    if (status >= 500) console.error(err);
    return c.json(body, status as 400);
  });
  app.notFound((c) => {
    const { status, body } = toHttpError(new VtError('NOT_FOUND', `no route ${c.req.method} ${c.req.path}`));
    return c.json(body, status as 404);
  });
  app.use('*', async (c, next) => {
    requireLocalOrigin(c.req.raw, opts.hosts);
    await next();
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'no-referrer');
    c.header('x-frame-options', 'DENY');
    if (!c.res.headers.has('cache-control')) c.header('cache-control', 'no-store');
  });

  app.get('/api/health', (c) => c.json({ ok: true, version: deps.version }));
  app.get('/api/openapi.json', (c) => c.json(openApiDocument(ROUTES, deps.version)));

  for (const r of ROUTES) {
    const path = r.path.replace(/\{(\w+)\}/g, ':$1');
    app.on(r.method.toUpperCase(), path, async (c) => {
      const principal = await authenticate(deps.reader, bearer(c.req.header('authorization')), deps.now());
      const params = parse(r.params, c.req.param(), 'path');
      const query = parse(r.query ?? emptyQuery, c.req.query(), 'query');
      const body =
        r.method === 'get' ? undefined : parse(r.body ?? emptyBody, await jsonBody(c.req.raw), 'body');
      if (r.permission !== 'authenticated') {
        const project = r.project ? await r.project({ params, query, body, deps }) : undefined;
        require(principal, r.permission, project);
      }
      const result = await r.handle({ params, query, body, principal, deps, c });
      // What the store holds was redacted on its way in; responses are redacted again on their way
      // out, for text stored before a secret was known (or by an older vt). Files (audit bundles)
      // go out as stored: they must verify.
      return result instanceof Response ? result : c.json(redactDeep(result) as object);
    });
  }
  if (opts.assets) {
    const assets = opts.assets;
    app.get('*', (c) => {
      if (c.req.path.startsWith('/api/')) throw new VtError('NOT_FOUND', `no route GET ${c.req.path}`);
      return assets.respond(c.req.path, c.req.header('accept-encoding') ?? '');
    });
  }
  return app;
}

const emptyQuery = z.object({}).strict();
const emptyBody = z.object({}).strict();
