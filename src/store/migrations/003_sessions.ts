import type { Kysely } from 'kysely';

/**
 * Session tokens: the sha256 of the secret an agent's `vt mcp` connection presents. Operational
 * state (never a projection, never rebuilt): the token itself is never stored.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('session_tokens')
    .addColumn('session', 'text', (c) => c.primaryKey())
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('token_sha256', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
}
