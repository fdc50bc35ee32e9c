// People sign their decisions, and the engine checks it: on a real SQLite store with a train that
// requires signed decisions, keys made by ssh-keygen, signatures made by vt and by ssh-keygen -Y sign.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { verifyStore } from '../src/audit/audit.ts';
import { event, type NewEvent } from '../src/engine/events.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { VtError } from '../src/errors.ts';
import { decisionMessage, decisionPayload } from '../src/identity/decisions.ts';
import { ringToAllowedSigners } from '../src/identity/people.ts';
import { ringOfTrain } from '../src/identity/pinned-ring.ts';
import type { DecisionProof, SshProof } from '../src/identity/proof.ts';
import { appendEvents } from '../src/store/append.ts';
import { project as project_ } from '../src/store/projector.ts';
import { loadTrainFile, parseTrain } from '../src/train/loader.ts';
import { writeFile } from './helpers.ts';
import { pubLine, sshKeygenKey, sshVerify } from './identity-helpers.ts';
import { describeOnBackends } from './pg.ts';
import { signAs, signedEngine, signedTrainText, sshKeygenProof } from './signing-helpers.ts';

const lab = { actor: 'lab-1' };
const lead1 = { actor: 'lead-1' };
const lead2 = { actor: 'lead-2' };
const rev1 = { actor: 'rev-1' };

type Fixture = Awaited<ReturnType<typeof signedEngine>>;
const made: Fixture[] = [];
after(async () => {
  for (const f of made) {
    await f.store.close();
    rmSync(f.dir, { recursive: true, force: true });
    rmSync(f.keyDir, { recursive: true, force: true });
  }
});

async function refused(p: Promise<unknown>, code: string, re: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof VtError, `expected a VtError, got ${e}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  });
}

/** A project "churn" whose triage waits only for an approval (lab-1 did the work). */
async function awaitingApproval(policy: 'required' | 'optional' = 'required') {
  const f = await signedEngine(policy);
  made.push(f);
  await f.engine.createProject({ id: 'churn', name: 'Churn', workspace: f.dir, train: f.train }, lead1);
  for (const item of ['asked', 'sized']) await f.engine.tick('churn', item, null, lab);
  writeFile(f.dir, 'docs/brief.md', '# Brief\n');
  await f.engine.addArtifact('churn', 'brief', undefined, lab);
  return f;
}

const eventCount = async (f: Fixture) =>
  Number(
    (
      await f.store.db
        .selectFrom('events')
        .select((e) => e.fn.countAll().as('n'))
        .executeTakeFirst()
    )?.n,
  );

describeOnBackends('signing-engine', () => {
  describe('a train that requires signed decisions', () => {
    it('refuses every unsigned decision with the fix (vt keys init, the people: snippet) and writes nothing', async () => {
      const f = await awaitingApproval();
      const before = await eventCount(f);
      const calls: [string, () => Promise<unknown>][] = [
        ['approve', () => f.engine.approve('churn', lead2)],
        ['reject', () => f.engine.reject('churn', lead2, { reason: 'no baseline' })],
        ['waive', () => f.engine.waive('churn', 'files', 'later', new Date('2026-02-01'), lead1)],
        ['hold', () => f.engine.lifecycle('churn', 'hold', null, lead1)],
        ['cancel', () => f.engine.lifecycle('churn', 'cancel', 'stop', lead1)],
      ];
      for (const [kind, call] of calls)
        await assert.rejects(call(), (e: unknown) => {
          assert.ok(e instanceof VtError);
          assert.equal(e.code, 'NOT_PERMITTED', `${kind}: ${e.message}`);
          assert.match(e.message, /not signed, and train mini requires signed decisions/);
          assert.match(e.hint ?? '', /vt keys init --name lead-/);
          assert.match(e.hint ?? '', /people:\n {4}lead-\d:\n {6}roles: \[lead/);
          return true;
        });
      assert.equal(await eventCount(f), before, 'nothing written');
    });

    it('accepts a decision signed with ssh-keygen -Y sign; the recorded decision verifies with ssh-keygen -Y verify', async () => {
      const f = await awaitingApproval();
      const payload = await f.engine.decisionPayload('churn', 'lead-2', {
        kind: 'approve',
        reason: 'looks right',
      });
      const proof = sshKeygenProof(f.keys.lead2!, payload, f.keyDir);
      const c = await f.engine.approve('churn', lead2, { reason: 'looks right', proof });
      const advanced = await f.engine.advance('churn', lead1);
      assert.equal(advanced.outcome.outcome, 'advanced', JSON.stringify(advanced.results));
      // Out of the store: the event's payload and signature, checked with OpenSSH alone.
      const row = await f.store.db
        .selectFrom('events')
        .select(['payload', 'seq'])
        .where('project_id', '=', 'churn')
        .where('type', '=', 'approval.recorded')
        .executeTakeFirstOrThrow();
      assert.equal(row.seq, c.events[0]!.seq);
      const stored = JSON.parse(row.payload).proof as SshProof;
      assert.equal(stored.method, 'ssh');
      const msg = join(f.keyDir, 'stored-decision.json');
      writeFileSync(msg, decisionMessage(stored.payload));
      writeFileSync(`${msg}.sig`, stored.signature);
      writeFileSync(join(f.keyDir, 'allowed_signers'), ringToAllowedSigners(ringOfTrain(f.train.train)));
      const v = sshVerify(
        join(f.keyDir, 'allowed_signers'),
        'lead-2',
        `${msg}.sig`,
        decisionMessage(stored.payload),
      );
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, /Good "vt" signature for lead-2/);
      // The same bytes do not verify as anyone else's.
      const other = sshVerify(
        join(f.keyDir, 'allowed_signers'),
        'lead-1',
        `${msg}.sig`,
        decisionMessage(stored.payload),
      );
      assert.notEqual(other.code, 0);
      const audit = await verifyStore(f.store.db);
      assert.equal(audit.ok, true, JSON.stringify(audit.firstBad));
      assert.deepEqual(
        [audit.decisions.checked, audit.decisions.signed, audit.decisions.problems],
        [1, 1, []],
      );
    });

    it("refuses another person's key, a replay, stale evidence, a revoked or expired key, a forged time, a foreign head", async () => {
      const f = await awaitingApproval();
      const draft = (actor: string) =>
        f.engine.decisionPayload('churn', actor, { kind: 'approve', reason: null });
      const before = await eventCount(f);
      // lead-2's decision signed with lead-1's key, and with a key listed for no one.
      await refused(
        f.engine.approve('churn', lead2, { proof: await signAs(f.keys.lead1!, await draft('lead-2')) }),
        'NOT_PERMITTED',
        /unknown key .*listed for lead-1, not for lead-2/,
      );
      await refused(
        f.engine.approve('churn', lead2, { proof: await signAs(f.keys.mallory!, await draft('lead-2')) }),
        'NOT_PERMITTED',
        /no one in the train holds key/,
      );
      // lead-1 signs as lead-1 and the call claims lead-2.
      await refused(
        f.engine.approve('churn', lead2, { proof: await signAs(f.keys.lead1!, await draft('lead-1')) }),
        'NOT_PERMITTED',
        /another decision: actor is "lead-1", expected "lead-2"/,
      );
      // A signed approval used as a rejection.
      await refused(
        f.engine.reject('churn', lead2, {
          reason: 'no',
          proof: await signAs(f.keys.lead2!, await draft('lead-2')),
        }),
        'NOT_PERMITTED',
        /another decision/,
      );
      // lead-2's old key expired on 2026-03-01; rev-1's key was revoked on 2026-06-01. The engine's
      // clock decides, whatever time the payload claims.
      f.clock.t = Date.parse('2026-07-01T00:00:00Z');
      await refused(
        f.engine.approve('churn', lead2, { proof: await signAs(f.keys.lead2old!, await draft('lead-2')) }),
        'NOT_PERMITTED',
        /expired/,
      );
      const headForged = decisionPayload(
        {
          ...(await draft('lead-1')),
          evidenceDigest: (await draft('lead-1')).evidence_digest,
          head: { seq: 3, hash: 'a'.repeat(64) },
        },
        { role: 'lead', reason: null },
      );
      await refused(
        f.engine.approve('churn', lead1, { proof: await signAs(f.keys.lead1!, headForged) }),
        'NOT_PERMITTED',
        /signed head #3 is not an event of churn's chain/,
      );
      // Stale evidence: signed, then the evidence changes, then submitted.
      const signedThen = await signAs(f.keys.lead2!, await draft('lead-2'));
      await f.engine.tick('churn', 'extra', null, lab);
      const mid = await eventCount(f);
      await refused(f.engine.approve('churn', lead2, { proof: signedThen }), 'CONFLICT', /stale evidence/);
      assert.equal(await eventCount(f), mid, 'nothing written by refusals');
      assert.equal(mid, before + 1, 'only the tick');
      // A signature is judged at the engine's time, not its payload's: backdated, by a valid key, it counts.
      const fresh = { ...(await draft('lead-1')), time: '2020-01-01T00:00:00Z' };
      const accepted = await f.engine.approve('churn', lead1, { proof: await signAs(f.keys.lead1!, fresh) });
      const proof = accepted.events[0]!.payload as { proof: DecisionProof };
      // Replays: the same signed payload for a second decision, and in another project.
      await refused(
        f.engine.approve('churn', lead1, { proof: proof.proof }),
        'NOT_PERMITTED',
        /before lead-1's last signed decision/,
      );
      await f.engine.createProject({ id: 'other', name: 'Other', workspace: f.dir, train: f.train }, lead2);
      await refused(
        f.engine.approve('other', lead1, { proof: proof.proof }),
        'NOT_PERMITTED',
        /project is "churn", expected "other"/,
      );
    });

    it('a revoked key is refused at the engine time even when the payload claims a time before the revocation', async () => {
      const f = await awaitingApproval();
      // rev-1 approves the build's reviewer gate; first pass triage with lead-2, signed.
      const p = await f.engine.decisionPayload('churn', 'lead-2', { kind: 'approve', reason: null });
      await f.engine.approve('churn', lead2, { proof: await signAs(f.keys.lead2!, p) });
      assert.equal((await f.engine.advance('churn', lab)).state.phase, 'build');
      await f.engine.tick('churn', 'trained', null, lab);
      f.clock.t = Date.parse('2026-06-02T00:00:00Z');
      const draft = {
        ...(await f.engine.decisionPayload('churn', 'rev-1', { kind: 'approve', reason: null })),
      };
      const backdated = { ...draft, time: '2026-05-01T00:00:00Z' };
      await refused(
        f.engine.approve('churn', rev1, { proof: await signAs(f.keys.rev1!, backdated) }),
        'NOT_PERMITTED',
        /revoked .*2026-06-01/,
      );
      f.clock.t = Date.parse('2026-05-01T00:00:00Z');
      const inTime = await f.engine.decisionPayload('churn', 'rev-1', { kind: 'approve', reason: null });
      await f.engine.approve('churn', rev1, { proof: await signAs(f.keys.rev1!, inTime) });
    });

    it('every kind of decision is signed and recorded with its proof; vt audit verify checks them all', async () => {
      const f = await awaitingApproval();
      const tickets = new Tickets(f.engine);
      const key: Record<string, string> = {
        'lead-1': f.keys.lead1!,
        'lead-2': f.keys.lead2!,
        'rev-1': f.keys.rev1!,
        'lab-1': f.keys.lab1!,
      };
      type Call = Parameters<typeof f.engine.decisionPayload>[2];
      const sign = async (project: string, actor: string, call: Call) =>
        signAs(key[actor]!, await f.engine.decisionPayload(project, actor, call));
      // done and retry: a person's ticket.
      await tickets.addIssue('churn', { title: 'Triage it' }, lead1);
      const human = async () => {
        const claim = await tickets.claimNext('w', { project: 'churn', leaseMs: 60_000 });
        await tickets.awaitHuman(claim!, 'a person does this', { actor: 'autopilot' });
        return claim!.ticket.id;
      };
      const t1 = await human();
      await tickets.retry(t1, lead1, await sign('churn', 'lead-1', { kind: 'retry', ticket: t1 }));
      const t2 = await human();
      const done = await tickets.done(t2, lab, await sign('churn', 'lab-1', { kind: 'done', ticket: t2 }));
      assert.equal(done.state.tickets[t2]!.status, 'awaiting-gates');
      await f.engine.lifecycle(
        'churn',
        'hold',
        null,
        lead1,
        await sign('churn', 'lead-1', { kind: 'hold', reason: null }),
      );
      await f.engine.lifecycle(
        'churn',
        'resume',
        'back',
        lead1,
        await sign('churn', 'lead-1', { kind: 'resume', reason: 'back' }),
      );
      // Triage's approval gate waived by lead-1 and confirmed by lead-2 (an approval's waiver takes two).
      const expiresAt = new Date('2026-03-01T00:00:00Z');
      const waive = { kind: 'waive' as const, gate: 'go', reason: 'sponsor signed off by mail', expiresAt };
      await f.engine.waive(
        'churn',
        'go',
        waive.reason,
        expiresAt,
        lead1,
        await sign('churn', 'lead-1', waive),
      );
      const confirm = { ...waive, reason: 'agreed' };
      await f.engine.waive('churn', 'go', 'agreed', expiresAt, lead2, await sign('churn', 'lead-2', confirm));
      assert.equal((await f.engine.state('churn')).waivers.go?.confirmedBy, 'lead-2');
      const triage = await f.engine.advance('churn', lab);
      assert.equal(triage.state.phase, 'build', JSON.stringify(triage.results));
      assert.equal(triage.results.find((r) => r.gate === 'go')!.status, 'waived');
      // Build: lab-1 works, rev-1 approves (the reviewer branch of the quality gate).
      await f.engine.tick('churn', 'trained', null, lab);
      writeFile(f.dir, 'reports/report.json', '{"auc":0.9}');
      await f.engine.addArtifact('churn', 'report', undefined, lab);
      await f.engine.setMetric('churn', 'auc', 0.9, lab);
      await f.engine.approve('churn', rev1, {
        reason: 'fine',
        proof: await sign('churn', 'rev-1', { kind: 'approve', reason: 'fine' }),
      });
      const build = await f.engine.advance('churn', lab);
      assert.equal(build.state.phase, 'check', JSON.stringify(build.results));
      // Check routes back to build on drift; lead-1 carries the trained item into the new visit.
      await f.engine.tick('churn', 'reviewed', null, rev1);
      await f.engine.setMetric('churn', 'psi', 0.35, rev1);
      assert.equal((await f.engine.advance('churn', lab)).state.phase, 'build');
      const carry = {
        kind: 'carry-forward' as const,
        items: ['trained'],
        artifacts: ['report'],
        metrics: [],
        reason: 'same model',
      };
      await f.engine.carryForward('churn', carry, lead1, await sign('churn', 'lead-1', carry));
      // Cancel, reopen, upgrade to a train that renames a phase.
      await f.engine.lifecycle(
        'churn',
        'cancel',
        'budget',
        lead1,
        await sign('churn', 'lead-1', { kind: 'cancel', reason: 'budget' }),
      );
      await f.engine.lifecycle(
        'churn',
        'reopen',
        'funded',
        lead1,
        await sign('churn', 'lead-1', { kind: 'reopen', reason: 'funded' }),
      );
      const next = parseTrain(
        signedTrainText(f.keys).replace('name: Ship', 'name: Shipping'),
        join(f.dir, 'vt.yaml'),
      );
      await f.engine.registerTrain(next);
      const upgrade = { kind: 'upgrade' as const, to: next.train, toHash: next.hash, reason: 'renamed' };
      await f.engine.upgrade('churn', next, 'renamed', lead1, await sign('churn', 'lead-1', upgrade));
      // Every decision event carries its proof, and the audit checks each one again.
      const rows = await f.store.db
        .selectFrom('events')
        .select(['seq', 'type', 'payload', 'actor'])
        .where('project_id', '=', 'churn')
        .orderBy('seq')
        .execute();
      const signedKinds = rows
        .map((r) => (JSON.parse(r.payload) as { proof?: DecisionProof }).proof?.payload.decision)
        .filter(Boolean);
      assert.deepEqual(signedKinds, [
        'retry',
        'done',
        'hold',
        'resume',
        'waive',
        'waive',
        'approve',
        'carry-forward',
        'cancel',
        'reopen',
        'upgrade',
      ]);
      const audit = await verifyStore(f.store.db, 'churn');
      assert.equal(audit.ok, true, JSON.stringify(audit.firstBad));
      assert.deepEqual(
        [audit.decisions.checked, audit.decisions.signed, audit.decisions.unsigned],
        [11, 11, 0],
      );
    });

    it('an erasure is a signed decision: refused unsigned, refused signed for another event, recorded with its proof and checked by verify', async () => {
      const f = await awaitingApproval();
      const note = await new Tickets(f.engine).addContext(
        'churn',
        { kind: 'note', text: 'Priya Nair, priya@example.com, asked for this' },
        lab,
      );
      const seq = note.events[0]!.seq;
      const reason = 'a token pasted into a note; rotated';
      const before = await eventCount(f);
      await refused(f.engine.erase('churn', seq, reason, lead1), 'NOT_PERMITTED', /erase is not signed/);
      // Signed, but for another event (or another reason): the signature is for another decision.
      const other = await f.engine.decisionPayload('churn', 'lead-1', {
        kind: 'erase',
        seq: seq - 1,
        reason,
      });
      await refused(
        f.engine.erase('churn', seq, reason, lead1, await signAs(f.keys.lead1!, other)),
        'NOT_PERMITTED',
        /signature is for another decision/,
      );
      const byMallory = await f.engine.decisionPayload('churn', 'lead-1', { kind: 'erase', seq, reason });
      await refused(
        f.engine.erase('churn', seq, reason, lead1, await signAs(f.keys.mallory!, byMallory)),
        'NOT_PERMITTED',
        /signature is refused/,
      );
      assert.equal(await eventCount(f), before, 'nothing was written');
      const payload = await f.engine.decisionPayload('churn', 'lead-1', { kind: 'erase', seq, reason });
      assert.deepEqual([payload.decision, payload.seq, payload.reason], ['erase', seq, reason]);
      const c = await f.engine.erase(
        'churn',
        seq,
        reason,
        lead1,
        sshKeygenProof(f.keys.lead1!, payload, f.keyDir),
      );
      const recorded = c.events.find((e) => e.type === 'event.erased')!;
      assert.equal((recorded.payload as { proof?: DecisionProof }).proof?.payload.decision, 'erase');
      const audit = await verifyStore(f.store.db, 'churn');
      assert.equal(audit.ok, true, JSON.stringify(audit.firstBad));
      assert.deepEqual(
        [audit.decisions.signed, audit.decisions.unsigned, audit.decisions.problems],
        [1, 0, []],
      );
    });

    it('a train that does not require signatures records unsigned decisions, and checks the ones that are signed', async () => {
      const f = await awaitingApproval('optional');
      await f.engine.approve('churn', lead1);
      const p = await f.engine.decisionPayload('churn', 'lead-2', { kind: 'approve', reason: null });
      await refused(
        f.engine.approve('churn', lead2, { proof: await signAs(f.keys.lead1!, p) }),
        'NOT_PERMITTED',
        /unknown key/,
      );
      await f.engine.approve('churn', lead2, { proof: await signAs(f.keys.lead2!, p) });
      const audit = await verifyStore(f.store.db);
      assert.equal(audit.ok, true);
      assert.deepEqual(
        [audit.decisions.checked, audit.decisions.signed, audit.decisions.unsigned],
        [2, 1, 1],
      );
    });
  });

  /** Append events as someone with the database would: correct chain hashes, none of the engine's checks. */
  async function inject(f: Fixture, project: string, actor: string, events: NewEvent[]) {
    const s = await f.engine.state(project);
    await f.store.transaction(async (trx) => {
      const recorded = await appendEvents(trx, project, { seq: s.seq, hash: s.headHash }, events, {
        ts: f.clock.now().toISOString(),
        actor,
        idempotencyKey: null,
      });
      for (const [i, e] of recorded.entries()) await project_(trx, e, { head: i === recorded.length - 1 });
    });
    f.engine.forget();
  }

  describe('records written around the engine', () => {
    it('forged waivers waive nothing, and a replayed approval is named by vt audit verify', async () => {
      const f = await awaitingApproval();
      const s = await f.engine.state('churn');
      const waiver = {
        phase: 'triage',
        gate: 'go',
        reason: 'forged',
        expires_at: '2026-12-31T00:00:00.000Z',
        visit: s.visit,
      };
      await inject(f, 'churn', 'lead-1', [event('gate.waived', { ...waiver, confirms: null })]);
      const first = (await f.engine.state('churn')).waivers.go!.seq;
      await inject(f, 'churn', 'lead-2', [
        event('gate.waived', { ...waiver, reason: 'agreed', confirms: first }),
      ]);
      const stayed = await f.engine.advance('churn', lab);
      assert.equal(stayed.state.phase, 'triage');
      assert.match(
        stayed.results.find((r) => r.gate === 'go')!.message,
        /not waived: lead-1's decision is not signed/,
      );
      // A genuine signed approval, then the same proof recorded a second time.
      const p = await f.engine.decisionPayload('churn', 'lead-2', { kind: 'approve', reason: null });
      const ok = await f.engine.approve('churn', lead2, { proof: await signAs(f.keys.lead2!, p) });
      const copy = ok.events[0]!;
      await inject(f, 'churn', 'lead-2', [{ type: copy.type, payload: copy.payload } as NewEvent]);
      const audit = await verifyStore(f.store.db);
      assert.equal(audit.ok, false);
      assert.deepEqual(
        audit.decisions.problems.map((x) => x.reason),
        ['unsigned', 'unsigned', 'replayed'],
      );
      assert.equal(audit.firstBad?.seq, first);
    });

    it('an allowed_signers file is pinned with the train: a key added to the file later signs nothing for the project', async () => {
      const f = await signedEngine();
      made.push(f);
      const file = join(f.dir, 'vt.yaml');
      const dave = sshKeygenKey(f.keyDir, 'dave');
      writeFileSync(join(f.dir, 'allowed_signers'), `dave namespaces="vt" ${pubLine(dave)}\n`);
      writeFileSync(
        file,
        signedTrainText(f.keys)
          .replace('signed: required\n', 'signed: required\nsigners: allowed_signers\n')
          .replace('  lead-2:\n    roles: [lead]', '  dave: [lead]\n  lead-2:\n    roles: [lead]'),
      );
      const pinned = loadTrainFile(file);
      assert.deepEqual(
        typeof pinned.train.signers === 'object' && pinned.train.signers.file,
        'allowed_signers',
      );
      await f.engine.createProject({ id: 'churn', name: 'Churn', workspace: f.dir, train: pinned }, lead1);
      for (const item of ['asked', 'sized']) await f.engine.tick('churn', item, null, lab);
      writeFile(f.dir, 'docs/brief.md', '# Brief\n');
      await f.engine.addArtifact('churn', 'brief', undefined, lab);
      // Someone who can write the file adds mallory's key for dave: a new train hash, and the
      // project's pinned text does not have it.
      writeFileSync(join(f.dir, 'allowed_signers'), `dave namespaces="vt" ${pubLine(f.keys.mallory!)}\n`);
      assert.notEqual(loadTrainFile(file).hash, pinned.hash);
      const p = await f.engine.decisionPayload('churn', 'dave', { kind: 'approve', reason: null });
      await refused(
        f.engine.approve('churn', { actor: 'dave' }, { proof: await signAs(f.keys.mallory!, p) }),
        'NOT_PERMITTED',
        /no one in the train holds key/,
      );
      await f.engine.approve('churn', { actor: 'dave' }, { proof: await signAs(dave, p) });
      assert.equal((await verifyStore(f.store.db)).ok, true);
    });
  });
});
