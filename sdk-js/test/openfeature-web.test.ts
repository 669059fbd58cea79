// The OpenFeature web provider end to end, in Node: @openfeature/web-sdk →
// DaylightWebProvider → the browser client (on `ws`) → a real
// `daylight serve`: static context, setContext → identify, change events.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { OpenFeature, ProviderEvents, ProviderStatus } from '@openfeature/web-sdk';

import { nodeWebSocket } from '../src/node/index.js';
import { DaylightWebProvider } from '../src/openfeature/web.js';
import { DaylightServer, MemoryLogger, MemoryStorage, until } from './support/daylight.js';

const ENV = 'sdkjs-of-web';
let server: DaylightServer;
let provider: DaylightWebProvider;

before(async () => {
  server = await DaylightServer.start();
  await server.createEnvironment(ENV);
  await server.createFlag(ENV, 'banner', { variations: [false, true], client_side: true }, {
    on: true,
    off_variation: 0,
    targets: [{ variation: 1, values: ['qa-1'] }],
    fallthrough: { variation: 0 },
  });
  await server.createFlag(ENV, 'layout', { variations: [{ columns: 2 }, { columns: 3 }], client_side: true }, {
    on: true,
    off_variation: 0,
    rules: [{ id: 'wide', clauses: [{ attribute: 'screen', op: 'gte', values: [1200] }], serve: { variation: 1 } }],
    fallthrough: { variation: 0 },
  });
  await server.createFlag(ENV, 'secret', { variations: [1, 2] }, { on: true, off_variation: 0, fallthrough: { variation: 1 } });
  const clientKey = await server.createKey(ENV, 'client');

  provider = new DaylightWebProvider({
    url: server.url,
    clientKey,
    webSocket: nodeWebSocket,
    storage: new MemoryStorage(),
    logger: new MemoryLogger(),
    backoff: { initialMs: 100, maxMs: 200 },
  });
  await OpenFeature.setContext({ targetingKey: 'u-1', screen: 1440 });
  await OpenFeature.setProviderAndWait(provider);
});

after(async () => {
  await OpenFeature.close();
  await server?.stop();
});

test('evaluated values with reasons, variants and error codes', () => {
  const flags = OpenFeature.getClient();
  assert.equal(flags.providerStatus, ProviderStatus.READY);

  const banner = flags.getBooleanDetails('banner', true);
  assert.deepEqual([banner.value, banner.variant, banner.reason], [false, '0', 'DEFAULT']);

  const layout = flags.getObjectDetails('layout', {});
  assert.deepEqual([layout.value, layout.variant, layout.reason], [{ columns: 3 }, '1', 'TARGETING_MATCH']);
  assert.deepEqual(layout.flagMetadata, { rule_index: 0, rule_id: 'wide' });

  const secret = flags.getNumberDetails('secret', 7);
  assert.deepEqual([secret.value, secret.reason, secret.errorCode], [7, 'ERROR', 'FLAG_NOT_FOUND']);

  const mismatch = flags.getStringDetails('banner', 'x');
  assert.deepEqual([mismatch.value, mismatch.errorCode], ['x', 'TYPE_MISMATCH']);
});

test('setContext identifies: the server evaluates for the new context', async () => {
  const flags = OpenFeature.getClient();
  await OpenFeature.setContext({ targetingKey: 'qa-1', screen: 800 });
  assert.equal(flags.providerStatus, ProviderStatus.READY);
  const banner = flags.getBooleanDetails('banner', false);
  assert.deepEqual([banner.value, banner.reason], [true, 'TARGETING_MATCH']);
  assert.deepEqual(flags.getObjectValue('layout', {}), { columns: 2 });
  assert.deepEqual(provider.client?.context, { key: 'qa-1', screen: 800 });
});

test('a change on the server is a ConfigurationChanged event', async () => {
  const flags = OpenFeature.getClient();
  const changed: string[][] = [];
  flags.addHandler(ProviderEvents.ConfigurationChanged, (e) => changed.push((e?.flagsChanged as string[] | undefined) ?? []));
  await server.toggle(ENV, 'banner', false);
  await until('the change event', () => changed.some((f) => f.includes('banner')));
  const banner = flags.getBooleanDetails('banner', true);
  assert.deepEqual([banner.value, banner.variant, banner.reason], [false, '0', 'DISABLED']);
});
