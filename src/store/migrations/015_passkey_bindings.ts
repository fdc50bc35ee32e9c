import type { Kysely } from 'kysely';

/**
 * A passkey speaks for a person only once they bind it with their SSH key. This table keeps, by
 * credential id, the relying party a passkey was registered for and, once its owner made it, the
 * signed binding (src/identity/passkey-binding.ts, as JSON), which travels inside every decision the
 * passkey confirms, so the decision event alone proves who confirmed it. Operational state: a row
 * here proves nothing by itself; its signature does.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('passkey_bindings')
    .addColumn('credential_id', 'text', (c) => c.primaryKey())
    .addColumn('person', 'text', (c) => c.notNull())
    .addColumn('rp_id', 'text', (c) => c.notNull())
    .addColumn('binding', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
}
