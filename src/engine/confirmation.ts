import { VtError } from '../errors.ts';

/**
 * What a person confirmed with a passkey before a decision was recorded: the statement they signed
 * (its sha256 is the WebAuthn challenge) and the assertion over it. The adapter that collected it
 * verified the assertion against the person's registered public key; the decision event carries it
 * so anyone can check it again later.
 */
export interface DecisionStatement {
  purpose: 'vt-decision/v1';
  project: string;
  phase: string;
  visit: number;
  decision: 'approve' | 'reject' | 'waive';
  /** The evidence digest the decision is about (see digest.ts). */
  digest: string;
  actor: string;
  role: string | null;
  reason: string | null;
  gate: string | null;
  expires_at: string | null;
  nonce: string;
  issued_at: string;
}

export interface DecisionConfirmation {
  method: 'webauthn';
  credential_id: string;
  statement: DecisionStatement;
  /** base64url, as the authenticator returned them. */
  authenticator_data: string;
  client_data_json: string;
  signature: string;
}

/**
 * A confirmation counts only for the decision it names: this project, phase and visit, this
 * evidence, this actor and these words. Anything else is refused before an event is written.
 */
export function requireConfirmationFor(
  c: DecisionConfirmation,
  d: {
    project: string;
    phase: string;
    visit: number;
    decision: DecisionStatement['decision'];
    digest: string;
    actor: string;
    reason: string | null;
    gate?: string | null;
    expiresAt?: string | null;
  },
): void {
  const s = c.statement;
  const wrong: string[] = [];
  if (s.project !== d.project) wrong.push('project');
  if (s.phase !== d.phase || s.visit !== d.visit) wrong.push('phase visit');
  if (s.decision !== d.decision) wrong.push('decision');
  if (s.digest !== d.digest) wrong.push('evidence');
  if (s.actor !== d.actor) wrong.push('person');
  if ((s.reason ?? null) !== (d.reason ?? null)) wrong.push('reason');
  if ((s.gate ?? null) !== (d.gate ?? null)) wrong.push('gate');
  if ((s.expires_at ?? null) !== (d.expiresAt ?? null)) wrong.push('expiry');
  if (wrong.length)
    throw new VtError(
      'CONFLICT',
      `the confirmed statement does not match this decision (${wrong.join(', ')} differ); the evidence may have changed since it was confirmed`,
      { hint: 'Review the project again and confirm the decision anew' },
    );
}
