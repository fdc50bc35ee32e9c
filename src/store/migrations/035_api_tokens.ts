import { type Kysely, sql } from 'kysely';
import { API_ROLES } from '../../types.ts';

/**
 * API tokens for people using `vt serve`: only each token's sha256 is stored, with the person it
 * stands for and its grants (a role per project, or `*` for every project). Operational state, like
 * session tokens: never a projection, never rebuilt from events.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('person', 'text', (c) => c.notNull())
    .addColumn('label', 'text')
    .addColumn('token_sha256', 'text', (c) => c.notNull().unique())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text')
    .addColumn('revoked_at', 'text')
    .execute();
  await db.schema
    .createTable('api_token_grants')
    .addColumn('token_id', 'text', (c) => c.notNull())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) =>
      c.notNull().check(sql`role in (${sql.join(API_ROLES.map((r) => sql.lit(r)))})`),
    )
    .addPrimaryKeyConstraint('api_token_grants_pk', ['token_id', 'project', 'role'])
    .execute();
}
