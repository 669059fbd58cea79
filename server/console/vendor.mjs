// Copies the console's third-party ES modules from node_modules/ into
// vendor/ (committed; the server embeds them), points hooks at the local
// preact file instead of the bare "preact" specifier, drops source-map
// comments, and records versions and licences. Run: npm ci && npm run vendor
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, 'node_modules');
const out = join(here, 'vendor');

const files = [
  { pkg: 'preact', from: 'dist/preact.mjs', to: 'preact.js' },
  { pkg: 'preact', from: 'hooks/dist/hooks.mjs', to: 'hooks.js', rewrite: [['from"preact"', 'from"./preact.js"']] },
  { pkg: 'htm', from: 'dist/htm.module.js', to: 'htm.js' },
];

const versions = {};
const licences = [];
for (const { pkg, from, to, rewrite = [] } of files) {
  const meta = JSON.parse(readFileSync(join(modules, pkg, 'package.json'), 'utf8'));
  let text = readFileSync(join(modules, pkg, from), 'utf8').replace(/\n?\/\/# sourceMappingURL=.*\s*$/, '\n');
  for (const [a, b] of rewrite) {
    if (!text.includes(a)) throw new Error(`${pkg}/${from}: expected to find ${a}`);
    text = text.split(a).join(b);
  }
  writeFileSync(join(out, to), `/* ${pkg} ${meta.version} (${meta.license}), ${from}; see LICENSES.txt */\n${text}`);
  if (!versions[pkg]) {
    versions[pkg] = { version: meta.version, license: meta.license };
    licences.push(`${pkg} ${meta.version}\n${'='.repeat(40)}\n${readFileSync(join(modules, pkg, 'LICENSE'), 'utf8').trim()}\n`);
  }
}
writeFileSync(join(out, 'VERSIONS.json'), `${JSON.stringify(versions, null, 2)}\n`);
writeFileSync(
  join(out, 'LICENSES.txt'),
  `Third-party code in the Daylight web console (vendored from npm by server/console/vendor.mjs)\n\n${licences.join('\n')}`,
);
console.log('vendored', Object.entries(versions).map(([k, v]) => `${k}@${v.version}`).join(', '));
