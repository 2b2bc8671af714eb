// The gateway section of `npm run fuzz`: seeded, structure-aware mutations of every method's
// frames (protocol/methods.ts) plus raw garbage, sent before and after login to a real gateway in a
// child process on loopback. Each input is judged by its answer: a clear JSON-RPC error (or a clean
// close), a crash (the process died, a handler threw, or the answer is not JSON-RPC), a hang (no
// answer in time) or a wrong accept (an answer that grants what must not be granted).

import { randomBytes } from 'node:crypto';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../gateway/frame-limits.ts';
import { METHODS, isMethodName, type MethodName } from '../../protocol/methods.ts';
import { Identity } from '../support/aun-client.ts';
import { startGatewayChild, type GatewayChild } from './gateway-child.ts';
import { FuzzSocket, type Frame, type Waited } from './fuzz-socket.ts';
import { TEMPLATES, type TemplateContext } from './gateway-templates.ts';
import { deepText, hugeString, mutateParams, randomValue } from './mutate.ts';
import { Prng } from './prng.ts';
import type { FuzzSection } from './report.ts';

export interface GatewayFuzzOptions {
  seed: number;
  /** Inputs to try (the run also stops at the deadline). */
  count: number;
  deadlineMs: number;
}

export type GatewayFuzzResult = FuzzSection & { rssBeforeMiB: number; rssAfterMiB: number };

/** No answer within this is a hang (generous: the machine is shared). */
const HANG_MS = 10_000;
const MAX_NOTES = 50;
const METHOD_NAMES = Object.keys(METHODS) as MethodName[];

type Phase = 'pre' | 'post';

/** One fuzz input: the data to write and what answers it must draw. */
interface Input {
  phase: Phase;
  describe: string;
  writes: { data: string | Buffer; binary?: boolean }[];
  /** Ids whose answers to wait for, in any order (a duplicate id appears twice). */
  ids: unknown[];
  /** Answers with `id: null` to wait for (unparsable or id-less requests). */
  nullAnswers: number;
  /** The method each id was sent with (for the wrong-accept rules). */
  methodOf: Map<string, string>;
  /** auth.connect token by id, to judge what a successful connect was granted. */
  tokenOf: Map<string, unknown>;
  /** The socket may legitimately be closed by the gateway in answer to this input. */
  mayClose?: boolean;
}

/** The genuine tokens of the run: token → the AID it was issued to. */
type Genuine = Map<string, string>;

const b64url = (v: string | Buffer) => Buffer.from(v).toString('base64url');

function idKey(id: unknown): string {
  return JSON.stringify(JSON.parse(JSON.stringify(id ?? null)));
}

class Run {
  readonly section: FuzzSection = { name: 'gateway frames', tried: 0, clearErrors: 0, crashes: 0, hangs: 0, wrongAccepts: 0, lost: 0, notes: [] };
  gw!: GatewayChild;
  alice!: Identity;
  bob!: Identity;
  groupId = '';
  genuine: Genuine = new Map();
  pre: FuzzSocket | null = null;
  post: FuzzSocket | null = null;
  private seq = 0;

  constructor(readonly prng: Prng, readonly seed: number) {}

  note(line: string): void {
    if (this.section.notes.length < MAX_NOTES) this.section.notes.push(`seed ${this.seed}: ${line}`);
  }

  async start(): Promise<void> {
    this.gw = await startGatewayChild();
    const issuer = 'aun.local';
    this.alice = new Identity(`fza${randomBytes(4).toString('hex')}.${issuer}`);
    this.bob = new Identity(`fzb${randomBytes(4).toString('hex')}.${issuer}`);
    for (const id of [this.alice, this.bob]) {
      await id.register(this.gw.url);
      await id.login(this.gw.url, this.gw.httpUrl, this.gw.rootPem);
      this.genuine.set(id.accessToken, id.aid);
    }
    const post = await this.postSocket();
    const created = await this.call(post, 'group.create', { name: 'fuzz' });
    this.groupId = String((created.result as { group: { group_id: string } }).group.group_id);
    await this.call(post, 'group.add_member', { group_id: this.groupId, aid: this.bob.aid });
  }

  private async call(s: FuzzSocket, method: string, params: unknown): Promise<Frame> {
    const id = `setup-${++this.seq}`;
    s.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    const w = await s.next((f) => f.id === id, HANG_MS);
    if (w.kind !== 'frame' || w.frame.error) throw new Error(`fuzz setup: ${method} failed: ${JSON.stringify(w).slice(0, 300)}`);
    return w.frame;
  }

  /** Alice's authenticated long socket, reopened whenever the gateway closed it. */
  async postSocket(): Promise<FuzzSocket> {
    if (this.post?.open) return this.post;
    this.post?.close();
    const s = await FuzzSocket.open(this.gw.url, HANG_MS);
    await this.call(s, 'auth.connect', {
      nonce: s.nonce, auth: { method: 'kite_token', token: this.alice.accessToken }, protocol: { min: '1.0', max: '1.0' },
      device: { id: 'fz-main', type: 'sdk' }, client: { slot_id: 'main' }, delivery_mode: { mode: 'fanout' },
    });
    s.boundTo = this.alice.aid;
    this.post = s;
    return s;
  }

  /** A socket that has not authenticated. */
  async preSocket(): Promise<FuzzSocket> {
    if (this.pre?.open && this.pre.boundTo === null) return this.pre;
    this.pre?.close();
    this.pre = await FuzzSocket.open(this.gw.url, HANG_MS);
    return this.pre;
  }

  ctx(nonce: string): TemplateContext {
    return { alice: this.alice, bob: this.bob, groupId: this.groupId, nonce };
  }

  // ---- input generation ----

  request(phase: Phase, method: string, params: unknown, describe: string, id: unknown = `fz-${++this.seq}`): Input {
    const input: Input = { phase, describe, writes: [], ids: [], nullAnswers: 0, methodOf: new Map(), tokenOf: new Map() };
    const text = JSON.stringify({ jsonrpc: '2.0', id, method, params });
    input.writes.push({ data: text });
    // A frame nested too deep is refused unread, like unparsable text: its answer has id null.
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) input.nullAnswers = 1;
    else input.ids.push(id);
    input.methodOf.set(idKey(id), method);
    if (method === 'auth.connect') input.tokenOf.set(idKey(id), (params as { auth?: { token?: unknown } } | null)?.auth?.token);
    return input;
  }

  methodInput(phase: Phase, nonce: string): Input {
    const method = this.prng.pick(METHOD_NAMES);
    const template = TEMPLATES[method](this.ctx(nonce));
    if (this.prng.chance(0.1)) return this.request(phase, method, template, `${method} as templated`);
    const { params, what } = mutateParams(this.prng, template);
    const input = this.request(phase, method, params, `${method} with ${what}`);
    input.mayClose = method === 'auth.connect';
    return input;
  }

  envelopeInput(phase: Phase, nonce: string): Input {
    const method = this.prng.pick(METHOD_NAMES);
    const params = TEMPLATES[method](this.ctx(nonce));
    const base = { jsonrpc: '2.0', id: `fz-${++this.seq}`, method, params };
    const blank = (describe: string): Input => ({ phase, describe, writes: [], ids: [], nullAnswers: 0, methodOf: new Map(), tokenOf: new Map() });
    switch (this.prng.int(0, 8)) {
      case 0: { // an id the gateway cannot echo: answered with id null
        const id = this.prng.pick<unknown>([null, {}, [], true, 'i'.repeat(300), { a: 1 }]);
        const input = blank(`${method} with id ${JSON.stringify(id).slice(0, 30)}`);
        input.writes.push({ data: JSON.stringify({ ...base, id }) });
        input.nullAnswers = 1;
        return input;
      }
      case 1: { // odd but valid ids, echoed as sent
        const id = this.prng.pick<unknown>([0, -1, 1.5, 2 ** 53, 1e21, '', ' ', '\u0000', '\ud800', 'x'.repeat(256)]);
        return this.request(phase, method, params, `${method} with id ${JSON.stringify(id).slice(0, 30)}`, id);
      }
      case 2: { // the same id twice: two answers
        const input = this.request(phase, method, params, `${method} twice with one id`);
        input.writes.push(input.writes[0]!);
        input.ids.push(...input.ids);
        return input;
      }
      case 3: { // a batch
        const input = blank(`batch of ${method}`);
        input.writes.push({ data: JSON.stringify(Array.from({ length: this.prng.int(0, 50) }, () => base)) });
        input.nullAnswers = 1;
        return input;
      }
      case 4: { // jsonrpc missing or wrong
        const input = blank(`${method} with jsonrpc ${this.prng.pick(['1.0', 'none', '2'])}`);
        input.writes.push({ data: JSON.stringify({ ...base, jsonrpc: this.prng.pick(['1.0', undefined, 2, '2.0 ']) }) });
        input.ids.push(base.id);
        input.methodOf.set(idKey(base.id), method);
        return input;
      }
      case 5: { // method names that are not ours, internal, events, huge, not strings
        const name = this.prng.pick<unknown>(['auth.login1', 'initialize', 'event/message.received', 'challenge', 'META.PING', ' meta.ping', 'meta.ping\u0000', '__proto__', 'constructor', 'hasOwnProperty', 'x'.repeat(100_000), 5, null, ['meta.ping'], '']);
        const input = blank(`method ${JSON.stringify(name).slice(0, 30)}`);
        input.writes.push({ data: JSON.stringify({ ...base, method: name }) });
        input.ids.push(base.id);
        input.methodOf.set(idKey(base.id), typeof name === 'string' ? name : '');
        return input;
      }
      case 6: { // params that are not an object
        const input = this.request(phase, method, this.prng.pick<unknown>([[], [1, 2], 'x', 5, true, [params]]), `${method} with params not an object`);
        return input;
      }
      case 7: { // a notification: no answer; the probe after it must still be answered
        const input = blank(`notification ${method}`);
        input.writes.push({ data: JSON.stringify({ jsonrpc: '2.0', method, params }) });
        return input;
      }
      default: { // a huge frame just over the soft limit: refused with its id, socket kept
        const input = this.request(phase, method, { ...params, pad: 'p'.repeat(1_000_100) }, `${method} over 1,000,000 bytes`);
        return input;
      }
    }
  }

  rawInput(phase: Phase, nonce: string): Input {
    const blank = (describe: string, nullAnswers = 1): Input => ({ phase, describe, writes: [], ids: [], nullAnswers, methodOf: new Map(), tokenOf: new Map() });
    const valid = JSON.stringify({ jsonrpc: '2.0', id: 'raw', method: 'auth.connect', params: TEMPLATES['auth.connect'](this.ctx(nonce)) });
    switch (this.prng.int(0, 7)) {
      case 0: {
        const input = blank('binary frame');
        input.writes.push({ data: this.prng.bytes(this.prng.int(0, 4096)), binary: true });
        return input;
      }
      case 1: {
        const cut = this.prng.int(0, valid.length - 1);
        const input = blank(`truncated JSON at ${cut}`);
        input.writes.push({ data: valid.slice(0, cut) });
        return input;
      }
      case 2: {
        // Invalid UTF-8 in a text frame is closed with 1007 by ws itself (RFC 6455 §8.1).
        const input = blank('random bytes as text');
        input.writes.push({ data: this.prng.bytes(this.prng.int(1, 2048)) });
        input.mayClose = true;
        return input;
      }
      case 3: {
        const depth = this.prng.pick([65, 1000, 20_000, 100_000]);
        const input = blank(`${depth}-deep auth.connect protocol`);
        input.writes.push({ data: `{"jsonrpc":"2.0","id":"deep","method":"auth.connect","params":{"nonce":"${nonce}","protocol":${deepText(depth, this.prng.chance(0.5) ? '{"a":' : '[', this.prng.chance(0.5) ? '}' : ']')}}}` });
        return input;
      }
      case 4: {
        const input = blank('a JSON scalar');
        input.writes.push({ data: JSON.stringify(randomValue(this.prng)) });
        return input;
      }
      case 5: {
        const input = blank('huge string frame');
        input.writes.push({ data: JSON.stringify(hugeString(this.prng)) });
        return input;
      }
      case 6: {
        const input = blank('empty frame');
        input.writes.push({ data: '' });
        return input;
      }
      default: {
        if (this.prng.chance(0.9)) {
          const input = blank('unbalanced brackets');
          input.writes.push({ data: '['.repeat(this.prng.int(1, 50_000)) });
          return input;
        }
        const input = blank('a frame over the 8 MiB hard limit', 0);
        input.writes.push({ data: 'x'.repeat(9 * 1024 * 1024) });
        input.mayClose = true;
        return input;
      }
    }
  }

  /** A mutated genuine token on auth.connect: never accepted unless it is the genuine string. */
  tokenInput(nonce: string): Input {
    const [h, c, s] = this.bob.accessToken.split('.') as [string, string, string];
    const aliceClaims = this.alice.accessToken.split('.')[1]!;
    const none = b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }));
    const flip = (t: string) => { const i = this.prng.int(0, t.length - 1); const ch = t[i] === 'A' ? 'B' : 'A'; return t.slice(0, i) + ch + t.slice(i + 1); };
    const token = this.prng.pick([
      () => flip(this.bob.accessToken), () => `${this.bob.accessToken}=`, () => ` ${this.bob.accessToken}`, () => `${none}.${c}.`,
      () => `${h}.${aliceClaims}.${s}`, () => `${h}.${c}`, () => `${h}.${c}.${s}.${s}`, () => this.bob.accessToken.slice(0, -1) + 'x',
      () => `${h}.${c}.${s.slice(0, -2)}`, () => this.bob.accessToken.toUpperCase(),
    ])();
    const params = { ...TEMPLATES['auth.connect'](this.ctx(nonce)), auth: { method: 'kite_token', token } };
    return this.request('pre', 'auth.connect', params, `auth.connect with a mutated token ${token.slice(-12)}`);
  }

  // ---- delivery and judgement ----

  async deliver(input: Input): Promise<'clear' | 'accepted' | 'crash' | 'hang' | 'wrong'> {
    const s = input.phase === 'pre' ? await this.preSocket() : await this.postSocket();
    s.drain();
    for (const w of input.writes) s.send(w.data, w.binary);
    const answers: Waited[] = [];
    const pending = input.ids.map(idKey);
    while (pending.length) {
      const w = await s.next((f) => 'id' in f && pending.includes(idKey(f.id)), HANG_MS);
      answers.push(w);
      if (w.kind !== 'frame') break;
      pending.splice(pending.indexOf(idKey(w.frame.id)), 1);
    }
    const allAnswered = (): boolean => answers.every((a) => a.kind === 'frame');
    for (let n = 0; n < input.nullAnswers && allAnswered(); n++) {
      answers.push(await s.next((f) => 'id' in f && f.id === null, HANG_MS));
    }
    if (allAnswered()) {
      // Nothing is owed, or all was answered: a probe shows the socket still serves.
      const probe = `probe-${++this.seq}`;
      s.send(JSON.stringify({ jsonrpc: '2.0', id: probe, method: 'meta.ping' }));
      const w = await s.next((f) => f.id === probe, HANG_MS);
      if (w.kind !== 'frame') answers.push(w);
    }
    return this.judge(input, s, answers);
  }

  judge(input: Input, s: FuzzSocket, answers: Waited[]): 'clear' | 'accepted' | 'crash' | 'hang' | 'wrong' {
    let verdict: 'clear' | 'accepted' = 'clear';
    for (const a of answers) {
      if (a.kind === 'timeout') {
        if (this.gw.exited !== null) return this.crash(input, `gateway exited (${this.gw.exited})`);
        this.note(`hang: no answer in ${HANG_MS} ms to ${input.phase} ${input.describe}`);
        s.close();
        return 'hang';
      }
      if (a.kind === 'closed') {
        if (this.gw.exited !== null) return this.crash(input, `gateway exited (${this.gw.exited})`);
        if (!input.mayClose && ![1000, 1009, 4008, 4013, 4014, 4015].includes(a.code)) {
          this.note(`unexpected close ${a.code} after ${input.phase} ${input.describe}`);
        }
        continue;
      }
      if (a.kind === 'garbage') return this.crash(input, `answer is not JSON: ${a.text.slice(0, 80)}`);
      const f = a.frame;
      if (f.jsonrpc !== '2.0') return this.crash(input, `answer without jsonrpc 2.0: ${JSON.stringify(f).slice(0, 120)}`);
      if ('error' in f) {
        const e = f.error as { code?: unknown; message?: unknown };
        if (!Number.isInteger(e?.code) || typeof e?.message !== 'string') return this.crash(input, `malformed error ${JSON.stringify(f).slice(0, 120)}`);
        if (e.message.startsWith('internal error in')) return this.crash(input, `handler threw: ${e.message.slice(0, 160)}`);
        if (JSON.stringify(f).length > 8192) return this.crash(input, `error answer of ${JSON.stringify(f).length} bytes echoes input`);
        continue;
      }
      if (!('result' in f)) return this.crash(input, `answer with neither result nor error: ${JSON.stringify(f).slice(0, 120)}`);
      const wrong = this.wrongAccept(input, s, f);
      if (wrong) {
        this.note(`wrong accept: ${wrong} (${input.phase} ${input.describe})`);
        return 'wrong';
      }
      verdict = 'accepted';
    }
    return verdict;
  }

  crash(input: Input, why: string): 'crash' {
    this.note(`crash: ${why} after ${input.phase} ${input.describe}`);
    return 'crash';
  }

  /** What a result must not grant; null when it is fine. */
  wrongAccept(input: Input, s: FuzzSocket, f: Frame): string | null {
    const method = input.methodOf.get(idKey(f.id)) ?? '';
    const result = f.result as Record<string, unknown> | null;
    if (method === 'auth.connect') {
      const token = input.tokenOf.get(idKey(f.id));
      const owner = typeof token === 'string' ? this.genuine.get(token) : undefined;
      const aid = (result?.identity as { aid?: unknown } | undefined)?.aid;
      if (input.phase === 'post') return 'a second auth.connect on an authenticated socket succeeded';
      if (owner === undefined) return `auth.connect accepted a token that was never issued: ${String(token).slice(0, 40)}`;
      if (aid !== owner) return `auth.connect with ${owner}'s token bound ${String(aid)}`;
      s.boundTo = owner;
      return null;
    }
    if (input.phase === 'pre' && !(isMethodName(method) && METHODS[method].preAuth)) return `${method || '<not a method>'} answered before auth.connect`;
    if (method === 'auth.aid_login2') return 'auth.aid_login2 granted a token for credentials never issued';
    if (method === 'auth.renew_cert' || method === 'auth.rekey') return `${method} issued a certificate for a nonce never handed out`;
    if (method === 'group.complete_transfer') return 'group.complete_transfer moved a group no one authorised';
    if (method === 'auth.refresh_token' && result?.success === true) return 'auth.refresh_token rotated a refresh token never issued';
    if (method === 'meta.status' && result?.aid !== this.alice.aid) return `meta.status reports ${String(result?.aid)} on ${this.alice.aid}'s socket`;
    return null;
  }

  /** Finding 1 as an input: a login1 signature over "." + claims must never connect. */
  async forgedTokenInput(): Promise<'clear' | 'crash' | 'hang' | 'wrong'> {
    const victim = this.prng.chance(0.5) ? this.bob.aid : this.alice.aid;
    const now = Math.floor(Date.now() / 1000);
    const claims = b64url(JSON.stringify({ aid: victim, sub: victim, iss: 'auth.aun.local', aud: 'aun', exp: now + 3600 }));
    const header = this.prng.chance(0.5) ? '' : this.bob.accessToken.split('.')[0]!;
    const nonce = `${header}.${claims}`;
    const pre = await this.preSocket();
    const l1 = this.request('pre', 'auth.aid_login1', { aid: victim, client_nonce: nonce }, 'login1 over a claims-shaped nonce');
    pre.send(l1.writes[0]!.data);
    const w = await pre.next((f) => f.id === l1.ids[0], HANG_MS);
    if (w.kind !== 'frame') return this.judge(l1, pre, [w]) as 'crash' | 'hang';
    const sig = (w.frame.result as { client_nonce_signature?: string } | undefined)?.client_nonce_signature;
    if (!sig) return 'clear';
    const der = Buffer.from(sig, 'base64');
    let i = der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2;
    const int = () => { const len = der[i + 1]!; let v = der.subarray(i + 2, i + 2 + len); i += 2 + len; while (v.length > 32 && v[0] === 0) v = v.subarray(1); return Buffer.concat([Buffer.alloc(32 - v.length), v]); };
    const token = `${nonce}.${b64url(Buffer.concat([int(), int()]))}`;
    const s = await this.preSocket();
    const connect = this.request('pre', 'auth.connect', { ...TEMPLATES['auth.connect'](this.ctx(s.nonce)), auth: { method: 'kite_token', token } }, `auth.connect with a token forged from a login1 signature for ${victim}`);
    s.send(connect.writes[0]!.data);
    const answer = await s.next((f) => f.id === connect.ids[0], HANG_MS);
    const verdict = this.judge(connect, s, [answer]);
    return verdict === 'accepted' ? 'clear' : verdict;
  }

  async next(): Promise<'clear' | 'accepted' | 'crash' | 'hang' | 'wrong'> {
    const roll = this.prng.next();
    if (roll < 0.02) return this.forgedTokenInput();
    const phase: Phase = this.prng.chance(0.4) ? 'pre' : 'post';
    const s = phase === 'pre' ? await this.preSocket() : await this.postSocket();
    if (roll < 0.06) return this.deliver(this.tokenInput((await this.preSocket()).nonce));
    if (roll < 0.2) return this.deliver(this.rawInput(phase, s.nonce));
    if (roll < 0.35) return this.deliver(this.envelopeInput(phase, s.nonce));
    return this.deliver(this.methodInput(phase, s.nonce));
  }

  /** After the run: a fresh login, connect and message still work. */
  async survives(): Promise<string | null> {
    try {
      const carol = new Identity(`fzc${randomBytes(4).toString('hex')}.aun.local`);
      await carol.register(this.gw.url);
      await carol.login(this.gw.url, this.gw.httpUrl, this.gw.rootPem);
      const s = await FuzzSocket.open(this.gw.url, HANG_MS);
      await this.call(s, 'auth.connect', { nonce: s.nonce, auth: { method: 'kite_token', token: carol.accessToken }, device: { id: 'after' } });
      await this.call(s, 'message.send', { to: this.bob.aid, payload: { type: 'text', text: 'still here' } });
      s.close();
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  }

  stop(): Promise<void> {
    this.pre?.close();
    this.post?.close();
    return this.gw.stop();
  }
}

export async function runGatewayFuzz(opts: { seed: number; count: number; deadlineMs: number }): Promise<GatewayFuzzResult> {
  const run = new Run(new Prng(opts.seed), opts.seed);
  await run.start();
  // The time bound is for the inputs; starting the gateway and logging in is bounded on its own.
  const deadline = Date.now() + opts.deadlineMs;
  const rssBeforeMiB = run.gw.rssMiB();
  const section = run.section;
  try {
    while (section.tried < opts.count && Date.now() < deadline) {
      section.tried++;
      let verdict: Awaited<ReturnType<Run['next']>>;
      try {
        verdict = await run.next();
      } catch (err) {
        verdict = run.gw.exited !== null ? run.crash({ phase: 'pre', describe: `input ${section.tried}` } as Input, `gateway exited (${run.gw.exited})`) : 'hang';
        if (verdict === 'hang') run.note(`hang: ${(err as Error).message} at input ${section.tried}`);
      }
      if (verdict === 'clear') section.clearErrors++;
      else if (verdict === 'crash') section.crashes++;
      else if (verdict === 'hang') section.hangs++;
      else if (verdict === 'wrong') section.wrongAccepts++;
      if (run.gw.exited !== null) {
        run.note(`gateway died at input ${section.tried}: ${run.gw.output().slice(-600)}`);
        await run.stop();
        await run.start();
      }
    }
    const broken = await run.survives();
    if (broken) {
      section.crashes++;
      run.note(`after the run a fresh client could not log in, connect and send: ${broken}`);
    }
    const rssAfterMiB = run.gw.exited === null ? run.gw.rssMiB() : NaN;
    return { ...section, rssBeforeMiB, rssAfterMiB };
  } finally {
    await run.stop();
  }
}
