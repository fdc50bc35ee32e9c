import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { VtError } from '../../errors.ts';
import type { WithCtx } from '../main.ts';
import { json, paint } from '../output.ts';

/**
 * `vt audit decision PROJECT SEQ`: a recorded decision's signed bytes and signature as files, so
 * anyone can check it with `ssh-keygen -Y verify` and no vt at all.
 */
export function registerAuditDecision(audit: Command, withCtx: WithCtx): void {
  audit
    .command('decision')
    .description("write a recorded decision's signed payload and its signature, for ssh-keygen -Y verify")
    .argument('<project>')
    .argument('<seq>', 'the event that records the decision (see: vt audit log PROJECT)')
    .option('--out <prefix>', 'write PREFIX.json (the exact signed bytes) and PREFIX.sig', 'decision')
    .addHelpText(
      'after',
      `
For a passkey-confirmed decision the files hold the passkey's binding (signed with the person's SSH
key); the passkey's own assertion is checked by vt audit verify.

Example:
  vt audit decision churn 23 --out decision
  vt keys allowed-signers --project churn > allowed_signers
  ssh-keygen -Y verify -f allowed_signers -I lead-2 -n vt -s decision.sig < decision.json`,
    )
    .action(
      withCtx(async (ctx, project: string, seqText: string, o: { out: string }) => {
        const seq = Number(seqText);
        if (!Number.isSafeInteger(seq) || seq < 1)
          throw new VtError('BAD_INPUT', `"${seqText}" is not an event number`);
        const [{ store }, { decisionMessage }, { bindingMessage }] = await Promise.all([
          ctx.vt(),
          import('../../identity/decisions.ts'),
          import('../../identity/passkey-binding.ts'),
        ]);
        const row = await store.db
          .selectFrom('events')
          .select(['type', 'actor', 'payload'])
          .where('project_id', '=', project)
          .where('seq', '=', seq)
          .executeTakeFirst();
        if (!row)
          throw new VtError('NOT_FOUND', `no event ${project}#${seq}`, {
            hint: `See: vt audit log ${project}`,
          });
        const proof = (JSON.parse(row.payload) as { proof?: import('../../identity/proof.ts').DecisionProof })
          .proof;
        if (!proof)
          throw new VtError(
            'NOT_FOUND',
            `${project}#${seq} (${row.type} by ${row.actor}) carries no signature`,
          );
        const signed =
          proof.method === 'ssh'
            ? { bytes: decisionMessage(proof.payload), signature: proof.signature, key: proof.key }
            : {
                bytes: bindingMessage(proof.passkey.payload),
                signature: proof.passkey.signature,
                key: proof.passkey.key,
              };
        const base = resolve(ctx.cwd, o.out);
        writeFileSync(`${base}.json`, signed.bytes);
        writeFileSync(`${base}.sig`, signed.signature);
        if (ctx.json)
          json(ctx.io, {
            project,
            seq,
            type: row.type,
            actor: row.actor,
            method: proof.method,
            key: signed.key,
            payload: `${base}.json`,
            signature: `${base}.sig`,
          });
        ctx.io.err(
          `${paint(ctx.color, 'green', '✓')} wrote ${base}.json and ${base}.sig (${proof.method === 'ssh' ? 'the decision' : "the passkey's binding"}, signed by ${row.actor} with ${signed.key})\n` +
            `  check: ssh-keygen -Y verify -f allowed_signers -I ${row.actor} -n vt -s ${o.out}.sig < ${o.out}.json\n`,
        );
        return 0;
      }),
    );
}
