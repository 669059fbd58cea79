// The published shape: every `exports` entry resolves by package name to
// JavaScript and type declarations, and the browser entry points pull in no
// Node-only module.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';

import { PACKAGE_ROOT } from './support/paths.js';

const manifest = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, { types: string; default: string } | string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

test('every export resolves, with types', async () => {
  const expected: Record<string, string[]> = {
    '.': ['Ruleset', 'ValidationError', 'murmur3_32', 'bucketOf', 'parseRfc3339Ms', 'parseSemver', 'openFeatureReason'],
    './node': ['createServerClient', 'ServerClient', 'nodeWebSocket'],
    './browser': ['createBrowserClient', 'BrowserClient', 'browserStorage', 'globalWebSocket', 'jitterDelay', 'onPageHidden'],
    './openfeature/server': ['DaylightServerProvider'],
    './openfeature/web': ['DaylightWebProvider'],
  };
  for (const [subpath, names] of Object.entries(expected)) {
    const entry = manifest.exports[subpath];
    assert.ok(entry && typeof entry === 'object', subpath);
    assert.ok(existsSync(join(PACKAGE_ROOT, entry.types)), `${subpath}: ${entry.types}`);
    assert.ok(existsSync(join(PACKAGE_ROOT, entry.default)), `${subpath}: ${entry.default}`);
    const specifier = subpath === '.' ? '@daylight/sdk' : `@daylight/sdk/${subpath.slice(2)}`;
    const module = (await import(specifier)) as Record<string, unknown>;
    for (const name of names) assert.ok(name in module, `${specifier} exports ${name}`);
  }
});

test('dependencies are pinned to exact versions', () => {
  for (const [name, version] of Object.entries({ ...manifest.dependencies, ...manifest.devDependencies })) {
    assert.match(version, /^\d+\.\d+\.\d+$/, `${name}@${version}`);
  }
});

test('the browser entry points import nothing Node-only', () => {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const [, spec] of source.matchAll(/(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]/g)) {
      if (spec!.startsWith('.')) {
        visit(resolve(dirname(file), spec!));
      } else {
        assert.ok(!spec!.startsWith('node:') && spec !== 'ws', `${file} imports ${spec}`);
      }
    }
  };
  visit(join(PACKAGE_ROOT, 'dist', 'browser', 'index.js'));
  visit(join(PACKAGE_ROOT, 'dist', 'index.js'));
  assert.ok(seen.size > 5);
  // The web provider adds only @openfeature/web-sdk.
  const web = readFileSync(join(PACKAGE_ROOT, 'dist', 'openfeature', 'web.js'), 'utf8');
  assert.doesNotMatch(web, /from ['"](ws|node:[^'"]+|\.\.\/node\/[^'"]+)['"]/);
});
