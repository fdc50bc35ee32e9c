import { resolve } from 'node:path';
import { AuditDir, readVerifierKeyFile } from '../audit/audit-dir.ts';
import type { NoteVerifier } from '../audit/note.ts';
import { VtError } from '../errors.ts';
import type { CliContext } from './context.ts';

/** The audit folder and log key location of this workspace, or a clear error. */
export function auditFolder(ctx: CliContext) {
  const a = ctx.audit();
  if (!a)
    throw new VtError(
      'NOT_FOUND',
      `no audit folder: no vt.yaml in ${ctx.cwd} or its parents, and VT_AUDIT_DIR is unset`,
      {
        hint: 'Run inside a vt workspace, or set VT_AUDIT_DIR',
      },
    );
  return { ...a, dir: new AuditDir(a.dir), workspace: a.workspace ?? null };
}

/** The log's verifier key: --key FILE, else audit/log.pub of this workspace, else none. */
export function verifierKeyFor(ctx: CliContext, keyFile: string | undefined): NoteVerifier | null {
  if (keyFile) return readVerifierKeyFile(resolve(ctx.cwd, keyFile));
  const a = ctx.audit();
  return a ? new AuditDir(a.dir).verifierKey() : null;
}
