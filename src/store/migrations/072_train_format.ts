import type { Kysely } from 'kysely';

/**
 * Which shape of parsed train each stored train has (`TRAIN_FORMAT`). A store command then uses a
 * stored train of the current format as it is, instead of parsing it with the schema again (a
 * quarter of a short command's time). Trains stored before this have none and are parsed as before.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('trains').addColumn('format', 'text').execute();
}
