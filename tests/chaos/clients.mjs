// Node SDK clients for the chaos test: runs N server-key clients of
// `@daylight/sdk/node` (built in sdk-js/dist), evaluates every flag each of
// them holds continuously, counting failed evaluations, and answers
// commands read as JSON lines on stdin with JSON lines on stdout:
//
//   {"cmd":"report","flags":[...],"contexts":[...]}  -> {"type":"report","clients":[...]}
//   {"cmd":"close"}                                   -> exits
//
// Usage: node clients.mjs '{"urls":[...],"key":"dl_server_…","count":25,"contexts":[...]}'
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sdk = process.env.DAYLIGHT_SDK_JS ?? join(here, '..', '..', 'sdk-js', 'dist', 'node', 'index.js');
const { createServerClient } = await import(pathToFileURL(sdk).href);

const config = JSON.parse(process.argv[2]);
const EVALUATE_EVERY_MS = 50;

// regressions: times a client's data went back to an older version than it had served.
const counters = { evaluations: 0, failures: 0, regressions: 0, sdkErrors: 0 };
const failures = [];
const quiet = () => {};
const logger = {
  debug: quiet,
  info: quiet,
  warn: quiet,
  error: (message) => {
    counters.sdkErrors++;
    process.stderr.write(`sdk error: ${message}\n`);
  },
};

const clients = [];
for (let i = 0; i < config.count; i++) {
  const url = config.urls[i % config.urls.length];
  const client = createServerClient({
    url,
    serverKey: config.key,
    logger,
    connectTimeoutMs: 3000,
    backoff: { initialMs: 200, maxMs: 3000 },
  });
  clients.push({ client, url, everReady: false, highest: 0 });
}

const ready = await Promise.all(clients.map((c) => c.client.waitForReady(30000)));
clients.forEach((c, i) => (c.everReady = ready[i]));

// Continuous evaluation from memory: every flag the client holds, for one
// context in turn. Once a client has had data, no evaluation may fail.
let tick = 0;
const timer = setInterval(() => {
  tick++;
  const context = config.contexts[tick % config.contexts.length];
  for (const [i, c] of clients.entries()) {
    const rules = c.client.ruleset();
    if (rules === undefined) {
      if (c.everReady) fail(i, '(none)', 'no ruleset after ready');
      continue;
    }
    c.everReady = true;
    if (rules.version < c.highest) {
      counters.regressions++;
      if (failures.length < 20) failures.push({ client: i, why: `back from version ${c.highest} to ${rules.version}` });
    }
    c.highest = Math.max(c.highest, rules.version);
    for (const key of rules.flagKeys()) {
      const detail = c.client.jsonVariationDetail(key, context, null);
      counters.evaluations++;
      if (detail.reason.kind === 'ERROR') fail(i, key, JSON.stringify(detail.reason));
    }
  }
}, EVALUATE_EVERY_MS);

function fail(client, flag, why) {
  counters.failures++;
  if (failures.length < 20) failures.push({ client, flag, why });
}

function report(flags, contexts) {
  return clients.map(({ client, url }) => {
    const rules = client.ruleset();
    return {
      url,
      state: client.state,
      version: client.version ?? null,
      keys: rules ? rules.flagKeys().sort() : [],
      values: flags.map((flag) =>
        contexts.map((ctx) => {
          const d = client.jsonVariationDetail(flag, ctx, null);
          return [d.variation, d.value];
        }),
      ),
      diagnostics: client.diagnostics(),
    };
  });
}

const out = (msg) => process.stdout.write(JSON.stringify(msg) + '\n');
out({ type: 'ready', ready: ready.filter(Boolean).length });

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const msg = JSON.parse(line);
  if (msg.cmd === 'report') {
    out({ type: 'report', clients: report(msg.flags, msg.contexts), ...counters, failureSamples: failures });
  } else if (msg.cmd === 'close') {
    clearInterval(timer);
    for (const { client } of clients) client.close();
    out({ type: 'closed', ...counters });
    setTimeout(() => process.exit(0), 50);
  }
});
lines.on('close', () => process.exit(0));
