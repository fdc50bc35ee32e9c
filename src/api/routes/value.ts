import { z } from 'zod';
import type { Db } from '../../store/store.ts';
import { ProjectId, route } from '../route.ts';

type ValueReport = (db: Db, opts: { project?: string; team?: string }) => Promise<unknown> | unknown;

let found: ValueReport | null = null;

/** The analytics module, loaded when the route is first asked (a static path, so a bundle has it). */
async function valueReport(): Promise<ValueReport> {
  found ??= (await import('../../analytics/index.ts')).valueReport as unknown as ValueReport;
  return found;
}

export const valueRoutes = [
  route({
    method: 'get',
    path: '/api/value',
    summary:
      'Value and flow metrics (lead times P50/P85/P95 per phase, first-pass yield, automation rate, cost, cumulative flow, ageing WIP, forecast)',
    tag: 'value',
    permission: 'read',
    project: ({ query }) => query.project,
    query: z.object({ project: ProjectId.optional(), team: z.string().max(100).optional() }).strict(),
    response: z.object({}).loose(),
    handle: async ({ deps, query }) => {
      const report = await valueReport();
      return report(deps.reader, {
        ...(query.project ? { project: query.project } : {}),
        ...(query.team ? { team: query.team } : {}),
      });
    },
  }),
];
