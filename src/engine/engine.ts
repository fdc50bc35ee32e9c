import { VtError } from '../errors.ts';
import { evaluateGates, gatesPassed } from '../gates/registry.ts';
import type { GateIo, GateResult } from '../gates/types.ts';
import type { DecisionPayload } from '../identity/decisions.ts';
import type { KeyRing } from '../identity/people.ts';
import { ringOfTrain, signaturesRequired } from '../identity/pinned-ring.ts';
import type { DecisionProof } from '../identity/proof.ts';
import {
  afterAppends,
  appendEvents,
  eventHashAt,
  findByIdempotencyKey,
  readEvents,
  toRecorded,
} from '../store/append.ts';
import type { StoredEvent } from '../store/chain.ts';
import {
  type Compaction,
  compactAfterErasure,
  readEventRow,
  replacePayload,
  reprojectProject,
  scrubCopies,
} from '../store/erasure.ts';
import { parseErasureMarker } from '../store/erasure-marker.ts';
import { rememberRequest, requestOf, sameRequestText } from '../store/idempotency.ts';
import { project } from '../store/projector.ts';
import { requireLiveLease } from '../store/queue.ts';
import { loadState } from '../store/snapshots.ts';
import type { Store, Trx } from '../store/store.ts';
import { TRAIN_FORMAT } from '../train/format.ts';
import { canonicalTrain } from '../train/hash.ts';
import type { LoadedTrain } from '../train/loader.ts';
import type { Train } from '../train/schema.ts';
import { storedTrain } from '../train/stored.ts';
import type { Priority } from '../types.ts';
import {
  type AdvanceOutcome,
  chooseTarget,
  decideAdvance,
  decideArtifact,
  decideCheck,
  decideCommit,
  decideMetric,
  decideReopenItem,
  decideTick,
  phaseOf,
} from './core.ts';
import { type DecisionCall, decideCall, draftDecision, sealDecision } from './decision-proof.ts';
import { decideErase, type Erasure, type ErasureTarget } from './erasure.ts';
import { event, type NewEvent, type RecordedEvent } from './events.ts';
import { gateContext, readsFiles } from './gate-context.ts';
import { currentEvidence, evolve, type ProjectState } from './state.ts';
import { requireLiveSession } from './tickets.ts';

export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };

/** The engine's I/O: gate I/O plus hashing files and committing folders. */
export interface EngineIo extends GateIo {
  /** Resolve `path` inside `workspace` (refusing escapes), hash it; returns the normalised relative path. */
  hashArtifact(
    workspace: string,
    path: string,
  ): Promise<{ path: string; sha256: string; size: number; preview: string | null }>;
  /**
   * Commit what `folder` holds now into the repository behind the project's workspace, without moving
   * any branch; `force` adds those paths even when ignored. Returns the commit and its tree.
   */
  snapshot(
    projectWorkspace: string,
    folder: string,
    force: readonly string[],
  ): Promise<{ commit: string; tree: string }>;
}

/**
 * Derives side effects from an event: `id` must be deterministic (e.g. project:seq:kind) so a replay
 * never queues the same effect twice. `state` is the project's state before the event's command.
 */
export type OutboxRule = (
  state: ProjectState | undefined,
  e: RecordedEvent,
) => { id: string; kind: string; payload: Record<string, unknown> }[];

/** Who is acting, and the key that makes a retried call a no-op. */
export interface Who {
  actor: string;
  idempotencyKey?: string | null | undefined;
  /** Set when an agent's session acts: the call is refused unless that session is live in the current phase. */
  session?: string | null | undefined;
  /** What was asked, in words (e.g. `vt tick churn a`): a reused idempotency key must ask the same. */
  request?: string | null | undefined;
}

export interface Committed {
  events: RecordedEvent[];
  state: ProjectState;
  /** True when the idempotency key had been used: nothing new was written. */
  replayed: boolean;
}

export const PROJECT_ID = /^[a-z][a-z0-9-]{0,62}$/;

export function slugify(name: string): string {
  const s = name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return /^[a-z]/.test(s) ? s : `p-${s || 'project'}`;
}

/**
 * The only writer. Each call folds the project's events into its state, decides in the pure core,
 * and appends the events and updates the projections in one immediate transaction.
 */
export class Engine {
  readonly store: Store;
  readonly clock: Clock;
  readonly io: EngineIo;
  readonly #states = new Map<string, ProjectState>();
  readonly #trains = new Map<string, Train>();
  readonly #outbox: OutboxRule[] = [];
  readonly #committed: ((events: readonly RecordedEvent[]) => void)[] = [];

  constructor(deps: { store: Store; io: EngineIo; clock?: Clock }) {
    this.store = deps.store;
    this.io = deps.io;
    this.clock = deps.clock ?? systemClock;
  }

  /** Store a train body by its content hash (once), so projects can pin it. */
  async registerTrain(loaded: LoadedTrain): Promise<string> {
    if (!this.#trains.has(loaded.hash)) {
      await this.store.transaction(async (trx) => {
        await trx
          .insertInto('trains')
          .values({
            hash: loaded.hash,
            name: loaded.train.name,
            body: canonicalTrain(loaded.train),
            created_at: this.clock.now().toISOString(),
            format: TRAIN_FORMAT,
          })
          .onConflict((oc) => oc.column('hash').doNothing())
          .execute();
      });
      this.#trains.set(loaded.hash, loaded.train);
    }
    return loaded.hash;
  }

  async train(hash: string): Promise<Train> {
    let t = this.#trains.get(hash);
    if (!t) {
      const row = await this.store.db
        .selectFrom('trains')
        .select(['body', 'format'])
        .where('hash', '=', hash)
        .executeTakeFirst();
      if (!row) throw new VtError('NOT_FOUND', `train ${hash.slice(0, 12)} is not in the store`);
      t = await storedTrain(hash, row.body, row.format);
      this.#trains.set(hash, t);
    }
    return t;
  }

  /** The project's state: cached, or from its latest snapshot and the events after it. */
  async state(projectId: string, trx?: Trx): Promise<ProjectState> {
    const s = await loadState(trx ?? this.store.db, projectId, this.#states.get(projectId), evolve, {
      write: !!trx,
    });
    if (!s) {
      throw new VtError('NOT_FOUND', `no project "${projectId}"`, {
        hint: 'List projects with: vt project list',
      });
    }
    this.#states.set(projectId, s);
    return s;
  }

  async createProject(
    input: {
      id?: string | undefined;
      name: string;
      team?: string | null | undefined;
      priority?: Priority | undefined;
      budget?: number | null | undefined;
      workspace: string;
      train: LoadedTrain;
    },
    who: Who,
  ): Promise<Committed> {
    const id = input.id ?? slugify(input.name);
    if (!PROJECT_ID.test(id))
      throw new VtError(
        'BAD_INPUT',
        `"${id}" is not a valid project id: lowercase letters, digits and "-", starting with a letter`,
      );
    if (!input.name.trim()) throw new VtError('BAD_INPUT', 'a project needs a name');
    if (input.budget != null && !(Number.isFinite(input.budget) && input.budget >= 0))
      throw new VtError('BAD_INPUT', 'the budget must be a non-negative number');
    const hash = await this.registerTrain(input.train);
    const first = input.train.train.phases[0]!.id;
    const created = event('project.created', {
      name: input.name.trim(),
      team: input.team ?? null,
      priority: input.priority ?? input.train.train.defaults.priority,
      budget: input.budget ?? null,
      train_hash: hash,
      train_name: input.train.train.name,
      workspace: input.workspace,
      phase: first,
    });
    const committed = await this.store.transaction(async (trx) => {
      await this.store.lockProject(trx, id);
      if (who.idempotencyKey) {
        const prior = await findByIdempotencyKey(trx, id, who.idempotencyKey);
        if (prior) {
          await sameRequest(trx, id, who);
          return { events: [toRecorded(prior)], replayed: true };
        }
      }
      const exists = await trx
        .selectFrom('events')
        .select('seq')
        .where('project_id', '=', id)
        .limit(1)
        .executeTakeFirst();
      if (exists)
        throw new VtError('CONFLICT', `project "${id}" already exists`, { hint: 'Choose another --id' });
      const events = await this.appendIn(trx, id, { seq: 0, hash: '' }, [created], who);
      return { events, replayed: false };
    });
    if (!committed.replayed) this.#emitCommitted(committed.events);
    return { ...committed, state: await this.state(id) };
  }

  tick(projectId: string, item: string, note: string | null, who: Who): Promise<Committed> {
    return this.decide(projectId, who, (s, t) => decideTick(s, t, item, note, who.session ?? null));
  }

  reopenItem(projectId: string, item: string, reason: string, who: Who): Promise<Committed> {
    return this.decide(projectId, who, (s, t) => decideReopenItem(s, t, item, reason));
  }

  /**
   * Record an artifact of the current phase. A session's file is hashed where it lies in its own
   * worktree and judged once the session commits; a person's work is committed first (a snapshot of
   * the folder they work in) and the file hashed as committed.
   */
  async addArtifact(
    projectId: string,
    artifact: string,
    path: string | undefined,
    who: Who & { workspace?: string | undefined },
  ): Promise<Committed> {
    return this.commit(
      projectId,
      who,
      async (s, t) => {
        const spec = phaseOf(t, s.phase).artifacts.find((a) => a.id === artifact);
        if (!spec) return null; // decide() names the phase's artifacts
        const rel = path ?? spec.path;
        if (who.session) {
          const workspace = s.sessions[who.session]?.workspace ?? s.workspace;
          const file = await this.io.hashArtifact(workspace, rel);
          return { workspace, commit: null, tree: null, ...file };
        }
        const folder = who.workspace ?? s.workspace;
        await this.io.hashArtifact(folder, rel); // refuses escapes and missing files before committing
        const snap = await this.io.snapshot(s.workspace, folder, [rel]);
        const seen = await this.io.readCommitted(s.workspace, snap.commit, rel, { wantText: false });
        if (!seen.ok)
          throw new VtError('NOT_FOUND', `${rel} is not in the commit of ${folder}: ${seen.problem}`);
        const file = await this.io.hashArtifact(folder, rel);
        return {
          workspace: folder,
          commit: snap.commit,
          tree: snap.tree,
          ...file,
          sha256: seen.sha256,
          size: seen.size,
        };
      },
      (s, t, file) => {
        if (!file) {
          decideArtifact(s, t, {
            artifact,
            path: '',
            workspace: '',
            sha256: '',
            size: 0,
            preview: null,
            session: null,
            commit: null,
          }); // throws: not an artifact here
          throw new VtError(
            'CONFLICT',
            `project ${projectId} changed phase while ${artifact} was hashed; try again`,
          );
        }
        const { tree, ...rest } = file;
        const committed =
          file.commit && tree
            ? decideCommit(s, { session: null, ticket: null, commit: file.commit, tree })
            : [];
        return [...committed, ...decideArtifact(s, t, { artifact, ...rest, session: who.session ?? null })];
      },
    );
  }

  setMetric(projectId: string, name: string, value: number, who: Who): Promise<Committed> {
    return this.decide(projectId, who, (s, t) => decideMetric(s, t, name, value, who.session ?? null));
  }

  /** Record the commit a session's (or a person's) work ended in; a session must still hold its ticket. */
  recordCommit(
    projectId: string,
    c: { session: string | null; ticket: string | null; commit: string; tree: string },
    who: Who,
  ): Promise<Committed> {
    return this.decide(projectId, who, (s) => decideCommit(s, c));
  }

  /** A person carries evidence of the phase's previous visit into this one, on the record. */
  async carryForward(
    projectId: string,
    what: { items: string[]; artifacts: string[]; metrics: string[]; reason: string },
    who: Who,
    proof?: DecisionProof,
  ): Promise<Committed> {
    await this.refuseSession(projectId, who, 'carry evidence forward');
    return this.#decided(projectId, who, { kind: 'carry-forward', ...what }, proof);
  }

  /**
   * Before an evaluation, commit the work it judges: a session's worktree as it is now (recorded
   * under its lease); for a person, the folder they work in when this visit has no commit yet or only
   * a person's (a session's commit is judged as it is). Only when a gate reads files.
   */
  async #commitWork(
    s: ProjectState,
    t: Train,
    who: Who & { workspace?: string | undefined },
  ): Promise<{ commit: string; tree: string } | null> {
    const phase = phaseOf(t, s.phase);
    if (!readsFiles(phase.gates.exit)) return null;
    const ev = currentEvidence(s);
    const force = Object.values(ev.artifacts).map((a) => a.path);
    if (who.session) {
      const sess = s.sessions[who.session];
      return sess ? this.io.snapshot(s.workspace, sess.workspace, force) : null;
    }
    if (ev.commit && ev.commit.session !== null) return null;
    return this.io.snapshot(s.workspace, who.workspace ?? s.workspace, force);
  }

  /** Evaluate the current phase's exit gates and record the results (a person's work is committed first). */
  async checkGates(
    projectId: string,
    who: Who & { workspace?: string | undefined },
  ): Promise<Committed & { results: GateResult[]; passed: boolean }> {
    let results: GateResult[] = [];
    const c = await this.commit(
      projectId,
      who,
      async (s, t) => {
        const snap = await this.#commitWork(s, t, who);
        results = await this.evaluatePhase(s, t, s.phase, 'exit', snap);
        return { snap, results };
      },
      (s, _t, g) => [...committedBy(s, g.snap, who), decideCheck(s, 'exit', s.phase, g.results)],
    );
    const ev = c.events.find((e) => e.type === 'gate.evaluated');
    if (c.replayed && ev?.type === 'gate.evaluated') results = ev.payload.results;
    return { ...c, results, passed: gatesPassed(results) };
  }

  /** Evaluate gates and move on: to the next phase, along a route, back to a rework phase, or nowhere. */
  async advance(
    projectId: string,
    who: Who & { workspace?: string | undefined },
  ): Promise<Committed & { outcome: AdvanceOutcome; results: GateResult[] }> {
    await this.refuseSession(projectId, who, 'advance');
    let outcome: AdvanceOutcome | undefined;
    let exitResults: GateResult[] = [];
    const c = await this.commit(
      projectId,
      who,
      async (s, t) => {
        const snap = await this.#commitWork(s, t, who);
        const gates = await this.gatherTransition(s, t, snap);
        exitResults = gates.exit;
        return { snap, gates };
      },
      (s, t, g) => {
        const d = decideAdvance(s, t, g.gates.exit, g.gates.entry, this.clock.now());
        outcome = d.outcome;
        return [...committedBy(s, g.snap, who), ...d.events];
      },
    );
    if (c.replayed) outcome = outcomeFromEvents(c.events);
    return { ...c, outcome: outcome!, results: exitResults };
  }

  /** The exit gates of the current visit and, when they pass, the entry gates of where it leads. */
  async gatherTransition(
    s: ProjectState,
    t: Train,
    snap: { commit: string; tree: string } | null = null,
  ): Promise<{ exit: GateResult[]; entry: { phase: string; results: GateResult[] } | null }> {
    const exit = await this.evaluatePhase(s, t, s.phase, 'exit', snap);
    if (!gatesPassed(exit)) return { exit, entry: null };
    const target = chooseTarget(s, t);
    if (!target.to) return { exit, entry: null };
    return {
      exit,
      entry: { phase: target.to, results: await this.evaluatePhase(s, t, target.to, 'entry', snap) },
    };
  }

  async approve(
    projectId: string,
    who: Who,
    opts: { role?: string; reason?: string | null; proof?: DecisionProof | undefined } = {},
  ): Promise<Committed> {
    await this.refuseSession(projectId, who, 'approve');
    const call = { kind: 'approve' as const, role: opts.role, reason: opts.reason ?? null };
    return this.#decided(projectId, who, call, opts.proof);
  }

  async reject(
    projectId: string,
    who: Who,
    opts: { role?: string; reason: string; proof?: DecisionProof | undefined },
  ): Promise<Committed> {
    await this.refuseSession(projectId, who, 'reject');
    return this.#decided(
      projectId,
      who,
      { kind: 'reject', role: opts.role, reason: opts.reason },
      opts.proof,
    );
  }

  async waive(
    projectId: string,
    gate: string,
    reason: string,
    expiresAt: Date,
    who: Who,
    proof?: DecisionProof,
  ): Promise<Committed> {
    await this.refuseSession(projectId, who, 'waive a gate');
    return this.#decided(projectId, who, { kind: 'waive', gate, reason, expiresAt }, proof);
  }

  async lifecycle(
    projectId: string,
    action: 'hold' | 'resume' | 'cancel' | 'reopen' | 'retire',
    reason: string | null,
    who: Who,
    proof?: DecisionProof,
  ): Promise<Committed> {
    await this.refuseSession(projectId, who, action);
    return this.#decided(projectId, who, { kind: action, reason }, proof);
  }

  /**
   * Move a project to another version of its train. Refused when its current phase or the evidence
   * recorded in this visit would not exist in the new train.
   */
  async upgrade(
    projectId: string,
    to: LoadedTrain,
    reason: string,
    who: Who,
    proof?: DecisionProof,
  ): Promise<Committed> {
    await this.refuseSession(projectId, who, 'upgrade a project');
    const hash = await this.registerTrain(to);
    return this.#decided(projectId, who, { kind: 'upgrade', to: to.train, toHash: hash, reason }, proof);
  }

  /** Record a person's decision: the core decides, then its proof is checked and stored with it. */
  async #decided(projectId: string, who: Who, call: DecisionCall, proof: DecisionProof | undefined) {
    const headHash = await this.signedHeadHash(projectId, proof);
    return this.decide(projectId, who, (s, t) =>
      sealDecision({
        s,
        train: t,
        kind: call.kind,
        actor: who.actor,
        events: decideCall(s, t, call, who.actor, this.clock.now()),
        proof,
        headHash,
        now: this.clock.now(),
      }),
    );
  }

  /** The stored hash at a proof's signed head (events never change, so it is read before the transaction). */
  async signedHeadHash(projectId: string, proof: DecisionProof | undefined): Promise<string | null> {
    const seq = proof?.payload?.head?.seq;
    if (!Number.isSafeInteger(seq)) return null;
    return eventHashAt(this.store.db, projectId, seq as number);
  }

  /**
   * The payload a person signs for a decision on the project as it stands now (the core decides it
   * first, so a decision that would be refused is refused before anyone signs).
   */
  async decisionPayload(projectId: string, actor: string, call: DecisionCall): Promise<DecisionPayload> {
    const s = await this.state(projectId);
    if (call.kind === 'erase' && !call.target && Number.isSafeInteger(call.seq))
      call = { ...call, target: erasureTarget(await readEventRow(this.store.db, projectId, call.seq)) };
    return draftDecision(s, await this.train(s.trainHash), call, actor, this.clock.now());
  }

  /** Whether the project's train refuses unsigned decisions, and the keys it lists. */
  async signingPolicy(projectId: string): Promise<{ required: boolean; ring: KeyRing; train: Train }> {
    const s = await this.state(projectId);
    const train = await this.train(s.trainHash);
    return { required: signaturesRequired(train), ring: ringOfTrain(train), train };
  }

  /**
   * Erase the free text of one event: a person's decision (an agent session's attempt is refused and
   * recorded). `event.erased` is appended; in the same transaction the event's payload column takes
   * its erasure marker (the one UPDATE the events table allows), the project's projections are
   * rebuilt from the events and copies kept beside them scrubbed; then the store is compacted so no
   * old page or log frame keeps the text. The chain still verifies: it covers the payload's digest.
   */
  async erase(
    projectId: string,
    seq: number,
    reason: string,
    who: Who,
    proof?: DecisionProof,
  ): Promise<
    Committed & { erasure: { seq: number; type: string; fields: string[]; compaction: Compaction } }
  > {
    await this.refuseSession(projectId, who, 'erase an event');
    const headHash = await this.signedHeadHash(projectId, proof);
    let made: (Erasure & { type: string }) | null = null;
    let c: Committed;
    try {
      c = await this.commit(
        projectId,
        who,
        async () => (Number.isSafeInteger(seq) ? readEventRow(this.store.db, projectId, seq) : undefined),
        (s, t, row) => {
          made = { ...decideErase(s, seq, erasureTarget(row), reason), type: row?.type ?? '' };
          // A person's decision like any other: signed when they sign, refused unsigned when the train says so.
          return sealDecision({
            s,
            train: t,
            kind: 'erase',
            actor: who.actor,
            events: made.events,
            proof,
            headHash,
            now: this.clock.now(),
          });
        },
        (trx) =>
          afterAppends(trx, async () => {
            const m = made!;
            await replacePayload(trx, projectId, seq, m.marker);
            await reprojectProject(trx, projectId);
            await scrubCopies(trx, projectId, seq, m.texts);
          }),
      );
    } catch (err) {
      if (err instanceof VtError) throw err;
      const msg = (err as Error)?.message ?? String(err);
      if (/append-only|permission denied/i.test(msg))
        throw new VtError('NOT_PERMITTED', `the store refused the erasure: ${msg}`, {
          hint: 'On PostgreSQL, erase as the owner of the vt tables (the application role may not update events)',
        });
      throw err;
    }
    // The cached state was folded before the erasure and still holds the text.
    this.#states.delete(projectId);
    const state = await this.state(projectId);
    const compaction = c.replayed
      ? { vacuumed: false, walTruncated: false, note: null }
      : await compactAfterErasure(this.store);
    const m = made as (Erasure & { type: string }) | null;
    return {
      ...c,
      state,
      erasure: { seq, type: m?.type ?? '', fields: m?.fields ?? [], compaction },
    };
  }

  /** What erase() would do, checked the same way, without writing (an agent's attempt is refused too). */
  async planErasure(
    projectId: string,
    seq: number,
    reason: string,
    who: Who,
  ): Promise<{ type: string; fields: string[] }> {
    await this.refuseSession(projectId, who, 'erase an event');
    const s = await this.state(projectId);
    const row = Number.isSafeInteger(seq) ? await readEventRow(this.store.db, projectId, seq) : undefined;
    const { fields } = decideErase(s, seq, erasureTarget(row), reason);
    return { type: row?.type ?? '', fields };
  }

  /** Evaluate one side of a phase's gates against a state (no write). */
  async evaluatePhase(
    s: ProjectState,
    t: Train,
    phaseId: string,
    side: 'entry' | 'exit',
    snap: { commit: string; tree: string } | null = null,
  ): Promise<GateResult[]> {
    const phase = phaseOf(t, phaseId);
    return evaluateGates(phase.gates[side], gateContext(s, t, phase, side, this.clock.now(), this.io, snap));
  }

  /**
   * Agents produce evidence; only people decide. A session's attempt at a decision is refused and
   * recorded in the project's trail (in its own transaction, as the refusal is the news).
   */
  async refuseSession(projectId: string, who: Who, doing: string): Promise<void> {
    if (!who.session) return;
    const reason = `an agent session cannot ${doing}; a person must`;
    await this.decide(projectId, { actor: who.actor }, () => [
      event('session.tool-called', { session: who.session!, tool: doing, outcome: 'refused', reason }),
    ]).catch(() => {});
    throw new VtError('NOT_PERMITTED', `${reason} (session ${who.session})`);
  }

  /** Commit a decision that needs no I/O first (no gates to evaluate, no file to hash). */
  decide(
    projectId: string,
    who: Who,
    decide: (s: ProjectState, t: Train) => NewEvent[],
    within?: (trx: Trx, recorded: RecordedEvent[], s: ProjectState) => Promise<void>,
  ): Promise<Committed> {
    return this.commit(projectId, who, async () => null, decide, within);
  }

  /**
   * Gather (I/O, outside the transaction), then decide and append inside it. If another writer moved
   * the project on in between, gather again: gate results must be about the state they change.
   * `within` runs in the same transaction after the append (lease rows, outbox entries).
   */
  async commit<G>(
    projectId: string,
    who: Who,
    gather: (s: ProjectState, t: Train) => Promise<G>,
    decide: (s: ProjectState, t: Train, gathered: G) => NewEvent[],
    within?: (trx: Trx, recorded: RecordedEvent[], s: ProjectState) => Promise<void>,
  ): Promise<Committed> {
    for (let attempt = 0; attempt < 20; attempt++) {
      // Trust the cache before the transaction (it is checked, and caught up, inside it); read only on a miss.
      const before = this.#states.get(projectId) ?? (await this.state(projectId));
      const seen = before.seq;
      const train = await this.train(before.trainHash);
      const gathered = await gather(before, train);
      const result = await this.#guard(projectId, async (trx) => {
        await this.store.lockProject(trx, projectId);
        if (who.idempotencyKey) {
          const prior = await findByIdempotencyKey(trx, projectId, who.idempotencyKey);
          if (prior) {
            await sameRequest(trx, projectId, who);
            const rest = await readEvents(trx, projectId, prior.seq - 1);
            const same = rest.filter(
              (r, i) =>
                i === 0 || (r.idempotency_key === null && r.ts === prior.ts && r.actor === prior.actor),
            );
            return { events: same.map(toRecorded), replayed: true };
          }
        }
        const s = await this.state(projectId, trx);
        if (s.seq !== seen && gathered !== null) return null;
        if (who.session) {
          requireLiveSession(s, who.session, who.actor);
          // Fencing by the database's clock: a session whose lease ran out commits nothing.
          const ticket = s.tickets[s.sessions[who.session]!.ticket]!;
          await requireLiveLease(trx, ticket.id, ticket.leaseGen);
        }
        const events = decide(s, train, gathered);
        const recorded = await this.appendIn(trx, projectId, { seq: s.seq, hash: s.headHash }, events, who);
        if (within) await within(trx, recorded, s);
        return { events: recorded, replayed: false };
      });
      if (result === null) continue;
      return { ...result, state: await this.absorb(projectId, result.replayed ? [] : result.events) };
    }
    throw new VtError(
      'CONFLICT',
      `project ${projectId} kept changing while its gates were evaluated; try again`,
    );
  }

  /**
   * Run a transaction; on any failure drop the project's cached state, which may have caught up
   * with events of a group commit that did not commit.
   */
  async #guard<T>(projectId: string | null, fn: (trx: Trx) => Promise<T>): Promise<T> {
    try {
      return await this.store.transaction(fn);
    } catch (err) {
      // A refused command rolled back alone; anything else may have been a failed group commit.
      if (!(err instanceof VtError)) {
        if (projectId) this.#states.delete(projectId);
        else this.#states.clear();
      }
      throw err;
    }
  }

  /** Run `fn` in a transaction of the store, forgetting cached states if it fails (see #guard). */
  transaction<T>(fn: (trx: Trx) => Promise<T>): Promise<T> {
    return this.#guard(null, fn);
  }

  /**
   * Fold events this process committed into the cached state. The cache caught up inside the
   * transaction; our own events are folded only once they are committed.
   */
  async absorb(projectId: string, events: readonly RecordedEvent[]): Promise<ProjectState> {
    this.#emitCommitted(events);
    const s = this.#states.get(projectId);
    // The cache was dropped after a failed commit: read the project afresh, our events included.
    if (!s) return this.state(projectId);
    // Another call committed in the same group may already have caught the cache up past these.
    for (const e of events) if (e.seq > s.seq) evolve(s, e);
    return s;
  }

  /** Append events and update projections inside the caller's transaction. */
  async appendIn(
    trx: Trx,
    projectId: string,
    head: { seq: number; hash: string },
    events: NewEvent[],
    who: Who,
  ) {
    const recorded = await appendEvents(trx, projectId, head, events, {
      ts: this.clock.now().toISOString(),
      actor: who.actor,
      idempotencyKey: who.idempotencyKey ?? null,
    });
    if (who.idempotencyKey && who.request && recorded.length)
      await rememberRequest(trx, {
        project_id: projectId,
        key: who.idempotencyKey,
        request: who.request,
        seq: recorded[0]!.seq,
      });
    for (const [i, e] of recorded.entries()) await project(trx, e, { head: i === recorded.length - 1 });
    if (this.#outbox.length) {
      // Side effects for outside systems commit with the events that cause them (the outbox pattern).
      const s = this.#states.get(projectId);
      const rows = recorded.flatMap((e) => this.#outbox.flatMap((rule) => rule(s, e)));
      for (const r of rows) {
        await trx
          .insertInto('outbox')
          .values({
            id: r.id,
            project_id: projectId,
            kind: r.kind,
            payload: JSON.stringify(r.payload),
            attempts: 0,
            next_at: recorded[0]!.ts,
            delivered_at: null,
            last_error: null,
            created_at: recorded[0]!.ts,
          })
          .onConflict((oc) => oc.column('id').doNothing())
          .execute();
      }
    }
    return recorded;
  }

  /** Add a rule that turns events into outbox entries (e.g. GitHub comments), written in the same transaction. */
  addOutboxRule(rule: OutboxRule): void {
    this.#outbox.push(rule);
  }

  /**
   * Call `fn` with the events of every commit of this engine, after the commit (never inside the
   * transaction, never for a replayed call). For work outside the store, such as signed checkpoints.
   * A listener that throws becomes a process warning: the commit stands. Returns an unsubscriber.
   */
  onCommitted(fn: (events: readonly RecordedEvent[]) => void): () => void {
    this.#committed.push(fn);
    return () => {
      const i = this.#committed.indexOf(fn);
      if (i >= 0) this.#committed.splice(i, 1);
    };
  }

  #emitCommitted(events: readonly RecordedEvent[]): void {
    if (!events.length) return;
    for (const fn of this.#committed) {
      try {
        fn(events);
      } catch (err) {
        process.emitWarning(err instanceof Error ? err : String(err), 'VtCommitListenerWarning');
      }
    }
  }

  /** Drop cached states, e.g. after the store was rebuilt by someone else. */
  forget(): void {
    this.#states.clear();
  }
}

/** The event an erasure is about, as the pure core sees it. */
function erasureTarget(row: StoredEvent | undefined): ErasureTarget | undefined {
  return (
    row && {
      seq: row.seq,
      type: row.type,
      payload: JSON.parse(row.payload),
      erasedBy: parseErasureMarker(row.payload)?.erased_by_seq ?? null,
    }
  );
}

/** A reused idempotency key must carry the same request it was first used for. */
async function sameRequest(trx: Trx, projectId: string, who: Who): Promise<void> {
  if (!who.request || !who.idempotencyKey) return;
  const first = await requestOf(trx, projectId, who.idempotencyKey);
  if (first !== null && !sameRequestText(first, who.request))
    throw new VtError(
      'CONFLICT',
      `the idempotency key "${who.idempotencyKey}" was already used for another command: ${first}`,
      { hint: 'Use a new key for a new command; the same key only repeats the same command' },
    );
}

/** The workspace.committed event for the snapshot taken before an evaluation (if any). */
function committedBy(s: ProjectState, snap: { commit: string; tree: string } | null, who: Who): NewEvent[] {
  if (!snap) return [];
  const session = who.session ?? null;
  const ticket = session ? (s.sessions[session]?.ticket ?? null) : null;
  return decideCommit(s, { session, ticket, ...snap });
}

function outcomeFromEvents(events: RecordedEvent[]): AdvanceOutcome {
  for (const e of events) {
    if (e.type === 'phase.advanced')
      return e.payload.kind === 'rework'
        ? { outcome: 'reworked', from: e.payload.from, to: e.payload.to }
        : {
            outcome: 'advanced',
            from: e.payload.from,
            to: e.payload.to,
            kind: e.payload.kind,
            reason: e.payload.reason,
          };
    if (e.type === 'project.completed') return { outcome: 'completed', from: e.payload.from };
  }
  const first = events[0];
  return {
    outcome: 'stayed',
    from: first?.type === 'gate.evaluated' ? first.payload.phase : '',
    blockedBy: 'exit',
  };
}
