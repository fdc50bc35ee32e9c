import { z } from 'zod';
import { VtError } from '../../errors.ts';
import { ProjectId, route } from '../route.ts';

/** An ISO-8601 time (`2026-06-30`, `2026-06-30T12:00:00Z`): the report is as of it. */
const At = z
  .string()
  .max(40)
  .regex(/^\d{4}-\d\d-\d\d([T ][\d:.]+(Z|[+-]\d\d:?\d\d)?)?$/, 'an ISO-8601 time such as 2026-06-30');

export const valueRoutes = [
  route({
    method: 'get',
    path: '/api/value',
    summary:
      'The value report of `vt metrics --json` (docs/analytics.md): the promises against their targets, lead times per phase, first-pass gate yield, automation, projects per person, cost, cumulative flow, ageing WIP, traceability and forecasts, for the portfolio, one team (`team`) or one project (`project`), as of `at` (default now)',
    tag: 'value',
    permission: 'read',
    // A project's report needs that project; a team's or the portfolio's, every project.
    project: ({ query }) => query.project,
    query: z
      .object({
        project: ProjectId.optional(),
        team: z.string().min(1).max(100).optional(),
        at: At.optional(),
      })
      .strict(),
    response: z.object({}).loose(),
    handle: async ({ deps, query }) => {
      const now = query.at === undefined ? new Date() : new Date(query.at);
      if (Number.isNaN(now.getTime()))
        throw new VtError('BAD_INPUT', `at must be an ISO-8601 time such as 2026-06-30, not "${query.at}"`);
      // Loaded on first use: the analytics are not needed to start the server.
      const { valueReport } = await import('../../analytics/index.ts');
      return valueReport(deps.reader, {
        now,
        ...(query.project !== undefined ? { project: query.project } : {}),
        ...(query.team !== undefined ? { team: query.team } : {}),
      });
    },
  }),
];
