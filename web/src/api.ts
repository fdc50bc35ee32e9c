/** The dashboard's only way to the server: JSON over fetch with the person's API token. */

const KEY = 'vt-token';

/** The signed-in person, as GET /api/me tells. */
export interface Me {
  person: string;
  token: string;
  grants: { project: string; role: string }[];
  /** `bound`: its owner signed it to themselves with their SSH key (vt keys passkey bind); only then does it sign. */
  passkeys: { credential_id: string; label: string | null; bound?: boolean }[];
  passkey_policy: 'required' | 'optional';
}

export function getToken(): string | null {
  return sessionStorage.getItem(KEY);
}
export function setToken(t: string | null): void {
  if (t) sessionStorage.setItem(KEY, t);
  else sessionStorage.removeItem(KEY);
}

/** A token handed over in the URL fragment (never sent to the server) is taken and removed from the address. */
export function takeTokenFromFragment(): void {
  const m = /(?:^|[#&])token=([\w-]+)/.exec(location.hash);
  if (m) {
    setToken(m[1]!);
    history.replaceState(null, '', location.pathname + location.search);
  }
}

export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly hint: string | null;
  constructor(status: number, code: string, message: string, hint: string | null) {
    super(message);
    this.status = status;
    this.code = code;
    this.hint = hint;
  }
}

export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<T> {
  const token = getToken();
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...init.headers,
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (!res.ok) {
    const e = json?.error ?? { code: 'INTERNAL', message: res.statusText, hint: null };
    if (res.status === 401) window.dispatchEvent(new Event('vt-unauthenticated'));
    throw new ApiError(res.status, e.code, e.message, e.hint);
  }
  return json as T;
}

export const qs = (o: Record<string, string | number | undefined | null>) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
};
