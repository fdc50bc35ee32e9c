import type { Command } from 'commander';
import type { WithCtx } from '../main.ts';

/** One preset's CLI as found on this machine. */
export interface AgentCheck {
  preset: string;
  command: string;
  /** How to install the proven version. */
  install: string;
  /** The version the preset was proven on (null: not proven on any). */
  proven: string | null;
  installed: string | null;
  /** Where the command was found on PATH. */
  path: string | null;
  status: 'proven' | 'unknown version' | 'missing';
}

const GLYPH: Record<AgentCheck['status'], string> = {
  proven: '✓',
  'unknown version': '!',
  missing: '✗',
};

export function registerAgents(program: Command, withCtx: WithCtx): void {
  const agents = program
    .command('agents')
    .description('the coding-agent CLIs vt can drive')
    .addHelpText('after', '\nExamples:\n  vt agents check\n  vt agents check --json');
  agents
    .command('check')
    .description("run each preset's CLI with --version: proven, unknown version, or missing")
    .addHelpText(
      'after',
      `
A preset's flags were proven on one version of its CLI (the "proven" column); another version may
take other flags. --json gives the command that installs the proven version.

Examples:
  vt agents check
  vt agents check --json | jq '.[] | select(.status != "proven")'`,
    )
    .action(
      withCtx(async (ctx) => {
        const { PRESETS } = await import('../../agents/executors/presets.ts');
        const { findOnPath, installedVersion } = await import('../../agents/executors/cli-agent.ts');
        const { json, paint, table } = await import('../output.ts');
        const path = ctx.io.env.PATH;
        const rows: AgentCheck[] = await Promise.all(
          Object.entries(PRESETS).map(async ([preset, p]) => {
            const found = findOnPath(p.bin, path);
            const installed = found ? await installedVersion(found, path ? { PATH: path } : {}) : null;
            const status: AgentCheck['status'] = !found
              ? 'missing'
              : installed !== null && installed === p.proven
                ? 'proven'
                : 'unknown version';
            return {
              preset,
              command: p.bin,
              install:
                p.installer === 'npm'
                  ? `npm install -g ${p.package}${p.proven ? `@${p.proven}` : ''}`
                  : `pipx install ${p.package}`,
              proven: p.proven,
              installed,
              path: found,
              status,
            };
          }),
        );
        if (ctx.json) {
          json(ctx.io, rows);
          return 0;
        }
        const colour = { proven: 'green', 'unknown version': 'yellow', missing: 'red' } as const;
        ctx.io.out(
          table(
            ctx.io,
            ['preset', 'status', 'installed', 'proven', 'path'],
            rows.map((r) => [
              r.preset,
              paint(ctx.color, colour[r.status], `${GLYPH[r.status]} ${r.status}`),
              r.installed ?? '-',
              r.proven ?? '-',
              r.path ?? `not on PATH: ${r.install}`,
            ]),
          ),
        );
        return 0;
      }),
    );
}
