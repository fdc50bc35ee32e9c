import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { valueReport } from '../src/analytics/index.ts';
import { canonicalJson, sha256 } from '../src/canonical.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { servedStore } from './api-helpers.ts';
import { ROOT, runVt, tempDir, writeFile } from './helpers.ts';
import { describeOnBackends } from './pg.ts';
import { makeKeys, signedTrainText } from './signing-helpers.ts';

/*
 * The dashboard in a real Chromium against a real `vt serve`: the portfolio with several projects,
 * an approval from the inbox with the keyboard, confirmed by a passkey (a CDP virtual
 * authenticator), and the project moving on the board without a reload; screenshots of every page
 * and axe-core on each.
 */

// The browser globals the page functions below use (they run in Chromium, not in Node).
declare const window: Record<string, unknown>;
declare const document: {
  activeElement: { getAttribute(name: string): string | null } | null;
  querySelectorAll(
    selector: string,
  ): Iterable<{ getAttribute(name: string): string | null; textContent: string | null }>;
};

const CHROMIUM = '/usr/bin/chromium';
const DIST = join(ROOT, 'web', 'dist');
const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const WAIT = 60_000;

type Served = Awaited<ReturnType<typeof servedStore>>;

/** Build the dashboard as `npm pack` does; the built files are never committed. */
function buildDashboard(): void {
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', 'web'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** Run the autopilot's half for a ticket in-process: claim, work as lab-1 in a session, finish. */
async function workTicket(f: Served, project: string) {
  const tickets = new Tickets(f.engine);
  const claim = await tickets.claimNext('worker-1', { project, leaseMs: 60_000 });
  assert.ok(claim, `a ticket of ${project} to claim`);
  if (claim.mode === 'run') {
    const session = await tickets.startSession(claim, {
      role: 'lead',
      executor: 'command',
      workspace: f.dir,
      log: 'log.txt',
      actor: 'lab-1',
    });
    for (const item of ['asked', 'sized']) await f.engine.tick(project, item, null, { actor: 'lab-1' });
    writeFile(f.dir, 'docs/brief.md', '# Brief\n');
    await f.engine.addArtifact(project, 'brief', undefined, { actor: 'lab-1' });
    const done = { outcome: 'succeeded' as const, exitCode: 0, summary: 'done', cost: 0.42 };
    await tickets.endSession(project, session, done, { actor: 'lab-1' });
  }
  return tickets.finish(claim, { actor: 'autopilot' }, 10);
}

async function axeCheck(page: Page, name: string) {
  await page.evaluate(`${AXE};0`);
  const result = (await page.evaluate(() =>
    (window as unknown as { axe: { run: (ctx: unknown, o: unknown) => Promise<unknown> } }).axe.run(
      document,
      {
        runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
      },
    ),
  )) as { violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] };
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map(
      (v) =>
        `${v.id} (${v.impact}): ${v.help} at ${v.nodes
          .slice(0, 3)
          .map((n) => n.target.join(' '))
          .join(', ')}`,
    ),
    [],
    `axe on ${name}`,
  );
}

describe('dashboard in Chromium', {
  skip: !existsSync(CHROMIUM) && `no ${CHROMIUM}: apt-get install chromium`,
}, () => {
  before(buildDashboard);
  // The same pages over either store: on PostgreSQL the live board is fed by LISTEN/NOTIFY.
  describeOnBackends('served', () => {
    let f: Served;
    let browser: Browser;
    let ctx: BrowserContext;
    let page: Page;
    let shots: string;
    let base: string;
    let token: string;
    let keyDir: string;
    let keys: Record<string, string>;

    before(async () => {
      // lead-2 (who approves below) has an SSH key in the train: a passkey signs once bound with it.
      keyDir = mkdtempSync(join(tmpdir(), 'vt-dashboard-keys-'));
      keys = makeKeys(keyDir);
      f = await servedStore({
        passkeys: 'required',
        assets: true,
        trainText: signedTrainText(keys, 'optional'),
      });
      base = `http://localhost:${f.server.port}`;
      const who = { actor: 'lead-1' };
      for (const [id, team] of [
        ['churn', 'growth'],
        ['fraud', 'risk'],
        ['pricing', 'growth'],
        ['demand', 'ops'],
        ['upsell', 'growth'],
      ] as const) {
        await f.engine.createProject(
          { id, name: `${id[0]!.toUpperCase()}${id.slice(1)} model`, team, workspace: f.dir, train: f.train },
          who,
        );
        await new Tickets(f.engine).addIssue(id, { title: `Carry ${id} through the train` }, who);
      }
      // churn and fraud wait for an approval; pricing fails its gates once (a retry is queued).
      for (const id of ['churn', 'fraud']) assert.equal((await workTicket(f, id)).outcome.outcome, 'stayed');
      const tickets = new Tickets(f.engine);
      const c = await tickets.claimNext('worker-1', { project: 'pricing', leaseMs: 60_000 });
      await tickets.failAttempt(c!, 'the executor exited 1', { actor: 'autopilot' }, 10);
      token = await f.token('lead-2', { role: 'approver', project: '*' }, { role: 'viewer', project: '*' });
      shots = tempDir('vt-dashboard-shots-'); // kept with VT_KEEP_TEMP=1, for a look at the pages
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      page = await ctx.newPage();
      page.setDefaultTimeout(WAIT);
    });

    after(async () => {
      await browser?.close();
      await f?.server.close();
      await f?.store.close();
      if (f) rmSync(f.dir, { recursive: true, force: true });
      if (keyDir) rmSync(keyDir, { recursive: true, force: true });
      if (process.env.VT_KEEP_TEMP) process.stdout.write(`dashboard screenshots: ${shots}\n`);
    });

    const shot = async (name: string) => {
      await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
    };

    it('keeps the first page under 250 KB of gzipped JavaScript, with ECharts in a chunk of its own', () => {
      const html = readFileSync(join(DIST, 'index.html'), 'utf8');
      const entry = [...html.matchAll(/src="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]!);
      const preloads = [...html.matchAll(/href="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]!);
      const first = [...entry, ...preloads];
      assert.ok(first.length >= 1);
      const gz = first.reduce((n, p) => n + gzipSync(readFileSync(join(DIST, p)), { level: 9 }).length, 0);
      process.stdout.write(
        `first page JavaScript: ${(gz / 1024).toFixed(1)} KB gzipped (${first.join(', ')})\n`,
      );
      assert.ok(gz < 250 * 1024, `${gz} bytes gzipped`);
      const chunks = readdirSync(join(DIST, 'assets'));
      const echarts = chunks.filter((c) => readFileSync(join(DIST, 'assets', c), 'utf8').includes('echarts'));
      assert.ok(
        echarts.length && !echarts.some((c) => first.includes(`assets/${c}`)),
        'ECharts is not in the first page',
      );
    });

    it('shows the portfolio at three zooms, with filters in the URL, and passes axe', async () => {
      await page.goto(`${base}/#token=${token}`);
      await page.evaluate(() => {
        (window as unknown as { marker: string }).marker = 'no reload since';
      });
      await page.getByRole('heading', { name: 'Portfolio' }).waitFor();
      await page.locator('.flowcol[data-phase="triage"] .wip strong', { hasText: '5' }).waitFor();
      assert.equal(await page.getByText('● live').count(), 1);
      await axeCheck(page, 'portfolio flow');
      await shot('portfolio-flow');
      await page.getByRole('tab', { name: 'Team × phase' }).click();
      await page.getByRole('cell', { name: '3' }).first().waitFor();
      await axeCheck(page, 'portfolio heatmap');
      await shot('portfolio-heatmap');
      await page.getByRole('tab', { name: 'Project × phase' }).click();
      await page.locator('[data-project="churn"] [data-current="true"]').waitFor();
      await page.getByLabel('Team').selectOption('risk');
      await page.waitForURL(/team=risk/);
      await page.locator('[data-project="fraud"]').waitFor();
      assert.equal(await page.locator('[data-project="churn"]').count(), 0);
      await axeCheck(page, 'portfolio matrix');
      await shot('portfolio-matrix');
      await page.getByLabel('Team').selectOption('*');
    });

    it('lists what needs attention, oldest first, with the reason', async () => {
      await page.getByRole('link', { name: 'Attention' }).click();
      await page.locator('[data-ticket^="pricing"]').getByText('the executor exited 1').waitFor();
      const order = await page
        .locator('.vrow[data-ticket]')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-ticket')));
      assert.deepEqual(
        order.map((t) => t!.split('-')[0]),
        ['churn', 'fraud', 'pricing'],
      );
      await axeCheck(page, 'attention');
      await shot('attention');
    });

    it('registers a passkey, approves from the inbox with the keyboard, and sees the project advance live', async () => {
      const cdp = await ctx.newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: {
          protocol: 'ctap2',
          transport: 'internal',
          hasResidentKey: true,
          hasUserVerification: true,
          isUserVerified: true,
          automaticPresenceSimulation: true,
        },
      });
      await page.getByRole('link', { name: 'Inbox' }).click();
      await page.getByRole('button', { name: 'Register a passkey' }).click();
      await page.getByText('passkey registered').waitFor();
      await page.getByText(/confirmed with your passkey/).waitFor();
      // lead-2 binds the new passkey to themselves with their SSH key, from the shell.
      const bind = await runVt(['--as', 'lead-2', 'keys', 'passkey', 'bind', '--key', keys.lead2!], {
        cwd: f.dir,
        env: { SSH_AUTH_SOCK: '' },
      });
      assert.equal(bind.code, 0, bind.stderr);
      await axeCheck(page, 'inbox');
      await shot('inbox');
      // Keyboard only: focus the list, move to churn's item, approve with "a".
      const churn = page.locator('li[data-ticket^="churn"]');
      const fraud = page.locator('li[data-ticket^="fraud"]');
      await page.locator('ul.inbox li[tabindex="0"]').focus();
      const focusedTicket = () =>
        page.evaluate(() => document.activeElement?.getAttribute('data-ticket') ?? '');
      for (let i = 0; i < 5 && !(await focusedTicket()).startsWith('churn'); i++)
        await page.keyboard.press('ArrowDown');
      assert.match(await focusedTicket(), /^churn/);
      // Rejecting needs a comment: "r" opens a required field; Escape leaves it without a decision.
      await page.keyboard.press('r');
      await page.getByLabel('Why reject? (required)').waitFor();
      assert.equal(await page.getByRole('button', { name: 'Reject', exact: true }).isDisabled(), true);
      await page.keyboard.press('Escape');
      await page.keyboard.press('a');
      await page.getByText('✓ Churn model: approved').waitFor();
      assert.match((await churn.getAttribute('class')) ?? '', /resolved/);
      const approval = await f.store.db
        .selectFrom('events')
        .selectAll()
        .where('project_id', '=', 'churn')
        .where('type', '=', 'approval.recorded')
        .executeTakeFirstOrThrow();
      assert.equal(approval.actor, 'lead-2');
      const payload = JSON.parse(approval.payload);
      assert.equal(payload.proof.method, 'webauthn');
      assert.equal(payload.proof.payload.decision, 'approve');
      assert.equal(payload.proof.payload.evidence_digest, payload.digest);
      assert.equal(payload.proof.passkey.payload.person, 'lead-2');
      const clientData = JSON.parse(
        Buffer.from(payload.proof.client_data_json, 'base64url').toString('utf8'),
      );
      assert.equal(clientData.type, 'webauthn.get');
      assert.equal(
        clientData.challenge,
        Buffer.from(sha256(canonicalJson(payload.proof.payload)), 'hex').toString('base64url'),
      );
      // Another person approves fraud elsewhere (the CLI, say): its item greys out where it stands.
      const before = await page
        .locator('ul.inbox li')
        .evaluateAll((li) => li.map((x) => x.getAttribute('data-ticket')));
      await f.engine.approve('fraud', { actor: 'lead-1' });
      await workTicket(f, 'fraud');
      await fraud.and(page.locator('.resolved')).waitFor();
      assert.deepEqual(
        await page.locator('ul.inbox li').evaluateAll((li) => li.map((x) => x.getAttribute('data-ticket'))),
        before,
      );
      // The board, reached without a reload, moves when the autopilot carries churn on.
      await page.getByRole('link', { name: 'Portfolio' }).click();
      await page.getByRole('tab', { name: 'Project × phase' }).click();
      const churnRow = page.locator('[data-project="churn"]');
      await churnRow.waitFor();
      const phases = await page.locator('.mhead [role="columnheader"]').allTextContents();
      const currentColumn = async () =>
        churnRow
          .locator('[role="cell"]')
          .evaluateAll((cells) => cells.findIndex((c) => c.getAttribute('data-current') === 'true'));
      assert.equal(phases[await currentColumn()], 'Triage');
      const moved = await workTicket(f, 'churn');
      assert.equal(moved.outcome.outcome, 'advanced', JSON.stringify(moved.results));
      await page.waitForFunction(
        () => {
          const cells = [...document.querySelectorAll('[data-project="churn"] [role="cell"]')];
          const head = [...document.querySelectorAll('.mhead [role="columnheader"]')];
          const i = cells.findIndex((c) => c.getAttribute('data-current') === 'true');
          return i >= 0 && head[i]?.textContent === 'Build';
        },
        undefined,
        { timeout: WAIT },
      );
      assert.equal(
        await page.evaluate(() => (window as unknown as { marker?: string }).marker),
        'no reload since',
      );
    });

    it('shows the project, its gate, the audit log and the value page, each passing axe', async () => {
      await page.locator('[data-project="churn"] a').first().click();
      await page.getByTestId('project-phase').getByText('build').waitFor();
      await page.getByRole('heading', { name: 'Timeline' }).waitFor();
      await axeCheck(page, 'project');
      await shot('project');
      await page.getByRole('link', { name: 'triage' }).first().click();
      await page.getByText(/The exit gates passed/).waitFor();
      await axeCheck(page, 'gate');
      await shot('gate');
      await page
        .getByRole('link', { name: /^event #\d+$/ })
        .first()
        .click();
      await page.locator('.permalink pre').waitFor();
      await page.getByRole('button', { name: /Verify chains/ }).click();
      await page
        .getByTestId('verify-result')
        .getByText(/chains verify/)
        .waitFor();
      await axeCheck(page, 'audit');
      await shot('audit');
      await page.getByRole('link', { name: 'Value' }).click();
      await page.getByRole('heading', { name: 'Value' }).waitFor();
      await page.locator('.charts figure').first().waitFor();
      await axeCheck(page, 'value');
      await shot('value');
      assert.ok(readdirSync(shots).length >= 9);
    });

    it("shows the value report's real figures, each chart also as a table, per team and per project", async () => {
      const report = await valueReport(f.store.db);
      assert.equal(report.projects.total, 5);
      // The promises, as measured: the first-pass yield the library computes for this store.
      const fpy = report.targets.find((t) => t.id === 'first-pass-yield')!;
      assert.ok(fpy.value !== null && report.gate_yield.evaluated > 0);
      await page
        .getByTestId('value-first-pass-yield')
        .getByText(`${(fpy.value * 100).toFixed(1)}%`)
        .waitFor();
      const row = page.locator('tr[data-target="first-pass-yield"]');
      assert.match(
        (await row.textContent()) ?? '',
        new RegExp(`${fpy.status === 'met' ? '✓ met' : '✗ missed'}`),
      );
      assert.match(
        (await page.getByTestId('value-scope').textContent()) ?? '',
        /^the portfolio · 5 projects \(5 active, 0 on hold, 0 completed, 0 cancelled\)/,
      );
      // A chart's numbers one click away: lead time per phase as a table, in the unit its title names.
      const lead = page.locator('figure', { hasText: 'Lead time per phase' });
      await lead.locator('[role="img"]').waitFor();
      await lead.getByRole('button', { name: 'view as table' }).click();
      const triage = report.lead_time.phases.find((p) => p.phase === 'triage')!;
      assert.equal(triage.visits, 2, 'churn and fraud left triage');
      const unit = /\((days|hours|minutes)\)/.exec(
        (await lead.locator('figcaption').textContent()) ?? '',
      )?.[1];
      const per = { days: 86_400, hours: 3_600, minutes: 60 }[unit as 'days'];
      assert.ok(per, `a unit in the title (${unit})`);
      const inUnit = (sec: number) => String(Math.round((sec / per) * 10) / 10);
      const cells = await lead.locator('tbody tr', { hasText: 'Triage' }).locator('td').allTextContents();
      assert.deepEqual(cells.slice(0, 4), [
        'Triage',
        String(triage.visits),
        inUnit(triage.stats!.min),
        inUnit(triage.stats!.median),
      ]);
      assert.equal(
        await lead.getByRole('button', { name: 'view as chart' }).getAttribute('aria-pressed'),
        'true',
      );
      // The gate yield, per gate, as a table too.
      const gates = page.locator('figure', { hasText: 'First-pass gate yield' });
      await gates.getByRole('button', { name: 'view as table' }).click();
      assert.equal(await gates.locator('tbody tr').count(), report.gate_yield.gates.length);
      await axeCheck(page, 'value tables');
      await shot('value-tables');
      // One team, then one project, by the URL.
      await page.goto(`${base}/value?team=growth`);
      await page
        .getByTestId('value-scope')
        .getByText(/^team growth · 3 projects/)
        .waitFor();
      await page.goto(`${base}/value?project=fraud`);
      await page
        .getByTestId('value-scope')
        .getByText(/^project fraud · 1 project/)
        .waitFor();
      const forecast = (await valueReport(f.store.db, { project: 'fraud' })).forecasts[0]!;
      await page.locator('tr[data-forecast="fraud"]').getByText(forecast.sentence).waitFor();
      await page.goto(`${base}/value?team=nobody`);
      await page
        .getByRole('alert')
        .getByText(/no project has the team "nobody"/)
        .waitFor();
    });
  });
});
