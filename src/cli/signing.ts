import { VtError } from '../errors.ts';
import type { DecisionPayload, SignedDecision } from '../identity/decisions.ts';
import { ringHere } from './commands/keys.ts';
import type { CliContext } from './context.ts';

/**
 * Sign a decision for the person acting at this CLI: choose their key (--key, VT_SIGNING_KEY,
 * ssh-agent, vt key), sign, and check the result against the train in this folder at once, so a
 * key the train does not list for them is refused here with the fix, not later by the engine.
 */
export async function signHere(
  ctx: CliContext,
  payload: DecisionPayload,
  keyFile?: string,
): Promise<SignedDecision> {
  const [{ requireSigner }, { signDecision, verifyDecision }] = await Promise.all([
    import('../identity/keys.ts'),
    import('../identity/decisions.ts'),
  ]);
  const { ring, file } = await ringHere(ctx);
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
