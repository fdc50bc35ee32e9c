import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Engine, Who } from '../engine/engine.ts';
import type { Tickets } from '../engine/ticket-ops.ts';
import { VtError } from '../errors.ts';
import { CONTEXT_KINDS } from '../types.ts';

/** The JSON report file a command executor may write instead of (or as well as) calling `vt`. */
export const ReportSchema = z
  .object({
    ticks: z.array(z.string()).default([]),
    artifacts: z.array(z.object({ id: z.string(), path: z.string().optional() }).strict()).default([]),
    metrics: z.record(z.string(), z.number()).default({}),
    context: z.array(z.object({ kind: z.enum(CONTEXT_KINDS), text: z.string() }).strict()).default([]),
    summary: z.string().max(2000).optional(),
  })
  .strict();
export type Report = z.infer<typeof ReportSchema>;

/** Read a report file; absent is fine (the command may have reported through `vt`), malformed is not. */
export function readReport(file: string): Report | null {
  let text: string;
  let fd: number;
  try {
    // Never through a link: the executor wrote this file, and vt reads it outside the sandbox.
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP')
      throw new VtError('BAD_INPUT', `the report ${file} is a symbolic link: write the report itself`);
    return null;
  }
  try {
    if (!fstatSync(fd).isFile()) throw new VtError('BAD_INPUT', `the report ${file} is not a regular file`);
    text = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new VtError('BAD_INPUT', `the report ${file} is not JSON: ${(err as Error).message}`);
  }
  const r = ReportSchema.safeParse(data);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new VtError(
      'BAD_INPUT',
      `the report ${file} is malformed at ${i.path.join('.') || '(root)'}: ${i.message}`,
    );
  }
  return r.data;
}

/**
 * Apply a report through the same engine calls a person makes, bound to the session. Each call has
 * an idempotency key, so applying the same report again after a crash adds nothing.
 */
export async function applyReport(
  engine: Engine,
  tickets: Tickets,
  projectId: string,
  report: Report,
  who: Who & { session: string },
) {
  const key = (k: string) => ({ ...who, idempotencyKey: `${who.session}:${k}` });
  for (const item of report.ticks) await engine.tick(projectId, item, null, key(`tick:${item}`));
  for (const a of report.artifacts)
    await engine.addArtifact(projectId, a.id, a.path, key(`artifact:${a.id}`));
  for (const [name, value] of Object.entries(report.metrics))
    await engine.setMetric(projectId, name, value, key(`metric:${name}`));
  let i = 0;
  for (const c of report.context)
    await tickets.addContext(projectId, { ...c, session: who.session }, key(`context:${i++}`));
}
