import { z } from 'zod';
import { VtError } from '../../errors.ts';
import type { Db } from '../../store/store.ts';
import { ProjectId, route } from '../route.ts';

type ValueReport = (db: Db, opts: { project?: string; team?: string }) => Promise<unknown> | unknown;

/** Where the analytics module keeps `valueReport`; looked up at run time so the API builds without it. */
const CANDIDATES = ['../../analytics/index.ts', '../../analytics/value.ts', '../../analytics/report.ts'];
let found: ValueReport | null = null;

async function valueReport(): Promise<ValueReport> {
  if (found) return found;
  for (const path of CANDIDATES) {
    try {
      const mod = (await import(new URL(path, import.meta.url).href)) as { valueReport?: ValueReport };
      if (typeof mod.valueReport === 'function') return (found = mod.valueReport);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    }
  }
  throw new VtError('NOT_FOUND', 'value analytics are not part of this build of vt', {
    hint: 'Use a version of vt that includes src/analytics (vt metrics)',
  });
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
