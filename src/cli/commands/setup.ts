import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { isMap, isSeq, parseDocument, stringify } from 'yaml';
import { VtError } from '../../errors.ts';
import { lintTrain } from '../../train/lint.ts';
import { formatProblem, loadTrainFile, parseTrain } from '../../train/loader.ts';
import { ExecutorSchema, type ExecutorSpec, trainJsonSchema } from '../../train/schema.ts';
import { TRAIN_FILE } from '../../wiring.ts';
import type { WithCtx } from '../main.ts';
import { json, paint, safe } from '../output.ts';

export const TEMPLATES_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../templates');

export function templateNames(): string[] {
  return readdirSync(TEMPLATES_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.replace(/\.yaml$/, ''));
}

/** Phases of the built-in train that need people in the room (interviews, workshops, the pitch, kickoff). */
export const PEOPLE_PHASES = ['discovery-framing', 'client-readiness', 'scope-pitch', 'pre-kickoff'];

/**
 * Give every role of a train's text the executor `agents`, and keep the phases that need people with
 * a person (`executor: { kind: human }`, which wins over the role's): an insertion at the end of each
 * role and phase, so the rest of the file (comments, folded text) stays as written.
 */
export function withAgents(text: string, agents: ExecutorSpec): string {
  const doc = parseDocument(text);
  const flow = (v: unknown) => stringify(v, { collectionStyle: 'flow', lineWidth: 0 }).trim();
  const inserts: { at: number; text: string }[] = [];
  const append = (node: unknown, line: string) => {
    if (!isMap(node) || !node.range) return;
    const [start, end] = node.range;
    const indent = start - text.lastIndexOf('\n', start - 1) - 1;
    inserts.push({ at: end, text: `${text[end - 1] === '\n' ? '' : '\n'}${' '.repeat(indent)}${line}\n` });
  };
  // Only what differs from the defaults: `{ kind: cli-agent, preset: claude }`, not every default.
  const given = Object.fromEntries(
    Object.entries(agents).filter(([k, v]) => {
      const without: Record<string, unknown> = { ...agents };
      delete without[k];
      const r = ExecutorSchema.safeParse(without);
      return !(r.success && JSON.stringify((r.data as Record<string, unknown>)[k]) === JSON.stringify(v));
    }),
  );
  const roles = doc.get('roles');
  if (isSeq(roles)) for (const r of roles.items) append(r, `executor: ${flow(given)}`);
  const phases = doc.get('phases');
  if (isSeq(phases))
    for (const p of phases.items)
      if (isMap(p) && PEOPLE_PHASES.includes(String(p.get('id'))) && !p.has('executor'))
        append(p, `executor: ${flow({ kind: 'human' })} # people in the room: vt done when finished`);
  let out = text;
  for (const i of inserts.sort((a, b) => b.at - a.at)) out = out.slice(0, i.at) + i.text + out.slice(i.at);
  return out;
}

/** The `people:` block of a new train: the actor, their roles and (when known) the key that signs for them. */
export function starterPeople(actor: string, roles: readonly string[], key: string | null): string {
  const head =
    '  # who holds which roles (approvers may not approve work they did), and the keys that sign their decisions';
  const who = /^[A-Za-z0-9_.-]+$/.test(actor) ? actor : JSON.stringify(actor);
  if (!key) return `people:\n${head}\n  ${who}: [${roles.join(', ')}]`;
  return `people:\n${head}\n  ${who}:\n    roles: [${roles.join(', ')}]\n    keys:\n      - key: ${JSON.stringify(key)}`;
}

/**
 * Write vt.yaml from a built-in template (with `people` naming the actor and, given one, the key that
 * signs their decisions), plus the document templates.
 */
export function writeStarter(
  dir: string,
  template: string,
  actor: string,
  force: boolean,
  agents?: ExecutorSpec,
  key: string | null = null,
): string {
  const src = join(TEMPLATES_DIR, `${template}.yaml`);
  if (!existsSync(src)) {
    throw new VtError('BAD_INPUT', `no template "${template}"`, {
      hint: `Templates: ${templateNames().join(', ')}`,
    });
  }
  const target = join(dir, TRAIN_FILE);
  if (existsSync(target) && !force)
    throw new VtError('CONFLICT', `${target} already exists`, {
      hint: 'Keep it, or overwrite with: vt init --force',
    });
  const base = readFileSync(src, 'utf8');
  const text = (agents ? withAgents(base, agents) : base).replace(/^people: \{\}$/m, () =>
    starterPeople(actor, ['conductor', 'evaluator'], key),
  );
  parseTrain(text, target);
  mkdirSync(dir, { recursive: true });
  writeFileSync(target, text);
  const docs = join(dir, 'templates', 'docs');
  mkdirSync(docs, { recursive: true });
  for (const f of readdirSync(join(TEMPLATES_DIR, 'docs'))) {
    if (!existsSync(join(docs, f)) || force) copyFileSync(join(TEMPLATES_DIR, 'docs', f), join(docs, f));
  }
  return target;
}

export function registerSetup(program: Command, withCtx: WithCtx): void {
  program
    .command('init')
    .description('write vt.yaml from a template and create the store in .vt/')
    .option('-t, --template <name>', 'built-in template', 'ml-value-train')
    .option('-f, --force', 'overwrite an existing vt.yaml')
    .option(
      '--agents <executor>',
      'give every role an agent: claude, codex, gemini, aider, or llm:PROVIDER:MODEL[@BASE_URL]',
    )
    .option('--key <file>', 'the key that signs your decisions (a private key file or a .pub)')
    .addHelpText(
      'after',
      `
With --agents, every role's executor is that agent; the phases that need people in the room
(${PEOPLE_PHASES.join(', ')}) stay with a person, and approvals are always people's.
vt.yaml lists you (--as, VT_ACTOR or your login) with the key that signs your decisions: --key,
else ssh-agent's first key, else your vt key (~/.config/vt/keys/NAME), made now if you have none.
The built-in template requires signed decisions (decisions: {signed: required}).

Examples:
  vt init
  vt init --dir ./churn --template ml-value-train
  vt init --agents claude
  vt init --agents llm:openai-compatible:qwen2.5:7b@http://127.0.0.1:11434/v1
  vt init --key ~/.ssh/id_ed25519.pub`,
    )
    .action(
      withCtx(async (ctx, opts: { template: string; force?: boolean; agents?: string; key?: string }) => {
        if (!opts.force && existsSync(join(ctx.cwd, TRAIN_FILE)))
          throw new VtError('CONFLICT', `${join(ctx.cwd, TRAIN_FILE)} already exists`, {
            hint: 'Keep it, or overwrite with: vt init --force',
          });
        const agents = opts.agents
          ? (await import('../../agents/dispatch.ts')).parseExecutorShorthand('--agents', opts.agents)
          : undefined;
        const { starterKey, keyLine } = await import('../../identity/starter-key.ts');
        const { fingerprint } = await import('../../identity/public-key.ts');
        const found = await starterKey({
          person: ctx.actor,
          env: ctx.io.env,
          cwd: ctx.cwd,
          keyFile: opts.key,
          workspaceRoot: ctx.cwd,
        });
        const file = writeStarter(
          ctx.cwd,
          opts.template,
          ctx.actor,
          !!opts.force,
          agents,
          keyLine(found.key),
        );
        const { store } = await ctx.vt();
        const from = {
          file: `from ${found.origin}`,
          agent: 'held by ssh-agent',
          vt: `your vt key ${found.origin}`,
          new: `a new vt key, ${found.origin} (mode 0600)`,
        }[found.source];
        ctx.io.err(
          `${paint(ctx.color, 'green', '✓')} wrote ${file}\n${paint(ctx.color, 'green', '✓')} ${safe(ctx.actor)} signs decisions with ${found.key.type} ${fingerprint(found.key)} (${from})\n${paint(ctx.color, 'green', '✓')} store ${store.location}\n`,
        );
        if (agents)
          ctx.io.err(
            `${paint(ctx.color, 'green', '✓')} every role is worked by ${opts.agents}; people work ${PEOPLE_PHASES.join(', ')} and make every approval\n  check the agent CLIs with: vt agents check\n`,
          );
        ctx.io.err(`  next: vt project create "My project"\n`);
        if (ctx.json) json(ctx.io, { train: file, store: store.location, agents: agents ?? null });
        return 0;
      }),
    );

  program
    .command('lint')
    .description('check a train: schema, references, reachability and loops with no way out')
    .argument('[file]', 'train file (default: vt.yaml found from here)')
    .addHelpText('after', '\nExamples:\n  vt lint\n  vt lint templates/my-train.yaml --json')
    .action(
      withCtx(async (ctx, file?: string) => {
        const path = file ? resolve(ctx.cwd, file) : join(ctx.requireRoot(), TRAIN_FILE);
        const loaded = loadTrainFile(path);
        const problems = lintTrain(loaded);
        if (ctx.json) json(ctx.io, { file: path, hash: loaded.hash, ok: problems.length === 0, problems });
        else if (problems.length) {
          for (const p of problems) ctx.io.err(`${formatProblem(p)}\n`);
          ctx.io.err(
            `${paint(ctx.color, 'red', '✗')} ${problems.length} problem${problems.length > 1 ? 's' : ''}\n`,
          );
        } else {
          const t = loaded.train;
          ctx.io.err(
            `${paint(ctx.color, 'green', '✓')} ${path}: ${t.phases.length} phases, ${t.roles.length} roles, ${t.modes.length} modes; hash ${loaded.hash.slice(0, 12)}\n`,
          );
        }
        if (problems.length)
          throw new VtError('TRAIN_INVALID', `${path} has ${problems.length} problem(s)`, {
            hint: 'Fix them and run vt lint again',
          });
        return 0;
      }),
    );

  program
    .command('schema')
    .description('print the JSON Schema of vt.yaml (for editor completion)')
    .addHelpText(
      'after',
      '\nExample:\n  vt schema > vt.schema.json   # then add "# yaml-language-server: $schema=vt.schema.json" to vt.yaml',
    )
    .action(
      withCtx(async (ctx) => {
        ctx.io.out(`${JSON.stringify(trainJsonSchema(), null, 2)}\n`);
        return 0;
      }),
    );
}
