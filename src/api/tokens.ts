import { randomBytes, timingSafeEqual } from 'node:crypto';
import { sha256 } from '../canonical.ts';
import { VtError } from '../errors.ts';
import type { Db, Trx } from '../store/store.ts';
import { API_PERMISSIONS, API_ROLES, type ApiPermission, type ApiRole } from '../types.ts';

/*
 * API tokens: a secret shown once at creation, stored as its sha256 with the person it stands for and
 * its grants. A request presents it as `Authorization: Bearer vt_…`; the server finds the token by
 * its hash, so the secret itself is never stored, logged or compared byte by byte.
 */

/** A role on one project, or on every project (`*`). */
export interface Grant {
  project: string;
  role: ApiRole;
}

/** Who a request acts for: the token's person and what the token lets them do. */
export interface Principal {
  tokenId: string;
  person: string;
  grants: Grant[];
}

export interface TokenInfo {
  id: string;
  person: string;
  label: string | null;
  grants: Grant[];
  created_by: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

const PERSON = /^[\w.@:+-]{1,64}$/;
const PROJECT = /^(\*|[a-z][a-z0-9-]{0,62})$/;

/** Parse `role` or `role:project` (as given to `vt token create --grant`). */
export function parseGrant(text: string): Grant {
  const [role, project = '*', extra] = text.split(':');
  if (extra !== undefined || !API_ROLES.includes(role as ApiRole) || !PROJECT.test(project))
    throw new VtError(
      'BAD_INPUT',
      `"${text}" is not a grant: ROLE or ROLE:PROJECT, ROLE one of ${API_ROLES.join(', ')}`,
      { hint: 'Example: --grant viewer --grant approver:churn-model' },
    );
  return { role: role as ApiRole, project };
}

/** Make a token for a person; returns the secret (shown once) and the token's id. */
export async function createToken(
  store: { transaction<T>(fn: (trx: Trx) => Promise<T>): Promise<T> },
  input: { person: string; grants: Grant[]; label?: string | null; expiresAt?: Date | null; by: string },
  now: Date,
): Promise<{ id: string; token: string }> {
  if (!PERSON.test(input.person))
    throw new VtError(
      'BAD_INPUT',
      `"${input.person}" is not a usable person name: letters, digits, . @ : + - _`,
    );
  if (!input.grants.length)
    throw new VtError('BAD_INPUT', 'a token needs at least one grant (--grant ROLE[:PROJECT])');
  if (input.expiresAt && input.expiresAt.getTime() <= now.getTime())
    throw new VtError('BAD_INPUT', 'a token must expire in the future');
  const id = `t${randomBytes(6).toString('hex')}`;
  const token = `vt_${randomBytes(32).toString('base64url')}`;
  await store.transaction(async (trx) => {
    await trx
      .insertInto('api_tokens')
      .values({
        id,
        person: input.person,
        label: input.label ?? null,
        token_sha256: sha256(token),
        created_by: input.by,
        created_at: now.toISOString(),
        expires_at: input.expiresAt?.toISOString() ?? null,
        revoked_at: null,
      })
      .execute();
    const unique = new Map(input.grants.map((g) => [`${g.project}:${g.role}`, g]));
    await trx
      .insertInto('api_token_grants')
      .values([...unique.values()].map((g) => ({ token_id: id, project: g.project, role: g.role })))
      .execute();
  });
  return { id, token };
}

export async function listTokens(db: Db): Promise<TokenInfo[]> {
  const rows = await db.selectFrom('api_tokens').selectAll().orderBy('created_at').orderBy('id').execute();
  const grants = await db.selectFrom('api_token_grants').selectAll().execute();
  return rows.map(({ token_sha256: _, ...r }) => ({
    ...r,
    grants: grants
      .filter((g) => g.token_id === r.id)
      .map((g) => ({ project: g.project, role: g.role as ApiRole })),
  }));
}

export async function revokeToken(db: Db | Trx, id: string, now: Date): Promise<void> {
  const r = await db
    .updateTable('api_tokens')
    .set({ revoked_at: now.toISOString() })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) === 1) return;
  const exists = await db.selectFrom('api_tokens').select('id').where('id', '=', id).executeTakeFirst();
  if (!exists) throw new VtError('NOT_FOUND', `no token "${id}"`, { hint: 'See: vt token list' });
}

/** The principal a presented secret stands for, or an UNAUTHENTICATED error. */
export async function authenticate(db: Db, token: string | null, now: Date): Promise<Principal> {
  if (!token)
    throw new VtError('UNAUTHENTICATED', 'this request needs an API token: Authorization: Bearer vt_…', {
      hint: 'Make one with: vt token create --person NAME --grant viewer',
    });
  const digest = sha256(token);
  const row = await db
    .selectFrom('api_tokens')
    .select(['id', 'person', 'token_sha256', 'expires_at', 'revoked_at'])
    .where('token_sha256', '=', digest)
    .executeTakeFirst();
  const same = row && timingSafeEqual(Buffer.from(row.token_sha256, 'hex'), Buffer.from(digest, 'hex'));
  if (!row || !same) throw new VtError('UNAUTHENTICATED', 'the API token is not valid');
  if (row.revoked_at) throw new VtError('UNAUTHENTICATED', `the API token ${row.id} was revoked`);
  if (row.expires_at && Date.parse(row.expires_at) <= now.getTime())
    throw new VtError('UNAUTHENTICATED', `the API token ${row.id} expired at ${row.expires_at}`);
  const grants = await db
    .selectFrom('api_token_grants')
    .select(['project', 'role'])
    .where('token_id', '=', row.id)
    .execute();
  return { tokenId: row.id, person: row.person, grants: grants as Grant[] };
}

const allows = (g: Grant, permission: ApiPermission) =>
  (API_PERMISSIONS[g.role] as readonly string[]).includes(permission);

/** Whether the principal may do `permission` on `project` (or, with no project, on every project). */
export function can(p: Principal, permission: ApiPermission, project?: string): boolean {
  return p.grants.some(
    (g) => allows(g, permission) && (g.project === '*' || (project !== undefined && g.project === project)),
  );
}

/** Throw NOT_PERMITTED unless the principal may do `permission` on `project`. */
export function require(p: Principal, permission: ApiPermission, project?: string): void {
  if (can(p, permission, project)) return;
  throw new VtError(
    'NOT_PERMITTED',
    `${p.person}'s token (${p.tokenId}) may not ${permission}${project ? ` in project ${project}` : ''}`,
    { hint: `Ask an admin for a token with a role that grants "${permission}"` },
  );
}

/** The projects the principal may read: null for all of them. */
export function readScope(p: Principal): string[] | null {
  if (can(p, 'read')) return null;
  return [...new Set(p.grants.filter((g) => allows(g, 'read')).map((g) => g.project))];
}
