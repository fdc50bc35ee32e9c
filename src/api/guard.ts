import { VtError } from '../errors.ts';

/** The host names (with port) the server answers to: what it was bound to, and loopback aliases. */
export interface HostPolicy {
  hosts: Set<string>;
}

/** The Host values a server on host:port accepts; loopback binds also answer to localhost and 127.0.0.1. */
export function hostPolicy(bind: string, port: number, extra: string[] = []): HostPolicy {
  const names = new Set<string>([bind, ...extra]);
  if (bind === '127.0.0.1' || bind === 'localhost' || bind === '::1') {
    names.add('127.0.0.1');
    names.add('localhost');
    names.add('[::1]');
  }
  if (bind.includes(':') && !bind.startsWith('[')) names.add(`[${bind}]`);
  return { hosts: new Set([...names].map((n) => `${n}:${port}`.toLowerCase())) };
}

/**
 * DNS rebinding defence: a page on another site that resolves its own name to 127.0.0.1 sends
 * `Host: evil.example`, and a page elsewhere sends its own `Origin`. Both are refused with 403,
 * before authentication, for every path.
 */
export function requireLocalOrigin(req: Request, policy: HostPolicy): void {
  const host = (req.headers.get('host') ?? '').toLowerCase();
  if (!policy.hosts.has(host))
    throw new VtError('NOT_PERMITTED', `this server does not answer to the host "${host.slice(0, 100)}"`, {
      hint: `Open it as http://${[...policy.hosts][0]}/`,
    });
  const origin = req.headers.get('origin');
  if (origin === null) return;
  let ok = false;
  try {
    const u = new URL(origin);
    ok = u.protocol === 'http:' && policy.hosts.has(u.host.toLowerCase()) && u.pathname === '/';
  } catch {
    ok = false;
  }
  if (!ok)
    throw new VtError('NOT_PERMITTED', `requests from the origin "${origin.slice(0, 100)}" are refused`);
}
