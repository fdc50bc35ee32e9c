import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { z } from 'zod';
import type { DecisionCall } from '../../engine/decision-proof.ts';
import type { Committed, Who } from '../../engine/engine.ts';
import { VtError } from '../../errors.ts';
import type { DecisionProof } from '../../identity/proof.ts';
import type { ApiDeps } from '../deps.ts';
import { relyingPartyOf } from '../passkeys.ts';
import { ticketProject } from '../queries.ts';
import { ProjectId, type RouteInput, route, TicketId } from '../route.ts';

/*
 * Actions: each route is one engine call made as the token's person. The engine decides whether the
 * person may (train roles, segregation of duties, a signature when the train requires one); the
 * token decides whether this client may ask. A decision carries its proof either as a passkey
 * confirmation (`confirmation`, from POST …/confirm) or as an SSH-signed decision (`proof`).
 */

const Text = z.string().trim().min(1).max(2000);
const Confirmation = z
  .object({
    challenge_id: z.string().min(1).max(100),
    response: z
      .object({
        id: z.string(),
        rawId: z.string(),
        type: z.literal('public-key'),
        response: z.object({}).loose(),
      })
      .loose(),
  })
  .strict();

/** An SSH-signed decision (src/identity/proof.ts), checked by the engine. */
const SshProof = z.object({ method: z.literal('ssh') }).loose();

const Signed = { confirmation: Confirmation.optional(), proof: SshProof.optional() };

const Decision = z
  .object({
    role: z.string().max(64).optional(),
    reason: z.string().max(2000).optional(),
    ...Signed,
  })
  .strict();

/** Who acts: the token's person; an Idempotency-Key header makes a retried call a no-op. */
function whoOf(input: RouteInput<unknown, unknown, unknown>): Who {
  const key = input.c.req.header('idempotency-key');
  if (key !== undefined && !/^[\w.:-]{1,200}$/.test(key))
    throw new VtError('BAD_INPUT', 'the Idempotency-Key header must be 1-200 letters, digits, . : - _');
  return { actor: input.principal.person, idempotencyKey: key ?? null };
}

/**
 * The decision's proof: a verified passkey assertion, or an SSH-signed decision (the engine checks
 * both); refused when the server requires a passkey and none of them was given.
 */
async function proofOf(
  input: RouteInput<
    unknown,
    unknown,
    {
      confirmation?: z.infer<typeof Confirmation> | undefined;
      proof?: z.infer<typeof SshProof> | undefined;
    }
  >,
): Promise<DecisionProof | undefined> {
  const { confirmation, proof } = input.body;
  if (confirmation && proof)
    throw new VtError('BAD_INPUT', 'give a passkey confirmation or an SSH-signed proof, not both');
  if (proof) return proof as unknown as DecisionProof;
  if (!confirmation) {
    if (input.deps.passkeyPolicy === 'required')
      throw new VtError('NOT_PERMITTED', 'this server requires decisions to be confirmed with a passkey', {
        hint: 'Register a passkey on the dashboard, then confirm the decision with it',
      });
    return undefined;
  }
  return input.deps.passkeys.confirm(
    input.principal.person,
    confirmation.challenge_id,
    confirmation.response as unknown as AuthenticationResponseJSON,
    relyingPartyOf(input.c.req.header('origin')),
  );
}

function outcome(c: Committed) {
  return {
    project: c.state.id,
    phase: c.state.phase,
    visit: c.state.visit,
    status: c.state.status,
    replayed: c.replayed,
    events: c.events.map((e) => ({ seq: e.seq, type: e.type })),
  };
}

const ProjectParams = z.object({ id: ProjectId });
const Outcome = z.object({}).loose();
const projectParam = ({ params }: { params: { id: string } }) => params.id;
async function ticketParam({ params, deps }: { params: { ticket: string }; deps: ApiDeps }) {
  const p = await ticketProject(deps.reader, params.ticket);
  if (!p) throw new VtError('NOT_FOUND', `no ticket "${params.ticket}"`);
  return p;
}

export const actRoutes = [
  route({
    method: 'post',
    path: '/api/projects/{id}/approve',
    summary: "Approve the current phase's work as the token's person",
    tag: 'decisions',
    permission: 'decide',
    project: projectParam,
    params: ProjectParams,
    body: Decision,
    response: Outcome,
    handle: async (input) => {
      const proof = await proofOf(input);
      const c = await input.deps.engine.approve(input.params.id, whoOf(input), {
        ...(input.body.role ? { role: input.body.role } : {}),
        reason: input.body.reason?.trim() || null,
        proof,
      });
      return outcome(c);
    },
  }),
  route({
    method: 'post',
    path: '/api/projects/{id}/reject',
    summary: "Reject the current phase's work, with a reason (required)",
    tag: 'decisions',
    permission: 'decide',
    project: projectParam,
    params: ProjectParams,
    body: Decision.extend({ reason: Text }),
    response: Outcome,
    handle: async (input) => {
      const proof = await proofOf(input);
      const c = await input.deps.engine.reject(input.params.id, whoOf(input), {
        ...(input.body.role ? { role: input.body.role } : {}),
        reason: input.body.reason,
        proof,
      });
      return outcome(c);
    },
  }),
  route({
    method: 'post',
    path: '/api/projects/{id}/waive',
    summary: 'Waive a gate of the current phase until a time, with a reason',
    tag: 'decisions',
    permission: 'decide',
    project: projectParam,
    params: ProjectParams,
    body: z
      .object({
        gate: z.string().min(1).max(64),
        reason: Text,
        expires_at: z.iso.datetime(),
        ...Signed,
      })
      .strict(),
    response: Outcome,
    handle: async (input) => {
      const proof = await proofOf(input);
      const b = input.body;
      const c = await input.deps.engine.waive(
        input.params.id,
        b.gate,
        b.reason,
        new Date(b.expires_at),
        whoOf(input),
        proof,
      );
      return outcome(c);
    },
  }),
  route({
    method: 'post',
    path: '/api/projects/{id}/confirm',
    summary:
      'Start a passkey confirmation: the decision payload to sign (the same an SSH signature signs) and the WebAuthn request options',
    tag: 'decisions',
    permission: 'decide',
    project: projectParam,
    params: ProjectParams,
    body: z
      .object({
        decision: z.enum(['approve', 'reject', 'waive', 'hold', 'resume', 'done', 'retry']),
        role: z.string().max(64).optional(),
        reason: z.string().max(2000).optional(),
        gate: z.string().max(64).optional(),
        expires_at: z.iso.datetime().optional(),
        ticket: TicketId.optional(),
      })
      .strict(),
    response: Outcome,
    handle: async (input) => {
      const b = input.body;
      const reason = b.reason?.trim() || null;
      const need = (v: string | undefined, what: string) => {
        if (!v) throw new VtError('BAD_INPUT', `a ${b.decision} decision needs ${what}`);
        return v;
      };
      const call: DecisionCall =
        b.decision === 'approve' || b.decision === 'reject'
          ? { kind: b.decision, role: b.role, reason }
          : b.decision === 'waive'
            ? {
                kind: 'waive',
                gate: need(b.gate, 'a gate'),
                reason: need(reason ?? undefined, 'a reason'),
                expiresAt: new Date(need(b.expires_at, 'expires_at')),
              }
            : b.decision === 'hold' || b.decision === 'resume'
              ? { kind: b.decision, reason }
              : { kind: b.decision, ticket: need(b.ticket, 'a ticket') };
      if (
        (call.kind === 'done' || call.kind === 'retry') &&
        (await ticketParam({ params: { ticket: call.ticket }, deps: input.deps })) !== input.params.id
      )
        throw new VtError('BAD_INPUT', `ticket ${call.ticket} is not in project ${input.params.id}`);
      const payload = await input.deps.engine.decisionPayload(input.params.id, input.principal.person, call);
      return input.deps.passkeys.decisionChallenge(
        input.principal.person,
        payload,
        relyingPartyOf(input.c.req.header('origin')),
      );
    },
  }),
  route({
    method: 'post',
    path: '/api/projects/{id}/advance',
    summary: 'Evaluate the exit gates and move on (next phase, a route, rework) or stay',
    tag: 'operations',
    permission: 'operate',
    project: projectParam,
    params: ProjectParams,
    response: Outcome,
    handle: async (input) => {
      const c = await input.deps.engine.advance(input.params.id, whoOf(input));
      return { ...outcome(c), outcome: c.outcome, results: c.results };
    },
  }),
  ...(['hold', 'resume'] as const).map((action) =>
    route({
      method: 'post',
      path: `/api/projects/{id}/${action}`,
      summary: action === 'hold' ? 'Put the project on hold' : 'Resume a project on hold',
      tag: 'operations',
      permission: 'operate',
      project: projectParam,
      params: ProjectParams,
      body: z.object({ reason: z.string().max(2000).optional(), ...Signed }).strict(),
      response: Outcome,
      handle: async (input) => {
        const proof = await proofOf(input);
        return outcome(
          await input.deps.engine.lifecycle(
            input.params.id,
            action,
            input.body.reason?.trim() || null,
            whoOf(input),
            proof,
          ),
        );
      },
    }),
  ),
  ...(['retry', 'done'] as const).map((action) =>
    route({
      method: 'post',
      path: `/api/tickets/{ticket}/${action}`,
      summary: action === 'retry' ? 'Put a blocked ticket back in the queue' : "Mark a person's ticket done",
      tag: 'operations',
      permission: 'operate',
      project: ticketParam,
      params: z.object({ ticket: TicketId }),
      body: z
        .object({ ...Signed })
        .strict()
        .optional(),
      response: Outcome,
      handle: async (input) => {
        const b = input.body;
        // Done and retry are operations a server's passkey policy never covered: a proof when given.
        const proof = b?.confirmation || b?.proof ? await proofOf({ ...input, body: b }) : undefined;
        const c =
          action === 'done'
            ? await input.deps.tickets.done(input.params.ticket, whoOf(input), proof)
            : await input.deps.tickets.retry(input.params.ticket, whoOf(input), proof);
        return {
          ...outcome(c),
          ticket: input.params.ticket,
          ticket_status: c.state.tickets[input.params.ticket]?.status,
        };
      },
    }),
  ),
];
