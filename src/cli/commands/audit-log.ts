import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { AuditDir } from '../../audit/audit-dir.ts';
import { VtError } from '../../errors.ts';
import { auditFolder as folder, verifierKeyFor } from '../audit-folder.ts';
import type { WithCtx } from '../main.ts';
import { json, paint, safe } from '../output.ts';

const whole = (name: string) => (v: string) => {
  if (!/^[0-9]+$/.test(v)) throw new VtError('BAD_INPUT', `${name} must be a whole number, not "${v}"`);
  return Number(v);
};

/** `vt audit checkpoint|prove|consistency|witness`: the Merkle log's signed side. */
export function registerAuditLog(audit: Command, withCtx: WithCtx): void {
  audit
    .command('checkpoint')
    .description(
      "sign the Merkle log's current size and root with the log key; keep it in audit/checkpoints/",
    )
    .option('--init', 'make the log key first if there is none (outside every workspace, mode 0600)')
    .option('--name <name>', 'with --init: the key name (default vt-log/USER@HOST)')
    .addHelpText(
      'after',
      `
The key is read from $VT_LOG_KEY_FILE, else $XDG_CONFIG_HOME/vt/keys/log.ed25519, else
~/.config/vt/keys/log.ed25519. Its public half goes to audit/log.pub; commit audit/ to git.
Prints the checkpoint file on stdout.

Examples:
  vt audit checkpoint --init
  vt audit checkpoint --json
  git add audit && git commit -m "audit checkpoint"`,
    )
    .action(
      withCtx(async (ctx, o: { init?: boolean; name?: string }) => {
        const { ensureLogKey, loadLogKey } = await import('../../audit/log-key.ts');
        const { writeCheckpoint } = await import('../../audit/checkpoint-writer.ts');
        const f = folder(ctx);
        let signer = loadLogKey(f.keyFile, { workspace: f.workspace });
        if (!signer && !o.init)
          throw new VtError('NOT_FOUND', `no log key at ${f.keyFile}`, {
            hint: 'Make one with: vt audit checkpoint --init (or point VT_LOG_KEY_FILE at the log key)',
          });
        if (!signer) {
          signer = ensureLogKey(f.keyFile, { name: o.name, workspace: f.workspace }).signer;
          ctx.io.err(`${paint(ctx.color, 'green', '✓')} made the log key ${f.keyFile} (${signer.name})\n`);
        }
        // Signing reads the store; --init also makes it when the workspace has none yet.
        const { store } = await ctx.vt({ readonly: !o.init });
        const w = await writeCheckpoint(store, f.dir, signer);
        const c = w.checkpoint;
        if (ctx.json)
          json(ctx.io, {
            file: w.file,
            written: w.written,
            origin: c.origin,
            size: c.size,
            root: c.root.toString('base64'),
            key: signer.verifier.vkey,
            note: w.note,
          });
        else ctx.io.out(`${w.file}\n`);
        ctx.io.err(
          `${paint(ctx.color, 'green', '✓')} ${w.written ? 'signed' : 'already signed'}: ${c.origin} at size ${c.size}, root ${c.root.toString('base64')}\n`,
        );
        return 0;
      }),
    );

  audit
    .command('prove')
    .description('an inclusion proof of one event in the latest signed checkpoint, verifiable offline')
    .argument('<project>')
    .argument('<seq>', 'the event number in the project (see vt audit log)', whole('seq'))
    .addHelpText(
      'after',
      `
Prints a JSON proof document: the signed checkpoint, the event's (project, seq, hash), its leaf index
and audit path. Anyone with audit/log.pub checks it, no database needed.

Examples:
  vt audit prove churn-model 12 > proof.json
  vt audit verify --proof proof.json --key audit/log.pub`,
    )
    .action(
      withCtx(async (ctx, project: string, seq: number) => {
        const { loadLogKey } = await import('../../audit/log-key.ts');
        const { proveEvent } = await import('../../audit/proofs.ts');
        const f = folder(ctx);
        const { store } = await ctx.vt({ readonly: true });
        const signer = loadLogKey(f.keyFile, { workspace: f.workspace });
        const { doc, kept } = await proveEvent(store, f.dir, signer, project, seq);
        json(ctx.io, doc);
        ctx.io.err(
          `${paint(ctx.color, 'green', '✓')} ${project}#${seq} is leaf ${doc.leaf_index} of the checkpoint of size ${doc.tree_size} (${kept.file}): ${doc.proof.length} hashes\n`,
        );
        return 0;
      }),
    );

  audit
    .command('consistency')
    .description('a consistency proof that the log of size N extends the log of size M, verifiable offline')
    .argument('<m>', 'the older size', whole('M'))
    .argument('[n]', 'the newer size (default: the latest checkpoint, else the log now)', whole('N'))
    .addHelpText(
      'after',
      `
Prints a JSON proof document with both roots, and the signed checkpoints of those sizes when
audit/checkpoints/ keeps them.

Examples:
  vt audit consistency 120
  vt audit consistency 120 480 > consistency.json
  vt audit verify --proof consistency.json --key audit/log.pub`,
    )
    .action(
      withCtx(async (ctx, m: number, n: number | undefined) => {
        const { proveConsistency } = await import('../../audit/proofs.ts');
        const { readLogState } = await import('../../store/merkle-log.ts');
        const { store } = await ctx.vt({ readonly: true });
        const a = ctx.audit();
        const dir = a ? new AuditDir(a.dir) : null;
        const key = dir?.verifierKey() ?? null;
        const size2 = n ?? dir?.checkpoints().at(-1)?.size ?? (await readLogState(store.db)).range.size;
        const doc = await proveConsistency(store.db, m, size2, dir && key ? { dir, key } : null);
        json(ctx.io, doc);
        const signed = [doc.checkpoint1, doc.checkpoint2].filter(Boolean).length;
        ctx.io.err(
          `${paint(ctx.color, 'green', '✓')} the log of size ${doc.size2} extends the log of size ${doc.size1}: ${doc.proof.length} hashes, ${signed} of 2 roots signed\n`,
        );
        return 0;
      }),
    );

  audit
    .command('witness')
    .description(
      'check a checkpoint someone else kept against this log: same key, not ahead of it, consistent',
    )
    .argument('<file>', 'a checkpoint (signed note) kept outside this store')
    .option('--key <file>', "the log's verifier key (default: audit/log.pub)")
    .addHelpText(
      'after',
      `
Exit 0 when the checkpoint is signed by the log's key and the log extends it; exit 1 when it is
signed by another key, is of another log, is ahead of the log (events were dropped or the store
rolled back), or the log no longer extends it (rewritten).

Examples:
  vt audit witness ~/kept/checkpoint-2026-03.ckpt
  git show v1.2:audit/checkpoints/000000000480.ckpt > old.ckpt && vt audit witness old.ckpt --json`,
    )
    .action(
      withCtx(async (ctx, file: string, o: { key?: string }) => {
        const { witnessCheckpoint } = await import('../../audit/proofs.ts');
        const key = verifierKeyFor(ctx, o.key);
        if (!key)
          throw new VtError('BAD_INPUT', "witnessing needs the log's verifier key", {
            hint: 'Pass --key audit/log.pub',
          });
        let note: string;
        try {
          note = readFileSync(resolve(ctx.cwd, file), 'utf8');
        } catch (err) {
          throw new VtError('NOT_FOUND', `cannot read ${file}: ${(err as Error).message}`);
        }
        const { store } = await ctx.vt({ readonly: true });
        const r = await witnessCheckpoint(store, note, key);
        if (ctx.json) json(ctx.io, { file, ...r });
        const mark = r.ok ? paint(ctx.color, 'green', '✓') : paint(ctx.color, 'red', '✗');
        ctx.io.err(`${mark} ${file}: ${r.verdict}: ${safe(r.message)}\n`);
        return r.ok ? 0 : 1;
      }),
    );
}
