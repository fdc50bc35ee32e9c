import type { Context } from 'hono';
import { z } from 'zod';
import { VtError } from '../errors.ts';
import type { ApiPermission } from '../types.ts';
import type { ApiDeps } from './deps.ts';
import type { Principal } from './tokens.ts';

/** What a handler receives: validated input, who asks, and the server's parts. */
export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  deps: ApiDeps;
  c: Context;
}

/**
 * One HTTP route: its place, who may call it, the shapes of its input (zod, validated before the
 * handler runs) and output (documented in the OpenAPI document), and a handler that translates to
 * engine calls or named queries. The OpenAPI document and the router are built from the same list.
 */
// biome-ignore lint/suspicious/noExplicitAny: a route list holds routes of every input shape
export interface Route<P = any, Q = any, B = any> {
  method: 'get' | 'post' | 'delete';
  /** OpenAPI style: /api/projects/{id}. */
  path: string;
  summary: string;
  tag: string;
  /** The permission needed; `project` names the project it is checked on (else: every project). */
  permission: ApiPermission | 'authenticated';
  project?: (input: {
    params: P;
    query: Q;
    body: B;
    deps: ApiDeps;
  }) => Promise<string | undefined> | string | undefined;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** The 200 response: a JSON shape, or a stream of server-sent events, or a file. */
  response: z.ZodType | 'event-stream' | 'file';
  handle(input: RouteInput<P, Q, B>): Promise<unknown>;
}

/** Declare a route with its types inferred from its schemas. */
export function route<P = Record<string, never>, Q = Record<string, never>, B = undefined>(
  r: Route<P, Q, B>,
): Route<P, Q, B> {
  return r;
}

/** Validate one part of a request; a failure is a BAD_INPUT naming each bad field. */
export function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return undefined as T;
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({
    path: [where, ...i.path.map(String)].join('.'),
    message: i.message,
  }));
  throw new VtError(
    'BAD_INPUT',
    `invalid ${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    {
      details: { issues },
    },
  );
}

/** A cursor page size: 1-500, default 100. */
export const Limit = z.coerce.number().int().min(1).max(500).default(100);
export const ProjectId = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'a project id');
export const TicketId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\w.-]+$/, 'a ticket id');
