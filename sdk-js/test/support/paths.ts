// Where the repository's shared files are, found from this package's root
// (the directory holding sdk-js's package.json) rather than relative hops
// from wherever the compiled test happens to live.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === '@daylight/sdk') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the @daylight/sdk package root');
    dir = parent;
  }
}

/** sdk-js/ */
export const PACKAGE_ROOT = findPackageRoot();
/** The repository root (sdk-js's parent). */
export const REPO_ROOT = resolve(PACKAGE_ROOT, '..');
/** tests/vectors/ */
export const VECTORS_DIR = join(REPO_ROOT, 'tests', 'vectors');
