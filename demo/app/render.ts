// One render loop for the views that incoming messages change: the feed and the conversation
// list. Their updates run together in one animation frame, and while messages keep coming, at
// most one such frame every RENDER_GAP_MS: a message after a quiet spell shows at the next frame,
// a stream of them a few times a second. Every frame costs a visible tab a few milliseconds of
// main-thread time, however little it shows, and every visible tab of the origin pays it for
// every message (docs/decisions.md, "The demo's renders"). The feed does not wait for a render
// when lines pile up (a flood: app/feed.ts). The open conversation is not in this loop: it is
// what the user reads, and it shows each message at the next frame.

/** Shortest time from one render to the next while updates keep coming. */
export const RENDER_GAP_MS = 100;

export interface RenderClock {
  now(): number;
  frame(run: () => void): void;
  after(ms: number, run: () => void): void;
}

const browserClock: RenderClock = {
  now: () => performance.now(),
  frame: (run) => void requestAnimationFrame(run),
  after: (ms, run) => void setTimeout(run, ms),
};

export class RenderLoop {
  readonly #jobs = new Set<() => void>();
  readonly #reads = new Set<() => void>();
  #pending = false;
  #last = -Infinity;

  constructor(private readonly gapMs = RENDER_GAP_MS, private readonly clock: RenderClock = browserClock) {}

  /** Runs `job` in the next render; a job asked for again before it ran runs once. */
  schedule(job: () => void): void {
    this.#jobs.add(job);
    if (this.#pending) return;
    this.#pending = true;
    const wait = this.#last + this.gapMs - this.clock.now();
    if (wait > 0) this.clock.after(wait, () => this.clock.frame(() => this.#render()));
    else this.clock.frame(() => this.#render());
  }

  /**
   * Runs `step` in this render after every job, so that a step which needs layout (a scroll to
   * the bottom) lays the page out once, with all of the render's writes in it.
   */
  afterWrites(step: () => void): void {
    this.#reads.add(step);
  }

  #render(): void {
    this.#pending = false;
    this.#last = this.clock.now();
    const jobs = [...this.#jobs];
    this.#jobs.clear();
    for (const job of jobs) run(job);
    const reads = [...this.#reads];
    this.#reads.clear();
    for (const step of reads) run(step);
  }
}

function run(f: () => void): void {
  try {
    f();
  } catch (e) {
    // One view's fault does not keep the others from rendering; it is reported on its own.
    queueMicrotask(() => { throw e; });
  }
}

export const renderLoop = new RenderLoop();
