import type { DecisionCall } from '../engine/decision-proof.ts';
import type { Engine } from '../engine/engine.ts';
import { VtError } from '../errors.ts';
import type { DecisionPayload, SignedDecision } from '../identity/decisions.ts';
import type { KeyRing } from '../identity/people.ts';
import type { DecisionProof } from '../identity/proof.ts';
import { ringHere } from './commands/keys.ts';
import type { CliContext } from './context.ts';
import { paint } from './output.ts';

/**
 * Sign a decision for the person acting at this CLI: choose their key (--key, VT_SIGNING_KEY,
 * ssh-agent, vt key), sign, and check the result against the train at once (the project's pinned
 * train when given, else the one in this folder), so a key the train does not list for them is
 * refused here with the fix, not later by the engine.
 */
export async function signHere(
  ctx: CliContext,
  payload: DecisionPayload,
  keyFile?: string,
  pinned?: { ring: KeyRing; file: string },
): Promise<SignedDecision> {
  const [{ requireSigner }, { signDecision, verifyDecision }] = await Promise.all([
    import('../identity/keys.ts'),
    import('../identity/decisions.ts'),
  ]);
  const { ring, file } = pinned ?? (await ringHere(ctx));
  const signer = await requireSigner({ person: payload.actor, env: ctx.io.env, cwd: ctx.cwd, ring, keyFile });
  const signed = await signDecision(payload, signer);
  if (ring) {
    const v = verifyDecision(signed, ring);
    if (!v.ok)
      throw new VtError('NOT_PERMITTED', `your signature would not be accepted: ${v.reason} (${v.detail})`, {
        hint:
          v.reason === 'unknown key'
            ? `List your key for ${payload.actor} under people: in ${file} (see: vt whoami)`
            : 'See: vt whoami',
      });
  }
  return signed;
}

/**
 * The proof for a person's decision made at this CLI, or undefined to record it unsigned. vt signs
 * when the project's train requires signed decisions, when a key is named (--key, VT_SIGNING_KEY),
 * or when the train lists a key for the person; the payload is drafted by the engine from the
 * project as it stands, so what is signed is exactly what the engine will record. Inside an agent's
 * session nothing is signed (the engine refuses the decision there anyway).
 */
export async function proofHere(
  ctx: CliContext,
  engine: Engine,
  projectId: string,
  call: DecisionCall,
  keyFile?: string,
): Promise<DecisionProof | undefined> {
  const who = ctx.who;
  if (who.session) return undefined;
  const { required, ring, train } = await engine.signingPolicy(projectId);
  const named = !!(keyFile ?? ctx.io.env.VT_SIGNING_KEY);
  const listed = ring.keysOf(who.actor).length > 0;
  if (!required && !named && !listed) return undefined;
  const payload = await engine.decisionPayload(projectId, who.actor, call);
  const { sshProof } = await import('../identity/proof.ts');
  try {
    return sshProof(
      await signHere(ctx, payload, keyFile, { ring, file: `train ${train.name} (pinned by ${projectId})` }),
    );
  } catch (err) {
    if (required && err instanceof VtError && err.code === 'NOT_FOUND' && !named)
      throw new VtError(
        'NOT_PERMITTED',
        `train ${train.name} requires signed decisions, and ${err.message}`,
        {
          hint: `Make a key: vt keys init --name ${who.actor}, then list it in vt.yaml (and upgrade the project to that train):\n  people:\n    ${who.actor}:\n      roles: [${(train.people[who.actor] ?? []).join(', ')}]\n      keys:\n        - key: "<the line vt keys init printed>"`,
        },
      );
    if (required || named) throw err;
    ctx.io.err(
      `${paint(ctx.color, 'yellow', '!')} not signed: ${(err as Error).message}; the decision is recorded unsigned (train ${train.name} does not require signatures)\n`,
    );
    return undefined;
  }
}
