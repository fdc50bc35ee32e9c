import type { Kysely } from 'kysely';

/**
 * The gate_evaluations projection is gone: nothing read it (each project's last evaluation per phase
 * is part of its folded state), and its rows and two indexes were a fifth of the pages every
 * transition wrote. The gate.evaluated events keep every evaluation.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('gate_evaluations').ifExists().execute();
}
