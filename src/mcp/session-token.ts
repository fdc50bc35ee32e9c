import { randomBytes, timingSafeEqual } from 'node:crypto';
import { sha256 } from '../canonical.ts';
import type { Db } from '../store/store.ts';

/*
 * A session token binds one `vt mcp` connection to one agent session. It is made when the executor's
 * session starts, handed to the agent's MCP configuration in VT_SESSION_TOKEN, and only its sha256 is
 * stored. It dies with the session: the row is removed when the executor returns, and a token is
 * honoured only while its session is live anyway.
 */

/** Make a token for a session and store its hash (replacing any earlier token of that session). */
export async function issueSessionToken(
  db: Db,
  input: { session: string; projectId: string; now: Date },
): Promise<string> {
  const token = `vts_${randomBytes(32).toString('base64url')}`;
  await db
    .insertInto('session_tokens')
    .values({
      session: input.session,
      project_id: input.projectId,
      token_sha256: sha256(token),
      created_at: input.now.toISOString(),
    })
    .onConflict((oc) => oc.column('session').doUpdateSet({ token_sha256: sha256(token) }))
    .execute();
  return token;
}

/** The session's project when `token` is the session's current token; null otherwise. */
export async function projectOfSessionToken(db: Db, session: string, token: string): Promise<string | null> {
  const row = await db
    .selectFrom('session_tokens')
    .select(['project_id', 'token_sha256'])
    .where('session', '=', session)
    .executeTakeFirst();
  if (!row) return null;
  const given = Buffer.from(sha256(token), 'hex');
  const stored = Buffer.from(row.token_sha256, 'hex');
  return given.length === stored.length && timingSafeEqual(given, stored) ? row.project_id : null;
}

/** The project a session belongs to, by its token row (for recording a refused call). */
export async function projectOfSession(db: Db, session: string): Promise<string | null> {
  const row = await db
    .selectFrom('sessions')
    .select('project_id')
    .where('id', '=', session)
    .executeTakeFirst();
  return row?.project_id ?? null;
}

export async function revokeSessionToken(db: Db, session: string): Promise<void> {
  await db.deleteFrom('session_tokens').where('session', '=', session).execute();
}
