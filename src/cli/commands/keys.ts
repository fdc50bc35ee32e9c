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
  vt keys allowed-signers --project churn > allowed_signers   # the keys of the train churn pinned
  ssh-keygen -Y verify -f allowed_signers -I alice -n vt -s decision.sig < decision.json`,
    )
    .option('--project <id>', 'the keys of the train this project pinned (from the store), not of vt.yaml')
    .action(
      withCtx(async (ctx, o: { project?: string }) => {
        const { ringToAllowedSigners } = await import('../../identity/people.ts');
        if (o.project) {
          const { engine } = await ctx.vt();
          ctx.io.out(ringToAllowedSigners((await engine.signingPolicy(o.project)).ring));
          return 0;
        }
        ctx.requireRoot();
        const { ring } = await ringHere(ctx);
        ctx.io.out(ringToAllowedSigners(ring!));
        return 0;
      }),
    );

  const passkey = keys
    .command('passkey')
    .description(
      'passkeys registered on the dashboard: bind them to you with your SSH key, so that they sign your decisions',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  vt keys passkey list\n  vt keys passkey bind --key ~/.ssh/id_ed25519',
    );
  passkey
    .command('list')
    .alias('ls')
    .description('your passkeys in the store (--as, VT_ACTOR or login), and whether each is bound to you')
    .addHelpText('after', '\nExamples:\n  vt keys passkey list\n  vt --as ana keys passkey list --json')
    .action(
      withCtx(async (ctx) => {
        const { passkeysOf } = await import('../../store/passkey-bindings.ts');
        const { store } = await ctx.vt();
        const rows = (await passkeysOf(store.db, ctx.actor)).map((r) => ({
          credential_id: r.credential_id,
          label: r.label,
          created_at: r.created_at,
          rp_id: r.rp_id,
          bound: r.binding !== null && r.bound_to === ctx.actor,
          bound_with: r.binding ? (JSON.parse(r.binding) as { key: string }).key : null,
        }));
        if (ctx.json) {
          json(ctx.io, rows);
          return 0;
        }
        if (!rows.length)
          ctx.io.err(`no passkeys for ${safe(ctx.actor)}: register one on the dashboard's Inbox\n`);
        ctx.io.out(
          table(
            ctx.io,
            ['credential', 'label', 'relying party', 'bound'],
            rows.map((r) => [
              r.credential_id,
              safe(r.label ?? ''),
              r.rp_id ?? '?',
              r.bound ? `✓ ${r.bound_with}` : '✗ no',
            ]),
            {},
          ),
        );
        return 0;
      }),
    );
  passkey
    .command('bind')
    .description(
      'sign, with your SSH key, that your passkey is yours: from then on it signs your decisions in the dashboard',
    )
    .argument('[credential]', 'the passkey to bind (default: every passkey of yours not bound yet)')
    .option(
      '--key <file>',
      'sign with this key file (env VT_SIGNING_KEY); a .pub file means its key in ssh-agent',
    )
    .option(
      '--rp-id <host>',
      'the host name the passkey was made for, when the store does not know it',
      'localhost',
    )
    .addHelpText(
      'after',
      `
The server that stores a passkey's public key is no authority on whose passkey it is: a passkey
counts for you only once you sign a binding of it with a key the train lists for you. The binding
travels inside every decision the passkey confirms, so vt audit verify can check it offline.

Examples:
  vt keys passkey bind
  vt --as ana keys passkey bind AbC123 --key ~/.ssh/id_ed25519`,
    )
    .action(
      withCtx(async (ctx, credential: string | undefined, o: { key?: string; rpId: string }) => {
        const [{ passkeysOf, saveBinding }, { requireSigner }, { signPasskeyBinding, verifyPasskeyBinding }] =
          await Promise.all([
            import('../../store/passkey-bindings.ts'),
            import('../../identity/keys.ts'),
            import('../../identity/passkey-binding.ts'),
          ]);
        const { VtError } = await import('../../errors.ts');
        const actor = ctx.actor;
        const { store, engine } = await ctx.vt();
        const mine = await passkeysOf(store.db, actor);
        const { ring, file } = await ringHere(ctx);
        const now = engine.clock.now();
        // Bound means: a binding this train accepts (a row in the store proves nothing by itself).
        const bound = (r: (typeof mine)[number]) => {
          if (r.binding === null || r.bound_to !== actor) return false;
          if (!ring) return true;
          try {
            return verifyPasskeyBinding(JSON.parse(r.binding), ring, actor, now.getTime()).ok;
          } catch {
            return false;
          }
        };
        const targets = credential
          ? mine.filter((r) => r.credential_id === credential)
          : mine.filter((r) => !bound(r));
        if (credential && !targets.length)
          throw new VtError('NOT_FOUND', `${safe(actor)} has no passkey ${credential}`, {
            hint: 'See: vt keys passkey list',
          });
        if (!targets.length) {
          ctx.io.err(
            `nothing to bind: ${mine.length ? 'every passkey of yours is bound' : 'you have no passkey; register one on the dashboard'}\n`,
          );
          return 0;
        }
        const signer = await requireSigner({
          person: actor,
          env: ctx.io.env,
          cwd: ctx.cwd,
          ring,
          keyFile: o.key,
        });
        const out: { credential_id: string; key: string }[] = [];
        for (const r of targets) {
          const binding = await signPasskeyBinding(
            {
              person: actor,
              credential_id: r.credential_id,
              public_key: r.public_key,
              rp_id: r.rp_id ?? o.rpId,
              time: now,
            },
            signer,
          );
          if (ring) {
            const v = verifyPasskeyBinding(binding, ring, actor, now.getTime());
            if (!v.ok)
              throw new VtError(
                'NOT_PERMITTED',
                `the binding would not be accepted: ${v.reason} (${v.detail})`,
                {
                  hint: `List your key for ${actor} under people: in ${file} (see: vt whoami)`,
                },
              );
          }
          await store.transaction((trx) =>
            saveBinding(trx, {
              credential_id: r.credential_id,
              person: actor,
              rp_id: binding.payload.rp_id,
              binding: JSON.stringify(binding),
              created_at: now.toISOString(),
            }),
          );
          out.push({ credential_id: r.credential_id, key: binding.key });
          ctx.io.err(
            `${paint(ctx.color, 'green', '✓')} bound passkey ${r.credential_id} to ${safe(actor)} with ${binding.key}\n`,
          );
        }
        if (ctx.json) json(ctx.io, out);
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
