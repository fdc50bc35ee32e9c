// `vt mcp --person`: a person's own assistant, over stdio with the official MCP client, sees what
// waits for that person and why a gate failed, adds context in their name, and cannot decide.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { DECISIONS } from '../src/agents/person-tools.ts';
import { runAutopilot } from '../src/autopilot/worker.ts';
import { openWorkspaces } from '../src/autopilot/workspace.ts';
import { writeLauncher } from '../src/cli/commands/autopilot.ts';
import { Engine } from '../src/engine/engine.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { openStore, type Store } from '../src/store/store.ts';
import { parseTrain } from '../src/train/loader.ts';
import { folderStore, runVt, tempDir, VT_BIN } from './helpers.ts';
import { describeOnBackends } from './pg.ts';

const TRAIN = `version: 1
name: reviewed
roles:
  - { id: lab, name: Lab }
  - { id: lead, name: Lead }
metrics:
  - { id: auc }
people:
  ana: [lead]
  bo: [lab]
phases:
  - id: build
    name: Build
    stage: delivery
    owner: lab
    checklist: [{ id: trained, text: Model trained }]
    metrics: [auc]
    gates:
      exit:
        - { id: done, kind: checklist }
        - { id: good, kind: metric, expr: auc >= 0.8 }
        - { id: signed, kind: approval, role: lead }
    next: ship
  - id: ship
    name: Ship
    stage: operations
    owner: lead
    checklist: [{ id: shipped, text: Shipped }]
    gates: { exit: [{ id: done, kind: checklist }] }
    next: null
`;

interface Item {
  ticket: string;
  status: string;
  for_you: boolean;
  why: string;
  next: string;
}

describeOnBackends('vt mcp --person: a person’s own assistant', () => {
  let dir: string;
  let dbFile: string;
  let store: Store;
  let engine: Engine;
  let tickets: Tickets;
  let ticket: string;
  const clients: Client[] = [];

  const connect = async (as: string) => {
    const client = new Client({ name: 'assistant', version: '0.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [VT_BIN, 'mcp', '--person', '--as', as],
        cwd: dir,
        env: { VT_DATABASE_URL: dbFile, VT_SQLITE_SYNCHRONOUS: 'NORMAL', PATH: process.env.PATH ?? '' },
        stderr: 'pipe',
      }),
    );
    clients.push(client);
    await client.listTools(); // the official client then checks results against the output schemas
    return client;
  };
  const call = async (client: Client, name: string, args: Record<string, unknown> = {}) => {
    const r = await client.callTool({ name, arguments: args });
    const text = (r.content as { text: string }[])[0]?.text ?? '';
    if (!r.isError) assert.deepEqual(r.structuredContent, JSON.parse(text), `${name}: structuredContent`);
    return { isError: !!r.isError, text, value: r.structuredContent as Record<string, unknown> };
  };
  const autopilot = async () =>
    runAutopilot(
      {
        engine,
        tickets,
        workspaces: await openWorkspaces(dir, 'folder'),
        root: dir,
        dbTarget: dbFile,
        binDir: writeLauncher(dir),
      },
      {
        concurrency: 1,
        once: true,
        watch: false,
        leaseMs: 60_000,
        heartbeatMs: 20_000,
        backoffMs: 10,
        pollMs: 20,
      },
    );
  const decisions = async () =>
    (await store.db.selectFrom('events').select('type').where('project_id', '=', 'churn').execute()).filter(
      (e) =>
        ['approval.recorded', 'gate.waived', 'phase.advanced', 'project.held', 'project.cancelled'].includes(
          e.type,
        ),
    ).length;

  before(async () => {
    dir = tempDir('vt-person-');
    writeFileSync(join(dir, 'vt.yaml'), TRAIN);
    dbFile = await folderStore(dir);
    store = await openStore(dbFile, { synchronous: 'NORMAL' });
    engine = new Engine({ store, io: nodeIo });
    tickets = new Tickets(engine);
    const train = parseTrain(TRAIN, join(dir, 'vt.yaml'));
    await engine.createProject({ id: 'churn', name: 'Churn', workspace: dir, train }, { actor: 'ana' });
    ticket = (await tickets.addIssue('churn', { title: 'Train a churn model' }, { actor: 'ana' })).ticket;
    await autopilot(); // Lab is worked by a person: the ticket waits for one
    await engine.tick('churn', 'trained', null, { actor: 'bo' });
    await engine.setMetric('churn', 'auc', 0.7, { actor: 'bo' });
    const checked = await engine.checkGates('churn', { actor: 'bo' });
    assert.equal(checked.passed, false);
  });

  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await store.close();
  });

  it('offers reads and context, each with an output schema, and no decision', async () => {
    const client = await connect('ana');
    const { tools } = await client.listTools();
    assert.deepEqual(
      tools.map((t) => t.name),
      ['inbox', 'status', 'plan', 'why_gate_failed', 'audit_log', 'add_context'],
    );
    for (const t of tools) {
      assert.ok(t.outputSchema, `${t.name} has an outputSchema`);
      assert.equal(t.annotations?.readOnlyHint, t.name !== 'add_context', t.name);
      assert.ok(!DECISIONS.some((d) => t.name.includes(d)), `${t.name} is not a decision`);
    }
  });

  it('lists the inbox: whose each item is, and the command a person runs', async () => {
    const bo = await connect('bo');
    const mine = (await call(bo, 'inbox')).value as { actor: string; roles: string[]; items: Item[] };
    assert.equal(mine.actor, 'bo');
    assert.deepEqual(mine.roles, ['lab']);
    assert.equal(mine.items.length, 1);
    assert.deepEqual(
      [mine.items[0]!.ticket, mine.items[0]!.status, mine.items[0]!.for_you],
      [ticket, 'awaiting-human', true],
    );
    assert.equal(mine.items[0]!.next, `vt done ${ticket} when the work is done`);
    const ana = await connect('ana');
    const hers = (await call(ana, 'inbox')).value as { items: Item[] };
    assert.equal(hers.items[0]!.for_you, false, 'ana holds lead, and Lab works build');
    assert.match(hers.items[0]!.why, /lab works build; you do not hold it/);
  });

  it('says why the gate failed, from the recorded evaluation (nothing is evaluated)', async () => {
    const before = (
      await store.db.selectFrom('events').select('seq').where('project_id', '=', 'churn').execute()
    ).length;
    const ana = await connect('ana');
    const why = (await call(ana, 'why_gate_failed', { project: 'churn' })).value as {
      evaluated: boolean;
      evaluated_by: string;
      passed: boolean;
      failing: { gate: string; message: string }[];
    };
    assert.equal(why.evaluated, true);
    assert.equal(why.evaluated_by, 'bo');
    assert.equal(why.passed, false);
    assert.deepEqual(
      why.failing.map((f) => f.gate),
      ['good', 'signed'],
    );
    assert.match(why.failing[0]!.message, /0\.7/);
    const after = (
      await store.db.selectFrom('events').select('seq').where('project_id', '=', 'churn').execute()
    ).length;
    assert.equal(after, before, 'reading why records nothing');
    const plan = (await call(ana, 'plan', { project: 'churn' })).value as {
      phases: { id: string; state: string }[];
      still_needed: { metrics: string[] };
    };
    assert.deepEqual(
      plan.phases.map((p) => [p.id, p.state]),
      [
        ['build', 'current'],
        ['ship', 'ahead'],
      ],
    );
    const log = (await call(ana, 'audit_log', { project: 'churn', limit: 3 })).value as {
      events: { type: string }[];
    };
    assert.equal(log.events.length, 3);
    assert.equal(log.events.at(-1)!.type, 'gate.evaluated');
    const missing = await call(ana, 'why_gate_failed', { project: 'nope' });
    assert.equal(missing.isError, true);
    assert.match(missing.text, /refused \(NOT_FOUND\): no project "nope"/);
  });

  it('cannot approve, reject, waive, advance or mark done; the approval still waits for the person', async () => {
    await engine.setMetric('churn', 'auc', 0.91, { actor: 'bo' });
    await tickets.done(ticket, { actor: 'bo' });
    await autopilot(); // the gates pass but for the approval
    assert.equal((await engine.state('churn')).tickets[ticket]!.status, 'awaiting-approval');
    const ana = await connect('ana');
    const inbox = (await call(ana, 'inbox')).value as { items: Item[] };
    assert.deepEqual(
      [inbox.items[0]!.status, inbox.items[0]!.for_you, inbox.items[0]!.next],
      ['awaiting-approval', true, 'vt approve churn (or vt reject churn --reason …)'],
    );
    const bo = await connect('bo');
    assert.equal(((await call(bo, 'inbox')).value as { items: Item[] }).items[0]!.for_you, false);

    const decided = await decisions();
    for (const name of ['approve', 'reject', 'waive', 'advance', 'done', 'hold', 'cancel']) {
      const r = await call(ana, name, { project: 'churn', ticket, gate: 'signed', reason: 'ok' });
      assert.equal(r.isError, true, `${name} is refused`);
      assert.match(r.text, /decisions need your own signature, made with the vt CLI/);
    }
    assert.equal(await decisions(), decided, 'nothing was decided');
    const s = await engine.state('churn');
    assert.equal(s.phase, 'build');
    assert.equal(s.tickets[ticket]!.status, 'awaiting-approval');
    assert.equal(s.approvals.length, 0);
  });

  it('adds context in the person’s name', async () => {
    const ana = await connect('ana');
    const r = await call(ana, 'add_context', {
      project: 'churn',
      kind: 'risk',
      text: 'The sponsor may change the target.',
    });
    assert.equal(r.isError, false, r.text);
    const s = await engine.state('churn');
    const entry = s.context.at(-1)!;
    assert.deepEqual(
      [entry.actor, entry.kind, entry.text, entry.session],
      ['ana', 'risk', 'The sponsor may change the target.', null],
    );
    const bad = await call(ana, 'add_context', { project: 'churn', kind: 'gossip', text: 'x' });
    assert.equal(bad.isError, true);
    assert.match(bad.text, /refused \(BAD_INPUT\): add_context: kind: Invalid option/);
  });

  it('will not run inside an agent session, nor as an agent', async () => {
    const inside = await runVt(['mcp', '--person', '--as', 'ana'], {
      cwd: dir,
      env: { VT_DATABASE_URL: dbFile, VT_SESSION: 'churn-1-build.s1' },
    });
    assert.equal(inside.code, 4, inside.stderr);
    assert.match(inside.stderr, /cannot run inside an agent session/);
    const agent = await runVt(['mcp', '--person', '--as', 'agent:lab'], {
      cwd: dir,
      env: { VT_DATABASE_URL: dbFile },
    });
    assert.equal(agent.code, 4);
    assert.match(agent.stderr, /agent's name/);
  });
});
