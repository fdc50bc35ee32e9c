import { type Kysely, sql } from 'kysely';

/**
 * The autopilot's selection order, stored so a claim reads an index instead of sorting the queue:
 * `tickets.claim_rank` is the priority rank (now 0, next 1, future 2, other 3) of a ticket waiting to
 * be claimed (queued or awaiting-gates) and null otherwise; `claim_heads` holds, for every active
 * project and rank, the oldest such ticket of the project's current phase with the project's last
 * claim time. Both are projections (rebuilt from events).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('tickets').addColumn('claim_rank', 'integer').execute();
  await sql`update tickets set claim_rank = case priority
      when 'now' then 0 when 'next' then 1 when 'future' then 2 else 3 end
    where status in ('queued', 'awaiting-gates')`.execute(db);
  await db.schema
    .createIndex('tickets_claim')
    .on('tickets')
    .columns(['project_id', 'phase', 'claim_rank', 'created_at', 'seq', 'id'])
    .execute();
  await db.schema.createIndex('leases_project').on('leases').columns(['project_id']).execute();
  await db.schema
    .createTable('claim_heads')
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('rank', 'integer', (c) => c.notNull())
    // '' when never claimed: sorts first on every backend (NULLs do not).
    .addColumn('last_claim_at', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('ticket', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('claim_heads_pk', ['project_id', 'rank'])
    .execute();
  await db.schema
    .createIndex('claim_heads_order')
    .on('claim_heads')
    .columns(['rank', 'last_claim_at', 'created_at', 'seq', 'ticket'])
    .execute();
  await sql`insert into claim_heads (project_id, rank, last_claim_at, created_at, seq, ticket)
    select t.project_id, t.claim_rank, coalesce(p.last_claim_at, ''), t.created_at, t.seq, t.id
    from tickets t join projects p on p.id = t.project_id and p.phase = t.phase and p.status = 'active'
    where t.claim_rank is not null and not exists (
      select 1 from tickets u
      where u.project_id = t.project_id and u.phase = t.phase and u.claim_rank = t.claim_rank
        and (u.created_at < t.created_at or (u.created_at = t.created_at and u.seq < t.seq)))`.execute(db);
}
