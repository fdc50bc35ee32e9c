import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { APICallError } from 'ai';
import { resolveExecutor } from '../src/agents/dispatch.ts';
import { runCommandExecutor } from '../src/agents/executors/command.ts';
import { classify, retryAfterMs } from '../src/agents/executors/model-faults.ts';
import { claudeAllowedTools, PRESETS } from '../src/agents/executors/presets.ts';
import { costOf, priceOf } from '../src/agents/executors/pricing.ts';
import { parseUsage } from '../src/agents/executors/usage.ts';
import { SESSION_LOG_MAX_BYTES } from '../src/agents/session-log.ts';
import { type Progress, runAutopilot } from '../src/autopilot/worker.ts';
import { openWorkspaces } from '../src/autopilot/workspace.ts';
import { writeLauncher } from '../src/cli/commands/autopilot.ts';
import { Engine } from '../src/engine/engine.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { openStore, type Store } from '../src/store/store.ts';
import { lintTrain } from '../src/train/lint.ts';
import { parseTrain } from '../src/train/loader.ts';
import { agentTrain } from './fixtures/agent-train.ts';
import { type ModelServer, type Step, startModelServer } from './fixtures/model-server.ts';
import { committedText, folderStore, ROOT, tempDir } from './helpers.ts';
import { describeOnBackends } from './pg.ts';

const FAKE_AGENT = join(ROOT, 'test', 'fixtures', 'fake-agent.ts');

const stores: Store[] = [];
after(async () => {
  for (const s of stores) await s.close();
});

/** A project with one issue queued in Build, then the real autopilot run until the queue is empty. */
async function runTrain(
  executor: string,
  setup?: (dir: string) => void,
  yamlOf: (executor: string) => string = agentTrain,
) {
  const dir = tempDir('vt-agents-');
  const yaml = yamlOf(executor);
  writeFileSync(join(dir, 'vt.yaml'), yaml);
  setup?.(dir);
  const target = await folderStore(dir);
  const store = await openStore(target, { synchronous: 'NORMAL' });
  stores.push(store);
  const engine = new Engine({ store, io: nodeIo });
  const tickets = new Tickets(engine);
  const train = parseTrain(yaml, join(dir, 'vt.yaml'));
  await engine.createProject({ id: 'churn', name: 'Churn', workspace: dir, train }, { actor: 'ana' });
  await tickets.addIssue('churn', { title: 'Train a churn model' }, { actor: 'ana' });
  const progress: Progress[] = [];
  const summary = await runAutopilot(
    {
      engine,
      tickets,
      workspaces: await openWorkspaces(dir, 'folder'),
      root: dir,
      dbTarget: target,
      binDir: writeLauncher(dir),
    },
    {
      concurrency: 1,
      once: false,
      watch: false,
      leaseMs: 60_000,
      heartbeatMs: 20_000,
      backoffMs: 10,
      pollMs: 50,
      onProgress: (p) => progress.push(p),
    },
  );
  const s = await engine.state('churn');
  const sessions = await store.db.selectFrom('sessions').selectAll().orderBy('started_at').execute();
  const events = await store.db
    .selectFrom('events')
    .select(['type', 'actor', 'payload'])
    .where('project_id', '=', 'churn')
    .orderBy('seq')
    .execute();
  return { dir, store, engine, summary, progress, s, sessions, events };
}

const toolCalls = (events: { type: string; payload: string }[]) =>
  events
    .filter((e) => e.type === 'session.tool-called')
    .map(
      (e) =>
        JSON.parse(e.payload) as { session: string; tool: string; outcome: string; reason: string | null },
    );

/** Set environment variables for one test, and put them back. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describeOnBackends('cli-agent executor', () => {
  it('runs a coding agent that works the ticket over vt mcp, and the ticket passes its gates', async () => {
    const run = await withEnv({ FAKE_AGENT_TRY: 'add_context' }, () =>
      runTrain(
        `{ kind: cli-agent, run: ["{node}", "${FAKE_AGENT}", "--prompt-file", "{prompt_file}", "--mcp-config", "{mcp_config}"], timeout_s: 60 }`,
      ),
    );
    const build = Object.values(run.s.tickets).find((t) => t.phase === 'build')!;
    assert.equal(build.status, 'done', JSON.stringify(run.progress));
    assert.equal(run.s.phase, 'ship');
    assert.equal(run.s.evidence.build?.checklist.trained?.actor, 'agent:lab');
    assert.equal(run.s.evidence.build?.artifacts.report?.path, 'out/report.md');
    assert.equal(run.s.metrics.auc?.value, 0.9);

    const session = run.sessions.find((x) => x.phase === 'build')!;
    assert.equal(session.executor, 'cli-agent');
    assert.equal(session.outcome, 'succeeded');
    assert.equal(
      session.tokens_in,
      1234,
      'input, cache-creation and cache-read tokens as Claude Code reports them',
    );
    assert.equal(session.tokens_out, 340);
    assert.equal(session.cost, 0.0421);
    const transcript = readFileSync(session.log, 'utf8');
    assert.match(transcript, /fake-agent: tick \{"item":"trained"/, 'the transcript is the session log');
    assert.match(transcript, /token in my own env: false/, "the token is only in the MCP server's env");

    const calls = toolCalls(run.events);
    assert.ok(calls.length >= 7 && calls.every((c) => c.session === session.id));
    assert.ok(
      calls.some((c) => c.tool === 'add_context' && c.outcome === 'refused'),
      'the mode refusal is recorded',
    );
    const sessionDir = join(run.dir, '.vt', 'sessions', session.id);
    assert.ok(existsSync(join(sessionDir, 'prompt.md')));
    assert.ok(!existsSync(join(sessionDir, 'mcp.json')), 'the MCP config holding the token is removed');
    const tokens = await run.store.db.selectFrom('session_tokens').selectAll().execute();
    assert.equal(tokens.length, 0, 'the token dies with the session');
    const ship = Object.values(run.s.tickets).find((t) => t.phase === 'ship')!;
    assert.equal(ship.status, 'awaiting-human');
  });

  it('routes to a person when the preset binary is missing', async () => {
    const run = await withEnv({ PATH: dirname(process.execPath) }, () =>
      runTrain('{ kind: cli-agent, preset: claude }'),
    );
    const build = Object.values(run.s.tickets).find((t) => t.phase === 'build')!;
    assert.equal(build.status, 'awaiting-human');
    const status = run.events.filter((e) => e.type === 'ticket.status').at(-1)!;
    assert.match(
      JSON.parse(status.payload).reason,
      /the claude preset needs the `claude` command, which is not on PATH/,
    );
    assert.equal(run.sessions[0]?.outcome, 'unavailable');
    assert.equal(build.attempts, 0, 'an unavailable executor is not a failed attempt');
  });
});

describeOnBackends('llm executor', () => {
  const PRICE = { input: 10, output: 30 };
  const llm = (url: string, extra = '') =>
    `{ kind: llm, provider: openai-compatible, model: fake-1, base_url: "${url}/v1", max_steps: 8, price: { input: 10, output: 30 }${extra} }`;
  const work: Step[] = [
    { raw: 'write_file', args: { path: 'out/report.md', content: '# Report\nAUC 0.91\n' } },
    { raw: 'tick', args: { item: 'trained', note: 'xgboost' } },
    { raw: 'put_artifact', args: { artifact: 'report' } },
    { raw: 'record_metric', args: { name: 'auc', value: 0.91 } },
  ];
  const ticketOf = (run: Awaited<ReturnType<typeof runTrain>>, phase: string) =>
    Object.values(run.s.tickets).find((t) => t.phase === phase)!;
  const lastReason = (run: Awaited<ReturnType<typeof runTrain>>) =>
    JSON.parse(run.events.filter((e) => e.type === 'ticket.status').at(-1)!.payload).reason as string;
  /** Every session's recorded cost adds up to the usage the server reported, priced. */
  const assertCostIsReported = (run: Awaited<ReturnType<typeof runTrain>>, model: ModelServer) => {
    const recorded = run.sessions.reduce((sum, x) => sum + (x.cost ?? 0), 0);
    assert.equal(
      Math.round(recorded * 1e8),
      Math.round(costOf(model.reported.input, model.reported.output, PRICE) * 1e8),
    );
    assert.equal(
      run.sessions.reduce((sum, x) => sum + (x.tokens_in ?? 0), 0),
      model.reported.input,
    );
  };

  it('write_file refuses a dangling symlink and a symlinked folder: nothing is written outside the workspace', async () => {
    // Regression: the agent tool write_file wrote outside the workspace through a dangling symlink.
    const outside = tempDir('vt-outside-');
    const model = await startModelServer({
      script: [
        { raw: 'write_file', args: { path: 'out/report.md', content: 'pwned\n' } },
        { raw: 'write_file', args: { path: 'escape/x.md', content: 'pwned\n' } },
      ],
      usage: () => ({ input: 10, output: 10 }),
    });
    try {
      const run = await runTrain(llm(model.url), (dir) => {
        mkdirSync(join(dir, 'out'), { recursive: true });
        symlinkSync(join(outside, 'report.md'), join(dir, 'out', 'report.md')); // dangling
        symlinkSync(outside, join(dir, 'escape'));
      });
      assert.deepEqual(readdirSync(outside), [], 'nothing was written outside');
      const refusals = run.events
        .filter((e) => e.type === 'session.tool-called')
        .map((e) => JSON.parse(e.payload) as { tool: string; outcome: string; reason: string })
        .filter((e) => e.tool === 'write_file');
      assert.ok(refusals.length >= 2, JSON.stringify(refusals)); // each attempt tries both
      for (const r of refusals) {
        assert.equal(r.outcome, 'refused');
        assert.match(r.reason, /PATH_ESCAPE.*symlink/);
      }
    } finally {
      await model.close();
    }
  });

  it('completes a phase with tools; the session records the usage the server reported, priced', async () => {
    const model = await startModelServer({
      script: [...work, { raw: 'add_context', args: { kind: 'note', text: 'the mode does not allow this' } }],
      usage: (n) => ({ input: 1000 + 500 * n, output: 200 - 30 * n }),
    });
    try {
      const run = await withEnv({ VT_LLM_API_KEY: 'vt-test-key-0123456789' }, () => runTrain(llm(model.url)));
      assert.equal(run.s.phase, 'ship', JSON.stringify(run.progress));
      assert.equal(run.s.metrics.auc?.value, 0.91);
      const report = run.s.evidence.build!.artifacts.report!;
      assert.ok(report.commit, 'judged in the commit the session ended with');
      assert.equal(await committedText(run.dir, report.commit, 'out/report.md'), '# Report\nAUC 0.91\n');
      const session = run.sessions[0]!;
      assert.equal(session.executor, 'llm');
      assert.equal(session.outcome, 'succeeded');
      assert.equal(model.requests.length, 6, 'one request per tool call, then the final answer');
      assert.equal(session.tokens_in, model.reported.input);
      assert.equal(session.tokens_out, model.reported.output);
      assert.equal(session.cost, costOf(model.reported.input, model.reported.output, PRICE));
      assert.equal(
        model.requests[0]!.authorization,
        'Bearer vt-test-key-0123456789',
        'the key comes from the environment',
      );
      assert.deepEqual([...model.requests[0]!.tools].sort(), [
        'check_gates',
        'put_artifact',
        'read_file',
        'record_metric',
        'request_advance',
        'tick',
        'write_file',
      ]);
      const calls = toolCalls(run.events);
      assert.ok(calls.every((c) => c.session === session.id));
      for (const tool of ['write_file', 'tick', 'put_artifact', 'record_metric'])
        assert.ok(
          calls.some((c) => c.tool === tool && c.outcome === 'ok'),
          `${tool} is audited`,
        );
      const refused = calls.find((c) => c.tool === 'add_context');
      assert.equal(refused?.outcome, 'refused', 'a tool outside the mode is refused and recorded');
      assert.match(readFileSync(session.log, 'utf8'), /\[step 1\] finish=tool-calls/);
    } finally {
      await model.close();
    }
  });

  it('stops a session that would pass its budget cap and hands the ticket to a person', async () => {
    // The first step ticks an item; the cap stops the session before the second.
    const model = await startModelServer({
      script: [work[1]!, work[0]!],
      usage: () => ({ input: 1000, output: 200 }),
    });
    try {
      // Step 1 costs $0.016; another like it would make $0.032, past the $0.02 cap.
      const run = await runTrain(llm(model.url, ', budget: { ticket: 0.02 }'));
      assert.equal(ticketOf(run, 'build').status, 'awaiting-human');
      assert.match(lastReason(run), /budget cap reached/);
      assert.equal(model.requests.length, 1, 'no second request was sent');
      const session = run.sessions[0]!;
      assert.equal(session.outcome, 'unavailable');
      assert.equal(session.cost, 0.016);
      assertCostIsReported(run, model);
      // The attempt did not finish: what it recorded stays in the trail but no longer counts as evidence.
      assert.ok(
        run.events.some((e) => e.type === 'checklist.ticked'),
        'the tick is in the audit trail',
      );
      assert.equal(
        run.s.evidence.build?.checklist.trained,
        undefined,
        'an unfinished attempt owns no evidence',
      );
    } finally {
      await model.close();
    }
  });

  it('routes to a person when there is no API key', async () => {
    const run = await withEnv({ ANTHROPIC_API_KEY: undefined }, () =>
      runTrain('{ kind: llm, provider: anthropic, model: claude-sonnet-4-5 }'),
    );
    assert.equal(ticketOf(run, 'build').status, 'awaiting-human');
    assert.match(lastReason(run), /ANTHROPIC_API_KEY is not set/);
  });

  it('waits out three 429s as retry-after asks and finishes in one attempt', async () => {
    const busy = {
      status: 429,
      headers: { 'retry-after': '2' },
      body: { error: { message: 'Rate limit reached' } },
    };
    const model = await startModelServer({ script: work, faults: [busy, busy, busy] });
    try {
      const run = await runTrain(llm(model.url));
      assert.equal(ticketOf(run, 'build').status, 'done', JSON.stringify(run.progress));
      assert.equal(ticketOf(run, 'build').attempts, 0, 'no attempt was burned');
      assert.equal(run.sessions.length, 1);
      assert.equal(run.sessions[0]!.outcome, 'succeeded');
      assert.deepEqual(
        model.requests.slice(0, 4).map((r) => r.answer),
        ['429', '429', '429', 'call write_file'],
      );
      for (let i = 1; i <= 3; i++)
        assert.ok(
          model.requests[i]!.at - model.requests[i - 1]!.at >= 1990,
          `retry ${i} came ${model.requests[i]!.at - model.requests[i - 1]!.at} ms after the 429 that said 2 s`,
        );
      assert.match(
        readFileSync(run.sessions[0]!.log, 'utf8'),
        /HTTP 429: Rate limit reached\): transient, retry 3 of 5 in 2\.0 s \(retry-after\)/,
      );
      assertCostIsReported(run, model);
    } finally {
      await model.close();
    }
  });

  for (const [status, said] of [
    [401, 'Incorrect API key provided'],
    [404, 'The model `fake-1` does not exist'],
    [400, 'context_length_exceeded'],
  ] as const) {
    it(`sends the ticket to a person at once on HTTP ${status}, with the provider's reason`, async () => {
      const model = await startModelServer({
        script: work,
        faults: [{ status, body: { error: { message: said } } }],
      });
      try {
        const run = await runTrain(llm(model.url));
        const build = ticketOf(run, 'build');
        assert.equal(build.status, 'awaiting-human');
        assert.equal(build.attempts, 0, 'a permanent fault is not retried as an attempt');
        assert.equal(model.requests.length, 1, 'nor within the session');
        assert.ok(lastReason(run).includes(`HTTP ${status}: ${said}`), lastReason(run));
        assert.equal(run.sessions[0]!.outcome, 'unavailable');
        assertCostIsReported(run, model);
      } finally {
        await model.close();
      }
    });
  }

  it('fails a step whose reply was cut at the output limit, and keeps the log small', async () => {
    const model = await startModelServer({ script: work, cutAt: 0, cutText: 'x'.repeat(2_000_000) });
    try {
      const run = await runTrain(llm(model.url));
      const [cut, retry] = run.sessions;
      assert.equal(cut?.outcome, 'failed');
      assert.match(cut!.summary ?? '', /cut at its output limit \(finish reason length\)/);
      assert.ok(
        statSync(cut!.log).size <= SESSION_LOG_MAX_BYTES + 4096,
        `the log is ${statSync(cut!.log).size} bytes`,
      );
      assert.match(
        readFileSync(cut!.log, 'utf8'),
        /… \(1996000 more characters\)/,
        'the reply is logged once, clipped',
      );
      assert.equal(retry?.outcome, 'succeeded', 'the next attempt works the ticket');
      assert.equal(ticketOf(run, 'build').status, 'done');
      assertCostIsReported(run, model);
    } finally {
      await model.close();
    }
  });

  it('gives up on a hung server after its step timeout, retried once, and a person hears', async () => {
    const model = await startModelServer({
      script: work,
      faults: [
        { status: 0, hang: true },
        { status: 0, hang: true },
      ],
    });
    try {
      const run = await runTrain(llm(model.url, ', step_timeout_s: 1'));
      assert.equal(ticketOf(run, 'build').status, 'awaiting-human');
      assert.match(
        lastReason(run),
        /no answer within the step timeout of 1 s\); vt gave up after 2 calls went unanswered/,
      );
      assert.equal(model.requests.length, 2);
      assertCostIsReported(run, model);
    } finally {
      await model.close();
    }
  });

  it('retries a refused connection, then hands the ticket to a person', async () => {
    const model = await startModelServer({ script: work });
    const url = model.url;
    await model.close(); // nothing listens there any more
    const run = await runTrain(llm(url, ', retries: 2'));
    assert.equal(ticketOf(run, 'build').status, 'awaiting-human');
    assert.match(lastReason(run), /Cannot connect to API.*vt gave up after 3 tries/);
    assert.equal(run.sessions[0]!.cost, 0);
  });
});

describeOnBackends('supporting roles', () => {
  /** Build is Lab's, with Studio supporting: Studio's own executor is `studio`. */
  const supported = (studio: string) => (lab: string) =>
    agentTrain(lab)
      .replace(
        '  - { id: lead, name: Lead }',
        `  - { id: lead, name: Lead }\n  - id: studio\n    name: Studio\n    executor: ${studio}`,
      )
      .replace('    owner: lab\n', '    owner: lab\n    support: [studio]\n')
      .replace(
        'checklist: [{ id: trained, text: Model trained }]',
        'checklist: [{ id: trained, text: Model trained }, { id: reviewed, text: Design reviewed, required: false }]',
      );
  const llm = (url: string) =>
    `{ kind: llm, provider: openai-compatible, model: fake-1, base_url: "${url}/v1", price: { input: 10, output: 30 } }`;

  it("a supporting role's agent works the ticket after the owner, in its own session, and adds evidence", async () => {
    const lab = await startModelServer({
      script: [
        { raw: 'write_file', args: { path: 'out/report.md', content: '# Report\n' } },
        { raw: 'tick', args: { item: 'trained' } },
        { raw: 'put_artifact', args: { artifact: 'report' } },
        { raw: 'record_metric', args: { name: 'auc', value: 0.88 } },
      ],
    });
    const studio = await startModelServer({
      script: [
        { raw: 'read_file', args: { path: 'out/report.md' } },
        { raw: 'tick', args: { item: 'reviewed', note: 'architecture fits the latency budget' } },
      ],
    });
    try {
      const run = await runTrain(llm(lab.url), undefined, supported(llm(studio.url)));
      const build = Object.values(run.s.tickets).find((t) => t.phase === 'build')!;
      assert.equal(build.status, 'done', JSON.stringify(run.progress));
      assert.deepEqual(
        run.sessions.map((x) => [x.id, x.role, x.actor, x.outcome]),
        [
          ['churn-1-build.s1', 'lab', 'agent:lab', 'succeeded'],
          ['churn-1-build.s1-studio', 'studio', 'agent:studio', 'succeeded'],
        ],
      );
      assert.equal(
        run.s.evidence.build?.checklist.reviewed?.actor,
        'agent:studio',
        'the supporting agent added evidence',
      );
      assert.equal(run.s.evidence.build?.checklist.trained?.actor, 'agent:lab');
      const prompt = JSON.parse(studio.requests[0]!.body) as { messages: { content: string }[] };
      const text = prompt.messages.map((m) => m.content).join('\n');
      assert.match(text, /You are the Studio agent/);
      assert.match(text, /Lab owns this phase and has worked the ticket before you; you support it/);
      assert.match(text, /# Handoff: Churn → Build/, 'it gets the handoff');
      assert.equal(
        run.sessions[1]!.cost,
        costOf(studio.reported.input, studio.reported.output, { input: 10, output: 30 }),
      );
    } finally {
      await lab.close();
      await studio.close();
    }
  });

  it('lints support: an unknown role, the owner itself, a role listed twice', () => {
    const yaml = supported('{ kind: human }')('{ kind: human }').replace(
      '    support: [studio]\n',
      '    support: [studio, lab, studioo, studio]\n',
    );
    const problems = lintTrain(parseTrain(yaml, 'vt.yaml')).map((p) => `${p.line}:${p.field}: ${p.message}`);
    assert.deepEqual(problems, [
      '22:phases[0].support[1]: lab owns build; a role cannot also support it',
      '22:phases[0].support[2]: unknown role "studioo" (did you mean "studio"?)',
      '22:phases[0].support[3]: studio is listed twice',
    ]);
  });

  it('a supporting role worked by a person gets no session; the owner’s work carries the phase', async () => {
    const lab = await startModelServer({
      script: [
        { raw: 'write_file', args: { path: 'out/report.md', content: '# Report\n' } },
        { raw: 'tick', args: { item: 'trained' } },
        { raw: 'put_artifact', args: { artifact: 'report' } },
        { raw: 'record_metric', args: { name: 'auc', value: 0.88 } },
      ],
    });
    try {
      const run = await runTrain(llm(lab.url), undefined, supported('{ kind: human }'));
      assert.deepEqual(
        run.sessions.map((x) => x.id),
        ['churn-1-build.s1'],
      );
      assert.equal(Object.values(run.s.tickets).find((t) => t.phase === 'build')!.status, 'done');
    } finally {
      await lab.close();
    }
  });
});

describeOnBackends('session logs', () => {
  it("cap a runaway transcript, keeping its start and its end (where the CLI's usage is)", async () => {
    const dir = tempDir('vt-log-');
    const log = join(dir, 'session.log');
    const script =
      "for (let i = 0; i < 3000; i++) console.log(String(i).padStart(6, '0') + ' ' + 'y'.repeat(1000)); console.log(JSON.stringify({ type: 'result', usage: { input_tokens: 7, output_tokens: 3 }, total_cost_usd: 0.5 }));";
    const r = await runCommandExecutor({
      argv: [process.execPath, '-e', script],
      cwd: dir,
      env: {},
      input: '',
      timeoutMs: 60_000,
      logFile: log,
    });
    assert.equal(r.outcome, 'succeeded');
    const text = readFileSync(log, 'utf8');
    assert.ok(statSync(log).size <= SESSION_LOG_MAX_BYTES + 1024, `${statSync(log).size} bytes`);
    assert.ok(text.startsWith('000000 '), 'the start is kept');
    assert.match(text, /\[vt\] … \d+ bytes of this transcript were dropped here/);
    assert.match(text, /002999 y+\n\{"type":"result"/, 'the end is kept');
    assert.deepEqual(parseUsage(text), { tokensIn: 7, tokensOut: 3, cost: 0.5 });
  });
});

describe('routing and presets', () => {
  const train = parseTrain(agentTrain('{ kind: cli-agent, preset: claude }'), 'vt.yaml').train;
  const phase = train.phases[0]!;
  const role = train.roles[0]!;

  it('a role takes its executor from the train unless the environment overrides it', () => {
    assert.deepEqual(resolveExecutor(phase, role, 'churn', {}), {
      kind: 'cli-agent',
      preset: 'claude',
      args: [],
      timeout_s: 1800,
    });
    assert.deepEqual(resolveExecutor(phase, role, 'churn', { VT_EXECUTOR_LAB: 'human' }), { kind: 'human' });
    const llm = resolveExecutor(phase, role, 'churn', {
      VT_EXECUTOR_LAB: 'human',
      VT_EXECUTOR_CHURN__LAB: 'llm:openai-compatible:qwen2.5:7b@http://127.0.0.1:11434/v1',
    });
    assert.equal(llm.kind, 'llm');
    assert.deepEqual(llm.kind === 'llm' && [llm.provider, llm.model, llm.base_url], [
      'openai-compatible',
      'qwen2.5:7b',
      'http://127.0.0.1:11434/v1',
    ]);
    assert.throws(
      () => resolveExecutor(phase, role, 'churn', { VT_EXECUTOR_LAB: 'cli-agent:emacs' }),
      /VT_EXECUTOR_LAB/,
    );
  });

  it("presets pass the mode's allowed tools as the CLI's own flags", () => {
    const allowed = ['read_files', 'tick', 'put_artifact'];
    assert.deepEqual(claudeAllowedTools(allowed), [
      'Read',
      'Glob',
      'Grep',
      'LS',
      'mcp__vt__next_task',
      'mcp__vt__get_handoff',
      'mcp__vt__tick',
      'mcp__vt__put_artifact',
      'mcp__vt__status',
    ]);
    const ctx = {
      promptFile: '/s/prompt.md',
      sessionDir: '/s',
      mcpConfig: '/s/mcp.json',
      mcpLauncher: '/s/vt-mcp',
      workspace: '/w',
      allowed,
    };
    const claude = PRESETS.claude.argv(ctx);
    assert.deepEqual(claude.slice(0, 4), ['claude', '--print', '--output-format', 'json']);
    assert.ok(claude.includes('--strict-mcp-config') && claude.includes('/s/mcp.json'));
    assert.equal(claude[claude.indexOf('--allowedTools') + 1], claudeAllowedTools(allowed).join(','));
    assert.equal(
      PRESETS.claude.env?.(ctx).MCP_CONNECTION_NONBLOCKING,
      'false',
      'MCP ready before the first request',
    );
    const codex = PRESETS.codex.argv(ctx);
    assert.ok(codex.includes('read-only'));
    assert.ok(codex.includes('mcp_servers.vt.required=true'));
    assert.ok(codex.includes('mcp_servers.vt.default_tools_approval_mode="approve"'));
    assert.equal(codex.at(-1), '-', 'the prompt comes on stdin');
    assert.ok(PRESETS.gemini.argv(ctx).includes('default'));
    assert.deepEqual(PRESETS.gemini.env?.(ctx), { GEMINI_CLI_TRUST_WORKSPACE: 'true' });
    assert.deepEqual(PRESETS.gemini.workspaceSettings?.(ctx), {
      '.gemini/settings.json': {
        mcpServers: { vt: { command: '/s/vt-mcp', args: [], trust: true, timeout: 600_000 } },
      },
    });
    // No argv of any preset carries the prompt: only its file, for the CLIs that take one.
    for (const p of Object.values(PRESETS)) {
      const argv = p.argv({ ...ctx, allowed: null });
      assert.ok(!argv.some((a) => a.includes('# Ticket')), p.bin);
      assert.equal(argv.includes('/s/prompt.md'), p.prompt === 'file', p.bin);
    }
    assert.ok(
      !PRESETS.aider.argv({ ...ctx, allowed: null }).includes('--dry-run'),
      'a dry run cannot write its report',
    );
    assert.match(PRESETS.aider.cannot?.(ctx) ?? '', /does not allow writing files/);
    assert.equal(PRESETS.aider.cannot?.({ ...ctx, allowed: null }), null);
  });

  it('reads token and cost figures as each CLI prints them', () => {
    assert.deepEqual(
      parseUsage(
        'noise\n{"type":"result","usage":{"input_tokens":10,"output_tokens":5},"total_cost_usd":0.5}\n',
      ),
      { tokensIn: 10, tokensOut: 5, cost: 0.5 },
    );
    assert.deepEqual(
      parseUsage(
        '{"type":"turn.completed","usage":{"input_tokens":100,"cached_input_tokens":50,"output_tokens":7}}\n{"type":"turn.completed","usage":{"input_tokens":20,"output_tokens":3}}\n',
      ),
      { tokensIn: 120, tokensOut: 10, cost: null },
    );
    assert.deepEqual(
      parseUsage(
        'x\n{\n  "response": "ok",\n  "stats": {"models": {"gemini-2.5-pro": {"tokens": {"prompt": 900, "candidates": 30}}}}\n}\n',
      ),
      { tokensIn: 900, tokensOut: 30, cost: null },
    );
    assert.deepEqual(
      parseUsage(
        'Tokens: 2.3k sent, 120 received. Cost: $0.01 message, $0.01 session.\nTokens: 1k sent, 80 received. Cost: $0.01 message, $0.02 session.\n',
      ),
      { tokensIn: 3300, tokensOut: 200, cost: 0.02 },
    );
    // Aider's lines as base_coder.py prints them (format_tokens: 999, 2.3k, 12k), with prompt caching.
    assert.deepEqual(
      parseUsage(
        [
          'Applied edit to vt-report.json',
          'Tokens: 12k sent, 1.1k cache write, 5.0k cache hit, 312 received.',
          'Cost: $0.0098 message, $0.0098 session.',
          'Tokens: 9.8k sent, 14k cache hit, 1.2k received. Cost: $0.03 message, $0.04 session.',
          'Tokens: 950 sent, 2.0k cache write, 40 received. Cost: $0.0012 message, $0.04 session.',
        ].join('\n'),
      ),
      { tokensIn: 12_000 + 5_000 + 9_800 + 14_000 + 950, tokensOut: 312 + 1200 + 40, cost: 0.04 },
    );
    assert.deepEqual(
      parseUsage('Tokens: 4.1k sent, 2 received.\n'),
      { tokensIn: 4100, tokensOut: 2, cost: null },
      'no price known',
    );
    // Claude Code's modelUsage counts every model call (side calls too), its usage only the main loop.
    assert.deepEqual(
      parseUsage(
        '{"type":"result","usage":{"input_tokens":70,"output_tokens":7},"modelUsage":{"a":{"inputTokens":80,"outputTokens":8,"cacheReadInputTokens":5,"cacheCreationInputTokens":1},"b":{"inputTokens":20,"outputTokens":2}},"total_cost_usd":0.25}',
      ),
      { tokensIn: 106, tokensOut: 10, cost: 0.25 },
    );
    assert.equal(parseUsage('nothing here'), null);
  });

  it('reads retry-after as seconds, milliseconds or a date, and classifies provider faults', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(retryAfterMs({ 'Retry-After': '2' }, now), 2000);
    assert.equal(retryAfterMs({ 'retry-after-ms': '150', 'retry-after': '9' }, now), 150);
    assert.equal(retryAfterMs({ 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }, now), 30_000);
    assert.equal(retryAfterMs({ 'retry-after': 'soon' }, now), null);
    assert.equal(retryAfterMs(undefined, now), null);
    const api = (statusCode: number) =>
      new APICallError({
        message: 'x',
        url: 'u',
        requestBodyValues: {},
        statusCode,
        responseBody: '{"error":{"message":"m"}}',
      });
    for (const s of [408, 409, 429, 500, 502, 503, 529])
      assert.equal(classify(api(s), false, 1).kind, 'transient', String(s));
    for (const s of [400, 401, 403, 404, 422])
      assert.equal(classify(api(s), false, 1).kind, 'permanent', String(s));
    assert.equal(classify(api(401), false, 1).reason, 'HTTP 401: m');
    assert.equal(classify(new Error('boom'), true, 5000).kind, 'transient', 'a call past its step timeout');
  });

  it('prices models by the longest matching prefix, overridable', () => {
    assert.deepEqual(priceOf('claude-sonnet-4-5-20250929', undefined, {}), { input: 3, output: 15 });
    assert.deepEqual(priceOf('gpt-4o-mini-2024', undefined, {}), { input: 0.15, output: 0.6 });
    assert.deepEqual(priceOf('local', undefined, { VT_LLM_PRICES: '{"local": {"input": 1, "output": 2}}' }), {
      input: 1,
      output: 2,
    });
    assert.equal(priceOf('llama3', undefined, {}), null);
    assert.equal(costOf(1_000_000, 1_000_000, { input: 3, output: 15 }), 18);
  });
});
