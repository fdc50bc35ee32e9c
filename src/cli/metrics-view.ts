import type { TargetLine, ValueReport } from '../analytics/report.ts';
import { type Io, paint, safe, table } from './output.ts';

/*
 * `vt metrics` as text. On a terminal: a heading per section, aligned tables within 80 columns,
 * humane units, long lists cut to the first rows. Piped: one tab-separated row per figure, the
 * section first, raw numbers (seconds, shares 0..1, dollars) and ISO-8601 times, nothing cut.
 */

const TERMINAL_ROWS = 10;

interface Section {
  key: string;
  title: string;
  headers: string[];
  /** On a terminal, show at most this many rows (unless --wide). */
  limit?: number;
  /** Rows for a terminal (humane) and for a pipe (raw), in the same order. */
  rows: { tty: string[]; raw: (string | number | null)[] }[];
  /** Piped rows instead of `raw`, when the pipe wants another shape. */
  long?: (string | number)[][];
}

/** Seconds as "45m", "20h" or "3.2d". */
export function duration(s: number | null | undefined): string {
  if (s === null || s === undefined) return '–';
  if (s < 3600) return `${Math.round(s / 60)}m`;
  if (s < 2 * 86_400) return `${(s / 3600).toFixed(1)}h`;
  return `${(s / 86_400).toFixed(1)}d`;
}

const share = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)}%`);
const money = (x: number | null) => (x === null ? '–' : `$${x.toFixed(2)}`);
const raw = (x: number | null | undefined) => (x === null || x === undefined ? '' : x);

const VERDICT: Record<
  TargetLine['status'],
  { glyph: string; word: string; colour: 'green' | 'red' | 'gray' }
> = {
  met: { glyph: '✓', word: 'met', colour: 'green' },
  missed: { glyph: '✗', word: 'missed', colour: 'red' },
  unknown: { glyph: '?', word: 'unknown', colour: 'gray' },
};

const SHORT: Record<TargetLine['id'], string> = {
  'deployment-speed': 'time to deployment (speed-up)',
  'first-pass-yield': 'first-pass gate yield',
  automation: 'routine work by agents',
  'projects-per-person': 'projects per person (growth)',
  traceability: 'traceable to evidence',
  signatures: 'signed by their author',
};

function sections(r: ValueReport, color: boolean): Section[] {
  const v = (t: TargetLine) => {
    if (t.value === null) return '–';
    return t.unit === 'share' ? share(t.value) : `${t.value.toFixed(2)}×`;
  };
  const out: Section[] = [];
  out.push({
    key: 'target',
    title: 'promises',
    headers: ['promise', 'value', 'target', 'status'],
    rows: r.targets.map((t) => {
      const s = VERDICT[t.status];
      return {
        tty: [
          SHORT[t.id],
          v(t),
          t.unit === 'share' ? share(t.target) : `${t.target}×`,
          paint(color, s.colour, `${s.glyph} ${s.word}`),
        ],
        raw: [t.id, raw(t.value), t.target, t.status, t.detail],
      };
    }),
  });
  const d = r.lead_time.to_deployment;
  out.push({
    key: 'lead-time',
    title: 'lead time per phase (per visit)',
    headers: ['phase', 'visits', 'p50', 'p85', 'p95', 'max'],
    rows: [
      ...r.lead_time.phases.map((p) => ({
        tty: [
          p.phase,
          String(p.visits),
          duration(p.stats?.median),
          duration(p.stats?.p85),
          duration(p.stats?.p95),
          duration(p.stats?.max),
        ],
        raw: [
          p.phase,
          p.visits,
          raw(p.stats?.median),
          raw(p.stats?.p85),
          raw(p.stats?.p95),
          raw(p.stats?.max),
        ],
      })),
      {
        tty: [
          `→ ${r.deployment_phases.join(', ') || 'deployment'}`,
          String(d.deployed),
          duration(d.p50_s),
          duration(d.p85_s),
          duration(d.p95_s),
          duration(d.stats?.max),
        ],
        raw: ['(to-deployment)', d.deployed, raw(d.p50_s), raw(d.p85_s), raw(d.p95_s), raw(d.stats?.max)],
      },
    ],
  });
  out.push({
    key: 'gate',
    title: 'first-pass yield per gate, lowest first',
    headers: ['phase', 'gate', 'verdicts', 'first pass', 'yield'],
    limit: TERMINAL_ROWS,
    rows: [...r.gate_yield.gates]
      .sort((x, y) => (x.rate ?? 2) - (y.rate ?? 2))
      .map((g) => {
        const gate = g.side === 'entry' ? `${g.gate} (entry)` : g.gate;
        const low = g.rate !== null && g.rate < r.gate_yield.target;
        return {
          tty: [
            g.phase,
            gate,
            String(g.evaluated),
            String(g.first_pass),
            low ? paint(color, 'red', `✗ ${share(g.rate)}`) : `✓ ${share(g.rate)}`,
          ],
          raw: [g.phase, g.side, g.gate, g.evaluated, g.first_pass, raw(g.rate)],
        };
      }),
  });
  const a = r.automation;
  out.push({
    key: 'automation',
    title: 'who did the work',
    headers: ['work', 'agents', 'people', 'by agents'],
    rows: (['ticks', 'artifacts', 'sessions'] as const).map((k) => ({
      tty: [k, String(a[k].agent), String(a[k].person), share(a[k].rate)],
      raw: [k, a[k].agent, a[k].person, raw(a[k].rate)],
    })),
  });
  const p = r.people;
  out.push({
    key: 'people',
    title: 'projects per person',
    headers: ['window', 'from', 'active projects', 'people', 'per person'],
    rows: [['now', p.current] as const, ...(p.baseline ? ([['first', p.baseline]] as const) : [])].map(
      ([name, w]) => ({
        tty: [
          name,
          w.from.slice(0, 10),
          String(w.active_projects),
          String(w.people),
          w.projects_per_person === null ? '–' : w.projects_per_person.toFixed(2),
        ],
        raw: [name, w.from, w.to, w.active_projects, w.people, raw(w.projects_per_person)],
      }),
    ),
  });
  const c = r.cost;
  out.push({
    key: 'cost',
    title: `cost (${c.currency})`,
    headers: ['per', 'sessions', 'unpriced', 'cost'],
    rows: [
      ...c.phases.map((x) => ({
        tty: [`phase ${x.phase}`, String(x.sessions), String(x.unpriced), money(x.cost)],
        raw: ['phase', x.phase, x.sessions, x.unpriced, x.cost],
      })),
      {
        tty: ['all', String(c.total.sessions), String(c.total.unpriced), money(c.total.cost)],
        raw: ['all', '', c.total.sessions, c.total.unpriced, c.total.cost],
      },
      {
        tty: [`promoted model (${c.promoted_models})`, '', '', money(c.per_promoted_model)],
        raw: ['promoted-model', '', c.promoted_models, '', raw(c.per_promoted_model)],
      },
    ],
  });
  out.push({
    key: 'cost-project',
    title: 'cost per project, highest first',
    headers: ['project', 'sessions', 'unpriced', 'cost'],
    limit: TERMINAL_ROWS,
    rows: c.projects.map((x) => ({
      tty: [x.project, String(x.sessions), String(x.unpriced), money(x.cost)],
      raw: [x.project, x.sessions, x.unpriced, x.cost],
    })),
  });
  const f = r.flow.cumulative;
  // On a terminal, weekly points ending today; piped, every day.
  const points = f.days
    .map((_, i) => i)
    .filter((i) => (f.days.length - 1 - i) % 7 === 0)
    .slice(-6);
  const flowRows = [
    ...f.phases.map((ph, i) => [ph, f.counts[i]!] as const),
    ['(completed)', f.completed] as const,
    ['(cancelled)', f.cancelled] as const,
  ];
  out.push({
    key: 'flow',
    title: 'cumulative flow: projects at the end of the day',
    headers: ['phase', ...points.map((i) => f.days[i]!.slice(5))],
    rows: flowRows.map(([ph, counts]) => ({
      tty: [ph, ...points.map((i) => String(counts[i]))],
      raw: [ph, ...counts],
    })),
    // Piped: one row per day and phase (long form), so each count carries its day.
    long: f.days.flatMap((day, i) => flowRows.map(([ph, counts]) => [day, ph, counts[i]!])),
  });
  out.push({
    key: 'wip',
    title: 'work in progress, oldest first',
    headers: ['project', 'phase', 'age', 'phase p85', 'status'],
    limit: TERMINAL_ROWS,
    rows: r.flow.wip.map((w) => ({
      tty: [
        w.project,
        w.phase,
        duration(w.age_s),
        duration(w.phase_p85_s),
        w.over_p85
          ? paint(color, 'yellow', '⚠ over p85')
          : w.status === 'on-hold'
            ? '⏸ on hold'
            : '● in flow',
      ],
      raw: [
        w.project,
        w.phase,
        w.visit,
        w.status,
        w.entered_at,
        w.age_s,
        raw(w.phase_p85_s),
        String(w.over_p85),
      ],
    })),
  });
  out.push({
    key: 'forecast',
    title: 'forecasts',
    headers: ['project', 'until', 'p50', 'p90', 'forecast'],
    limit: TERMINAL_ROWS,
    rows: r.forecasts.map((x) => ({
      tty: [x.project, x.target, x.p50?.slice(0, 10) ?? '–', x.p90?.slice(0, 10) ?? '–', x.sentence],
      raw: [x.project, x.target, x.phase, x.p50 ?? '', x.p85 ?? '', x.p90 ?? '', x.sentence],
    })),
  });
  const t = r.traceability;
  out.push({
    key: 'trace',
    title: 'traceability',
    headers: ['record', 'count', 'with evidence', 'signed'],
    rows: [
      ...Object.entries(t.decisions.kinds)
        .filter(([, k]) => k.total > 0)
        .map(([what, k]) => ({
          tty: [what, String(k.total), String(k.evidence), String(k.signed)],
          raw: [what, k.total, k.evidence, k.signed],
        })),
      {
        tty: [
          'artifact',
          String(t.artifacts.total),
          String(t.artifacts.evidence),
          String(t.artifacts.signed),
        ],
        raw: ['artifact', t.artifacts.total, t.artifacts.evidence, t.artifacts.signed],
      },
    ],
  });
  return out;
}

/** Write the report to `io`: a terminal gets tables, a pipe tab-separated rows; hints go to stderr. */
export function printMetrics(io: Io, r: ValueReport, opts: { color: boolean; wide?: boolean }): void {
  const secs = sections(r, opts.color);
  if (!io.isTTY) {
    for (const s of secs) {
      const rows = s.long ?? s.rows.map((row) => row.raw);
      io.out(
        table(
          io,
          [],
          rows.map((row) => [s.key, ...row.map((x) => String(x ?? ''))]),
        ),
      );
    }
    return;
  }
  const scope =
    r.scope.kind === 'portfolio'
      ? 'portfolio'
      : r.scope.kind === 'team'
        ? `team ${r.scope.team}`
        : `project ${r.scope.project}${r.scope.team ? ` (team ${r.scope.team})` : ''}`;
  const n = r.projects;
  io.out(
    `${paint(opts.color, 'bold', `Value · ${safe(scope).replace(/\s+/g, ' ')}`)} · as of ${r.generated_at.slice(0, 10)}\n`,
  );
  io.out(
    `${n.total} project${n.total === 1 ? '' : 's'}: ${n.active} active, ${n.on_hold} on hold, ${n.completed} completed, ${n.cancelled} cancelled\n`,
  );
  for (const s of secs) {
    if (!s.rows.length) continue;
    const rows = opts.wide || s.limit === undefined ? s.rows : s.rows.slice(0, s.limit);
    io.out(`\n${paint(opts.color, 'bold', s.title)}\n`);
    io.out(
      table(
        io,
        s.headers,
        rows.map((row) => row.tty),
        opts.wide ? { wide: true } : {},
      ),
    );
    if (rows.length < s.rows.length)
      io.err(
        `${paint(opts.color, 'gray', `… ${s.rows.length - rows.length} more (--wide, --json or a pipe for all)`)}\n`,
      );
  }
}
