// Fault injection switches behind /admin/pause, /admin/resume and /admin/delay. While paused the
// gateway behaves like a stopped process: incoming frames are held unprocessed and nothing is
// written; on resume everything held runs in arrival order. A delay postpones every write.

export class Faults {
  private paused = false;
  private held: (() => void)[] = [];
  delayMs = 0;

  get isPaused(): boolean {
    return this.paused;
  }

  /** Runs work on an incoming frame now, or after resume. */
  inbound(work: () => void): void {
    if (this.paused) this.held.push(work);
    else work();
  }

  /** Performs a write now, after the configured delay, or after resume. */
  outbound(write: () => void): void {
    if (this.paused) this.held.push(() => this.outbound(write));
    else if (this.delayMs > 0) setTimeout(write, this.delayMs);
    else write();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    const held = this.held;
    this.held = [];
    for (const work of held) work();
  }
}
