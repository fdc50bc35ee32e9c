import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { verifyStore } from '../../audit/audit.ts';
import { exportChainBundle } from '../../audit/bundle.ts';
import { EVENT_TYPES } from '../../engine/events.ts';
import { VtError } from '../../errors.ts';
import { redactDeep } from '../../redact.ts';
import { eventAt, eventsAfter, eventsPage, headGseq } from '../queries.ts';
import { Limit, ProjectId, route } from '../route.ts';
import { can, readScope } from '../tokens.ts';

const Loose = z.object({}).loose();
const Gseq = z.coerce.number().int().min(0);
/** How long a stream waits for a wake-up before sending a keep-alive comment. */
const KEEPALIVE_MS = 15_000;
const BATCH = 500;

export const auditRoutes = [
  route({
    method: 'get',
    path: '/api/events',
    summary:
      'A page of the event log by store-wide position (gseq): newest first, or oldest first after a position',
    tag: 'audit',
    permission: 'authenticated',
    query: z
      .object({
        project: ProjectId.optional(),
        type: z.enum(EVENT_TYPES).optional(),
        actor: z.string().max(64).optional(),
        before: Gseq.optional(),
        after: Gseq.optional(),
        limit: Limit,
      })
      .strict(),
    response: z.object({ events: z.array(Loose), next: z.number().nullable() }),
    handle: async ({ deps, query, principal }) => {
      const { project, type, actor, ...page } = query;
      if (page.before !== undefined && page.after !== undefined)
        throw new VtError('BAD_INPUT', 'give before or after, not both');
      return eventsPage(deps.reader, { project, type, actor }, readScope(principal), page);
    },
  }),
  route({
    method: 'get',
    path: '/api/events/{project}/{seq}',
    summary: "One event by its place in its project's chain (a permalink)",
    tag: 'audit',
    permission: 'read',
    project: ({ params }) => params.project,
    params: z.object({ project: ProjectId, seq: z.coerce.number().int().min(1) }),
    response: Loose,
    handle: async ({ deps, params }) => {
      const e = await eventAt(deps.reader, params.project, params.seq);
      if (!e) throw new VtError('NOT_FOUND', `no event ${params.project}#${params.seq}`);
      return e;
    },
  }),
  route({
    method: 'get',
    path: '/api/audit/verify',
    summary: 'Recompute the hash chains (all, or one project) and name the first bad event',
    tag: 'audit',
    permission: 'read',
    project: ({ query }) => query.project,
    query: z.object({ project: ProjectId.optional() }).strict(),
    response: Loose,
    handle: async ({ deps, query }) => verifyStore(deps.reader, query.project),
  }),
  route({
    method: 'get',
    path: '/api/audit/export',
    summary: 'Download a self-contained audit bundle (manifest + JSONL events) that verifies offline',
    tag: 'audit',
    permission: 'read',
    project: ({ query }) => query.project,
    query: z.object({ project: ProjectId.optional() }).strict(),
    response: 'file',
    handle: async ({ deps, query, c }) => {
      const dir = mkdtempSync(join(tmpdir(), 'vt-bundle-'));
      try {
        const file = join(dir, 'bundle.jsonl');
        await exportChainBundle(deps.reader, file, deps.now(), query.project);
        const name = `vt-audit-${query.project ?? 'all'}-${deps.now().toISOString().slice(0, 10)}.jsonl`;
        return c.body(readFileSync(file), 200, {
          'content-type': 'application/x-ndjson',
          'content-disposition': `attachment; filename="${name}"`,
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  }),
  route({
    method: 'get',
    path: '/api/stream',
    summary:
      'Server-sent events: every new event, id = gseq. Reconnect with Last-Event-ID (or ?after=) to resume without loss or duplicates',
    tag: 'audit',
    permission: 'authenticated',
    query: z.object({ after: Gseq.optional(), project: ProjectId.optional() }).strict(),
    response: 'event-stream',
    handle: async ({ deps, query, principal, c }) => {
      const header = c.req.header('last-event-id');
      if (header !== undefined && !/^\d{1,15}$/.test(header))
        throw new VtError('BAD_INPUT', 'Last-Event-ID must be an event position (a whole number)');
      if (query.project && !can(principal, 'read', query.project))
        throw new VtError(
          'NOT_PERMITTED',
          `${principal.person}'s token may not read project ${query.project}`,
        );
      const scope = query.project ? [query.project] : readScope(principal);
      // Where to start: the client's last seen position, else "from now".
      let after = header !== undefined ? Number(header) : (query.after ?? null);
      const abort = new AbortController();
      c.req.raw.signal.addEventListener('abort', () => abort.abort(), { once: true });
      return streamSSE(c, async (stream) => {
        stream.onAbort(() => abort.abort());
        if (after === null) after = await headGseq(deps.reader);
        await stream.writeSSE({ event: 'ready', data: JSON.stringify({ after }), retry: 1000 });
        while (!abort.signal.aborted) {
          const batch = await eventsAfter(deps.reader, after, scope, BATCH);
          for (const e of batch) {
            await stream.writeSSE({
              id: String(e.gseq),
              event: 'event',
              data: JSON.stringify(redactDeep(e)),
            });
            after = e.gseq;
          }
          if (batch.length === BATCH) continue;
          await deps.feed.next(KEEPALIVE_MS, abort.signal);
          if (!abort.signal.aborted) await stream.write(': keep-alive\n\n');
        }
      });
    },
  }),
];
