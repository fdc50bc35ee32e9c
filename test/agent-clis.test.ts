// The real coding-agent CLIs (installed by scripts/agent-clis.sh at the versions the presets are
// proven on) work a ticket through `vt autopilot` and `vt mcp`, against a scripted model server on
// 127.0.0.1. Everything but the model is real: the CLI binary, its MCP client, vt, the store.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PRESETS } from '../src/agents/executors/presets.ts';
import { costOf, priceOf } from '../src/agents/executors/pricing.ts';
import { sha256 } from '../src/canonical.ts';
import { agentTrain } from './fixtures/agent-train.ts';
import { type ModelServer, startModelServer } from './fixtures/model-server.ts';
import { folderStore, ROOT, runVt, tempDir } from './helpers.ts';
import { describeOnBackends, rawStore } from './pg.ts';

const CLI_BIN = join(ROOT, '.tools', 'agents', 'node_modules', '.bin');
const HOMES = join(ROOT, '.tools', 'agents', 'homes');
const RUNS = 5;
const REPORT = '# Churn model\nAUC 0.91 on the validation split.\n';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The script a model plays: read the task, write the report with the CLI's own tool, report through vt. */
const SCRIPT = [
  { vt: 'next_task' },
  { write: 'out/report.md', content: REPORT },
  { vt: 'tick', args: { item: 'trained', note: 'gradient boosting, 5-fold CV' } },
  { vt: 'put_artifact', args: { artifact: 'report' } },
  { vt: 'record_metric', args: { name: 'auc', value: 0.91 } },
  { vt: 'request_advance' },
];

/**
 * Each run's own HOME holding what a user of that CLI would have configured: where its model is. It
 * lies outside the temporary folder: Codex will not create its sandbox helper (which its sandbox
 * needs when bubblewrap is installed) under a temporary folder.
 */
function cliHome(_top: string, server: ModelServer): { home: string; env: Record<string, string> } {
  mkdirSync(HOMES, { recursive: true });
  const home = mkdtempSync(join(HOMES, 'home-'));
  dirs.push(home);
  mkdirSync(join(home, '.codex'), { recursive: true });
  writeFileSync(
    join(home, '.codex', 'config.toml'),
    `model = "gpt-5"\nmodel_provider = "local"\n\n[model_providers.local]\nname = "local"\nbase_url = "${server.url}/v1"\nenv_key = "VT_TEST_MODEL_KEY"\nwire_api = "responses"\n\n# Codex passes MCP servers only the variables it is told to (the slow-server test needs this one).\n[mcp_servers.vt]\nenv_vars = ["NODE_OPTIONS"]\n`,
  );
  mkdirSync(join(home, '.gemini'), { recursive: true });
  writeFileSync(
    join(home, '.gemini', 'settings.json'),
    JSON.stringify({ security: { auth: { selectedType: 'gemini-api-key' } } }),
  );
  return {
    home,
    env: {
      HOME: home,
      PATH: `${CLI_BIN}:${process.env.PATH}`,
      ANTHROPIC_BASE_URL: server.url,
      ANTHROPIC_API_KEY: 'vt-test-anthropic-key',
      GOOGLE_GEMINI_BASE_URL: server.url,
      GEMINI_API_KEY: 'vt-test-gemini-key',
      CODEX_HOME: join(home, '.codex'),
      VT_TEST_MODEL_KEY: 'vt-test-openai-key',
    },
  };
}

interface Run {
  server: ModelServer;
  dir: string;
  autopilot: Awaited<ReturnType<typeof runVt>>;
  session: Record<string, unknown> & { id: string; log: string; workspace: string };
  sessions: (Record<string, unknown> & { id: string; log: string; workspace: string })[];
  tickets: { phase: string; status: string }[];
  events: { type: string; actor: string; ts: string; payload: Record<string, unknown> }[];
}

/** One ticket of one phase, worked by a preset's real CLI through `vt autopilot`. */
async function workTicket(
  preset: string,
  opts: {
    instructions?: string;
    model?: string;
    /** Write vt.yaml another way (the default: the agent train with the preset for Lab). */
    setUp?: (vt: (args: string[]) => ReturnType<typeof runVt>, dir: string) => Promise<void>;
    server?: Parameters<typeof startModelServer>[0];
    /** More environment for the autopilot (and so for the CLI and the `vt mcp` it starts). */
    env?: (top: string) => Record<string, string>;
  } = {},
): Promise<Run> {
  const top = tempDir(`vt-cli-${preset}-`);
  dirs.push(top);
  const dir = join(top, 'project');
  mkdirSync(dir);
  const server = await startModelServer(opts.server ?? { script: SCRIPT });
  try {
    const env = { ...cliHome(top, server).env, ...opts.env?.(top) };
    const vt = (args: string[]) => runVt(args, { cwd: dir, env });
    if (opts.setUp) await opts.setUp(vt, dir);
    else {
      const model = opts.model ? `, model: ${opts.model}` : '';
      writeFileSync(
        join(dir, 'vt.yaml'),
        agentTrain(`{ kind: cli-agent, preset: ${preset}, timeout_s: 300${model} }`, opts),
      );
    }
    assert.equal((await vt(['project', 'create', 'Churn', '--id', 'churn'])).code, 0);
    assert.equal((await vt(['issue', 'add', 'Train a churn model', '--project', 'churn'])).code, 0);
    const autopilot = await vt(['autopilot', '--once', '--workspaces', 'folder', '--backoff-ms', '0']);
    // The store the CLI used: the folder's .vt/vt.db, or its database inside describeOnBackends.
    const db = await rawStore(await folderStore(dir));
    try {
      const sessions = await db.all<Run['session']>('SELECT * FROM sessions ORDER BY started_at');
      const session = sessions[0]!;
      const tickets = await db.all<Run['tickets'][number]>(
        'SELECT phase, status FROM tickets ORDER BY phase',
      );
      const events = (
        await db.all<{ type: string; actor: string; ts: string; payload: string }>(
          "SELECT type, actor, ts, payload FROM events WHERE project_id = 'churn' ORDER BY seq",
        )
      ).map((e) => ({ ...e, payload: JSON.parse(e.payload) as Record<string, unknown> }));
      return { server, dir, autopilot, session, sessions, tickets, events };
    } finally {
      await db.close();
    }
  } finally {
    await server.close();
  }
}

/** What every good run shows: the ticket passed, the work is the agent's, the usage is the server's. */
function assertWorked(preset: string, run: Run, label: string, opts: { usageOf?: Run['sessions'] } = {}) {
  const why = `${label}\n${run.autopilot.stderr}\n${existsSync(run.session?.log ?? '') ? readFileSync(run.session.log, 'utf8').slice(-4000) : ''}`;
  assert.deepEqual(run.server.problems, [], why);
  assert.equal(run.session.outcome, 'succeeded', why);
  assert.equal(run.tickets.find((t) => t.phase === 'build')?.status, 'done', why);
  assert.ok(
    run.events.some((e) => e.type === 'phase.advanced' && e.payload.to === 'ship'),
    why,
  );
  const by = (type: string) => run.events.filter((e) => e.type === type);
  assert.equal(by('checklist.ticked')[0]?.actor, 'agent:lab', why);
  const artifact = by('artifact.recorded')[0]!;
  assert.equal(
    artifact.payload.sha256,
    sha256(REPORT),
    'the report the CLI wrote with its own tool is recorded',
  );
  assert.equal(by('metric.recorded')[0]?.payload.value, 0.91);
  const calls = by('session.tool-called').map((e) => e.payload);
  for (const tool of ['next_task', 'tick', 'put_artifact', 'record_metric', 'request_advance'])
    assert.ok(
      calls.some((c) => c.tool === tool && c.outcome === 'ok' && c.session === run.session.id),
      `${label}: ${tool} reached vt and was audited`,
    );
  // The token figures the CLI printed are the ones the server reported, over every model call.
  assert.ok(run.server.reported.replies >= SCRIPT.length + 1, label);
  const usageOf = opts.usageOf ?? [run.session];
  const sum = (k: string) => usageOf.reduce((t, x) => t + Number(x[k] ?? 0), 0);
  assert.equal(sum('tokens_in'), run.server.reported.input, `${label}: tokens in`);
  assert.equal(sum('tokens_out'), run.server.reported.output, `${label}: tokens out`);
  const transcript = readFileSync(run.session.log, 'utf8');
  assert.match(
    transcript,
    new RegExp(`\\[vt\\] ${PRESETS[preset as 'claude'].bin} \\S+: the version this preset was proven on`),
  );
  const sessionDir = join(run.dir, '.vt', 'sessions', run.session.id);
  assert.ok(
    !existsSync(join(sessionDir, 'mcp.json')) && !existsSync(join(sessionDir, 'vt-mcp')),
    'no token left',
  );
  assert.ok(!existsSync(join(run.session.workspace, '.gemini')), 'no settings left in the workspace');
}

/** Count the occurrences of `marker` in a text. */
const occurrences = (text: string, marker: string) => text.split(marker).length - 1;

describe('vt agents check', () => {
  it('says proven, unknown version or missing for each preset’s CLI', async () => {
    const fakes = tempDir('vt-fake-bin-');
    dirs.push(fakes);
    const fake = (name: string, out: string) => {
      writeFileSync(join(fakes, name), `#!/bin/sh\necho '${out}'\n`, { mode: 0o755 });
    };
    fake('aider', 'aider 0.86.1');
    const check = async (path: string) => {
      const r = await runVt(['agents', 'check', '--json'], { cwd: ROOT, env: { PATH: path } });
      assert.equal(r.code, 0, r.stderr);
      return Object.fromEntries(
        (JSON.parse(r.stdout) as { preset: string; status: string; installed: string | null }[]).map((x) => [
          x.preset,
          `${x.status} ${x.installed}`,
        ]),
      );
    };
    const node = dirname(process.execPath);
    assert.deepEqual(await check(`${CLI_BIN}:${fakes}:${node}:/usr/bin:/bin`), {
      claude: `proven ${PRESETS.claude.proven}`,
      codex: `proven ${PRESETS.codex.proven}`,
      gemini: `proven ${PRESETS.gemini.proven}`,
      aider: 'unknown version 0.86.1',
    });
    fake('claude', '2.2.0 (Claude Code)');
    assert.deepEqual(await check(`${fakes}:${node}:/usr/bin:/bin`), {
      claude: 'unknown version 2.2.0',
      codex: 'missing null',
      gemini: 'missing null',
      aider: 'unknown version 0.86.1',
    });
    const table = await runVt(['agents', 'check'], {
      cwd: ROOT,
      env: { PATH: `${fakes}:${node}:/usr/bin:/bin` },
    });
    assert.match(
      table.stdout,
      /^codex\t✗ missing\t-\t0\.171\.0\tnot on PATH: npm install -g @openai\/codex@0\.171\.0$/m,
    );
  });
});

for (const preset of ['claude', 'codex', 'gemini'] as const) {
  describe(`the ${preset} preset drives the real CLI`, () => {
    it(`works a ticket through vt mcp ${RUNS} runs out of ${RUNS}`, async () => {
      const model = preset === 'codex' ? 'gpt-5' : preset === 'gemini' ? 'gemini-2.5-flash' : undefined;
      for (let i = 1; i <= RUNS; i++) {
        const run = await workTicket(preset, model ? { model } : {});
        assertWorked(preset, run, `${preset} run ${i}`);
        const first = run.server.requests.find((r) => r.tools.length)!;
        assert.equal(
          occurrences(first.body, 'Train the churn model and write its report.'),
          1,
          'instructions once',
        );
        if (preset === 'claude') {
          assert.ok(Number(run.session.cost) > 0, 'Claude Code reports its own cost');
        } else {
          const price = priceOf(model, undefined, {})!;
          assert.equal(
            run.session.cost,
            costOf(run.server.reported.input, run.server.reported.output, price),
          );
        }
      }
    });

    it('waits for a vt mcp that takes 8 s to start before its first model request', async () => {
      // Only `vt mcp` is slowed (a module Node loads first, through NODE_OPTIONS): the CLI must not
      // send its first request, with the tools it has so far, before the vt server is up.
      const run = await workTicket(preset, {
        env: (top) => {
          // In the project folder: the sandbox shows it (read-only), not the rest of the temporary folder.
          const slow = join(top, 'project', 'slow-mcp.mjs');
          writeFileSync(
            slow,
            "if (process.argv[2] === 'mcp') await new Promise((r) => setTimeout(r, 8000));\n",
          );
          return { NODE_OPTIONS: `--import=${slow}` };
        },
      });
      assertWorked(preset, run, `${preset} with a slow vt mcp`);
      const first = run.server.requests.find((r) => r.tools.length)!;
      const started = run.events.find((e) => e.type === 'session.started')!;
      assert.ok(first.at - Date.parse(started.ts) >= 7000, 'the first request waited for the server');
    });

    it('works a phase with 200 KB of instructions (given once, on stdin)', async () => {
      const line = 'Check every feature for leakage of the target or of the future before training. ';
      const body = line.repeat(Math.ceil(200_000 / line.length));
      const instructions = `VT-BEGIN-7f3a ${body} VT-END-7f3a`;
      assert.ok(instructions.length >= 200_000);
      const run = await workTicket(preset, { instructions });
      assertWorked(preset, run, `${preset} with 200 KB of instructions`);
      const first = run.server.requests.find((r) => r.tools.length)!;
      assert.equal(occurrences(first.body, 'VT-BEGIN-7f3a'), 1, 'the instructions reach the model once');
      assert.equal(occurrences(first.body, 'VT-END-7f3a'), 1, 'and whole');
      const prompt = readFileSync(join(run.dir, '.vt', 'sessions', run.session.id, 'prompt.md'), 'utf8');
      assert.equal(occurrences(prompt, 'VT-BEGIN-7f3a'), 1, 'prompt.md holds them once');
    });
  });
}

describeOnBackends('real CLIs in the built-in train', () => {
  it('vt init --agents claude: Claude Code works opportunity triage up to the approval a person gives', async () => {
    const brief = '# Opportunity brief\n\nChurn costs the client about 2 M a year; a model is feasible.\n';
    const run = await workTicket('claude', {
      setUp: async (vt) => {
        assert.equal((await vt(['init', '--agents', 'claude', '--as', 'ana'])).code, 0);
      },
      server: {
        script: [
          { vt: 'next_task' },
          { write: 'docs/opportunity-brief.md', content: brief },
          ...['capture-request', 'size-value', 'check-feasibility', 'set-priority'].map((item) => ({
            vt: 'tick',
            args: { item },
          })),
          { vt: 'put_artifact', args: { artifact: 'opportunity-brief' } },
          {
            vt: 'add_context',
            args: { kind: 'decision', text: 'Go: the value is large and the data exists.' },
          },
          { vt: 'request_advance' },
        ],
      },
    });
    const why = `${run.autopilot.stderr}\n${readFileSync(run.session.log, 'utf8').slice(-3000)}`;
    assert.deepEqual(run.server.problems, [], why);
    assert.equal(run.session.outcome, 'succeeded', why);
    assert.equal(run.session.actor, 'agent:conductor');
    assert.equal(run.tickets.find((t) => t.phase === 'opportunity-triage')?.status, 'awaiting-approval', why);
    const decision = run.events.find((e) => e.type === 'context.added');
    assert.deepEqual([decision?.actor, decision?.payload.kind], ['agent:conductor', 'decision']);
    assert.equal(run.events.find((e) => e.type === 'artifact.recorded')?.payload.sha256, sha256(brief));
    assert.ok(!run.events.some((e) => e.type === 'approval.recorded'), 'the go decision waits for a person');
  });

  it('a supporting role on another CLI: Claude Code builds, then Codex reviews and adds evidence', async () => {
    const run = await workTicket('claude', {
      setUp: async (_vt, dir) => {
        const yaml = agentTrain('{ kind: cli-agent, preset: claude, timeout_s: 300 }')
          .replace(
            '  - { id: lead, name: Lead }',
            '  - { id: lead, name: Lead }\n  - id: studio\n    name: Studio\n    executor: { kind: cli-agent, preset: codex, timeout_s: 300 }',
          )
          .replace('    owner: lab\n', '    owner: lab\n    support: [studio]\n')
          .replace(
            'checklist: [{ id: trained, text: Model trained }]',
            'checklist: [{ id: trained, text: Model trained }, { id: reviewed, text: Design reviewed, required: false }]',
          );
        writeFileSync(join(dir, 'vt.yaml'), yaml);
      },
      server: {
        script: SCRIPT,
        scripts: {
          responses: [
            { vt: 'next_task' },
            { vt: 'tick', args: { item: 'reviewed', note: 'fits the serving design' } },
          ],
        },
      },
    });
    assertWorked('claude', run, 'claude + codex', {
      usageOf: [run.sessions[0]!, run.sessions[1]!],
    });
    assert.deepEqual(
      run.sessions.map((x) => [x.id, x.actor, x.outcome]),
      [
        ['churn-1-build.s1', 'agent:lab', 'succeeded'],
        ['churn-1-build.s1-studio', 'agent:studio', 'succeeded'],
      ],
    );
    const reviewed = run.events.find((e) => e.type === 'checklist.ticked' && e.payload.item === 'reviewed');
    assert.equal(reviewed?.actor, 'agent:studio');
    assert.ok(run.server.requests.some((r) => r.api === 'responses' && r.body.includes('you support it')));
  });
});
