import { randomBytes } from 'node:crypto';
import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import { canonicalJson, sha256 } from '../canonical.ts';
import type { DecisionConfirmation, DecisionStatement } from '../engine/confirmation.ts';
import { VtError } from '../errors.ts';
import type { Db, Trx } from '../store/store.ts';

/*
 * Passkeys (WebAuthn) confirm a person's decision made in a browser. Registration stores the
 * credential's public key for the token's person. A decision first asks for a challenge: the server
 * writes the statement the person is about to make (project, phase, visit, evidence digest,
 * decision, reason...) and the challenge is the sha256 of its canonical JSON, so the authenticator's
 * signature covers exactly that statement. The verified assertion goes to the engine with the
 * decision and is recorded in the decision's event.
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
    { person: string; statement: DecisionStatement; challenge: string; at: number }
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
    const rows = await this.#db
      .selectFrom('passkeys')
      .select(['credential_id', 'label', 'created_at'])
      .where('person', '=', person)
      .orderBy('created_at')
      .execute();
    return rows;
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
    await this.#writer.transaction((trx) =>
      trx
        .insertInto('passkeys')
        .values({
          credential_id: cred.id,
          person,
          public_key: Buffer.from(cred.publicKey).toString('base64url'),
          counter: cred.counter,
          transports: JSON.stringify(cred.transports ?? []),
          label,
          created_at: this.#now().toISOString(),
        })
        .execute(),
    );
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

  /** A challenge that is the digest of the statement the person is about to confirm. */
  async decisionChallenge(
    person: string,
    draft: Omit<DecisionStatement, 'purpose' | 'nonce' | 'issued_at' | 'actor'>,
    rp: RelyingParty,
  ) {
    this.#sweep();
    const mine = await this.#db
      .selectFrom('passkeys')
      .select(['credential_id', 'transports'])
      .where('person', '=', person)
      .execute();
    if (!mine.length)
      throw new VtError('INVALID_STATE', `${person} has no passkey; register one on the dashboard first`);
    const statement: DecisionStatement = {
      purpose: 'vt-decision/v1',
      ...draft,
      actor: person,
      nonce: randomBytes(16).toString('base64url'),
      issued_at: this.#now().toISOString(),
    };
    const challenge = Buffer.from(sha256(canonicalJson(statement)), 'hex').toString('base64url');
    const id = randomBytes(12).toString('base64url');
    this.#decisions.set(id, { person, statement, challenge, at: this.#now().getTime() });
    const options = await generateAuthenticationOptions({
      rpID: rp.rpID,
      challenge: b64(challenge),
      allowCredentials: mine.map((m) => ({ id: m.credential_id, transports: JSON.parse(m.transports) })),
      userVerification: 'required',
    });
    return { challenge_id: id, statement, options };
  }

  /** Verify the assertion for a pending challenge (once); returns what the engine records with the decision. */
  async confirm(
    person: string,
    challengeId: string,
    response: AuthenticationResponseJSON,
    rp: RelyingParty,
  ): Promise<DecisionConfirmation> {
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
    return {
      method: 'webauthn',
      credential_id: row.credential_id,
      statement: pending.statement,
      authenticator_data: response.response.authenticatorData,
      client_data_json: response.response.clientDataJSON,
      signature: response.response.signature,
    };
  }
}
