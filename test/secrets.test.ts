import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { verifyStore } from '../src/audit/audit.ts';
import { hostSession } from '../src/autopilot/session-host.ts';
import { Engine } from '../src/engine/engine.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { openStore } from '../src/store/store.ts';
import { parseTrain } from '../src/train/loader.ts';
import { readSse, servedStore, triageAwaitingApproval } from './api-helpers.ts';
import { agentTrain } from './fixtures/agent-train.ts';
import {
  backendEnv,
  folderStore,
  freshEngine,
  MINI,
  runVt,
  spawnCollect,
  TestClock,
  tempDir,
  testBackend,
  VT_BIN,
} from './helpers.ts';
import { describeOnBackends, storeContents } from './pg.ts';

/*
 * Canary secrets, new for every run and built at run time, so no file of the project holds them:
 * each test plants them where text enters vt and then greps every byte vt wrote for them.
 */
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const random = (n: number) => {
  const b = randomBytes(n);
  // Upper, lower and a digit, whatever the bytes: the shape real keys have.
  return `Aa1${Array.from(b.subarray(3), (x) => ALNUM[x % ALNUM.length]).join('')}`;
};
function canaries() {
  return {
    openai: `sk-${'proj'}-${random(40)}`,
    anthropic: `sk-${'ant'}-api03-${random(90)}`,
    github: `gh${'p'}_${random(36)}`,
    dbPassword: `pw${random(14)}`,
    envToken: `env-token-${random(20)}`,
  };
}
type Canaries = ReturnType<typeof canaries>;
const AUTHOR = 'Value Train';

/** Every file under `dir` (skipping `skip`), as path and bytes. */
function filesUnder(dir: string, skip: (path: string) => boolean = () => false): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (skip(p)) continue;
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push([p, readFileSync(p)]);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** Assert no canary is in any of these byte sources; returns how many sources were searched. */
function assertNoSecrets(sources: [string, Buffer | string][], c: Canaries): number {
  for (const [where, bytes] of sources) {
    const text = Buffer.isBuffer(bytes) ? bytes.toString('latin1') : bytes;
    for (const [name, secret] of Object.entries(c))
      assert.ok(!text.includes(secret), `${name} reached ${where}`);
  }
  return sources.length;
}

describeOnBackends('secrets never reach the record', () => {
  it('an executor leaks secrets in its output, its artifact, its report and its `vt` calls: none reach the store, its WAL, logs, handoffs, prompts, an export or the API; GIT_AUTHOR_NAME does', {
    timeout: 300_000,
  }, async () => {
    const c = canaries();
    const dir = tempDir('vt-leak-');
    // The scripts are the project's own (committed): the executor's sandbox shows its worktree and the
    // gate's its checkout, not the rest of the temporary folder.
    const scripts = join(dir, 'scripts');
    mkdirSync(scripts);
    // The executor rebuilds the provider keys and the URL password from pieces vt cannot know.
    writeFileSync(
      join(scripts, 'leak.mjs'),
      `import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
const e = process.env;
const key = e.PIECE_OPENAI_A + e.PIECE_OPENAI_B;
const ant = e.PIECE_ANT_A + e.PIECE_ANT_B;
const gh = e.PIECE_GH_A + e.PIECE_GH_B;
const url = 'postgres://app:' + e.PIECE_PW + '@db.internal:5432/app';
console.log('using ' + key + ' against ' + url);
console.error('token ' + e.LEAK_TOKEN + ' and ' + gh);
console.log('author: ' + e.GIT_AUTHOR_NAME);
// A private key over two writes, a moment apart.
process.stdout.write('-----BEGIN OPENSSH PRIVATE KEY-----\\n' + ant + '\\n');
await new Promise((r) => setTimeout(r, 300));
process.stdout.write(ant.split('').reverse().join('') + '\\n-----END OPENSSH PRIVATE KEY-----\\nafter the key\\n');
mkdirSync('out', { recursive: true });
writeFileSync('out/leak.txt', 'config: OPENAI_API_KEY=' + key + ' DATABASE_URL=' + url + '\\n');
execFileSync('vt', ['context', 'add', e.VT_PROJECT, 'note', 'via vt: ' + key + ' ' + url + ' ' + e.LEAK_TOKEN + ' by ' + e.GIT_AUTHOR_NAME], { stdio: 'inherit' });
writeFileSync(e.VT_REPORT, JSON.stringify({
  ticks: ['done'],
  artifacts: [{ id: 'out', path: 'out/leak.txt' }],
  context: [{ kind: 'fact', text: 'report: ' + gh + ' ' + url + ' by ' + e.GIT_AUTHOR_NAME }],
  summary: 'done with ' + key + ' and ' + e.LEAK_TOKEN,
}));
`,
    );
    // The gate's command runs in a checkout of the commit with a scrubbed environment: it prints the file.
    writeFileSync(
      join(scripts, 'gate.mjs'),
      `import { readFileSync } from 'node:fs';\nconsole.log(readFileSync('out/leak.txt', 'utf8'));\n`,
    );
    writeFileSync(
      join(dir, 'vt.yaml'),
      `version: 1
name: leaky
roles:
  - id: worker
    name: Worker
    executor: { kind: command, run: ["{node}", scripts/leak.mjs], timeout_s: 120 }
  - { id: lead, name: Lead }
people:
  lead-1: [lead]
phases:
  - id: leak
    name: Leak
    stage: delivery
    owner: worker
    checklist: [{ id: done, text: Work done }]
    artifacts: [{ id: out, path: out/leak.txt }]
    gates:
      exit:
        - { id: done, kind: checklist }
        - { id: files, kind: artifacts }
        - { id: speak, kind: command, run: ["${process.execPath}", scripts/gate.mjs], timeout_s: 60 }
    next: null
`,
    );
    const g = (...a: string[]) =>
      execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', ...a], {
        stdio: 'ignore',
      });
    g('init', '-q');
    g('add', '-A');
    g('commit', '-qm', 'init');
    const env = {
      NO_COLOR: '1',
      VT_SQLITE_SYNCHRONOUS: 'NORMAL',
      VT_ACTOR: 'lead-1',
      GIT_AUTHOR_NAME: AUTHOR,
      LEAK_TOKEN: c.envToken,
      PIECE_OPENAI_A: c.openai.slice(0, 12),
      PIECE_OPENAI_B: c.openai.slice(12),
      PIECE_ANT_A: c.anthropic.slice(0, 15),
      PIECE_ANT_B: c.anthropic.slice(15),
      PIECE_GH_A: c.github.slice(0, 6),
      PIECE_GH_B: c.github.slice(6),
      PIECE_PW: c.dbPassword,
      ...(await backendEnv(dir)),
    };
    const vt = (args: string[]) => runVt(args, { cwd: dir, env });
    assert.equal((await vt(['project', 'create', 'Leaky', '--id', 'leaky'])).code, 0);
    assert.equal((await vt(['issue', 'add', 'do the work', '--project', 'leaky'])).code, 0);
    const run = spawnCollect([VT_BIN, 'autopilot', '--json'], { cwd: dir, env });
    const done = await run.done;
    assert.equal(done.code, 0, run.err());

    // Everything vt wrote under .vt: the store and its WAL, session logs, handoffs, prompts, alerts.
    // Not the agent's own files: its workspace and the report it wrote (inputs, not the record).
    // (A sandboxed executor writes its report in its session's folder, beside what vt wrote there.)
    const written: [string, Buffer][] = filesUnder(join(dir, '.vt'), (p) =>
      /\/\.vt\/(workspaces|reports)(\/|$)|\/\.vt\/sessions\/[^/]+\/report\.json$/.test(p),
    );
    const target = await folderStore(dir);
    if (testBackend.current === 'sqlite') assert.ok(written.some(([p]) => p.endsWith('vt.db')));
    else written.push(...(await storeContents(target)));
    assert.ok(
      written.some(([, b]) => b.includes('via vt: [redacted]')),
      'the store was searched',
    );
    assert.ok(
      written.some(([p]) => /\/logs\/.*\.log$/.test(p)),
      'a session log',
    );
    assert.ok(
      written.some(([p]) => /\/handoffs\//.test(p)),
      'a handoff',
    );
    assertNoSecrets(written, c);
    // The session log kept the work and the author, not the key's lines.
    const log = written.find(([p]) => /\/logs\/.*\.log$/.test(p))![1].toString();
    assert.match(log, /author: Value Train/);
    assert.match(log, /after the key/);
    assert.match(log, /using \[redacted\] against postgres:\/\/app:\[redacted\]@db\.internal:5432\/app/);

    // What the record holds: the context, the summary, the gate's output — redacted, the author kept.
    const store = await openStore(target);
    const project = await store.db
      .selectFrom('projects')
      .selectAll()
      .where('id', '=', 'leaky')
      .executeTakeFirst();
    assert.equal(project?.status, 'completed', 'the phase passed its gates, the command gate included');
    const events = await store.db
      .selectFrom('events')
      .selectAll()
      .where('project_id', '=', 'leaky')
      .execute();
    const all = events.map((e) => e.payload).join('\n');
    assert.match(
      all,
      /via vt: \[redacted\] postgres:\/\/app:\[redacted\]@db\.internal:5432\/app \[redacted\] by Value Train/,
    );
    assert.match(
      all,
      /report: \[redacted\] postgres:\/\/app:\[redacted\]@db.internal:5432\/app by Value Train/,
    );
    assert.match(
      all,
      /"output_tail":"config: OPENAI_API_KEY=\[redacted\] DATABASE_URL=postgres:\/\/app:\[redacted\]@/,
    );
    assert.match(all, /"preview":"config: OPENAI_API_KEY=\[redacted\]/);
    assert.equal((await verifyStore(store.db)).ok, true);
    await store.close();

    // An export (signed with the log's key, which vt init would have made), and the API over the same store.
    assert.equal((await vt(['audit', 'checkpoint', '--init'])).code, 0);
    const exported = await vt(['audit', 'export', 'audit.jsonl']);
    assert.equal(exported.code, 0, exported.stderr);
    const served = spawnCollect([VT_BIN, 'serve', '--port', '0', '--no-dashboard'], { cwd: dir, env });
    try {
      let base = '';
      for (let i = 0; i < 600 && !base; i++) {
        base = /http:\/\/(localhost|127\.0\.0\.1):\d+/.exec(served.out())?.[0] ?? '';
        if (!base) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(base, `vt serve started: ${served.err()}`);
      const token = (await vt(['token', 'create', '--person', 'lead-1', '--grant', 'viewer'])).stdout.trim();
      const get = async (path: string) =>
        (await fetch(base + path, { headers: { authorization: `Bearer ${token}` } })).text();
      const bodies: [string, string][] = [];
      for (const p of ['/api/projects/leaky', '/api/events?project=leaky&limit=500', '/api/events/leaky/3'])
        bodies.push([p, await get(p)]);
      assert.match(bodies[0]![1], /Value Train/);
      assertNoSecrets([['audit.jsonl', readFileSync(join(dir, 'audit.jsonl'))], ...bodies], c);
    } finally {
      served.child.kill('SIGTERM');
      await served.done;
    }
    rmSync(dir, { recursive: true, force: true });
    rmSync(scripts, { recursive: true, force: true });
  });

  it('a secret set in the environment after start-up (in-process) never reaches the store file or its WAL', async () => {
    const c = canaries();
    const f = await freshEngine();
    await f.engine.createProject(
      { id: 'p', name: 'P', workspace: f.dir, train: f.train },
      { actor: 'lead-1' },
    );
    const t = new Tickets(f.engine);
    await t.addContext('p', { kind: 'note', text: 'before any secret is set' }, { actor: 'lab-1' });
    // Set after the store, the engine and the first redaction: a token a library or a login sets later.
    const name = `LATE_SERVICE_TOKEN_${process.pid}`;
    process.env[name] = c.envToken;
    process.env[`REPLICA_DATABASE_URL_${process.pid}`] = `postgres://app:${c.dbPassword}@replica:5432/app`;
    try {
      await t.addContext(
        'p',
        { kind: 'note', text: `token ${c.envToken}; password ${c.dbPassword}` },
        { actor: 'lab-1' },
      );
      await f.engine.tick('p', 'asked', `asked with ${c.openai} by ${AUTHOR}`, { actor: 'lab-1' });
      await f.engine.reject('p', { actor: 'lead-2' }, { reason: `leaked ${c.github} and ${c.anthropic}` });
      const bytes = await storeContents(f.target);
      if (testBackend.current === 'sqlite')
        assert.ok(
          bytes.some(([p]) => p.endsWith('-wal')),
          'the WAL is searched while it holds the writes',
        );
      assertNoSecrets(bytes, c);
      assert.ok(
        bytes.some(([, b]) => b.includes(AUTHOR)),
        'GIT_AUTHOR_NAME-like text stays',
      );
      const s = await f.engine.state('p');
      assert.equal(s.context[1]!.text, 'token [redacted]; password [redacted]');
      await f.store.close();
      assertNoSecrets(await storeContents(f.target), c);
    } finally {
      delete process.env[name];
      delete process.env[`REPLICA_DATABASE_URL_${process.pid}`];
    }
  });

  it('`vt context add` with a provider key, a URL password and a token from the environment: stored redacted, GIT_AUTHOR_NAME kept', async () => {
    const c = canaries();
    const dir = tempDir('vt-ctx-');
    writeFileSync(join(dir, 'vt.yaml'), readFileSync(MINI, 'utf8'));
    const env = { VT_ACTOR: 'lead-1', GIT_AUTHOR_NAME: AUTHOR, DEPLOY_TOKEN: c.envToken };
    const vt = (args: string[]) => runVt(args, { cwd: dir, env });
    assert.equal((await vt(['project', 'create', 'P', '--id', 'p'])).code, 0);
    const text = `key ${c.openai}, db postgres://app:${c.dbPassword}@db/app, token ${c.envToken}, by ${AUTHOR}`;
    const r = await runVt(['context', 'add', 'p', 'note', text, '--idempotency-key', 'k1'], {
      cwd: dir,
      env,
    });
    assert.equal(r.code, 0, r.stderr);
    const shown = await vt(['context', 'show', 'p']);
    assert.match(
      shown.stdout,
      /key \[redacted\], db postgres:\/\/app:\[redacted\]@db\/app, token \[redacted\], by Value Train/,
    );
    const handoff = await vt(['handoff', 'p']);
    assert.match(handoff.stdout, /by Value Train/);
    assertNoSecrets(
      [
        ...(await storeContents(await folderStore(dir))),
        ['context show', shown.stdout],
        ['handoff', handoff.stdout],
      ],
      c,
    );
    // An error that echoes input echoes no secret either.
    const bad = await vt(['tick', 'p', c.github]);
    assert.equal(bad.code, 2);
    assertNoSecrets([['stderr', bad.stderr]], c);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a provider key pasted through the MCP tool add_context never reaches the store, nor a tool result', async () => {
    const c = canaries();
    const dir = tempDir('vt-mcp-secret-');
    // The agent train's build mode, with add_context allowed.
    const yaml = agentTrain().replace('request_advance]', 'request_advance, add_context]');
    writeFileSync(join(dir, 'vt.yaml'), yaml);
    const file = await folderStore(dir);
    const store = await openStore(file, { synchronous: 'NORMAL' });
    const engine = new Engine({ store, io: nodeIo, clock: new TestClock() });
    const tickets = new Tickets(engine);
    const train = parseTrain(yaml, join(dir, 'vt.yaml'));
    await engine.createProject({ id: 'churn', name: 'Churn', workspace: dir, train }, { actor: 'ana' });
    await tickets.addIssue('churn', { title: 'Train a churn model' }, { actor: 'ana' });
    const claim = await tickets.claimNext('w1', { project: 'churn', leaseMs: 600_000 });
    const ws = join(dir, 'ws');
    mkdirSync(ws, { recursive: true });
    const session = await tickets.startSession(claim!, {
      role: 'lab',
      executor: 'cli-agent',
      workspace: ws,
      log: join(dir, '.vt', 'logs', 'x.log'),
      actor: 'agent:lab',
    });
    const host = await hostSession({
      engine,
      tickets,
      projectId: 'churn',
      session,
      actor: 'agent:lab',
      version: '0',
    });
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [VT_BIN, 'mcp'],
      cwd: dir,
      env: { VT_SESSION_SOCKET: host.socket, VT_SESSION_TOKEN: host.token },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'vt-test', version: '0.0.0' });
    await client.connect(transport);
    try {
      const r = await client.callTool({
        name: 'add_context',
        arguments: { kind: 'decision', text: `use ${c.anthropic} with postgres://u:${c.dbPassword}@db/x` },
      });
      assert.equal(r.isError, undefined, JSON.stringify(r));
      // The state the agent reads back quotes the decision, redacted.
      const state = await client.readResource({ uri: 'vt://state' });
      const text = JSON.stringify(state);
      assert.match(text, /use \[redacted\] with postgres:\/\/u:\[redacted\]@db\/x/);
      assertNoSecrets([...(await storeContents(file)), ['vt://state', text]], c);
    } finally {
      await client.close();
      await host.close();
      await store.close();
    }
    assertNoSecrets(await storeContents(file), c);
    rmSync(dir, { recursive: true, force: true });
  });

  it('HTTP responses and the SSE stream redact text stored before its secret was known', async () => {
    const c = canaries();
    const f = await servedStore();
    try {
      await triageAwaitingApproval(f, 'churn');
      const name = 'LATER_SERVICE_API_KEY';
      // Stored while nobody knew it was a secret (an older vt, or a key issued later).
      await new Tickets(f.engine).addContext(
        'churn',
        { kind: 'note', text: `value ${c.envToken}` },
        { actor: 'lab-1' },
      );
      const start = Number(
        (
          await f.store.db
            .selectFrom('events')
            .select((eb) => eb.fn.max('gseq').as('g'))
            .executeTakeFirst()
        )?.g,
      );
      process.env[name] = c.envToken;
      try {
        const viewer = await f.token('rev-1', { role: 'viewer', project: '*' });
        const approver = await f.token('lead-2', { role: 'approver', project: '*' });
        // A decision through the API with a pasted key: stored redacted.
        const rej = await f.call('POST', '/api/projects/churn/reject', approver, {
          reason: `key ${c.openai} was in the brief`,
        });
        assert.equal(rej.status, 200, rej.text);
        const bodies: [string, string][] = [];
        for (const p of ['/api/projects/churn', '/api/events?project=churn&limit=500', '/api/events/churn/1'])
          bodies.push([p, (await f.call('GET', p, viewer)).text]);
        assert.match(bodies[0]![1], /value \[redacted\]/);
        const sse = await readSse(
          `${f.base}/api/stream`,
          { authorization: `Bearer ${viewer}`, 'last-event-id': String(start - 1) },
          (es) => es.filter((e) => e.event === 'event').length >= 2,
        );
        const streamed = sse.map((e) => e.data).join('\n');
        assert.match(streamed, /value \[redacted\]/);
        // An error that quotes the request quotes no secret.
        const err = await f.call('GET', `/api/projects/${c.github}`, viewer);
        assert.equal(err.status, 400);
        assertNoSecrets([...bodies, ['stream', streamed], ['error', err.text]], { ...c });
        assertNoSecrets(await storeContents(f.target), { ...c, envToken: 'not-in-this-check' });
      } finally {
        delete process.env[name];
      }
    } finally {
      await f.server.close();
      await f.store.close();
    }
  });
});
