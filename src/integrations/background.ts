/**
 * Runs a job in the background, one run at a time: `kick` starts a run (or asks for one more after the
 * current run) and returns at once, so a caller such as the autopilot loop never waits on a network.
 */
export class Background<R> {
  readonly #job: () => Promise<R>;
  readonly #onError: (err: unknown) => void;
  #running: Promise<void> | null = null;
  #again = false;
  /** The result of the last run that finished. */
  last: R | null = null;

  constructor(job: () => Promise<R>, onError: (err: unknown) => void = () => {}) {
    this.#job = job;
    this.#onError = onError;
  }

  kick(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        try {
          this.last = await this.#job();
        } catch (err) {
          this.#onError(err);
        }
      } while (this.#again);
    })().finally(() => {
      this.#running = null;
    });
  }

  /** Wait for the current run, at most `ms`; true when nothing is running any more. */
  async drain(ms: number): Promise<boolean> {
    const running = this.#running;
    if (!running) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((r) => {
      timer = setTimeout(() => r(false), ms);
    });
    const done = await Promise.race([running.then(() => true as const), timeout]);
    clearTimeout(timer);
    return done;
  }
}
