// The module `daylight codegen --lang ts` generates for the sample
// `server/tests/flagfile/codegen/flags.yaml` (test/codegen/flags.ts, a golden
// file the server's tests keep equal to fresh output): it type-checks with
// this package (it is part of this test build), its getters read the real
// clients, and misuse does not compile: a misspelt getter or key, a server-only
// flag through a browser client, a string value not in the files.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';

import ts from 'typescript';

import { BrowserClient } from '../src/browser/client.js';
import type { FlagRules, RulesetDocument } from '../src/index.js';
import { ServerClient } from '../src/server/client.js';
import { FLAG_KEYS, flags } from './codegen/flags.js';
import { FakeSocket } from './support/fake-socket.js';
import { PACKAGE_ROOT } from './support/paths.js';

const opened: { close(): void }[] = [];
after(() => {
  for (const c of opened) c.close();
});

function serving(variations: unknown[], variation: number): FlagRules {
  return { variations, on: true, off_variation: 0, fallthrough: { variation } } as FlagRules;
}

function serverClient(docFlags: Record<string, FlagRules>): ServerClient {
  const bootstrap: RulesetDocument = { environment: 'production', version: 1, flags: docFlags };
  const client = new ServerClient({ bootstrap, sendUsage: false });
  opened.push(client);
  return client;
}

test('each server getter reads its flag with its type', () => {
  const f = flags(
    serverClient({
      'new-lobby': serving([false, true], 1),
      theme: serving(['light', 'dark', 'high-contrast'], 2),
      'table-limit': serving([4, 8, 12.5], 2),
      'lobby-config': serving([{ columns: 3 }, { columns: 4 }], 1),
      type: serving(['classic', 'turbo'], 1),
      greeting: serving(['Hello!', 'hello'], 1),
    }),
  );
  const ctx = { key: 'u-1' };
  assert.equal(f.newLobby(ctx), true);
  assert.equal(f.theme(ctx), 'high-contrast');
  assert.equal(f.tableLimit(ctx, 1), 12.5);
  assert.deepEqual(f.lobbyConfig(ctx), { columns: 4 });
  assert.equal(f.type(ctx), 'turbo');
  assert.equal(f.greeting(ctx), 'hello');
});

test("server getters fall back on the file's default or the caller's", () => {
  // `theme` serves a value added after the module was generated; `new-lobby`
  // is a string flag on this server; the rest are missing.
  const f = flags(
    serverClient({ theme: serving(['light', 'dark', 'sepia'], 2), 'new-lobby': serving(['a', 'b'], 1) }),
  );
  const ctx = { key: 'u-1' };
  assert.equal(f.newLobby(ctx), false);
  assert.equal(f.newLobby(ctx, true), true);
  assert.equal(f.theme(ctx), 'light');
  assert.equal(f.theme(ctx, 'dark'), 'dark');
  assert.equal(f.tableLimit(ctx, 7), 7);
  assert.deepEqual(f.lobbyConfig(ctx), { banner: null, columns: 3 });
  assert.equal(f.type(ctx), 'classic');
});

test('browser getters read the client-side flags of the client', () => {
  const client = new BrowserClient({
    url: 'ws://127.0.0.1:9',
    clientKey: 'dl_client_test',
    context: { key: 'u-1' },
    storage: null,
    sendUsage: false,
    webSocket: (url) => new FakeSocket(url),
    bootstrap: {
      'new-lobby': { value: true, variation: 1, reason: { kind: 'FALLTHROUGH', in_rollout: false } },
      theme: { value: 'sepia', variation: 2, reason: { kind: 'FALLTHROUGH', in_rollout: false } },
      greeting: { value: 'hello', variation: 1, reason: { kind: 'FALLTHROUGH', in_rollout: false } },
    },
  });
  opened.push(client);
  const f = flags(client);
  assert.equal(f.newLobby(), true);
  assert.equal(f.theme(), 'light');
  assert.equal(f.greeting(), 'hello');
  assert.deepEqual(Object.keys(f).sort(), ['greeting', 'newLobby', 'theme']);
  assert.deepEqual([...FLAG_KEYS], ['greeting', 'lobby-config', 'new-lobby', 'table-limit', 'theme', 'type']);
});

/**
 * Type-checks each source as a file beside the generated module (with this
 * package's test settings) and returns each one's errors as `TScode: text`.
 */
function typeCheck(sources: string[]): string[][] {
  const parsed = ts.getParsedCommandLineOfConfigFile(join(PACKAGE_ROOT, 'tsconfig.test.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(ts.flattenDiagnosticMessageText(d.messageText, '\n')),
  });
  assert.ok(parsed);
  const options = { ...parsed.options, noEmit: true, noUnusedLocals: false };
  const names = sources.map((_, i) => join(PACKAGE_ROOT, 'test', 'codegen', `usage-${i}.ts`));
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  const text = (name: string) => sources[names.indexOf(name)];
  host.fileExists = (name) => text(name) !== undefined || fileExists(name);
  host.readFile = (name) => text(name) ?? readFile(name);
  host.getSourceFile = (name, language, ...rest) => {
    const source = text(name);
    return source === undefined ? getSourceFile(name, language, ...rest) : ts.createSourceFile(name, source, language);
  };
  const program = ts.createProgram(names, options, host);
  return names.map((name) =>
    ts
      .getPreEmitDiagnostics(program, program.getSourceFile(name))
      .map((d) => `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`),
  );
}

test('the generated types accept the right names and refuse misspelt ones', () => {
  const prelude = [
    "import type { ServerClient } from '@daylight/sdk/node';",
    "import type { BrowserClient } from '@daylight/sdk/browser';",
    "import { flags, type FlagKey, type FlagValues } from './flags.js';",
    'declare const server: ServerClient;',
    'declare const browser: BrowserClient;',
    "const ctx = { key: 'u-1' };",
    '',
  ].join('\n');
  const [good, getter, key, serverOnly, value, noDefault] = typeCheck([
    prelude +
      [
        'export const on: boolean = flags(server).newLobby(ctx);',
        "export const theme: 'light' | 'dark' | 'high-contrast' = flags(browser).theme();",
        'export const limit: number = flags(server).tableLimit(ctx, 4);',
        "export const key: FlagKey = 'new-lobby';",
        "export const type: FlagValues['type'] = flags(server).type(ctx, 'turbo');",
      ].join('\n'),
    prelude + 'export const on = flags(server).newLoby(ctx);',
    prelude + "export const key: FlagKey = 'new-loby';",
    prelude + 'export const limit = flags(browser).tableLimit(4);',
    prelude + "export const theme = flags(server).theme(ctx, 'sepia');",
    prelude + 'export const limit = flags(server).tableLimit(ctx);',
  ]);
  assert.deepEqual(good, []);
  assert.deepEqual(getter, [
    "TS2551: Property 'newLoby' does not exist on type 'ServerFlags'. Did you mean 'newLobby'?",
  ]);
  assert.deepEqual(key, [`TS2820: Type '"new-loby"' is not assignable to type 'FlagKey'. Did you mean '"new-lobby"'?`]);
  assert.deepEqual(serverOnly, ["TS2339: Property 'tableLimit' does not exist on type 'BrowserFlags'."]);
  assert.equal(value?.length, 1);
  assert.match(value?.[0] ?? '', /^TS2345: Argument of type '"sepia"' is not assignable/);
  assert.equal(noDefault?.length, 1);
  assert.match(noDefault?.[0] ?? '', /^TS2554: Expected 2 arguments, but got 1\./);
});
