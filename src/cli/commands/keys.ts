import { join } from 'node:path';
import type { Command } from 'commander';
import type { KeyRing } from '../../identity/people.ts';
import type { Train } from '../../train/schema.ts';
import type { CliContext } from '../context.ts';
import type { WithCtx } from '../main.ts';
import { json, paint, safe, table } from '../output.ts';

/** The train in this folder (vt.yaml, searched upwards), or nulls without one. */
async function trainHere(ctx: CliContext): Promise<{ train: Train | null; file: string | null }> {
  const root = ctx.root();
  if (!root) return { train: null, file: null };
  const [{ loadTrainFile }, { TRAIN_FILE }] = await Promise.all([
    import('../../train/loader.ts'),
    import('../../wiring.ts'),
  ]);
  const file = join(root, TRAIN_FILE);
  return { train: loadTrainFile(file).train, file };
}

/** The key ring of the train in this folder (its people's keys and the signers file it names), or null. */
export async function ringHere(ctx: CliContext): Promise<{ ring: KeyRing | null; file: string | null }> {
  const { train, file } = await trainHere(ctx);
  if (!train || !file) return { ring: null, file: null };
  const { keyRingForTrain } = await import('../../identity/train-ring.ts');
  return { ring: keyRingForTrain({ train, file }), file };
}

function actorFrom(ctx: CliContext): '--as' | 'VT_ACTOR' | 'login' {
  return ctx.opts.as !== undefined ? '--as' : ctx.io.env.VT_ACTOR ? 'VT_ACTOR' : 'login';
}

const statusWord = (s: string, until: string | null) => (s === 'valid' && until ? `valid until ${until}` : s);

export function registerKeys(program: Command, withCtx: WithCtx): void {
  const keys = program
    .command('keys')
    .description(
      "people's signing keys: make one, list the ones at hand, export the train's as allowed_signers",
    )
    .addHelpText(
      'after',
      '\nExamples:\n  vt keys init\n  vt keys list\n  vt keys allowed-signers > allowed_signers',
    );

  keys
    .command('init')
    .description('make an Ed25519 key for signing decisions, outside every workspace (~/.config/vt/keys)')
    .option('--name <name>', 'the key file name (default: who you are, --as or VT_ACTOR or login)')
    .option('--comment <text>', 'the comment in the public key (default NAME@vt)')
    .addHelpText(
      'after',
      `
Prints the public key line on stdout; where the key lives, and what to paste into vt.yaml, on stderr.
The key is an OpenSSH file (mode 0600): ssh-keygen and ssh-add read it.

Examples:
  vt keys init
  vt keys init --name alice >> alice.pub
  ssh-add ~/.config/vt/keys/alice      # then vt signs through ssh-agent`,
    )
    .action(
      withCtx(async (ctx, o: { name?: string; comment?: string }) => {
        const { initVtKey } = await import('../../identity/vt-keys.ts');
        const { fingerprint, formatPublicKey } = await import('../../identity/public-key.ts');
        const name = o.name ?? ctx.actor;
        const { train } = await trainHere(ctx);
        const roles = train?.people[name];
        const made = initVtKey(ctx.io.env, name, {
          ...(o.comment !== undefined ? { comment: o.comment } : {}),
          workspaceRoot: ctx.root(),
        });
        const line = formatPublicKey(made.publicKey);
        if (ctx.json)
          json(ctx.io, { name, path: made.path, public_key: line, fingerprint: fingerprint(made.publicKey) });
        else ctx.io.out(`${line}\n`);
        ctx.io.err(
          `${paint(ctx.color, 'green', '✓')} made ${made.path} (private, mode 0600) and ${made.path}.pub\n` +
            `  ${fingerprint(made.publicKey)}\n` +
            '  So that vt accepts what it signs, list it for you in vt.yaml (or ask who keeps the train):\n' +
            `    people:\n      ${safe(name)}:\n        roles: [${roles ? roles.join(', ') : ''}]${roles ? '' : '   # the roles you hold'}\n        keys:\n          - key: "${line}"\n`,
        );
        return 0;
      }),
    );

  keys
    .command('list')
    .alias('ls')
    .description(
      'keys at hand (ssh-agent, ~/.ssh, vt keys): whether vt can sign with each, and whom the train lists it for',
    )
    .option('--wide', 'do not truncate')
    .addHelpText(
      'after',
      "\nExamples:\n  vt keys list\n  vt keys list --json | jq '.[] | select(.listed_for == [])'",
    )
    .action(
      withCtx(async (ctx, o: { wide?: boolean }) => {
        const { findKeys } = await import('../../identity/inventory.ts');
        const { ring } = await ringHere(ctx);
        const { keys: found, notes } = await findKeys(ctx.io.env, ring, Date.now());
        for (const n of notes) ctx.io.err(`${paint(ctx.color, 'gray', n)}\n`);
        if (ctx.json) {
          json(ctx.io, found);
          return 0;
        }
        if (!found.length) ctx.io.err('no keys found: make one with vt keys init\n');
        ctx.io.out(
          table(
            ctx.io,
            ['source', 'fingerprint', 'type', 'comment', 'signs', 'train'],
            found.map((k) => [
              k.source,
              k.fingerprint,
              k.type,
              k.comment,
              k.signs,
              k.listed_for.map((l) => `${l.person}: ${statusWord(l.status, l.valid_before)}`).join(', ') ||
                '-',
            ]),
            o,
          ),
        );
        return 0;
      }),
    );

  keys
    .command('allowed-signers')
    .description(
      "the train's keys as an OpenSSH allowed_signers file, to check decisions with ssh-keygen alone",
    )
    .addHelpText(
      'after',
      `
Each listing becomes a line with namespaces="vt" and its validity window (a revocation becomes a
valid-before one second earlier). ssh-keygen -Y verify then checks a decision with no vt at all.

Examples:
  vt keys allowed-signers > allowed_signers
  ssh-keygen -Y verify -f allowed_signers -I alice -n vt -s decision.sig < decision.json`,
    )
    .action(
      withCtx(async (ctx) => {
        const { ringToAllowedSigners } = await import('../../identity/people.ts');
        ctx.requireRoot();
        const { ring } = await ringHere(ctx);
        ctx.io.out(ringToAllowedSigners(ring!));
        return 0;
      }),
    );

  program
    .command('whoami')
    .description(
      'who you are to vt: the name you act under, the key that signs for you, and whether the train knows it',
    )
    .option(
      '--key <file>',
      'sign with this key file (env VT_SIGNING_KEY); a .pub file means its key in ssh-agent',
    )
    .addHelpText(
      'after',
      `
The name (--as, VT_ACTOR, or your login) is only a claim: a decision counts when it is signed by a
key the train lists for that name. The signing key is --key / VT_SIGNING_KEY, else ssh-agent's
first key the train lists for you, else your vt key (vt keys init).

Examples:
  vt whoami
  vt --as alice whoami --json
  VT_SIGNING_KEY=~/.ssh/id_ed25519 vt whoami`,
    )
    .action(
      withCtx(async (ctx, o: { key?: string }) => {
        const { whoami } = await import('../../identity/inventory.ts');
        const { ring, file } = await ringHere(ctx);
        const id = await whoami({
          actor: ctx.actor,
          actorFrom: actorFrom(ctx),
          env: ctx.io.env,
          cwd: ctx.cwd,
          ring,
          trainFile: file,
          keyFile: o.key,
          now: Date.now(),
        });
        if (ctx.json) {
          json(ctx.io, id);
          return 0;
        }
        const ok = (s: string) => paint(ctx.color, 'green', s);
        const bad = (s: string) => paint(ctx.color, 'red', s);
        const lines = [`${safe(id.actor)}\t(from ${id.actor_from}: a claim; only a signature proves it)`];
        if (!id.signer) lines.push(`key\t${bad('✗ none')}: ${id.notes.join('; ')}`);
        else {
          const where = id.signer.source === 'agent' ? `ssh-agent ${id.signer.origin}` : id.signer.origin;
          lines.push(`key\t${id.signer.type} ${id.signer.fingerprint} (${id.signer.source}: ${safe(where)})`);
          if (!id.train) lines.push(`train\t${bad('✗')} no vt.yaml here: nothing says this key is yours`);
          else if (!id.listing)
            lines.push(
              `train\t${bad('✗')} ${safe(id.train)} does not list this key for ${safe(id.actor)}${id.also_listed_for.length ? ` (it lists it for ${id.also_listed_for.map(safe).join(', ')})` : ''}`,
            );
          else {
            const l = id.listing;
            const mark = l.status === 'valid' ? ok('✓') : bad('✗');
            lines.push(`train\t${mark} ${statusWord(l.status, l.valid_before)} (${safe(l.source)})`);
          }
        }
        ctx.io.out(`${lines.join('\n')}\n`);
        if (id.signer && id.train && !id.listing)
          ctx.io.err(
            `  To be accepted, list it under people: in ${id.train}:\n    ${safe(id.actor)}:\n      keys:\n        - key: "${id.signer.public_key}"\n`,
          );
        if (!id.signer) ctx.io.err(`  Make a key with: vt keys init --name ${safe(id.actor)}\n`);
        return 0;
      }),
    );
}
