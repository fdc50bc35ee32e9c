/**
 * `vt audit verify` over a whole store, in memory that does not grow with the history.
 *
 * The check streams: what it holds live is a page of events, one head per project and one project's
 * folded state (src/audit/audit.ts). But a process's peak memory is what V8 and SQLite choose to
 * keep, not what is live. V8 sizes the heap by how fast the program allocates, so a long scan grows
 * it far past what is live (290 MiB for 1M events, against ~25 MiB live), and SQLite keeps up to
 * 16 MiB of pages it will not read again. So the check runs in a worker thread with a bounded heap,
 * on a connection of its own with a small page cache: peak memory then barely moves from 10k events
 * to 1M (docs/benchmarks.md). A check that needs more than the bound (a store of very many trains,
 * say) is not cut short: verifyBounded answers null and the caller checks in its own heap.
 *
 * The worker runs the launcher itself (bin/vt.js, so it loads the checkout's sources or the built
 * package just as the command did) with the argument WORKER_ARG, which `main` hands to
 * runVerifyWorker.
 */
import type { VtError as VtErrorType } from '../errors.ts';
import { VT_JS } from '../package.ts';
import type { TrailResult } from './verify-log.ts';

export const WORKER_ARG = '__verify-worker';

/**
 * The worker's heap. Measured (docs/benchmarks.md): a smaller young generation made the check up to
 * half again slower (objects that would have died young are promoted and collected later, at more
 * cost), a larger old one let the heap grow with the history again.
 */
export const VERIFY_HEAP = { maxYoungGenerationSizeMb: 16, maxOldGenerationSizeMb: 40 } as const;

/** The smallest bound accepted: below it V8 cannot even start the worker's heap. */
export const MIN_VERIFY_HEAP_MB = 16;

/** The old generation's bound: VT_VERIFY_HEAP_MB (whole MiB, at least 16), else VERIFY_HEAP's. */
export async function verifyHeapMb(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const raw = env.VT_VERIFY_HEAP_MB;
  if (raw === undefined || raw === '') return VERIFY_HEAP.maxOldGenerationSizeMb;
  const n = Number(raw);
  if (Number.isInteger(n) && n >= MIN_VERIFY_HEAP_MB) return n;
  const { VtError } = await import('../errors.ts');
  throw new VtError(
    'BAD_INPUT',
    `VT_VERIFY_HEAP_MB must be a whole number of MiB, at least ${MIN_VERIFY_HEAP_MB}, not ${JSON.stringify(raw)}`,
  );
}

export interface VerifyJob {
  /** The store, as `--db` names it (a SQLite path or a PostgreSQL URL, with its password). */
  target: string;
  /** The audit folder whose checkpoints the log is checked against. */
  dir: string | null;
  /** A verifier key file given with --key (read again in the worker). */
  keyFile: string | null;
  project: string | undefined;
}

type Answer =
  | { ok: true; result: TrailResult }
  | { ok: false; error: { code: string; message: string; hint?: string; name: string; stack?: string } };

/**
 * Run verifyTrail for `job` in a worker thread with a bounded heap; null when the check needed more
 * memory than the bound (the caller then runs it without one).
 */
export async function verifyBounded(job: VerifyJob, heapMb: number): Promise<TrailResult | null> {
  const [{ Worker }, { VtError }] = await Promise.all([
    import('node:worker_threads'),
    import('../errors.ts'),
  ]);
  const worker = new Worker(VT_JS, {
    argv: [WORKER_ARG],
    workerData: job,
    resourceLimits: { ...VERIFY_HEAP, maxOldGenerationSizeMb: heapMb },
  });
  return new Promise<TrailResult | null>((resolve, reject) => {
    let answered = false;
    worker.once('message', (m: Answer) => {
      answered = true;
      if (m.ok) return resolve(m.result);
      const e = m.error;
      if (e.name === 'VtError')
        return reject(new VtError(e.code as VtErrorType['code'], e.message, e.hint ? { hint: e.hint } : {}));
      reject(Object.assign(new Error(e.message), { code: e.code, stack: e.stack }));
    });
    worker.once('error', (err: Error & { code?: string }) => {
      answered = true;
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') resolve(null);
      else reject(err);
    });
    worker.once('exit', (code) => {
      if (!answered) reject(new Error(`the audit verifier stopped (exit code ${code}) without an answer`));
    });
  });
}

/** The worker's side: open the store for reading, verify, answer, close. Returns the exit code. */
export async function runVerifyWorker(): Promise<number> {
  const { isMainThread, parentPort, workerData } = await import('node:worker_threads');
  if (isMainThread || !parentPort) {
    process.stderr.write(`${WORKER_ARG} is vt audit verify's worker thread, not a command\n`);
    return 2;
  }
  const job = workerData as VerifyJob;
  try {
    const [{ openStore }, { sql }, { verifyTrail }, { AuditDir, readVerifierKeyFile }] = await Promise.all([
      import('../store/store.ts'),
      import('kysely'),
      import('./verify-log.ts'),
      import('./audit-dir.ts'),
    ]);
    const store = await openStore(job.target, { readonly: true });
    try {
      // Every page is read once, in order: SQLite's page cache (16 MiB as better-sqlite3 builds it)
      // would only fill up with pages that are never read again.
      if (store.kind === 'sqlite') await sql`pragma cache_size = -1024`.execute(store.db);
      const key = job.keyFile ? readVerifierKeyFile(job.keyFile) : null;
      const result = await verifyTrail(store.db, {
        dir: job.dir ? new AuditDir(job.dir) : null,
        key,
        project: job.project,
      });
      parentPort.postMessage({ ok: true, result } satisfies Answer);
    } finally {
      await store.close();
    }
  } catch (err) {
    const e = err as Error & { code?: string; hint?: string };
    parentPort.postMessage({
      ok: false,
      error: {
        name: e.name,
        code: String(e.code ?? 'INTERNAL'),
        message: e.message,
        ...(e.hint ? { hint: e.hint } : {}),
        ...(e.stack ? { stack: e.stack } : {}),
      },
    } satisfies Answer);
  }
  return 0;
}
