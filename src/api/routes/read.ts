import { z } from 'zod';
import { VtError } from '../../errors.ts';
import { API_ROLES, GATE_STATUSES, PRIORITIES, PROJECT_STATUSES, TICKET_STATUSES } from '../../types.ts';
import {
  attentionPage,
  decodeCursor,
  expiringWaivers,
  flowStrip,
  gateEvaluations,
  matrixPage,
  portfolioFacets,
  portfolioPhases,
  projectRecords,
  teamPhaseCounts,
} from '../queries.ts';
import { Limit, ProjectId, route } from '../route.ts';
import { approvalsOf, artifactsOf, checklistOf, contributorsOf, metricsOf } from '../state-view.ts';
import { readScope } from '../tokens.ts';

const Filter = z
  .object({
    team: z.string().max(100).optional(),
    priority: z.enum(PRIORITIES).optional(),
    status: z.enum(Object.keys(PROJECT_STATUSES) as [string, ...string[]]).optional(),
  })
  .strict();

const Loose = z.object({}).loose();

export const readRoutes = [
  route({
    method: 'get',
    path: '/api/me',
    summary: 'Who the token stands for and what it may do',
    tag: 'people',
    permission: 'authenticated',
    response: z.object({
      person: z.string(),
      token: z.string(),
      grants: z.array(z.object({ project: z.string(), role: z.enum(API_ROLES) })),
      passkeys: z.array(Loose),
      passkey_policy: z.enum(['required', 'optional']),
    }),
    handle: async ({ principal, deps }) => ({
      person: principal.person,
      token: principal.tokenId,
      grants: principal.grants,
      passkeys: await deps.passkeys.list(principal.person),
      passkey_policy: deps.passkeyPolicy,
    }),
  }),
  route({
    method: 'get',
    path: '/api/meta',
    summary: 'Statuses with their glyphs and words, and the phases of the trains in use (portfolio columns)',
    tag: 'portfolio',
    permission: 'authenticated',
    response: Loose,
    handle: async ({ deps }) => ({
      version: deps.version,
      statuses: { project: PROJECT_STATUSES, ticket: TICKET_STATUSES, gate: GATE_STATUSES },
      phases: await portfolioPhases(deps.reader),
      priorities: PRIORITIES,
    }),
  }),
  route({
    method: 'get',
    path: '/api/portfolio/flow',
    summary: 'The flow strip: per phase, projects by status, waiting tickets, WIP and median age',
    tag: 'portfolio',
    permission: 'authenticated',
    query: Filter,
    response: Loose,
    handle: async ({ deps, query, principal }) => {
      const scope = readScope(principal);
      return {
        columns: await flowStrip(deps.reader, query, scope, deps.now()),
        ...(await portfolioFacets(deps.reader, query, scope)),
      };
    },
  }),
  route({
    method: 'get',
    path: '/api/portfolio/heatmap',
    summary: 'Projects per team and phase',
    tag: 'portfolio',
    permission: 'authenticated',
    query: Filter,
    response: Loose,
    handle: async ({ deps, query, principal }) => ({
      cells: await teamPhaseCounts(deps.reader, query, readScope(principal)),
    }),
  }),
  route({
    method: 'get',
    path: '/api/portfolio/projects',
    summary: 'A page of the project × phase matrix (done, current with days in phase, looped back)',
    tag: 'portfolio',
    permission: 'authenticated',
    query: Filter.extend({ after: ProjectId.optional(), limit: Limit }),
    response: z.object({ rows: z.array(Loose), next: z.string().nullable() }),
    handle: async ({ deps, query, principal }) => {
      const { after, limit, ...f } = query;
      return matrixPage(deps.reader, f, readScope(principal), { after: after ?? null, limit }, deps.now());
    },
  }),
  route({
    method: 'get',
    path: '/api/attention',
    summary: 'Tickets that need someone: blocked, waiting for approval or a person, failing; oldest first',
    tag: 'portfolio',
    permission: 'authenticated',
    query: z
      .object({
        cursor: z.string().max(400).optional(),
        limit: Limit,
        kind: z.enum(['blocked', 'awaiting-approval', 'awaiting-human', 'failing']).optional(),
      })
      .strict(),
    response: z.object({ items: z.array(Loose), next: z.string().nullable() }),
    handle: async ({ deps, query, principal }) => {
      const after = query.cursor ? decodeCursor(query.cursor, 2) : null;
      if (query.cursor && !after)
        throw new VtError('BAD_INPUT', 'the cursor is not one this server gave out');
      return attentionPage(deps.reader, readScope(principal), {
        after: after ? { since: after[0]!, id: after[1]! } : null,
        limit: query.limit,
        kinds: query.kind ? [query.kind] : undefined,
      });
    },
  }),
  route({
    method: 'get',
    path: '/api/inbox',
    summary:
      'What waits for a person: approvals, human tasks, blocked tickets (a page) and waivers expiring within 7 days',
    tag: 'portfolio',
    permission: 'authenticated',
    query: z.object({ cursor: z.string().max(400).optional(), limit: Limit }).strict(),
    response: z.object({ items: z.array(Loose), next: z.string().nullable(), waivers: z.array(Loose) }),
    handle: async ({ deps, query, principal }) => {
      const after = query.cursor ? decodeCursor(query.cursor, 2) : null;
      if (query.cursor && !after)
        throw new VtError('BAD_INPUT', 'the cursor is not one this server gave out');
      const scope = readScope(principal);
      const page = await attentionPage(deps.reader, scope, {
        after: after ? { since: after[0]!, id: after[1]! } : null,
        limit: query.limit,
        kinds: ['awaiting-approval', 'awaiting-human', 'blocked'],
      });
      return {
        ...page,
        waivers: query.cursor ? [] : await expiringWaivers(deps.reader, scope, deps.now(), 7),
      };
    },
  }),
  route({
    method: 'get',
    path: '/api/projects/{id}',
    summary:
      "One project: its state, the train's phases, timeline, gate results, approvals, sessions, context, handoffs, artifacts, metrics",
    tag: 'projects',
    permission: 'read',
    project: ({ params }) => params.id,
    params: z.object({ id: ProjectId }),
    response: Loose,
    handle: async ({ deps, params }) => {
      const s = await deps.engine.state(params.id);
      const train = await deps.engine.train(s.trainHash);
      const records = await projectRecords(deps.reader, params.id);
      return {
        id: s.id,
        name: s.name,
        team: s.team,
        priority: s.priority,
        budget: s.budget,
        status: s.status,
        phase: s.phase,
        visit: s.visit,
        created_at: s.createdAt,
        updated_at: s.updatedAt,
        head: { seq: s.seq, hash: s.headHash },
        train: {
          name: train.name,
          hash: s.trainHash,
          phases: train.phases.map((p) => ({
            id: p.id,
            name: p.name,
            stage: p.stage,
            owner: p.owner,
            gates: {
              entry: p.gates.entry.map((g) => ({ id: g.id, kind: g.kind })),
              exit: p.gates.exit.map((g) => ({ id: g.id, kind: g.kind })),
            },
          })),
        },
        checklist: checklistOf(s, train),
        artifacts_now: artifactsOf(s, train),
        metrics_now: metricsOf(s),
        contributors: contributorsOf(s),
        approvals_now: approvalsOf(s),
        ...records,
        project: undefined,
      };
    },
  }),
  route({
    method: 'get',
    path: '/api/projects/{id}/gates/{phase}',
    summary: "A phase's gate results: every evaluation (attempt), waivers and approvals, with their events",
    tag: 'projects',
    permission: 'read',
    project: ({ params }) => params.id,
    params: z.object({ id: ProjectId, phase: z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/) }),
    response: Loose,
    handle: async ({ deps, params }) => {
      const s = await deps.engine.state(params.id);
      const train = await deps.engine.train(s.trainHash);
      const spec = train.phases.find((p) => p.id === params.phase);
      if (!spec) throw new VtError('NOT_FOUND', `phase "${params.phase}" is not in train ${train.name}`);
      const evaluations = await gateEvaluations(deps.reader, params.id, params.phase, 200);
      const records = await projectRecords(deps.reader, params.id);
      return {
        project: { id: s.id, name: s.name, phase: s.phase, visit: s.visit, status: s.status },
        phase: { id: spec.id, name: spec.name, stage: spec.stage, owner: spec.owner, gates: spec.gates },
        evaluations,
        waivers: records.waivers.filter((w) => w.phase === params.phase),
        approvals: records.approvals.filter((a) => a.phase === params.phase),
        contributors: contributorsOf(s, params.phase),
      };
    },
  }),
];
