import { z } from 'zod';
import { ERROR_CODES } from '../errors.ts';
import type { Route } from './route.ts';

const schema = (t: z.ZodType) =>
  z.toJSONSchema(t, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;

/** Parameters of one location (path or query) from a zod object's JSON Schema. */
function parameters(t: z.ZodType | undefined, where: 'path' | 'query') {
  if (!t) return [];
  const s = schema(t) as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(s.properties ?? {}).map(([name, p]) => ({
    name,
    in: where,
    required: where === 'path' || (s.required ?? []).includes(name),
    schema: p,
  }));
}

/** The OpenAPI 3.1 document of the API, built from the same route list the server runs. */
export function openApiDocument(routes: Route[], version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  const errorRef = { $ref: '#/components/schemas/Error' };
  for (const r of routes) {
    const ok =
      r.response === 'event-stream'
        ? { 'text/event-stream': { schema: { type: 'string' } } }
        : r.response === 'file'
          ? { 'application/x-ndjson': { schema: { type: 'string' } } }
          : { 'application/json': { schema: schema(r.response) } };
    (paths[r.path] ??= {})[r.method] = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method}${r.path.replace(/[{}]/g, '').replace(/[^a-zA-Z0-9]+(.)?/g, (_, ch: string | undefined) => (ch ?? '').toUpperCase())}`,
      'x-permission': r.permission,
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      ...(r.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: schema(r.body) } } } }
        : {}),
      responses: {
        200: { description: 'OK', content: ok },
        400: { description: 'Bad input', content: { 'application/json': { schema: errorRef } } },
        401: { description: 'No valid token', content: { 'application/json': { schema: errorRef } } },
        403: {
          description: 'Not permitted, or a refused Host/Origin',
          content: { 'application/json': { schema: errorRef } },
        },
        404: { description: 'Not found', content: { 'application/json': { schema: errorRef } } },
        409: {
          description: 'Conflict or invalid state',
          content: { 'application/json': { schema: errorRef } },
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Value Train API',
      version,
      description:
        'The engine calls the CLI and MCP server use, over HTTP. Authenticate with `Authorization: Bearer vt_…` (make a token with `vt token create`). Errors are `{ error: { code, message, hint, details } }` with a stable code.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: { type: 'string', enum: Object.keys(ERROR_CODES) },
                message: { type: 'string' },
                hint: { type: ['string', 'null'] },
                details: { type: ['object', 'null'] },
              },
            },
          },
        },
      },
    },
    paths,
  };
}
