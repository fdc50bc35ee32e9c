import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isSeq, parseDocument, stringify } from 'yaml';
import { copyFileDurable, writeFileDurable } from '../durable.ts';
import { VtError } from '../errors.ts';
import { TEMPLATES_DIR } from '../package.ts';
import { parseTrain } from '../train/loader.ts';
import { ExecutorSchema, type ExecutorSpec } from '../train/schema.ts';
import { TRAIN_FILE } from '../wiring.ts';
import { PEOPLE_PHASES, templateNames } from './commands/setup.ts';

/*
 * Writing a starter train (vt init, vt demo): loaded only by the commands that write one, as it
 * needs the YAML and schema modules.
 */

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
 * signs their decisions, and `agents` on every role when given), plus the document templates.
 */
export async function writeStarter(
  dir: string,
  template: string,
  actor: string,
  force: boolean,
  agents?: ExecutorSpec,
  key: string | null = null,
): Promise<string> {
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
  // Durably (fsynced, renamed into place, folder fsynced) before init reports success.
  writeFileDurable(target, text);
  const docs = join(dir, 'templates', 'docs');
  for (const f of readdirSync(join(TEMPLATES_DIR, 'docs'))) {
    if (!existsSync(join(docs, f)) || force) copyFileDurable(join(TEMPLATES_DIR, 'docs', f), join(docs, f));
  }
  return target;
}
