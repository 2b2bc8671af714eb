// The demo's render loop without a browser: updates asked for between frames run together in one
// frame; while they keep coming, frames are at least RENDER_GAP_MS apart; a step that needs layout
// runs after every write of its render; one failing job does not stop the others.
import { describe, expect, it } from 'vitest';
import { RENDER_GAP_MS, RenderLoop, type RenderClock } from '../../../demo/app/render.ts';

/** A hand-driven clock: frames and timers run only when the test says so. */
function fakeClock() {
  let now = 0;
  let frames: (() => void)[] = [];
  let timers: { at: number; run: () => void }[] = [];
  const clock: RenderClock = {
    now: () => now,
    frame: (run) => void frames.push(run),
    after: (ms, run) => void timers.push({ at: now + ms, run }),
  };
  return {
    clock,
    /** Lets `ms` pass (timers due fire), then draws a frame if one was asked for. */
    advance(ms: number) {
      now += ms;
      const due = timers.filter((t) => t.at <= now);
      timers = timers.filter((t) => t.at > now);
      for (const t of due) t.run();
    },
    frame() {
      const run = frames;
      frames = [];
      for (const f of run) f();
    },
    get framesAsked() {
      return frames.length;
    },
    get timers() {
      return timers.length;
    },
  };
}

describe('demo render loop', () => {
  it('runs the jobs asked for between two frames in the next frame, each once', () => {
    const c = fakeClock();
    const loop = new RenderLoop(RENDER_GAP_MS, c.clock);
    const ran: string[] = [];
    const feed = () => ran.push('feed');
    const list = () => ran.push('list');
    loop.schedule(feed);
    loop.schedule(list);
    loop.schedule(feed);
    expect(c.framesAsked).toBe(1);
    expect(ran).toEqual([]);
    c.frame();
    expect(ran).toEqual(['feed', 'list']);
  });

  it('after a quiet spell the next update shows at the next frame; a stream renders once per gap', () => {
    const c = fakeClock();
    const loop = new RenderLoop(100, c.clock);
    let renders = 0;
    const job = () => renders++;
    loop.schedule(job);
    c.frame();
    expect(renders).toBe(1);
    // 50 updates, one every 20 ms (a paced stream): at most one render per 100 ms.
    for (let i = 0; i < 50; i++) {
      c.advance(20);
      loop.schedule(job);
      c.frame();
    }
    expect(renders).toBeGreaterThanOrEqual(10);
    expect(renders).toBeLessThanOrEqual(11);
    // Quiet for a while: the next update is not held back.
    c.advance(500);
    c.frame();
    const before = renders;
    loop.schedule(job);
    expect(c.timers).toBe(0);
    c.frame();
    expect(renders).toBe(before + 1);
  });

  it('a step that needs layout runs after every job of its render', () => {
    const c = fakeClock();
    const loop = new RenderLoop(100, c.clock);
    const ran: string[] = [];
    loop.schedule(() => {
      ran.push('feed writes');
      loop.afterWrites(() => ran.push('scroll to the bottom'));
    });
    loop.schedule(() => ran.push('list writes'));
    c.frame();
    expect(ran).toEqual(['feed writes', 'list writes', 'scroll to the bottom']);
  });

  it('a job that throws does not keep the others from rendering', async () => {
    const c = fakeClock();
    const loop = new RenderLoop(100, c.clock);
    const thrown: unknown[] = [];
    const onError = (e: unknown) => thrown.push(e);
    process.on('uncaughtException', onError);
    try {
      const ran: string[] = [];
      loop.schedule(() => { throw new Error('broken view'); });
      loop.schedule(() => ran.push('feed'));
      c.frame();
      expect(ran).toEqual(['feed']);
      await new Promise((r) => setTimeout(r, 10));
      expect(thrown.map((e) => (e as Error).message)).toEqual(['broken view']);
      // And the loop goes on.
      c.advance(100);
      loop.schedule(() => ran.push('next'));
      c.frame();
      expect(ran).toEqual(['feed', 'next']);
    } finally {
      process.off('uncaughtException', onError);
    }
  });
});
