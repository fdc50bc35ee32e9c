import type { RegistrationResponseJSON } from '@simplewebauthn/server';
import { z } from 'zod';
import { relyingPartyOf } from '../passkeys.ts';
import { route } from '../route.ts';

const Loose = z.object({}).loose();

export const passkeyRoutes = [
  route({
    method: 'post',
    path: '/api/passkeys/options',
    summary: "Start registering a passkey for the token's person (WebAuthn creation options)",
    tag: 'people',
    permission: 'authenticated',
    response: Loose,
    handle: async ({ deps, principal, c }) =>
      deps.passkeys.registrationOptions(principal.person, relyingPartyOf(c.req.header('origin'))),
  }),
  route({
    method: 'post',
    path: '/api/passkeys',
    summary: 'Finish registering a passkey: the browser’s attestation response',
    tag: 'people',
    permission: 'authenticated',
    body: z
      .object({
        label: z.string().max(100).optional(),
        response: z
          .object({ id: z.string(), rawId: z.string(), type: z.literal('public-key'), response: Loose })
          .loose(),
      })
      .strict(),
    response: z.object({ credential_id: z.string() }),
    handle: async ({ deps, principal, body, c }) =>
      deps.passkeys.register(
        principal.person,
        body.response as unknown as RegistrationResponseJSON,
        relyingPartyOf(c.req.header('origin')),
        body.label ?? null,
      ),
  }),
];
