// Protocol v1 as the transcript pins it (`tests/protocol/v1.json`), for this
// SDK, mirroring server/tests/api/protocol_v1.rs: each session is played
// against a fresh `daylight serve` (the transcript's frames byte for byte, the
// answers matched against its patterns), then the frames received are fed, in
// order, through sdk-js's own stream handling (ServerClient for server keys,
// BrowserClient for client keys) over a scripted socket. After every frame the
// SDK must hold what the frame says (versions, flags, values, state), and a
// message type from the future, slipped in after each `welcome`, must change
// nothing.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import WebSocket from 'ws';

import { BrowserClient } from '../src/browser/client.js';
import { ServerClient } from '../src/server/client.js';
import { DaylightServer, MemoryLogger, MemoryStorage, until } from './support/daylight.js';
import { fakeSockets, type FakeSocket } from './support/fake-socket.js';
import { REPO_ROOT } from './support/paths.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Frame = { type: string; [field: string]: Json };
type Step = { action?: string; send?: string; expect?: Json };

const transcript = JSON.parse(readFileSync(join(REPO_ROOT, 'tests', 'protocol', 'v1.json'), 'utf8')) as {
  sessions: { [name: string]: Step[] };
};

/**
 * Matches `actual` against a transcript pattern (see the transcript's
 * description), binding `<u64:name>` placeholders in `vars`; throws on a
 * mismatch. The same rules as the Rust test's `matches`.
 */
function matches(pattern: Json, actual: Json | undefined, vars: Map<string, number>, path: string): void {
  const fail = (what: string): never => {
    throw new Error(`${path}: expected ${what}, got ${JSON.stringify(actual)}`);
  };
  if (typeof pattern === 'string' && pattern.startsWith('<') && pattern.endsWith('>')) {
    const spec = pattern.slice(1, -1);
    const isU64 = typeof actual === 'number' && Number.isInteger(actual) && actual >= 0;
    if (spec === 'any') return;
    if (spec === 'str') return void (typeof actual === 'string' || fail('a string'));
    if (spec === 'u64') return void (isU64 || fail('a number'));
    if (!spec.startsWith('u64:')) throw new Error(`${path}: unknown placeholder ${pattern}`);
    if (!isU64) fail('a number');
    const [name, plus] = spec.slice(4).split('+') as [string, string | undefined];
    const offset = plus === undefined ? 0 : Number(plus);
    const bound = vars.get(name);
    if (bound === undefined) {
      if (offset !== 0) throw new Error(`${path}: ${name} is not bound yet`);
      vars.set(name, actual as number);
    } else if (bound + offset !== actual) {
      fail(`${name}+${offset} = ${bound + offset}`);
    }
    return;
  }
  if (Array.isArray(pattern)) {
    if (!Array.isArray(actual) || actual.length !== pattern.length) fail(`${pattern.length} items`);
    pattern.forEach((p, i) => matches(p, (actual as Json[])[i], vars, `${path}[${i}]`));
    return;
  }
  if (typeof pattern === 'object' && pattern !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) fail('an object');
    for (const [key, p] of Object.entries(pattern)) {
      const object = actual as { [key: string]: Json };
      if (!(key in object)) fail(`member ${key}`);
      matches(p, object[key], vars, `${path}.${key}`);
    }
    return;
  }
  if (pattern !== actual) fail(JSON.stringify(pattern));
}

test('the transcript matcher can fail', () => {
  const vars = new Map<string, number>();
  matches({ v: '<u64:v>' }, { v: 3, extra: 1 }, vars, 'f');
  matches({ v: '<u64:v+1>' }, { v: 4 }, vars, 'f');
  assert.throws(() => matches({ v: '<u64:v+1>' }, { v: 5 }, vars, 'f'));
  assert.throws(() => matches({ a: [1] }, { a: [1, 2] }, vars, 'f'));
  assert.throws(() => matches({ a: '<str>' }, {}, vars, 'f'));
  assert.throws(() => matches({ a: 'x' }, { a: 'y' }, vars, 'f'));
});

/** What happened on one session, in order: what the SDK side sent and received. */
type Event = { kind: 'connect' } | { kind: 'sent'; frame: Frame } | { kind: 'received'; text: string };

/** One WebSocket to the server, its messages queued (heartbeats left out, as the Rust test does). */
class Wire {
  private readonly queue: string[] = [];
  private readonly waiters: ((text: string) => void)[] = [];
  readonly open: Promise<void>;

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data: WebSocket.RawData) => {
      const text = data.toString();
      if ((JSON.parse(text) as Frame).type === 'heartbeat') return;
      const waiter = this.waiters.shift();
      if (waiter !== undefined) waiter(text);
      else this.queue.push(text);
    });
    socket.on('error', () => {}); // a refused or dropped connection shows in `next`
    this.open = new Promise((ok, fail) => {
      socket.once('open', () => ok());
      socket.once('error', fail);
    });
  }

  next(): Promise<string> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error('no message within 5 s')), 5000);
      this.waiters.push((text) => {
        clearTimeout(timer);
        ok(text);
      });
    });
  }
}

/** Plays one session against a fresh server; returns what the SDK side sent and received. */
async function play(name: string, steps: Step[]): Promise<Event[]> {
  const server = await DaylightServer.start();
  const wires: Wire[] = [];
  try {
    // The transcript's setup.
    await server.createFlag('production', 'lobby', { variations: [false, true], client_side: true }, {
      on: false,
      off_variation: 0,
      fallthrough: { variation: 1 },
    });
    await server.createFlag('production', 'internal', { variations: [false, true] }, {
      on: false,
      off_variation: 0,
      fallthrough: { variation: 0 },
    });
    const keys = { server: await server.createKey('production', 'server'), client: await server.createKey('production', 'client') };
    const vars = new Map<string, number>();
    const events: Event[] = [];
    let wire: Wire | undefined;
    for (const [i, step] of steps.entries()) {
      const at = `${name} step ${i}`;
      if (step.action !== undefined) {
        switch (step.action) {
          case 'connect':
            wire = new Wire(new WebSocket(`${server.url.replace('http', 'ws')}/sdk/v1/stream`));
            wires.push(wire);
            await wire.open;
            events.push({ kind: 'connect' });
            break;
          case 'toggle_on':
          case 'toggle_off':
            await server.toggle('production', 'lobby', step.action === 'toggle_on');
            break;
          default:
            throw new Error(`${at}: unknown action ${step.action}`);
        }
      } else if (step.send !== undefined) {
        let text = step.send.replaceAll('$SERVER_KEY', keys.server).replaceAll('$CLIENT_KEY', keys.client);
        for (const [v, value] of vars) text = text.replaceAll(`$${v}`, String(value));
        wire!.socket.send(text);
        let frame: Frame | undefined;
        try {
          frame = JSON.parse(text) as Frame;
        } catch {
          // a malformed frame the transcript sends on purpose
        }
        if (frame !== undefined) events.push({ kind: 'sent', frame });
      } else if (step.expect !== undefined) {
        const text = await wire!.next();
        try {
          matches(step.expect, JSON.parse(text) as Json, vars, 'frame');
        } catch (e) {
          throw new Error(`${at}: ${(e as Error).message}`);
        }
        events.push({ kind: 'received', text });
      } else {
        throw new Error(`${at}: unknown step ${JSON.stringify(step)}`);
      }
    }
    return events;
  } finally {
    for (const w of wires) w.socket.terminate();
    await server.stop();
  }
}

/** The SDK under test for one connection, and what it reported. */
interface Sdk {
  kind: 'server' | 'client';
  client: ServerClient | BrowserClient;
  fake: ReturnType<typeof fakeSockets>;
  errors: string[];
}

function serverSdk(): Sdk {
  const fake = fakeSockets();
  const errors: string[] = [];
  const client = new ServerClient({
    url: 'ws://flags.test',
    serverKey: 'dl_server_transcript',
    webSocket: fake.factory,
    logger: new MemoryLogger(),
    backoff: { initialMs: 5, maxMs: 10 },
    sendUsage: false,
  });
  client.on('error', (e) => errors.push(e.code));
  return { kind: 'server', client, fake, errors };
}

function clientSdk(context: Json | undefined): Sdk {
  const fake = fakeSockets();
  const errors: string[] = [];
  const client = new BrowserClient({
    url: 'ws://flags.test',
    clientKey: 'dl_client_transcript',
    context: (context ?? { key: 'anonymous' }) as { key: string },
    storage: new MemoryStorage(),
    webSocket: fake.factory,
    logger: new MemoryLogger(),
    backoff: { initialMs: 5, maxMs: 10 },
    sendUsage: false,
  });
  client.on('error', (e) => errors.push(e.code));
  return { kind: 'client', client, fake, errors };
}

/** The browser client's version (not public API; the values' version is what the frames say). */
const valuesVersion = (client: BrowserClient) => (client as unknown as { version: number | undefined }).version;

/** What the SDK holds: compared before and after a message it must ignore. */
function holding(sdk: Sdk): unknown {
  if (sdk.client instanceof ServerClient) {
    return { version: sdk.client.version, flags: sdk.client.ruleset()?.flagKeys(), state: sdk.client.state };
  }
  return { version: valuesVersion(sdk.client), values: sdk.client.allFlagDetails(), state: sdk.client.state };
}

/** Delivers a frame as the server sent it, byte for byte. */
function deliver(socket: FakeSocket, text: string): void {
  socket.onmessage?.({ data: text });
}

/** Asserts that the SDK holds what `frame` says. */
function check(sdk: Sdk, frame: Frame, before: number | undefined, at: string): void {
  const version = frame.version as number | undefined;
  if (sdk.client instanceof ServerClient) {
    const client = sdk.client;
    switch (frame.type) {
      case 'snapshot': {
        assert.equal(client.version, version, `${at}: the snapshot's version`);
        const flags = Object.keys((frame.ruleset as { flags: object }).flags).sort();
        assert.deepEqual([...client.ruleset()!.flagKeys()].sort(), flags, `${at}: the snapshot's flags`);
        break;
      }
      case 'patch':
        if (before !== undefined && version! <= before) {
          assert.equal(client.version, before, `${at}: a patch already held is ignored`);
        } else {
          assert.equal(client.version, version, `${at}: the patch's version`);
          if (frame.kind === 'flag') {
            const present = client.ruleset()!.flagKeys().includes(frame.key as string);
            assert.equal(present, frame.doc !== null, `${at}: the patched flag`);
          }
        }
        break;
      case 'synced':
        assert.equal(client.version, version, `${at}: synced at the data's version`);
        assert.equal(client.state, 'synced', `${at}: synced`);
        break;
    }
  } else {
    const client = sdk.client;
    if (frame.type === 'values' || frame.type === 'changed') {
      const details = client.allFlagDetails();
      if (frame.type === 'values') assert.deepEqual(Object.keys(details).sort(), Object.keys(frame.flags as object).sort(), `${at}: the flags`);
      for (const [key, entry] of Object.entries(frame.flags as { [key: string]: Json })) {
        assert.deepEqual({ ...details[key] }, entry, `${at}: ${key}`);
      }
      for (const key of (frame.removed ?? []) as string[]) assert.equal(details[key], undefined, `${at}: ${key} removed`);
      assert.equal(valuesVersion(client), version, `${at}: the values' version`);
      assert.equal(client.state, 'synced', `${at}: ready`);
    }
  }
  if (frame.type === 'error') {
    assert.equal(sdk.errors.at(-1), frame.code, `${at}: the error reported`);
    const expected = frame.code === 'unauthorized' ? 'unauthorized' : frame.code === 'unsupported_protocol' ? 'stopped' : 'disconnected';
    assert.equal(sdk.client.state, expected, `${at}: after ${frame.code as string}`);
  }
}

/**
 * Feeds one session's frames through the SDK, as its connections would have
 * received them; every SDK it opens goes into `used` (for the caller to close).
 */
async function replay(name: string, events: Event[], used: Sdk[]): Promise<void> {
  let sdk: Sdk | undefined;
  let socket: FakeSocket | undefined;
  let connection = 0;
  for (const [i, event] of events.entries()) {
    const at = `${name}, event ${i}`;
    if (event.kind === 'connect') {
      connection++;
      continue;
    }
    if (event.kind === 'sent') {
      const frame = event.frame;
      if (frame.type === 'hello') {
        const kind = typeof frame.key === 'string' && frame.key.startsWith('dl_client_') ? 'client' : 'server';
        // A hello with a version is the same SDK reconnecting to resume.
        const resume = sdk !== undefined && sdk.kind === kind && typeof frame.version === 'number';
        if (resume) {
          socket!.drop();
          await until(`${at}: a reconnect`, () => sdk!.fake.sockets.length > 1 && sdk!.fake.last() !== socket);
        } else {
          sdk = kind === 'server' ? serverSdk() : clientSdk(frame.context);
          used.push(sdk);
        }
        socket = sdk!.fake.last();
        await until(`${at}: the SDK's hello`, () => socket!.hello !== undefined);
        const hello = socket.hello!;
        const offered = frame.protocols as number[];
        if (offered.some((p) => (hello.protocols as number[]).includes(p))) {
          assert.deepEqual(hello.protocols, offered, `${at}: hello.protocols`);
        }
        if (frame.context !== undefined) assert.deepEqual(hello.context, frame.context, `${at}: hello.context`);
        if (resume) {
          assert.equal(hello.version, (sdk!.client as ServerClient).version, `${at}: hello.version is what it holds`);
        }
      } else if (frame.type === 'identify') {
        void (sdk!.client as BrowserClient).identify(frame.context as { key: string });
        assert.deepEqual(socket!.sent.at(-1), frame, `${at}: the identify sent`);
      }
      // Heartbeats go out on the SDK's own timer; the transcript's unknown
      // and malformed frames probe the server, not the SDK.
      continue;
    }
    const frame = JSON.parse(event.text) as Frame;
    const before = sdk!.client instanceof ServerClient ? sdk!.client.version : valuesVersion(sdk!.client);
    deliver(socket!, event.text);
    check(sdk!, frame, before, `${at} (${frame.type}, connection ${connection})`);
    if (frame.type === 'welcome') {
      assert.equal(socket!.closedByClient, false, `${at}: welcome keeps the connection`);
      const held = holding(sdk!);
      deliver(socket!, JSON.stringify({ type: 'a_type_from_the_future', version: 1_000_000, flags: { lobby: { value: 'x' } } }));
      assert.deepEqual(holding(sdk!), held, `${at}: an unknown message type is ignored`);
      assert.equal(socket!.closedByClient, false, `${at}: an unknown message type keeps the connection`);
    }
  }
}

for (const [name, steps] of Object.entries(transcript.sessions)) {
  test(`protocol v1 transcript: ${name}`, async () => {
    const events = await play(name, steps);
    const sdks: Sdk[] = [];
    try {
      await replay(name, events, sdks);
      if (name.startsWith('server key')) {
        // As the Rust test asks of its SDK: the patch was applied.
        const client = sdks.at(-1)!.client as ServerClient;
        assert.equal(client.boolVariation('lobby', {}, false), true, 'the SDK applied the patch');
        assert.ok(client.ruleset()!.flagKeys().includes('internal'));
      }
    } finally {
      for (const sdk of sdks) sdk.client.close();
    }
  });
}

test('the transcript has its sessions', () => {
  assert.ok(Object.keys(transcript.sessions).length >= 3);
});
