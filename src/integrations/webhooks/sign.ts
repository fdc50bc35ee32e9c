import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { VtError } from '../../errors.ts';

/*
 * Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 over
 * `${webhook-id}.${webhook-timestamp}.${body}` with the secret's bytes, sent as `v1,<base64>`. The
 * timestamp is signed too, so a captured delivery replayed later fails the tolerance check.
 */

/** How far a timestamp may be from the receiver's clock, either way (the spec's 5 minutes). */
export const TOLERANCE_S = 5 * 60;

const PREFIX = 'whsec_';

/** A secret's key bytes: `whsec_` followed by base64 (the prefix is optional), 24 to 64 bytes. */
export function secretKey(secret: string): Buffer {
  const b64 = secret.trim().startsWith(PREFIX) ? secret.trim().slice(PREFIX.length) : secret.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64))
    throw new VtError('BAD_INPUT', 'a webhook secret is whsec_ followed by base64', {
      hint: 'Make one with: vt notify secret',
    });
  const key = Buffer.from(b64, 'base64');
  if (key.length < 24 || key.length > 64)
    throw new VtError('BAD_INPUT', `a webhook secret must hold 24 to 64 bytes, not ${key.length}`, {
      hint: 'Make one with: vt notify secret',
    });
  return key;
}

/** A new random secret in the Standard Webhooks form. */
export function newSecret(): string {
  return PREFIX + randomBytes(32).toString('base64');
}

/** The `webhook-signature` value for one delivery attempt. */
export function sign(secret: string, id: string, timestampS: number, body: string): string {
  const mac = createHmac('sha256', secretKey(secret)).update(`${id}.${timestampS}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** The headers of a signed delivery. */
export function signedHeaders(secret: string, id: string, now: Date, body: string): Record<string, string> {
  const ts = Math.floor(now.getTime() / 1000);
  return {
    'content-type': 'application/json',
    'user-agent': 'value-train-webhooks/1',
    'webhook-id': id,
    'webhook-timestamp': String(ts),
    'webhook-signature': sign(secret, id, ts, body),
  };
}

export type Verification = { ok: true; id: string; timestamp: number } | { ok: false; reason: string };

/**
 * Check a delivery as a receiver does: all three headers present, the timestamp within the tolerance
 * of `now`, and one of the space-separated `v1,` signatures equal (compared in constant time) to the
 * HMAC of the raw body as received. Header names are matched case-insensitively.
 */
export function verify(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  body: string,
  opts: { now?: Date; toleranceS?: number } = {},
): Verification {
  const get = (name: string) => {
    const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
    const v = key === undefined ? undefined : headers[key];
    return Array.isArray(v) ? v[0] : v;
  };
  const id = get('webhook-id');
  const ts = get('webhook-timestamp');
  const sigs = get('webhook-signature');
  if (!id || !ts || !sigs)
    return { ok: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature' };
  if (!/^\d{1,12}$/.test(ts)) return { ok: false, reason: 'webhook-timestamp is not a number of seconds' };
  const timestamp = Number(ts);
  const now = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const tolerance = opts.toleranceS ?? TOLERANCE_S;
  if (timestamp < now - tolerance) return { ok: false, reason: 'webhook-timestamp is too old (a replay?)' };
  if (timestamp > now + tolerance) return { ok: false, reason: 'webhook-timestamp is in the future' };
  const expected = Buffer.from(sign(secret, id, timestamp, body).slice(3), 'base64');
  for (const part of sigs.split(' ')) {
    const [version, mac] = part.split(',', 2);
    if (version !== 'v1' || !mac) continue;
    const got = Buffer.from(mac, 'base64');
    if (got.length === expected.length && timingSafeEqual(got, expected)) return { ok: true, id, timestamp };
  }
  return { ok: false, reason: 'no signature matches' };
}
