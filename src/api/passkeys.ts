import { randomBytes } from 'node:crypto';
import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import { VtError } from '../errors.ts';
import type { DecisionPayload } from '../identity/decisions.ts';
import { bindingProblem, type PasskeyBinding } from '../identity/passkey-binding.ts';
import { decisionChallenge, type WebAuthnProof } from '../identity/proof.ts';
import { PASSKEY_ALGORITHMS } from '../identity/webauthn.ts';
import { bindingOf, notePasskeyOrigin, passkeysOf } from '../store/passkey-bindings.ts';
import type { Db, Trx } from '../store/store.ts';

/*
 * Passkeys (WebAuthn) are how a person signs a decision in a browser. Registration stores the
 * credential's public key for the token's person; the person then binds it with their SSH key
 * (`vt keys passkey bind`), since the server is no authority on whose passkey it is. A decision first
 * asks for a challenge: the engine drafts the decision's payload (the same one an SSH signature
 * signs: project, phase, visit, evidence digest, decision, fields, head) and the challenge is the
 * SHA-256 of its canonical JSON, so the authenticator's signature covers exactly that decision. The
 * assertion, with the passkey's binding, goes to the engine as the decision's proof, which the engine
 * checks and records in the decision's event.
 */

const TTL_MS = 5 * 60_000;
type Writer = { transaction<T>(fn: (trx: Trx) => Promise<T>): Promise<T> };

/** Where the browser is: the relying party is the page's host name (localhost, not an IP address). */
export interface RelyingParty {
  origin: string;
  rpID: string;
}

export function relyingPartyOf(origin: string | undefined): RelyingParty {
  if (!origin) throw new VtError('BAD_INPUT', 'passkeys need the Origin header a browser sends');
  const host = new URL(origin).hostname;
  if (/^[\d.]+$/.test(host) || host.includes(':') || host.startsWith('['))
    throw new VtError('BAD_INPUT', `passkeys need a host name, and ${host} is an IP address`, {
      hint: `Open the dashboard at ${origin.replace(host, 'localhost')}`,
    });
  return { origin, rpID: host };
}

const b64 = (s: string) => Buffer.from(s, 'base64url');

export class Passkeys {
  readonly #db: Db;
  readonly #writer: Writer;
  readonly #now: () => Date;
  readonly #registrations = new Map<string, { challenge: string; at: number }>();
  readonly #decisions = new Map<
    string,
    { person: string; payload: DecisionPayload; challenge: string; at: number }
  >();

  constructor(db: Db, writer: Writer, now: () => Date) {
    this.#db = db;
    this.#writer = writer;
    this.#now = now;
  }

  #sweep(): void {
    const old = this.#now().getTime() - TTL_MS;
    for (const [k, v] of this.#registrations) if (v.at < old) this.#registrations.delete(k);
    for (const [k, v] of this.#decisions) if (v.at < old) this.#decisions.delete(k);
  }

  async list(person: string) {
    const rows = await passkeysOf(this.#db, person);
    return rows.map((r) => ({
      credential_id: r.credential_id,
      label: r.label,
      created_at: r.created_at,
      bound: r.binding !== null && r.bound_to === person,
    }));
  }

  async registrationOptions(person: string, rp: RelyingParty) {
    this.#sweep();
    const mine = await this.#db
      .selectFrom('passkeys')
      .select(['credential_id', 'transports'])
      .where('person', '=', person)
      .execute();
    const options = await generateRegistrationOptions({
      rpName: 'Value Train',
      rpID: rp.rpID,
      userName: person,
      userID: new TextEncoder().encode(person),
      attestationType: 'none',
      excludeCredentials: mine.map((m) => ({ id: m.credential_id, transports: JSON.parse(m.transports) })),
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
      // Never the library's default list, which grows (ML-DSA-44 first where Node has it).
      supportedAlgorithmIDs: [...PASSKEY_ALGORITHMS],
    });
    this.#registrations.set(person, { challenge: options.challenge, at: this.#now().getTime() });
    return options;
  }

  async register(person: string, response: RegistrationResponseJSON, rp: RelyingParty, label: string | null) {
    const pending = this.#registrations.get(person);
    if (!pending) throw new VtError('CONFLICT', 'no passkey registration is pending for you; start again');
    this.#registrations.delete(person);
    let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
    try {
      verified = await verifyRegistrationResponse({
        response,
        expectedChallenge: pending.challenge,
        expectedOrigin: rp.origin,
        expectedRPID: rp.rpID,
        requireUserVerification: true,
      });
    } catch (err) {
      throw new VtError('BAD_INPUT', `the passkey registration does not verify: ${(err as Error).message}`);
    }
    if (!verified.verified) throw new VtError('BAD_INPUT', 'the passkey registration does not verify');
    const cred = verified.registrationInfo.credential;
    const at = this.#now().toISOString();
    await this.#writer.transaction(async (trx) => {
      await trx
        .insertInto('passkeys')
        .values({
          credential_id: cred.id,
          person,
          public_key: Buffer.from(cred.publicKey).toString('base64url'),
          counter: cred.counter,
          transports: JSON.stringify(cred.transports ?? []),
          label,
          created_at: at,
        })
        .execute();
      // Where it was made: its owner's binding names this relying party (vt keys passkey bind).
      await notePasskeyOrigin(trx, { credential_id: cred.id, person, rp_id: rp.rpID, created_at: at });
    });
    return { credential_id: cred.id };
  }

  /** Whether the person has a passkey: then every decision they make in the browser is confirmed with it. */
  async has(person: string): Promise<boolean> {
    return !!(await this.#db
      .selectFrom('passkeys')
      .select('credential_id')
      .where('person', '=', person)
      .executeTakeFirst());
  }

  /** The person's passkeys that are bound to them (only those can sign). */
  async #bound(person: string) {
    return (await passkeysOf(this.#db, person)).filter((r) => r.binding !== null && r.bound_to === person);
  }

  /** A challenge that is the digest of the decision payload the person is about to sign. */
  async decisionChallenge(person: string, payload: DecisionPayload, rp: RelyingParty) {
    this.#sweep();
    const mine = await this.#db
      .selectFrom('passkeys')
      .select(['credential_id', 'transports'])
      .where('person', '=', person)
      .execute();
    if (!mine.length)
      throw new VtError('INVALID_STATE', `${person} has no passkey; register one on the dashboard first`);
    const bound = new Set((await this.#bound(person)).map((r) => r.credential_id));
    const usable = mine.filter((m) => bound.has(m.credential_id));
    if (!usable.length)
      throw new VtError(
        'INVALID_STATE',
        `${person}'s passkey is not bound to ${person} yet: a passkey signs decisions once its owner binds it with their SSH key`,
        { hint: `From your shell: vt keys passkey bind --as ${person}` },
      );
    if (payload.actor !== person)
      throw new VtError(
        'NOT_PERMITTED',
        `a challenge for ${payload.actor}'s decision is not ${person}'s to sign`,
      );
    const challenge = decisionChallenge(payload).toString('base64url');
    const id = randomBytes(12).toString('base64url');
    this.#decisions.set(id, { person, payload, challenge, at: this.#now().getTime() });
    const options = await generateAuthenticationOptions({
      rpID: rp.rpID,
      challenge: b64(challenge),
      allowCredentials: usable.map((m) => ({ id: m.credential_id, transports: JSON.parse(m.transports) })),
      userVerification: 'required',
    });
    return { challenge_id: id, payload, options };
  }

  /** Verify the assertion for a pending challenge (once); returns the proof the engine checks and records. */
  async confirm(
    person: string,
    challengeId: string,
    response: AuthenticationResponseJSON,
    rp: RelyingParty,
  ): Promise<WebAuthnProof> {
    const pending = this.#decisions.get(challengeId);
    this.#decisions.delete(challengeId);
    if (!pending || pending.person !== person)
      throw new VtError(
        'CONFLICT',
        'this confirmation is unknown, used or expired; confirm the decision again',
      );
    const row = await this.#db
      .selectFrom('passkeys')
      .selectAll()
      .where('credential_id', '=', response.id)
      .where('person', '=', person)
      .executeTakeFirst();
    if (!row) throw new VtError('NOT_PERMITTED', `the passkey ${response.id} is not ${person}'s`);
    let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
    try {
      verified = await verifyAuthenticationResponse({
        response,
        expectedChallenge: pending.challenge,
        expectedOrigin: rp.origin,
        expectedRPID: rp.rpID,
        credential: {
          id: row.credential_id,
          publicKey: b64(row.public_key),
          counter: row.counter,
          transports: JSON.parse(row.transports),
        },
        requireUserVerification: true,
      });
    } catch (err) {
      throw new VtError(
        'NOT_PERMITTED',
        `the passkey confirmation does not verify: ${(err as Error).message}`,
      );
    }
    if (!verified.verified) throw new VtError('NOT_PERMITTED', 'the passkey confirmation does not verify');
    await this.#writer.transaction((trx) =>
      trx
        .updateTable('passkeys')
        .set({ counter: verified.authenticationInfo.newCounter })
        .where('credential_id', '=', row.credential_id)
        .execute(),
    );
    const text = await bindingOf(this.#db, row.credential_id);
    const passkey = text === null ? null : (JSON.parse(text) as PasskeyBinding);
    const problem = passkey ? bindingProblem(passkey.payload) : 'none';
    if (
      !passkey ||
      problem ||
      passkey.payload.person !== person ||
      passkey.payload.public_key !== row.public_key
    )
      throw new VtError('NOT_PERMITTED', `the passkey ${row.credential_id} is not bound to ${person}`, {
        hint: `From your shell: vt keys passkey bind --as ${person}`,
      });
    return {
      method: 'webauthn',
      payload: pending.payload,
      credential_id: row.credential_id,
      authenticator_data: response.response.authenticatorData,
      client_data_json: response.response.clientDataJSON,
      signature: response.response.signature,
      passkey,
    };
  }
}
