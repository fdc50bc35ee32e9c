import { resolve } from 'node:path';
import type { Command, Option } from 'commander';
import { VtError } from '../../errors.ts';
import { CONTEXT_KINDS, PRIORITIES } from '../../types.ts';
import { defaultDbPath, findRoot } from '../../wiring.ts';
import type { WithCtx } from '../main.ts';

const SCRIPTS: Record<string, string> = {
  bash: `# vt completion for bash: add to ~/.bashrc
#   source <(vt completion bash)
_vt_complete() {
  local IFS=$'\\n'
  COMPREPLY=($(vt __complete -- "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _vt_complete vt
`,
  zsh: `#compdef vt
# vt completion for zsh: add to ~/.zshrc (after compinit)
#   source <(vt completion zsh)
_vt() {
  local -a candidates
  candidates=("\${(@f)$(vt __complete -- "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  compadd -a candidates
}
if (( $+functions[compdef] )); then compdef _vt vt; fi
`,
  fish: `# vt completion for fish: save as ~/.config/fish/completions/vt.fish
#   vt completion fish > ~/.config/fish/completions/vt.fish
function __vt_complete
    set -l words (commandline -opc) (commandline -ct)
    vt __complete -- $words[2..-1] 2>/dev/null
end
complete -c vt -f -a '(__vt_complete)'
`,
};

const OPTION_VALUES: Record<string, () => string[]> = {
  '--template': () => ['ml-value-train'],
  '--kind': () => [...CONTEXT_KINDS],
  '--priority': () => [...PRIORITIES],
  '--workspaces': () => ['auto', 'git', 'folder'],
};

function optionOf(cmd: Command, flag: string): Option | undefined {
  for (let at: Command | null = cmd; at; at = at.parent) {
    const o = at.options.find((x) => x.short === flag || x.long === flag);
    if (o) return o;
  }
  return undefined;
}

/** Candidates for the last word of `words` (the words after `vt`, the last one being typed). */
export async function completeWords(
  program: Command,
  words: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<string[]> {
  const partial = words.at(-1) ?? '';
  const done = words.slice(0, -1);
  let cmd = program;
  const positionals: string[] = [];
  let pendingOption: Option | null = null;
  let dir = cwd;
  let db: string | undefined = env.VT_DATABASE_URL;
  for (let i = 0; i < done.length; i++) {
    const w = done[i]!;
    if (pendingOption) {
      if (pendingOption.long === '--dir') dir = resolve(cwd, w);
      if (pendingOption.long === '--db') db = w;
      pendingOption = null;
      continue;
    }
    if (w.startsWith('-')) {
      const o = optionOf(cmd, w.split('=')[0]!);
      if (o?.required && !w.includes('=')) pendingOption = o;
      continue;
    }
    const sub = cmd.commands.find((c) => c.name() === w || c.aliases().includes(w));
    if (sub && !positionals.length) cmd = sub;
    else positionals.push(w);
  }
  // Ids are read from a SQLite file without opening the store (a keystroke must stay quick); a
  // PostgreSQL store completes commands and options only.
  const storeFile = () => {
    if (db && /^postgres(ql)?:\/\//.test(db)) return null;
    if (db) return resolve(dir, db.replace(/^sqlite:(\/\/)?/, ''));
    const root = findRoot(dir);
    return root ? defaultDbPath(root) : null;
  };
  const peek = () => import('../../store/peek.ts');
  const projects = async () => {
    const f = storeFile();
    return f ? (await peek()).peekProjectIds(f) : [];
  };
  const phaseIds = async (what: 'checklist' | 'artifacts' | 'gates' | 'phases' | 'metrics') => {
    const f = storeFile();
    const project = positionals[0];
    if (!f) return [];
    const { peekProjectIds, peekProjectTrain } = await peek();
    const id = project ?? (peekProjectIds(f).length === 1 ? peekProjectIds(f)[0] : undefined);
    const t = id ? peekProjectTrain(f, id) : null;
    if (!t) return [];
    const phase = t.train.phases.find((p) => p.id === t.phase);
    if (what === 'phases') return t.train.phases.map((p) => p.id);
    if (what === 'metrics') return (t.train.metrics ?? []).map((m) => m.id);
    if (what === 'gates') return (phase?.gates?.exit ?? []).map((g) => g.id);
    return (phase?.[what] ?? []).map((x) => x.id);
  };

  let out: string[] = [];
  if (pendingOption) {
    const long = pendingOption.long ?? '';
    if (long === '--project') out = await projects();
    else if (long === '--phase') out = await phaseIds('phases');
    else out = OPTION_VALUES[long]?.() ?? [];
  } else if (partial.startsWith('-')) {
    for (let at: Command | null = cmd; at; at = at.parent)
      for (const o of at.options) if (o.long && !o.hidden) out.push(o.long);
    out.push('--help');
  } else if (cmd.commands.length && !positionals.length) {
    out = cmd.commands.filter((c) => !(c as { _hidden?: boolean })._hidden).map((c) => c.name());
    if (cmd === program) out.push('help');
  } else {
    const arg = cmd.registeredArguments[positionals.length]?.name();
    const parent = cmd.parent?.name();
    if (arg === 'project') out = await projects();
    else if (arg === 'item') out = await phaseIds('checklist');
    else if (arg === 'artifact') out = await phaseIds('artifacts');
    else if (arg === 'gate') out = await phaseIds('gates');
    else if (arg === 'name' && parent === 'metric') out = await phaseIds('metrics');
    else if (arg === 'ticket') {
      const f = storeFile();
      out = f ? (await peek()).peekTicketIds(f) : [];
    } else if (arg === 'shell') out = Object.keys(SCRIPTS);
  }
  return [...new Set(out)].filter((c) => c.startsWith(partial)).sort();
}

export function registerCompletion(program: Command, withCtx: WithCtx): void {
  program
    .command('completion')
    .description('print a shell completion script: commands, options, and project, phase and gate ids')
    .argument('<shell>', 'bash, zsh or fish')
    .addHelpText(
      'after',
      '\nExamples:\n  source <(vt completion bash)                 # in ~/.bashrc\n  source <(vt completion zsh)                  # in ~/.zshrc, after compinit\n  vt completion fish > ~/.config/fish/completions/vt.fish',
    )
    .action(
      withCtx(async (ctx, shell: string) => {
        const script = SCRIPTS[shell];
        if (!script)
          throw new VtError('BAD_INPUT', `no completion for "${shell}"`, { hint: 'Shells: bash, zsh, fish' });
        ctx.io.out(script);
        return 0;
      }),
    );
  program
    .command('__complete', { hidden: true })
    .description('print completion candidates for the words after `vt` (used by the completion scripts)')
    .argument('[words...]')
    .allowUnknownOption()
    .addHelpText('after', '\nExample:\n  vt __complete -- status ""      # project ids')
    .action(
      withCtx(async (ctx, words: string[] = []) => {
        const all = await completeWords(program, words.length ? words : [''], ctx.cwd, ctx.io.env);
        if (all.length) ctx.io.out(`${all.join('\n')}\n`);
        return 0;
      }),
    );
}
