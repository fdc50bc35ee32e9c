import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { verifyStore } from '../src/audit/audit.ts';
import { hostSession, type SessionHost } from '../src/autopilot/session-host.ts';
import { main } from '../src/cli/main.ts';
import { Engine } from '../src/engine/engine.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { revokeSessionToken } from '../src/mcp/session-token.ts';
import { openStore, type Store } from '../src/store/store.ts';
import { parseTrain } from '../src/train/loader.ts';
import { agentTrain } from './fixtures/agent-train.ts';
import { folderStore, runVt, TestClock, tempDir, VT_BIN } from './helpers.ts';
import { describeOnBackends } from './pg.ts';

const AGENT_TRAIN = agentTrain();

interface Text {
  type: string;
  text: string;
}
const textOf = (r: unknown) => ((r as { content: Text[] }).content[0]?.text ?? '') as string;
const jsonOf = (r: unknown) => JSON.parse(textOf(r));

describeOnBackends('vt mcp: one agent session over stdio', () => {
  let dir: string;
  let ws: string;
  let dbFile: string;
  let store: Store;
  let engine: Engine;
  let session: string;
  let token: string;
  let host: SessionHost;
  const clients: Client[] = [];

  // An agent CLI starts `vt mcp`, which reaches the session through the socket the worker serves: no store.
  const connect = async (env: Record<string, string>) => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [VT_BIN, 'mcp'],
      cwd: dir,
      env: { VT_SESSION_SOCKET: host.socket, VT_SESSION_TOKEN: env.VT_SESSION_TOKEN ?? '' },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'vt-test', version: '0.0.0' });
    await client.connect(transport);
    clients.push(client);
    return client;
  };

  before(async () => {
    dir = tempDir('vt-mcp-');
    writeFileSync(join(dir, 'vt.yaml'), AGENT_TRAIN);
    dbFile = await folderStore(dir);
    store = await openStore(dbFile, { synchronous: 'NORMAL' });
    engine = new Engine({ store, io: nodeIo, clock: new TestClock() });
    const tickets = new Tickets(engine);
    const train = parseTrain(AGENT_TRAIN, join(dir, 'vt.yaml'));
    await engine.createProject({ id: 'churn', name: 'Churn', workspace: dir, train }, { actor: 'ana' });
    await engine.createProject({ id: 'other', name: 'Other', workspace: dir, train }, { actor: 'ana' });
    await tickets.addIssue('churn', { title: 'Train a churn model' }, { actor: 'ana' });
    const claim = await tickets.claimNext('w1', { project: 'churn', leaseMs: 600_000 });
    assert.ok(claim, 'the ticket is claimed');
    ws = join(dir, 'ws');
    mkdirSync(ws, { recursive: true });
    session = await tickets.startSession(claim, {
      role: 'lab',
      executor: 'cli-agent',
      workspace: ws,
      log: join(dir, '.vt', 'logs', 'x.log'),
      actor: 'agent:lab',
    });
    host = await hostSession({
      engine,
      tickets,
      projectId: 'churn',
      session,
      actor: 'agent:lab',
      version: '0',
    });
    token = host.token;
  });

  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await host.close();
    await store.close();
  });

  it('lists a fixed set of tools (snapshot), each with an output schema and all four annotations', async () => {
    const client = await connect({ VT_SESSION: session, VT_SESSION_TOKEN: token });
    const { tools } = await client.listTools();
    const lines = tools.map((t) => {
      const schema = t.inputSchema as {
        properties?: Record<string, { type?: string; enum?: string[] }>;
        required?: string[];
      };
      const params = Object.entries(schema.properties ?? {})
        .map(([k, v]) => `${k}${schema.required?.includes(k) ? '' : '?'}: ${v.enum?.join('|') ?? v.type}`)
        .join(', ');
      const out = Object.keys((t.outputSchema as { properties?: object } | undefined)?.properties ?? {}).join(
        ', ',
      );
      const a = t.annotations ?? {};
      const hints = [
        a.readOnlyHint ? 'read-only' : 'writes',
        a.destructiveHint ? 'destructive' : a.readOnlyHint ? null : 'additive',
        a.idempotentHint ? 'idempotent' : null,
        a.openWorldHint ? 'open world' : 'closed world',
      ].filter(Boolean);
      for (const h of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const)
        assert.equal(typeof a[h], 'boolean', `${t.name} says ${h}`);
      return `${t.name}(${params}) -> {${out}} [${hints.join(', ')}] — ${t.description}`;
    });
    assert.deepEqual(lines, TOOL_SNAPSHOT);
  });

  it('drives the ticket from claim to a passed gate, every call audited under the session', async () => {
    const client = await connect({ VT_SESSION: session, VT_SESSION_TOKEN: token });
    // Listing first makes the official client check every result against the tool's outputSchema.
    await client.listTools();
    const structured = async (name: string, args: Record<string, unknown> = {}) => {
      const r = await client.callTool({ name, arguments: args });
      assert.ok(!r.isError, textOf(r));
      assert.deepEqual(r.structuredContent, jsonOf(r), `${name}: structuredContent is the result`);
      return r;
    };
    for (const name of ['next_task', 'get_handoff', 'status']) await structured(name);
    const task = jsonOf(await client.callTool({ name: 'next_task', arguments: {} }));
    assert.equal(task.project, 'churn');
    assert.equal(task.phase, 'build');
    assert.equal(task.workspace, ws);
    assert.equal(task.instructions, 'Train the churn model and write its report.');
    assert.deepEqual(
      task.checklist.map((c: { id: string; ticked: boolean }) => [c.id, c.ticked]),
      [['trained', false]],
    );

    const handoff = jsonOf(await client.callTool({ name: 'get_handoff', arguments: {} }));
    assert.match(handoff.text, /# Handoff: Churn → Build/);
    assert.match(handoff.text, /Train the churn model/);

    const ticked = await client.callTool({ name: 'tick', arguments: { item: 'trained', note: 'xgboost' } });
    assert.ok(!ticked.isError, textOf(ticked));
    mkdirSync(join(ws, 'out'), { recursive: true });
    writeFileSync(join(ws, 'out', 'report.md'), '# Report\nAUC 0.91\n');
    const put = await client.callTool({ name: 'put_artifact', arguments: { artifact: 'report' } });
    assert.ok(!put.isError, textOf(put));
    assert.equal(jsonOf(put).path, 'out/report.md');
    const metric = await client.callTool({ name: 'record_metric', arguments: { name: 'auc', value: 0.91 } });
    assert.ok(!metric.isError, textOf(metric));
    const gates = jsonOf(await client.callTool({ name: 'check_gates', arguments: {} }));
    assert.equal(gates.passed, true, JSON.stringify(gates.results));
    const advance = jsonOf(await client.callTool({ name: 'request_advance', arguments: {} }));
    assert.equal(advance.can_advance, true);
    assert.equal(advance.next, 'ship');
    const status = jsonOf(await structured('status'));
    assert.equal(status.phase, 'build', 'request_advance does not advance from inside a session');

    const resources = await client.listResources();
    assert.deepEqual(resources.resources.map((r) => r.uri).sort(), [
      'vt://handoff',
      'vt://state',
      'vt://train',
    ]);
    const state = await client.readResource({ uri: 'vt://state' });
    assert.equal(JSON.parse((state.contents[0] as { text: string }).text).id, 'churn');
    const prompts = await client.listPrompts();
    assert.deepEqual(prompts.prompts.map((p) => p.name).sort(), ['role-lab', 'role-lead']);
    const prompt = await client.getPrompt({ name: 'role-lab' });
    assert.match((prompt.messages[0]!.content as Text).text, /Train the churn model/);

    const s = await engine.state('churn');
    const events = await store.db
      .selectFrom('events')
      .select(['type', 'actor', 'payload'])
      .where('project_id', '=', 'churn')
      .orderBy('seq')
      .execute();
    const byAgent = events.filter((e) => e.actor === 'agent:lab').map((e) => e.type);
    for (const t of ['checklist.ticked', 'artifact.recorded', 'metric.recorded', 'gate.evaluated'])
      assert.ok(byAgent.includes(t), `${t} is recorded with the session's actor`);
    const calls = events
      .filter((e) => e.type === 'session.tool-called')
      .map((e) => JSON.parse(e.payload) as { session: string; tool: string; outcome: string });
    assert.ok(calls.every((c) => c.session === session));
    for (const tool of [
      'tools/list',
      'next_task',
      'get_handoff',
      'tick',
      'put_artifact',
      'record_metric',
      'check_gates',
      'resources/list',
      'resource:vt://state',
      'prompts/list',
      'prompt:role-lab',
    ])
      assert.ok(
        calls.some((c) => c.tool === tool && c.outcome === 'ok'),
        `${tool} is in the audit trail`,
      );
    assert.equal(s.evidence.build?.checklist.trained?.actor, 'agent:lab');
  });

  it('refuses what lies outside the session: another project, a path out, another phase, a mode, a token', async () => {
    writeFileSync(join(dir, 'secret.txt'), 'not yours\n');
    const client = await connect({ VT_SESSION: session, VT_SESSION_TOKEN: token });
    const refused = async (name: string, args: Record<string, unknown>, why: RegExp) => {
      const r = await client.callTool({ name, arguments: args });
      assert.equal(r.isError, true, `${name} ${JSON.stringify(args)} is refused`);
      assert.match(textOf(r), why);
    };
    await refused('tick', { item: 'trained', project: 'other' }, /outside it/);
    await refused('status', { project: 'other' }, /outside it/);
    await refused('put_artifact', { artifact: 'report', path: '../secret.txt' }, /PATH_ESCAPE/);
    await refused('tick', { item: 'shipped' }, /not on the checklist of build/);
    await refused('add_context', { kind: 'note', text: 'hello' }, /not allowed in build/);

    const stranger = await connect({ VT_SESSION: session, VT_SESSION_TOKEN: `${token}x` });
    const r = await stranger.callTool({ name: 'tick', arguments: { item: 'trained' } });
    assert.equal(r.isError, true);
    assert.match(textOf(r), /token does not match/);
    await assert.rejects(stranger.listPrompts(), /token does not match/, 'no prompts without a valid token');
    await assert.rejects(stranger.listTools(), /token does not match/, 'nor tools');

    const other = await engine.state('other');
    assert.equal(
      Object.values(other.evidence).flatMap((e) => Object.keys(e.checklist)).length,
      0,
      'the other project is untouched',
    );
    const refusals = (
      await store.db
        .selectFrom('events')
        .select(['actor', 'payload'])
        .where('project_id', '=', 'churn')
        .where('type', '=', 'session.tool-called')
        .execute()
    )
      .map((e) => ({
        actor: e.actor,
        ...(JSON.parse(e.payload) as { tool: string; outcome: string; reason: string }),
      }))
      .filter((e) => e.outcome === 'refused');
    assert.equal(refusals.length, 8, JSON.stringify(refusals));
    assert.ok(refusals.some((e) => e.tool === 'add_context' && e.actor === 'agent:lab'));
    assert.ok(refusals.some((e) => e.actor === 'mcp' && /token/.test(e.reason)));
  });

  it('records every refused or malformed request, and vt audit log shows its tool and reason in full', async () => {
    const client = await connect({ VT_SESSION: session, VT_SESSION_TOKEN: token });
    const longName = `no_such_tool_${'x'.repeat(80)}`;
    // A tool the session does not have is refused before the MCP server sees it (a decision would be).
    await assert.rejects(client.callTool({ name: longName, arguments: {} }), /is not a session tool/);
    const calls: [string, Record<string, unknown>][] = [
      ['tick', { item: 42 }],
      ['tick', {}],
      ['record_metric', { name: 'auc', value: 'very high' }],
      ['add_context', { kind: 'gossip', text: 'hello' }],
      ['put_artifact', { artifact: 'report', path: '/etc/passwd' }],
    ];
    for (const [name, args] of calls) {
      const r = await client.callTool({ name, arguments: args });
      assert.equal(r.isError, true, `${name} ${JSON.stringify(args)} is refused`);
    }
    await assert.rejects(client.getPrompt({ name: 'role-nobody' }), /no prompt "role-nobody"/);
    await assert.rejects(client.readResource({ uri: 'vt://secrets' }), /no resource vt:\/\/secrets/);

    const r = await runVt(['audit', 'log', 'churn', '--limit', '500'], {
      cwd: dir,
      env: { VT_DATABASE_URL: dbFile },
    });
    assert.equal(r.code, 0, r.stderr);
    const refused = r.stdout
      .split('\n')
      .filter((l) => l.includes('\tsession.tool-called\t') && l.includes(' refused'));
    const expect: [tool: string, reason: RegExp][] = [
      [
        longName,
        /NOT_PERMITTED: no_such_tool_x{80} is not a session tool: an agent session cannot decide or act as a person/,
      ],
      ['tick', /BAD_INPUT: tick: item: Invalid input: expected string, received number/],
      ['tick', /BAD_INPUT: tick: item: Invalid input: expected string, received undefined/],
      ['record_metric', /BAD_INPUT: record_metric: value: Invalid input: expected number, received string/],
      [
        'add_context',
        /NOT_PERMITTED: add_context is not allowed in build \(mode build: read_files, write_files, tick, put_artifact, record_metric, check_gates, request_advance\)/,
      ],
      ['put_artifact', /PATH_ESCAPE: the path "\/etc\/passwd" is refused/],
      ['prompt:role-nobody', /NOT_FOUND: no prompt "role-nobody"; the prompts are role-lab, role-lead/],
      [
        'resource:vt://secrets',
        /NOT_FOUND: no resource vt:\/\/secrets; the resources are vt:\/\/train, vt:\/\/state, vt:\/\/handoff/,
      ],
    ];
    for (const [tool, reason] of expect)
      assert.ok(
        refused.some((l) => l.includes(`\t${tool} refused: `) && reason.test(l)),
        `vt audit log shows ${tool} refused with ${reason}:\n${refused.join('\n')}`,
      );

    // On a terminal, --wide shows the same lines uncut.
    let out = '';
    const io = {
      out: (t: string) => (out += t),
      err: () => {},
      isTTY: true,
      env: { VT_DATABASE_URL: dbFile, NO_COLOR: '1' },
    };
    assert.equal(await main(['-C', dir, 'audit', 'log', 'churn', '--limit', '500', '--wide'], io), 0);
    assert.ok(
      out.includes(`${longName} refused: NOT_PERMITTED: ${longName} is not a session tool: an agent session`),
      out.slice(-2000),
    );
  });

  it('refuses every call once the session has ended or its token is revoked; the chain still verifies', async () => {
    const client = await connect({ VT_SESSION: session, VT_SESSION_TOKEN: token });
    await new Tickets(engine).endSession(
      'churn',
      session,
      { outcome: 'succeeded', exitCode: 0, summary: 'done' },
      { actor: 'agent:lab' },
    );
    const ended = await client.callTool({ name: 'tick', arguments: { item: 'trained' } });
    assert.equal(ended.isError, true);
    assert.match(textOf(ended), /has ended/);
    for (const [what, req] of [
      ['tools/list', () => client.listTools()],
      ['prompts/list', () => client.listPrompts()],
      ['resources/list', () => client.listResources()],
      ['resource:vt://state', () => client.readResource({ uri: 'vt://state' })],
      ['prompt:role-lab', () => client.getPrompt({ name: 'role-lab' })],
    ] as const) {
      await assert.rejects(req(), /refused \(NOT_PERMITTED\): session .* has ended/, `${what} after the end`);
      const last = await store.db
        .selectFrom('events')
        .select('payload')
        .where('type', '=', 'session.tool-called')
        .orderBy('seq', 'desc')
        .executeTakeFirstOrThrow();
      assert.deepEqual(
        { ...JSON.parse(last.payload), reason: JSON.parse(last.payload).reason.slice(0, 40) },
        {
          session,
          tool: what,
          outcome: 'refused',
          reason: `NOT_PERMITTED: session ${session} has e`.slice(0, 40),
        },
      );
    }
    await revokeSessionToken(store.db, session);
    const r = await client.callTool({ name: 'next_task', arguments: {} });
    assert.equal(r.isError, true);
    assert.match(textOf(r), /token does not match/);
    const v = await verifyStore(store.db);
    assert.equal(v.ok, true);
  });
});

/** The tool list agents see. Changing it changes what every configured agent is offered: update on purpose. */
const TOOL_SNAPSHOT = [
  "next_task() -> {project, project_name, phase, phase_name, visit, ticket, issue, role, workspace, instructions, instructions_truncated, checklist, artifacts, metrics, gates, allowed_tools, how} [read-only, idempotent, closed world] — Your task in this session: the project, phase, ticket and issue, the phase's instructions, its checklist (with what is ticked), the artifacts to produce, the metrics to record, its exit gates and the tools you may use.",
  'get_handoff() -> {source, text} [read-only, idempotent, closed world] — The handoff packet for this phase: where the project stands, what earlier phases produced, and the decisions, assumptions and risks recorded so far (markdown).',
  "tick(item: string, note?: string, project?: string) -> {phase, item, ticked, already} [writes, additive, idempotent, closed world] — Tick an item of the current phase's checklist once you have really done it. Items of other phases are refused.",
  "put_artifact(artifact: string, path?: string, project?: string) -> {artifact, path, sha256, size} [writes, additive, idempotent, closed world] — Record an artifact of the current phase: write its file in the workspace first; it is hashed where it lies. The path defaults to the train's path for the artifact and must stay inside the workspace.",
  'record_metric(name: string, value: number, project?: string) -> {name, value} [writes, additive, idempotent, closed world] — Record a metric value in the current phase (a metric the train declares).',
  'add_context(kind: fact|decision|assumption|risk|note, text: string, project?: string) -> {kind, recorded} [writes, additive, closed world] — Record a fact, decision, assumption, risk or note for the people and agents of later phases.',
  "check_gates(project?: string) -> {phase, passed, results} [writes, additive, idempotent, closed world] — Evaluate the current phase's exit gates and record the result: what passes and what is still missing.",
  'request_advance(project?: string) -> {phase, can_advance, next, waiting_for_approval, results, note} [writes, additive, idempotent, closed world] — Ask whether the phase can advance: evaluates the exit gates and says where the project would go. The autopilot advances it when your session ends; you never advance it yourself.',
  "status(project?: string) -> {project, name, status, phase, visit, checklist, artifacts, metrics} [read-only, idempotent, closed world] — The project's current state: phase, visit, status, checklist, recorded artifacts and metrics.",
];
