// The flags, environment and keys every test file sets up through the admin
// REST API, and what each flag should evaluate to.

export const ENV = 'ofrep-node';

export const HALF = [
  { variation: 0, weight: 50000 },
  { variation: 1, weight: 50000 },
];

const on = (config) => ({ on: true, off_variation: 0, prerequisites: [], targets: [], rules: [], ...config });

/** key -> { variations, client_side, config } */
export const FLAGS = {
  // boolean: a target (TARGETING_MATCH) and a fallthrough (DEFAULT)
  'welcome-banner': {
    variations: [false, true],
    client_side: true,
    config: on({ targets: [{ variation: 1, values: ['qa-1'] }], fallthrough: { variation: 0 } }),
  },
  // string
  'lobby-theme': {
    variations: ['classic', 'midnight', 'neon'],
    client_side: true,
    config: on({ fallthrough: { variation: 1 } }),
  },
  // number: a rule on `tier`, a fractional variation
  'max-tables': {
    variations: [4, 8, 12.5],
    client_side: true,
    config: on({
      rules: [{ id: 'vip', clauses: [{ attribute: 'tier', op: 'in', values: ['vip'] }], serve: { variation: 2 } }],
      fallthrough: { variation: 1 },
    }),
  },
  // object
  'lobby-layout': {
    variations: [
      { columns: 2, theme: 'light' },
      { columns: 3, theme: 'dark', widgets: ['chat', 'stats'] },
    ],
    client_side: true,
    config: on({ fallthrough: { variation: 1 } }),
  },
  // targeting by game (rule `game in [omaha]`, case-insensitive)
  'new-lobby': {
    variations: [false, true],
    client_side: true,
    config: on({
      rules: [
        {
          id: 'omaha',
          clauses: [{ attribute: 'game', op: 'in', values: ['omaha'], case_insensitive: true }],
          serve: { variation: 1 },
        },
      ],
      fallthrough: { variation: 0 },
    }),
  },
  // 50% rollout bucketed by the targeting key, salt = flag key
  'half-rollout': {
    variations: [false, true],
    client_side: true,
    config: on({ fallthrough: { rollout: { variations: HALF } } }),
  },
  // off, serving its off variation (DISABLED)
  'kill-switch': {
    variations: [false, true],
    client_side: true,
    config: { on: false, off_variation: 0, fallthrough: { variation: 1 } },
  },
  // visible to server keys only
  'server-only': {
    variations: [false, true],
    client_side: false,
    config: on({ fallthrough: { variation: 1 } }),
  },
  // off at first; the web suite turns it on to watch polling pick it up
  'poll-flag': {
    variations: [false, true],
    client_side: true,
    config: { on: false, off_variation: 0, fallthrough: { variation: 1 } },
  },
};

/** Creates the environment, every flag with its config, and the SDK keys. */
export async function seed(server) {
  await server.call('POST', '/api/v1/environments', { body: { key: ENV, name: 'OFREP node suite' }, expect: 201 });
  for (const [key, { variations, client_side, config }] of Object.entries(FLAGS)) {
    const created = await server.call('POST', '/api/v1/flags', {
      body: { key, name: key, variations, client_side },
      expect: 201,
    });
    await server.call('PUT', `/api/v1/flags/${key}/environments/${ENV}`, {
      body: config,
      headers: { 'If-Match': created.headers.get('etag') },
      expect: 200,
    });
  }
  const key = async (kind) =>
    (await server.call('POST', `/api/v1/environments/${ENV}/keys`, { body: { kind, name: `node ${kind}` }, expect: 201 }))
      .body;
  const serverKey = await key('server');
  const clientKey = await key('client');
  return { serverKey: serverKey.secret, clientKey: clientKey.secret, serverKeyId: serverKey.id, clientKeyId: clientKey.id };
}
