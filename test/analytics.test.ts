/**
 * The value report over 1,000 projects generated through the real engine into a real SQLite store
 * (test/fixtures/value-history.ts), checked against a naive computation from the raw event rows
 * written here, independently of src/analytics: every event in memory, plain loops, no shared code.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { valueReport } from '../src/analytics/index.ts';
import type { ValueReport } from '../src/analytics/report.ts';
import { Engine } from '../src/engine/engine.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { openStore, type Store } from '../src/store/store.ts';
import { parseTrain } from '../src/train/loader.ts';
import { DAY, generateHistory, type PlannedProject, writeArtifacts } from './fixtures/value-history.ts';
import { folderStore, ROOT, TestClock, tempDir, testBackend } from './helpers.ts';
import { describeOnBackends } from './pg.ts';

const FLOW = join(ROOT, 'test', 'fixtures', 'flow.yaml');
const START = Date.parse('2026-01-05T00:00:00Z');
const NOW = START + 290 * DAY;

interface Raw {
  project_id: string;
  seq: number;
  ts: number;
  actor: string;
  type: string;
  // biome-ignore lint/suspicious/noExplicitAny: raw payloads, read as the test pleases
  payload: any;
}

// ------------------------------------------------------------------ the naive computation

const isAgent = (actor: string) =>
  actor.startsWith('agent:') || ['autopilot', 'conductor', 'github'].includes(actor);

/** Linear interpolation between closest ranks (the textbook percentile). */
function pct(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const base = Math.floor(pos);
  const rest = pos - base;
  return s[base + 1] !== undefined ? s[base]! + rest * (s[base + 1]! - s[base]!) : s[base]!;
}

interface NaiveStay {
  phase: string;
  enter: number;
  leave: number | null;
  how: string | null;
}

interface NaiveProject {
  id: string;
  team: string | null;
  created: number;
  status: string;
  stays: NaiveStay[];
  /** [ts, status] after each status change. */
  statuses: [number, string][];
  /** [ts, phase, status] after every event. */
  snapshots: [number, string, string][];
  deployedAt: number | null;
  deployments: number;
  events: Raw[];
}

function foldNaive(events: Raw[]): NaiveProject {
  const created = events[0]!;
  const p: NaiveProject = {
    id: created.project_id,
    team: created.payload.team,
    created: created.ts,
    status: 'active',
    stays: [{ phase: created.payload.phase, enter: created.ts, leave: null, how: null }],
    statuses: [[created.ts, 'active']],
    snapshots: [],
    deployedAt: null,
    deployments: 0,
    events,
  };
  let phase: string = created.payload.phase;
  const close = (ts: number, how: string) => {
    const last = p.stays[p.stays.length - 1]!;
    if (last.leave === null) {
      last.leave = ts;
      last.how = how;
    }
  };
  const setStatus = (ts: number, s: string) => {
    p.status = s;
    p.statuses.push([ts, s]);
  };
  for (const e of events) {
    if (e.type === 'phase.advanced') {
      close(e.ts, e.payload.kind);
      if (e.payload.from === 'deployment' && e.payload.kind !== 'rework') {
        p.deployments++;
        if (p.deployedAt === null) p.deployedAt = e.ts;
      }
      phase = e.payload.to;
      p.stays.push({ phase, enter: e.ts, leave: null, how: null });
    } else if (e.type === 'project.completed') {
      close(e.ts, 'complete');
      if (e.payload.from === 'deployment') {
        p.deployments++;
        if (p.deployedAt === null) p.deployedAt = e.ts;
      }
      setStatus(e.ts, 'completed');
    } else if (e.type === 'project.held') setStatus(e.ts, 'on-hold');
    else if (e.type === 'project.resumed') setStatus(e.ts, 'active');
    else if (e.type === 'project.cancelled') {
      close(e.ts, 'cancel');
      setStatus(e.ts, 'cancelled');
    } else if (e.type === 'project.reopened') {
      if (p.status === 'completed' || p.status === 'cancelled') {
        phase = e.payload.phase;
        p.stays.push({ phase, enter: e.ts, leave: null, how: null });
      }
      setStatus(e.ts, 'active');
    }
    p.snapshots.push([e.ts, phase, p.status]);
  }
  return p;
}

function naiveReport(all: Raw[], now: number, scope: { team?: string | null; project?: string } = {}) {
  const byProject = new Map<string, Raw[]>();
  for (const e of all) {
    if (e.ts > now) continue;
    if (!byProject.has(e.project_id)) byProject.set(e.project_id, []);
    byProject.get(e.project_id)!.push(e);
  }
  let projects = [...byProject.values()].map((evs) => foldNaive(evs.sort((a, b) => a.seq - b.seq)));
  if (scope.team !== undefined) projects = projects.filter((p) => p.team === scope.team);
  if (scope.project !== undefined) projects = projects.filter((p) => p.id === scope.project);
  const events = projects.flatMap((p) => p.events);

  const statusCount = (s: string) => projects.filter((p) => p.status === s).length;
  const leadByPhase = new Map<string, number[]>();
  for (const p of projects)
    for (const s of p.stays)
      if (s.leave !== null && s.how !== 'cancel') {
        if (!leadByPhase.has(s.phase)) leadByPhase.set(s.phase, []);
        leadByPhase.get(s.phase)!.push((s.leave - s.enter) / 1000);
      }
  const deployed = projects
    .filter((p) => p.deployedAt !== null)
    .map((p) => ({ created: p.created, s: (p.deployedAt! - p.created) / 1000 }));
  let speedup: number | null = null;
  if (deployed.length >= 8) {
    const sorted = [...deployed].sort((a, b) => a.created - b.created || a.s - b.s);
    const k = Math.ceil(sorted.length / 4);
    speedup =
      pct(
        sorted.slice(0, k).map((d) => d.s),
        0.5,
      ) /
      pct(
        sorted.slice(k).map((d) => d.s),
        0.5,
      );
  }

  // First-pass yield: the first evaluation per (side, phase, visit, gate) that is not waiting for a sign-off.
  const firstSeen = new Set<string>();
  const gates = new Map<string, { evaluated: number; first: number }>();
  for (const e of events.filter((x) => x.type === 'gate.evaluated')) {
    for (const r of e.payload.results) {
      const waiting = r.status === 'fail' && r.kind === 'approval' && r.evidence.rejected_by.length === 0;
      if (waiting) continue;
      const key = `${e.project_id}/${e.payload.side}/${e.payload.phase}/${e.payload.visit}/${r.gate}`;
      if (firstSeen.has(key)) continue;
      firstSeen.add(key);
      const g = `${e.payload.phase}/${e.payload.side}/${r.gate}`;
      if (!gates.has(g)) gates.set(g, { evaluated: 0, first: 0 });
      gates.get(g)!.evaluated++;
      if (r.status === 'pass') gates.get(g)!.first++;
    }
  }

  // Work that stands: a session that ended without succeeding takes its ticks, artifacts and itself out.
  const outcome = new Map<string, string>();
  for (const e of events)
    if (e.type === 'session.ended') outcome.set(`${e.project_id}/${e.payload.session}`, e.payload.outcome);
  const stands = (e: Raw) => {
    const o = outcome.get(`${e.project_id}/${e.payload.session}`);
    return typeof e.payload.session !== 'string' || o === undefined || o === 'succeeded';
  };
  const voided = events.filter(
    (e) => ['checklist.ticked', 'artifact.recorded', 'session.started'].includes(e.type) && !stands(e),
  ).length;

  // Automation: ticks, artifacts, sessions (and tickets a person finished from the inbox).
  const split = (type: string) => {
    const evs = events.filter((e) => e.type === type && stands(e));
    return {
      agent: evs.filter((e) => isAgent(e.actor)).length,
      person: evs.filter((e) => !isAgent(e.actor)).length,
    };
  };
  const sessions = split('session.started');
  for (const p of projects) {
    const ticketStatus = new Map<string, string>();
    for (const e of p.events) {
      if (e.type === 'ticket.queued') ticketStatus.set(e.payload.ticket, 'queued');
      if (e.type === 'ticket.claimed') ticketStatus.set(e.payload.ticket, 'running');
      if (e.type === 'ticket.finished') ticketStatus.set(e.payload.ticket, e.payload.outcome);
      if (e.type === 'ticket.status') {
        if (
          ticketStatus.get(e.payload.ticket) === 'awaiting-human' &&
          e.payload.status === 'awaiting-gates' &&
          !isAgent(e.actor)
        )
          sessions.person++;
        ticketStatus.set(e.payload.ticket, e.payload.status);
      }
    }
  }

  // Projects per person in a window: active at some instant of it; people who acted in it.
  const window = (from: number, to: number) => {
    let active = 0;
    const people = new Set<string>();
    for (const p of projects) {
      const wasActive = p.statuses.some(
        ([ts, s], i) =>
          s === 'active' && ts <= to && (i + 1 >= p.statuses.length || p.statuses[i + 1]![0] >= from),
      );
      if (wasActive) active++;
      for (const e of p.events) if (!isAgent(e.actor) && e.ts >= from && e.ts <= to) people.add(e.actor);
    }
    return { active, people: people.size };
  };
  const firstCreated = Math.min(...projects.map((p) => p.created));
  const current = window(now - 30 * DAY, now);
  const baseline =
    firstCreated + 30 * DAY <= now - 30 * DAY ? window(firstCreated, firstCreated + 30 * DAY) : null;

  // Costs.
  const costPhase = new Map<string, { cost: number; sessions: number; unpriced: number }>();
  const costProject = new Map<string, number>();
  for (const p of projects) {
    const phaseOf = new Map<string, string>();
    for (const e of p.events) {
      if (e.type === 'session.started') phaseOf.set(e.payload.session, e.payload.phase);
      if (e.type === 'session.ended') {
        const ph = phaseOf.get(e.payload.session)!;
        if (!costPhase.has(ph)) costPhase.set(ph, { cost: 0, sessions: 0, unpriced: 0 });
        const c = costPhase.get(ph)!;
        c.sessions++;
        if (e.payload.cost === null) c.unpriced++;
        else c.cost += e.payload.cost;
        costProject.set(p.id, (costProject.get(p.id) ?? 0) + (e.payload.cost ?? 0));
      }
    }
  }
  const promoted = projects.reduce((n, p) => n + p.deployments, 0);

  // Cumulative flow over the last 90 days: the state after the last event before each midnight.
  const lastDay = Math.floor(now / DAY);
  const days = Array.from({ length: 90 }, (_, i) => lastDay - 89 + i);
  const cfd = new Map<string, number[]>();
  const completed = days.map(() => 0);
  const cancelled = days.map(() => 0);
  for (const p of projects) {
    days.forEach((d, i) => {
      const midnight = (d + 1) * DAY;
      const before = p.snapshots.filter(([ts]) => ts < midnight);
      const last = before[before.length - 1];
      if (!last) return;
      const [, phase, status] = last;
      if (status === 'completed') completed[i]!++;
      else if (status === 'cancelled') cancelled[i]!++;
      else {
        if (!cfd.has(phase))
          cfd.set(
            phase,
            days.map(() => 0),
          );
        cfd.get(phase)![i]!++;
      }
    });
  }

  // Work in progress.
  const wip = projects
    .filter((p) => p.status === 'active' || p.status === 'on-hold')
    .map((p) => {
      const stay = p.stays[p.stays.length - 1]!;
      const lead = leadByPhase.get(stay.phase);
      const p85 = lead ? pct(lead, 0.85) : null;
      const age = (now - stay.enter) / 1000;
      return { project: p.id, phase: stay.phase, age, p85, over: p85 !== null && age > p85 };
    })
    .sort((a, b) => b.age - a.age || a.project.localeCompare(b.project));

  // Traceability.
  const decisionTypes = [
    'approval.recorded',
    'gate.waived',
    'project.held',
    'project.resumed',
    'project.cancelled',
    'project.reopened',
  ];
  const decisions = events.filter((e) => decisionTypes.includes(e.type));
  const artifacts = events.filter((e) => e.type === 'artifact.recorded' && stands(e));
  const hex64 = (x: unknown) => typeof x === 'string' && /^[0-9a-f]{64}$/.test(x);
  // An artifact's hash is in a recorded commit: its own, or one its session recorded after it.
  const isCommit = (x: unknown) => typeof x === 'string' && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(x);
  const lastCommit = new Map<string, number>();
  for (const e of events)
    if (e.type === 'workspace.committed' && e.payload.session !== null)
      lastCommit.set(`${e.project_id}/${e.payload.session}`, e.seq);
  const inCommit = (a: Raw) =>
    isCommit(a.payload.commit) ||
    !('commit' in a.payload) ||
    (lastCommit.get(`${a.project_id}/${a.payload.session}`) ?? 0) > a.seq;

  return {
    events: events.length,
    counts: {
      total: projects.length,
      active: statusCount('active'),
      on_hold: statusCount('on-hold'),
      completed: statusCount('completed'),
      cancelled: statusCount('cancelled'),
    },
    leadByPhase,
    deployed,
    speedup,
    gates,
    automation: { ticks: split('checklist.ticked'), artifacts: split('artifact.recorded'), sessions },
    voided,
    current,
    baseline,
    costPhase,
    costProject,
    promoted,
    cfd,
    completed,
    cancelled,
    days,
    wip,
    decisions: {
      total: decisions.length,
      evidence: decisions.filter((e) => hex64(e.payload.digest)).length,
      signed: decisions.filter((e) => e.payload.signature).length,
    },
    artifacts: {
      total: artifacts.length,
      evidence: artifacts.filter((e) => hex64(e.payload.sha256) && inCommit(e)).length,
      signed: artifacts.filter((e) => e.payload.signature).length,
    },
    projects,
  };
}

// ------------------------------------------------------------------ comparisons

const close = (got: number | null | undefined, want: number, what: string) => {
  assert.ok(got !== null && got !== undefined, `${what}: missing (want ${want})`);
  assert.ok(Math.abs(got - want) <= 1e-9 * Math.max(1, Math.abs(want)), `${what}: ${got} != ${want}`);
};

function assertMatches(r: ValueReport, n: ReturnType<typeof naiveReport>, now: number): void {
  assert.equal(r.events, n.events);
  assert.deepEqual(r.projects, n.counts);

  // Lead time per phase: every box-plot statistic.
  for (const ph of r.lead_time.phases) {
    const d = n.leadByPhase.get(ph.phase) ?? [];
    assert.equal(ph.visits, d.length, `${ph.phase} visits`);
    if (!d.length) {
      assert.equal(ph.stats, null);
      continue;
    }
    const s = ph.stats!;
    close(s.min, Math.min(...d), `${ph.phase} min`);
    close(s.max, Math.max(...d), `${ph.phase} max`);
    close(s.q1, pct(d, 0.25), `${ph.phase} q1`);
    close(s.median, pct(d, 0.5), `${ph.phase} median`);
    close(s.q3, pct(d, 0.75), `${ph.phase} q3`);
    close(s.p85, pct(d, 0.85), `${ph.phase} p85`);
    close(s.p95, pct(d, 0.95), `${ph.phase} p95`);
    close(s.mean, d.reduce((a, b) => a + b, 0) / d.length, `${ph.phase} mean`);
    const iqr = s.q3 - s.q1;
    const inside = d.filter((x) => x >= s.q1 - 1.5 * iqr && x <= s.q3 + 1.5 * iqr);
    assert.equal(s.outliers, d.length - inside.length);
    close(s.whisker_high, Math.max(...inside), `${ph.phase} whisker`);
  }
  assert.deepEqual(
    new Set(r.lead_time.phases.filter((p) => p.visits).map((p) => p.phase)),
    new Set(n.leadByPhase.keys()),
  );

  // Lead time to deployment.
  const td = r.lead_time.to_deployment;
  const ds = n.deployed.map((d) => d.s);
  assert.equal(td.deployed, ds.length);
  if (ds.length) {
    close(td.p50_s, pct(ds, 0.5), 'deploy p50');
    close(td.p85_s, pct(ds, 0.85), 'deploy p85');
    close(td.p95_s, pct(ds, 0.95), 'deploy p95');
  }
  if (n.speedup === null) assert.equal(td.speedup, null);
  else close(td.speedup, n.speedup, 'speed-up');

  // First-pass gate yield, per gate and overall.
  assert.equal(r.gate_yield.gates.length, n.gates.size);
  for (const g of r.gate_yield.gates) {
    const want = n.gates.get(`${g.phase}/${g.side}/${g.gate}`);
    assert.ok(want, `gate ${g.phase}/${g.gate}`);
    assert.equal(g.evaluated, want.evaluated, `${g.phase}/${g.gate} evaluated`);
    assert.equal(g.first_pass, want.first, `${g.phase}/${g.gate} first pass`);
  }
  const ev = [...n.gates.values()].reduce((a, g) => a + g.evaluated, 0);
  const fp = [...n.gates.values()].reduce((a, g) => a + g.first, 0);
  close(r.gate_yield.rate, fp / ev, 'first-pass yield');

  // Automation.
  for (const k of ['ticks', 'artifacts', 'sessions'] as const) {
    assert.equal(r.automation[k].agent, n.automation[k].agent, `${k} by agents`);
    assert.equal(r.automation[k].person, n.automation[k].person, `${k} by people`);
  }
  const a = n.automation;
  const agents = a.ticks.agent + a.artifacts.agent + a.sessions.agent;
  close(
    r.automation.rate,
    agents / (agents + a.ticks.person + a.artifacts.person + a.sessions.person),
    'automation',
  );

  // Projects per person.
  assert.equal(r.people.current.active_projects, n.current.active);
  assert.equal(r.people.current.people, n.current.people);
  if (n.baseline) {
    assert.equal(r.people.baseline?.active_projects, n.baseline.active);
    assert.equal(r.people.baseline?.people, n.baseline.people);
    close(
      r.people.growth,
      n.current.active / n.current.people / (n.baseline.active / n.baseline.people),
      'growth',
    );
  } else assert.equal(r.people.baseline, null);

  // Cost per phase, per project, per promoted model.
  for (const c of r.cost.phases) {
    const want = n.costPhase.get(c.phase)!;
    close(c.cost, want.cost, `cost ${c.phase}`);
    assert.equal(c.sessions, want.sessions);
    assert.equal(c.unpriced, want.unpriced);
  }
  assert.equal(r.cost.phases.length, n.costPhase.size);
  for (const c of r.cost.projects) close(c.cost, n.costProject.get(c.project) ?? 0, `cost ${c.project}`);
  assert.equal(r.cost.projects.length, n.projects.length);
  assert.equal(r.cost.promoted_models, n.promoted);
  const total = [...n.costPhase.values()].reduce((s, c) => s + c.cost, 0);
  close(r.cost.total.cost, total, 'total cost');
  if (n.promoted) close(r.cost.per_promoted_model, total / n.promoted, 'cost per promoted model');

  // Cumulative flow, day by day.
  const f = r.flow.cumulative;
  assert.equal(f.days[f.days.length - 1], new Date(now).toISOString().slice(0, 10));
  assert.deepEqual(
    f.days,
    n.days.map((d) => new Date(d * DAY).toISOString().slice(0, 10)),
  );
  f.phases.forEach((ph, i) => {
    assert.deepEqual(f.counts[i], n.cfd.get(ph) ?? n.days.map(() => 0), `flow of ${ph}`);
  });
  assert.deepEqual(f.completed, n.completed);
  assert.deepEqual(f.cancelled, n.cancelled);

  // Ageing work in progress.
  assert.deepEqual(
    r.flow.wip.map((w) => [w.project, w.phase, w.over_p85]),
    n.wip.map((w) => [w.project, w.phase, w.over]),
  );
  r.flow.wip.forEach((w, i) => {
    close(w.age_s, n.wip[i]!.age, `age of ${w.project}`);
  });

  // Traceability.
  const t = r.traceability;
  assert.equal(t.decisions.total, n.decisions.total);
  assert.equal(t.decisions.evidence, n.decisions.evidence);
  assert.equal(t.decisions.signed, n.decisions.signed);
  assert.deepEqual(
    [t.artifacts.total, t.artifacts.evidence, t.artifacts.signed],
    [n.artifacts.total, n.artifacts.evidence, n.artifacts.signed],
  );
  close(
    t.rate,
    (n.decisions.evidence + n.artifacts.evidence) / (n.decisions.total + n.artifacts.total),
    'traceability',
  );
}

// ------------------------------------------------------------------ the tests

// 1,000 projects on SQLite; on PostgreSQL, where each generated command is a round trip, 250 (the
// thresholds below that count projects scale with it).
describeOnBackends('value report over generated projects', () => {
  let projects = 1000;
  const scaled = (n: number) => Math.round((n * projects) / 1000);
  let dir = '';
  let store: Store;
  let raw: Raw[] = [];
  let planned: PlannedProject[] = [];

  before(async () => {
    projects = testBackend.current === 'postgres' ? 250 : 1000;
    dir = tempDir('vt-value-');
    store = await openStore(await folderStore(dir), { synchronous: 'NORMAL' });
    const train = parseTrain(readFileSync(FLOW, 'utf8'), FLOW);
    planned = await generateHistory(store, train, dir, {
      projects,
      seed: 20260105,
      start: START,
      span: 290 * DAY,
      now: NOW,
    });
    raw = (await store.db.selectFrom('events').selectAll().orderBy('gseq').execute()).map((e) => ({
      project_id: e.project_id,
      seq: e.seq,
      ts: Date.parse(e.ts),
      actor: e.actor,
      type: e.type,
      payload: JSON.parse(e.payload),
    }));
  });
  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the history has what the figures need: teams, agents and people, rework, failures, costs', () => {
    const types = new Set(raw.map((e) => e.type));
    for (const t of [
      'session.ended',
      'gate.waived',
      'project.held',
      'project.cancelled',
      'approval.recorded',
      'ticket.claimed',
    ])
      assert.ok(types.has(t), `no ${t} in the history`);
    assert.ok(raw.some((e) => e.type === 'phase.advanced' && e.payload.kind === 'rework'));
    assert.ok(raw.some((e) => e.type === 'gate.evaluated' && !e.payload.passed));
    assert.ok(raw.some((e) => e.type === 'approval.recorded' && e.payload.decision === 'reject'));
    assert.ok(raw.some((e) => e.actor.startsWith('agent:')) && raw.some((e) => e.actor === 'ana'));
    // Under visit-scoped evidence: sessions commit their work, people's work is committed too, a
    // crashed session's work is voided, a person's `vt done` can fail, and a person can retry a ticket.
    assert.ok(raw.some((e) => e.type === 'workspace.committed' && e.payload.session !== null));
    assert.ok(raw.some((e) => e.type === 'workspace.committed' && e.payload.session === null));
    assert.ok(raw.some((e) => e.type === 'session.ended' && e.payload.outcome === 'failed'));
    assert.ok(raw.some((e) => e.type === 'gate.evaluated' && !e.payload.passed && !isAgent(e.actor)));
    assert.ok(raw.some((e) => e.type === 'ticket.status' && e.payload.reason === 'retried by a person'));
    assert.equal(new Set(raw.map((e) => e.project_id)).size, projects);
    assert.ok(raw.length > scaled(30_000), `${raw.length} events`);
  });

  test('the portfolio report matches the naive computation from the raw events', async () => {
    const r = await valueReport(store.db, { now: new Date(NOW) });
    const n = naiveReport(raw, NOW);
    assertMatches(r, n, NOW);
    // Not vacuous: every figure had something to count.
    assert.ok(
      r.projects.active > scaled(20) &&
        r.projects.completed > scaled(500) &&
        r.projects.cancelled > scaled(5),
      JSON.stringify(r.projects),
    );
    assert.ok(r.flow.wip.length > scaled(20) && r.cost.total.cost > 0 && r.people.baseline !== null);
    assert.ok(r.gate_yield.gates.some((g) => g.first_pass < g.evaluated));
    assert.ok(
      r.automation.sessions.person > 0 && r.automation.ticks.agent > 0 && r.automation.ticks.person > 0,
    );
    // Some work was voided with its session, and is not counted.
    assert.ok(n.voided > 0);
    const agentTicks = raw.filter((e) => e.type === 'checklist.ticked' && isAgent(e.actor) && e.ts <= NOW);
    assert.ok(r.automation.ticks.agent < agentTicks.length);
    // JSON-serialisable as it stands: nothing lost or changed in a round trip.
    assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
  });

  test('team and project scopes match the naive computation restricted to them', async () => {
    for (const team of ['beta', 'gamma']) {
      const r = await valueReport(store.db, { team, now: new Date(NOW) });
      assert.deepEqual(r.scope, { kind: 'team', team, project: null });
      assertMatches(r, naiveReport(raw, NOW, { team }), NOW);
    }
    const open = planned.find(
      (p) => p.team === 'alpha' && p.created < NOW - 5 * DAY && (p.deployAt ?? 0) > NOW,
    );
    assert.ok(open);
    const r = await valueReport(store.db, { project: open.id, now: new Date(NOW) });
    assert.equal(r.projects.total, 1);
    assertMatches(r, naiveReport(raw, NOW, { project: open.id }), NOW);
    assert.equal(r.forecasts.length, 1);
    assert.equal(r.forecasts[0]!.target, 'deployment');
  });

  test('the page size does not change the report: projects split across pages are read whole', async () => {
    const small = await valueReport(store.db, { team: 'gamma', now: new Date(NOW), pageSize: 7 });
    assert.deepEqual(small, await valueReport(store.db, { team: 'gamma', now: new Date(NOW) }));
  });

  test('a report as of an earlier time ignores later events', async () => {
    const then = NOW - 100 * DAY;
    const r = await valueReport(store.db, { now: new Date(then) });
    assertMatches(r, naiveReport(raw, then), then);
    assert.ok(r.projects.total < projects);
  });

  test('every open project gets a forecast: ordered percentiles, after now, towards deployment until deployed', async () => {
    const r = await valueReport(store.db, { now: new Date(NOW) });
    const open = naiveReport(raw, NOW).projects.filter(
      (p) => p.status === 'active' || p.status === 'on-hold',
    );
    assert.deepEqual(r.forecasts.map((f) => f.project).sort(), open.map((p) => p.id).sort());
    for (const f of r.forecasts) {
      const p = open.find((x) => x.id === f.project)!;
      assert.equal(f.target, p.deployedAt === null ? 'deployment' : 'completion', f.project);
      assert.ok(f.p50 && f.p85 && f.p90, `${f.project}: ${f.sentence}`);
      const [a, b, c] = [Date.parse(f.p50), Date.parse(f.p85), Date.parse(f.p90)];
      assert.ok(NOW <= a && a <= b && b <= c, `${f.project}: ${f.p50} ${f.p85} ${f.p90}`);
      assert.match(f.sentence, /^85% chance by \d{1,2} [A-Z][a-z]+( \d{4})?$/);
    }
  });

  test('bad options are refused with a stable code', async () => {
    await assert.rejects(valueReport(store.db, { project: 'nope' }), { code: 'NOT_FOUND' });
    await assert.rejects(valueReport(store.db, { team: 'nobody' }), { code: 'NOT_FOUND' });
    await assert.rejects(valueReport(store.db, { team: 'beta', project: 'p00001' }), { code: 'USAGE' });
    await assert.rejects(valueReport(store.db, { windowDays: 0 }), { code: 'BAD_INPUT' });
    await assert.rejects(valueReport(store.db, { trials: 1.5 }), { code: 'BAD_INPUT' });
    await assert.rejects(valueReport(store.db, { now: new Date('not a date') }), { code: 'BAD_INPUT' });
  });
});

describeOnBackends('work that stands as evidence', () => {
  test("a failed session's work stops counting; an artifact is traceable once its hash is in a recorded commit", async (t) => {
    const dir = tempDir('vt-standing-');
    const store = await openStore(await folderStore(dir), { synchronous: 'NORMAL' });
    t.after(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    writeArtifacts(dir);
    const train = parseTrain(readFileSync(FLOW, 'utf8'), FLOW);
    const clock = new TestClock(START);
    const engine = new Engine({ store, io: nodeIo, clock });
    const tickets = new Tickets(engine);
    const id = 'standing';
    await engine.createProject(
      { id, name: 'Standing', team: 'solo', workspace: dir, train },
      { actor: 'ana' },
    );
    await tickets.addIssue(id, { title: 'Triage it', priority: 'now' }, { actor: 'ana' });
    const report = () => valueReport(store.db, { project: id, now: new Date(clock.t) });
    const agent = { actor: 'agent:lead' };
    const run = async () => {
      const claim = await tickets.claimNext('w1', { project: id, leaseMs: DAY });
      assert.ok(claim);
      const session = await tickets.startSession(claim, {
        role: 'lead',
        executor: 'command',
        workspace: dir,
        log: 'session.log',
        ...agent,
      });
      return { claim, session, as: { ...agent, session } };
    };

    // A session ticks both items and records the brief, then crashes: none of it stands.
    const first = await run();
    await engine.tick(id, 'asked', null, first.as);
    await engine.tick(id, 'sized', null, first.as);
    await engine.addArtifact(id, 'brief', undefined, first.as);
    let r = await report();
    assert.deepEqual([r.automation.ticks.agent, r.automation.artifacts.agent], [2, 1], 'open: it stands');
    assert.deepEqual([r.traceability.artifacts.total, r.traceability.artifacts.evidence], [1, 0]);
    const failed = { outcome: 'failed' as const, exitCode: 1, summary: 'crashed', cost: 0.5 };
    await tickets.endSession(id, first.session, failed, agent);
    await tickets.failAttempt(first.claim, 'crashed', { actor: 'autopilot' }, 1000);
    r = await report();
    assert.deepEqual(
      [r.automation.ticks, r.automation.artifacts, r.automation.sessions].map((x) => [x.agent, x.person]),
      [
        [0, 0],
        [0, 0],
        [0, 0],
      ],
    );
    assert.equal(r.traceability.artifacts.total, 0);
    assert.deepEqual([r.cost.total.sessions, r.cost.total.cost], [1, 0.5], 'a failed session still cost');

    // The next session records the brief: traceable only once its commit is recorded.
    clock.t += 60_000;
    const second = await run();
    await engine.tick(id, 'asked', null, second.as);
    await engine.addArtifact(id, 'brief', undefined, second.as);
    r = await report();
    assert.deepEqual([r.traceability.artifacts.total, r.traceability.artifacts.evidence], [1, 0]);
    const c = await nodeIo.snapshot(dir, dir, ['docs/brief.md']);
    await engine.recordCommit(
      id,
      { session: second.session, ticket: second.claim.ticket.id, ...c },
      second.as,
    );
    await tickets.endSession(id, second.session, { ...failed, outcome: 'succeeded', cost: 0.25 }, agent);
    r = await report();
    assert.deepEqual([r.traceability.artifacts.total, r.traceability.artifacts.evidence], [1, 1]);
    assert.deepEqual([r.automation.ticks.agent, r.automation.sessions.agent], [1, 1]);

    // A person's work is committed before it is recorded: traceable at once.
    await engine.tick(id, 'sized', null, { actor: 'ana' });
    await engine.addArtifact(id, 'brief', undefined, { actor: 'ana', workspace: dir });
    r = await report();
    assert.deepEqual([r.automation.ticks.agent, r.automation.ticks.person], [1, 1]);
    assert.deepEqual([r.automation.artifacts.agent, r.automation.artifacts.person], [1, 1]);
    assert.deepEqual([r.traceability.artifacts.total, r.traceability.artifacts.evidence], [2, 2]);
    assert.equal(r.automation.rate, 3 / 5);
    assert.deepEqual([r.cost.total.sessions, r.cost.total.cost], [2, 0.75]);
  });
});
