import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  AunError, ConnectionLostError, NotFoundError, TimeoutError, ValidationError,
} from '../../../protocol/errors.ts';
import { MAX_FRAME_BYTES } from '../../../protocol/frames.ts';
import { CallAbortedError, Transport, type BadFrameReport, type TransportOptions } from '../../../worker/session/transport.ts';
import { fakeSockets, type FakeSocket } from './fake-socket.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

async function opened(opts: Omit<TransportOptions, 'WebSocketImpl'> = {}): Promise<{ t: Transport; s: FakeSocket }> {
  const f = fakeSockets();
  const pending = Transport.open('ws://gw.test/ws', { ...opts, WebSocketImpl: f.Ctor });
  f.last().accept();
  return { t: await pending, s: f.last() };
}

describe('Transport: opening', () => {
  it('resolves with the challenge', async () => {
    const { t } = await opened();
    expect(t.challenge.nonce).toBe('nonce-1');
    expect(t.isOpen).toBe(true);
  });

  it('fails when the first frame is not a challenge, when the socket closes, or at the deadline', async () => {
    const f = fakeSockets();
    const notChallenge = Transport.open('ws://gw.test/ws', { WebSocketImpl: f.Ctor });
    f.last().push({ jsonrpc: '2.0', method: 'event/x', params: {} });
    await expect(notChallenge).rejects.toThrow(/did not start with a challenge/);

    const closed = Transport.open('ws://gw.test/ws', { WebSocketImpl: f.Ctor });
    f.last().serverClose(4008, 'auth timeout');
    await expect(closed).rejects.toMatchObject({ name: 'ConnectionLostError', code: 4008 });

    const slow = Transport.open('ws://gw.test/ws', { WebSocketImpl: f.Ctor, openTimeoutMs: 1000 });
    const expectation = expect(slow).rejects.toBeInstanceOf(TimeoutError);
    await vi.advanceTimersByTimeAsync(1000);
    await expectation;
    expect(f.last().closedWith).not.toBeNull();
  });

  it('keeps the monotonic time of the last frame received, answers, events and bad frames alike', async () => {
    let mono = 100;
    const { t, s } = await opened({ monotonic: () => mono });
    expect(t.lastReceivedAt).toBe(100);
    for (const frame of [{ jsonrpc: '2.0', method: 'event/x', params: {} }, 'not json', { jsonrpc: '2.0', id: 'unknown', result: {} }]) {
      mono += 50;
      s.push(frame);
      expect(t.lastReceivedAt).toBe(mono);
    }
  });

  it('can be cancelled while waiting for the challenge', async () => {
    const f = fakeSockets();
    const controller = new AbortController();
    const pending = Transport.open('ws://gw.test/ws', { WebSocketImpl: f.Ctor, signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toThrow(/cancelled/);
    expect(f.last().closedWith).not.toBeNull();
  });
});

describe('Transport: calls', () => {
  it('sends JSON-RPC requests with rpc-<16 hex> ids and resolves with the result', async () => {
    const { t, s } = await opened();
    const a = t.call('meta.ping', {});
    const b = t.call('meta.status', {});
    const [ra, rb] = [s.request(0), s.request(1)];
    expect(ra).toEqual({ jsonrpc: '2.0', id: expect.stringMatching(/^rpc-[0-9a-f]{16}$/), method: 'meta.ping', params: {} });
    expect(rb.id).not.toBe(ra.id);
    s.answer({ mode: 'gateway' }, 1);
    s.answer({ pong: true, timestamp: 1 }, 0);
    await expect(a).resolves.toEqual({ pong: true, timestamp: 1 });
    await expect(b).resolves.toEqual({ mode: 'gateway' });
    expect(t.pendingCount).toBe(0);
  });

  it('turns error answers into typed errors', async () => {
    const { t, s } = await opened();
    const call = t.call('group.get_info', { group_id: 'g' });
    s.push({ jsonrpc: '2.0', id: s.request().id, error: { code: -32008, message: 'no such group' } });
    await expect(call).rejects.toBeInstanceOf(NotFoundError);
  });

  it('rejects at the per-call deadline (default 35 s) and drops the late answer', async () => {
    const bad = vi.fn();
    const { t, s } = await opened({ onBadFrame: bad });
    const short = t.call('meta.ping', {}, { timeoutMs: 50 });
    const long = t.call('meta.status', {});
    const shortDone = expect(short).rejects.toBeInstanceOf(TimeoutError);
    await vi.advanceTimersByTimeAsync(50);
    await shortDone;
    const longDone = expect(long).rejects.toThrow(/no answer within 35000 ms/);
    await vi.advanceTimersByTimeAsync(35_000);
    await longDone;
    s.answer({ pong: true }, 0);
    expect(t.pendingCount).toBe(0);
    expect(bad).not.toHaveBeenCalled();
  });

  it('rejects at once when aborted, before or after sending, and ignores the late answer', async () => {
    const { t, s } = await opened();
    const before = new AbortController();
    before.abort();
    await expect(t.call('meta.ping', {}, { signal: before.signal })).rejects.toBeInstanceOf(CallAbortedError);
    expect(s.sent).toHaveLength(0);

    const during = new AbortController();
    const call = t.call('meta.ping', {}, { signal: during.signal });
    during.abort();
    await expect(call).rejects.toMatchObject({ name: 'AbortError' });
    expect(t.pendingCount).toBe(0);
    s.answer({ pong: true });
    const next = t.call('meta.ping', {});
    s.answer({ pong: true, timestamp: 2 });
    await expect(next).resolves.toEqual({ pong: true, timestamp: 2 });
  });

  it('refuses frames over MAX_FRAME_BYTES without sending them', async () => {
    const { t, s } = await opened();
    const big = { type: 'text', text: 'é'.repeat(MAX_FRAME_BYTES / 2) };
    await expect(t.call('message.send', { to: 'bob.aun.local', payload: big })).rejects.toBeInstanceOf(ValidationError);
    // Just under the limit in UTF-16 units but over it in UTF-8 bytes.
    const sneaky = { type: 'text', text: '€'.repeat(MAX_FRAME_BYTES / 3) };
    await expect(t.call('message.send', { to: 'bob.aun.local', payload: sneaky })).rejects.toThrow(/frame limit/);
    expect(s.sent).toHaveLength(0);
  });

  it('refuses params JSON cannot write (a BigInt) with a ValidationError, sending nothing, and goes on', async () => {
    const { t, s } = await opened();
    await expect(t.call('meta.status', { n: 1n } as never)).rejects.toThrow(ValidationError);
    // A notification of such params is not written either (notify says false, as for one too big).
    expect(t.notify('notification/route', { n: 1n })).toBe(false);
    expect(s.sent).toHaveLength(0);
    expect(t.pendingCount).toBe(0);
    const next = t.call('meta.ping', {});
    s.answer({ pong: true, timestamp: 1 }, 0);
    await expect(next).resolves.toEqual({ pong: true, timestamp: 1 });
  });

  it('rejects every pending call at once when the socket closes, with the close code', async () => {
    const onClose = vi.fn();
    const { t, s } = await opened({ onClose });
    const calls = [t.call('meta.ping', {}), t.call('meta.status', {})];
    s.serverClose(1006, 'gone');
    for (const c of calls) await expect(c).rejects.toMatchObject({ name: 'ConnectionLostError', code: 1006, data: { closeCode: 1006, reason: 'gone' } });
    expect(onClose).toHaveBeenCalledWith(1006, 'gone');
    await expect(t.call('meta.ping', {})).rejects.toMatchObject({ code: 1006 });
    expect(() => t.ensureOpen('x')).toThrow(ConnectionLostError);
  });

  it('close() from our side rejects pending calls but does not report a remote close', async () => {
    const onClose = vi.fn();
    const { t, s } = await opened({ onClose });
    const call = t.call('meta.ping', {});
    t.close();
    await expect(call).rejects.toBeInstanceOf(ConnectionLostError);
    expect(s.closedWith).toEqual({ code: 1000, reason: 'closed by client' });
    expect(onClose).not.toHaveBeenCalled();
  });
});

describe('Transport: incoming frames', () => {
  it('routes events by name without the event/ prefix', async () => {
    const onEvent = vi.fn();
    const { s } = await opened({ onEvent });
    s.push({ jsonrpc: '2.0', method: 'event/message.received', params: { seq: 1 } });
    expect(onEvent).toHaveBeenCalledWith('message.received', { seq: 1 });
  });

  it('reports and drops bad frames, and keeps working', async () => {
    const reports: BadFrameReport[] = [];
    const onEvent = vi.fn(() => {
      throw new Error('listener bug');
    });
    const { t, s } = await opened({ onBadFrame: (r) => reports.push(r), onEvent });
    s.push('{not json');
    s.push(new Uint8Array([1, 2, 3]));
    s.push('[1,2]');
    s.push({ jsonrpc: '2.0', method: 'challenge', params: { nonce: 'again' } });
    s.push({ jsonrpc: '2.0', method: 'surprise', params: {} });
    s.push({ jsonrpc: '2.0', id: 'rpc-unknown', result: {} });
    s.push({ jsonrpc: '2.0', method: 'event/x', params: {} });
    expect(reports.map((r) => r.reason)).toEqual([
      'not valid JSON',
      'binary frame (AUN frames are JSON text)',
      'not a JSON-RPC response or notification',
      'a second challenge on an open connection',
      'unknown notification surprise',
      'a frame handler threw: listener bug',
    ]);
    expect(reports[0]!.sample).toBe('{not json');
    const call = t.call('meta.ping', {});
    s.answer({ pong: true });
    await expect(call).resolves.toEqual({ pong: true });
  });

  it('never throws out of the message handler, even if the reporter throws', async () => {
    const { s } = await opened({
      onBadFrame: () => {
        throw new AunError('reporter bug');
      },
    });
    expect(() => s.push('garbage')).not.toThrow();
  });
});
