import { redact, stripControl } from '../../redact.ts';
import type { Notification } from './notification.ts';

/*
 * The body of a webhook: Slack-compatible (`text` for notifications and fallbacks, `blocks` for the
 * layout), with the structured notification under `vt` for receivers that are programs.
 */

/** What the deliverer looked up for the message: names and sums are not in the event. */
export interface MessageFacts {
  /** People who may approve, per approval gate (members of its role who did not work in the visit). */
  approvers?: Record<string, string[]>;
  /** Session costs before and after the notifying session, for a budget warning. */
  spent?: { before: number; after: number };
}

export interface WebhookMessage {
  text: string;
  blocks: unknown[];
  vt: Notification & { id: string; created_at: string };
}

/** Text from events: no control characters or secrets, Slack's three special characters escaped, bounded. */
export function mrkdwn(text: string, max = 2800): string {
  const clean = redact(stripControl(text))
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

const plain = (text: string, max = 150) => {
  const t = redact(stripControl(text)).replace(/\s+/g, ' ');
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
};

const money = (x: number) => `$${x.toFixed(2)}`;
const list = (xs: readonly string[]) => (xs.length ? xs.join(', ') : 'nobody yet');

/** Every string in a value with control characters and secrets removed. */
function scrubbed(v: unknown): unknown {
  if (typeof v === 'string') return redact(stripControl(v));
  if (Array.isArray(v)) return v.map(scrubbed);
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, scrubbed(x)]));
  return v;
}

/** Title, body and the next command for one notification. */
function parts(n: Notification, facts: MessageFacts): { title: string; body: string; next: string } {
  switch (n.type) {
    case 'approval-needed': {
      const lines = n.gates.map((g) => {
        const who = facts.approvers?.[g.gate] ?? [];
        const have = g.approvers.length ? ` (approved so far: ${g.approvers.join(', ')})` : '';
        return `• ${g.gate}: ${g.needed} approval${g.needed > 1 ? 's' : ''} from role *${g.role}*${have}. May approve: ${list(who)}.`;
      });
      return {
        title: `⏸ Approval needed: ${n.project} / ${n.phase}`,
        body: `${n.project} is waiting in *${n.phase}* (visit ${n.visit}).\n${lines.join('\n')}${
          n.contributors.length
            ? `\nWorked in this visit (may not approve): ${n.contributors.join(', ')}.`
            : ''
        }`,
        next: `vt approve ${n.project} --role ${n.gates[0]?.role ?? 'ROLE'}`,
      };
    }
    case 'ticket-blocked':
      return {
        title: `⛔ Ticket blocked: ${n.ticket}`,
        body: `${n.project} / *${n.phase}*: ${n.ticket} is blocked after ${n.attempts} failed attempt${n.attempts === 1 ? '' : 's'}.\nReason: ${n.reason}`,
        next: `vt retry ${n.ticket}`,
      };
    case 'gate-failed':
      return {
        title: `✗ Gate failed: ${n.project} / ${n.phase}`,
        body: `${n.side === 'entry' ? 'Entry' : 'Exit'} gates of *${n.phase}* (visit ${n.visit}) did not pass:\n${n.failing
          .map((f) => `• ${f.gate} (${f.kind}) ${f.status}: ${f.message}`)
          .join('\n')}`,
        next: `vt gate check ${n.project}`,
      };
    case 'drift-detected': {
      const figures = Object.entries(n.metrics)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      return {
        title: `↺ Drift detected: ${n.project}`,
        body:
          n.source === 'route'
            ? `*${n.phase}* routed ${n.project} to *${n.to}*${n.reason ? ` (${n.reason})` : ''}. Figures: ${figures || 'none recorded'}.`
            : `In *${n.phase}*, ${n.reason} holds: ${figures}.`,
        next: `vt status ${n.project}`,
      };
    }
    case 'budget-nearly-spent': {
      const after = facts.spent?.after ?? n.cost;
      const share = Math.round((after / n.budget) * 100);
      return {
        title: `! Budget nearly spent: ${n.project}`,
        body: `Sessions of ${n.project} have cost ${money(after)} of its ${money(n.budget)} budget (${share}%, warning at ${Math.round(n.warn_at * 100)}%). The last session (${n.session}) cost ${money(n.cost)}.`,
        next: `vt status ${n.project}`,
      };
    }
    case 'schedule-missed':
      return {
        title: `⏰ Schedule missed: ${n.project} / ${n.phase}`,
        body: `The ${n.schedule} schedule of *${n.phase}* was due at ${n.due_at} and had not run by ${n.checked_at}.`,
        next: `vt status ${n.project}`,
      };
    case 'test':
      return { title: '✓ Value Train test message', body: n.note, next: 'vt notify list' };
  }
}

/** The JSON body for a notification; the same input always gives the same bytes. */
export function renderMessage(
  n: Notification,
  meta: { id: string; createdAt: string },
  facts: MessageFacts = {},
): WebhookMessage {
  const p = parts(n, facts);
  return {
    text: mrkdwn(`${p.title}: ${p.body}`.replace(/\s+/g, ' '), 3000),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: plain(p.title) } },
      { type: 'section', text: { type: 'mrkdwn', text: mrkdwn(p.body) } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: mrkdwn(`Next: \`${p.next}\``, 300) }] },
    ],
    vt: { ...(scrubbed(n) as Notification), id: meta.id, created_at: meta.createdAt },
  };
}
