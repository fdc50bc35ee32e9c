import { api } from './api.ts';

export interface DecisionInput {
  project: string;
  decision: 'approve' | 'reject' | 'waive';
  reason?: string | undefined;
  gate?: string | undefined;
  expires_at?: string | undefined;
}

/**
 * Make a decision as the signed-in person. When they have a passkey (or the server requires one), the
 * server first writes the statement being decided, the passkey signs its digest, and the assertion
 * travels with the decision to the engine, which records it in the decision's event.
 */
export async function decide(d: DecisionInput, withPasskey: boolean): Promise<void> {
  const body: Record<string, unknown> = {};
  if (d.reason?.trim()) body.reason = d.reason.trim();
  if (d.decision === 'waive') Object.assign(body, { gate: d.gate, expires_at: d.expires_at });
  if (withPasskey) {
    const ch = await api<{ challenge_id: string; options: unknown }>(`/api/projects/${d.project}/confirm`, {
      method: 'POST',
      body: { decision: d.decision, ...body },
    });
    const { startAuthentication } = await import('@simplewebauthn/browser');
    const response = await startAuthentication({ optionsJSON: ch.options as never });
    body.confirmation = { challenge_id: ch.challenge_id, response };
  }
  await api(`/api/projects/${d.project}/${d.decision}`, { method: 'POST', body });
}

export async function registerPasskey(label: string): Promise<void> {
  const options = await api<unknown>('/api/passkeys/options', { method: 'POST' });
  const { startRegistration } = await import('@simplewebauthn/browser');
  const response = await startRegistration({ optionsJSON: options as never });
  await api('/api/passkeys', { method: 'POST', body: { label, response } });
}
