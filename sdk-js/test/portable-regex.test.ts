// The portable regex subset (docs/regex-subset.md): the JS SDK refuses
// exactly what the Rust SDK refuses (the shared cases), and nothing it
// accepts can backtrack exponentially, as judged by the ReDoS checker
// `recheck` on the shared cases and on generated patterns.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { check } from 'recheck';

import { Ruleset, ValidationError } from '../src/index.js';
import { compilePortableRegex } from '../src/evaluator/portable-regex.js';
import { VECTORS_DIR } from './support/paths.js';

interface SubsetCase {
  pattern: string;
  accepted: boolean;
  case_insensitive?: boolean;
  why?: string;
}

const shared = JSON.parse(readFileSync(join(VECTORS_DIR, 'regex', 'subset.json'), 'utf8')) as { cases: SubsetCase[] };

function accepts(pattern: string, ci: boolean): boolean {
  try {
    compilePortableRegex(pattern, ci);
    return true;
  } catch {
    return false;
  }
}

test('portable regex: the shared cases, accepted and refused as in Rust', () => {
  const wrong: string[] = [];
  for (const c of shared.cases) {
    for (const ci of c.case_insensitive === undefined ? [false, true] : [c.case_insensitive]) {
      if (accepts(c.pattern, ci) !== c.accepted) {
        wrong.push(`${JSON.stringify(c.pattern)} (ci=${ci}) should be ${c.accepted ? 'accepted' : 'refused'}`);
      }
    }
  }
  assert.ok(shared.cases.length > 150);
  assert.deepEqual(wrong, []);
});

test('portable regex: a bootstrap document outside the subset is refused with the field', () => {
  for (const pattern of ['\\bomaha\\b', '^(?=a)', '(a)\\1', '^(a+)+$', 'a{5000}']) {
    const doc = {
      flags: {
        f: {
          variations: [false, true],
          on: true,
          rules: [{ clauses: [{ attribute: 'a', op: 'matches', values: ['^ok$', pattern] }], serve: { variation: 1 } }],
          fallthrough: { variation: 0 },
        },
      },
    };
    assert.throws(
      () => Ruleset.compile(doc),
      (e: unknown) => e instanceof ValidationError && e.path === 'flags.f.rules[0].clauses[0].values[1]',
      pattern,
    );
  }
});

test('portable regex: a lone surrogate is refused (a Rust string cannot hold one)', () => {
  assert.equal(accepts('a\ud800', false), false);
  assert.equal(accepts('a\u{1F600}', false), true);
});

/** recheck's verdict: `exponential`, `polynomial` or `safe`. */
async function complexity(pattern: string, ci: boolean): Promise<string> {
  // The automaton checker is exact for the subset (no back-references or
  // look-around) and, unlike fuzzing, deterministic.
  const result = await check(pattern, ci ? 'iu' : 'u', { checker: 'automaton', timeout: 60_000 });
  assert.notEqual(result.status, 'unknown', `${pattern}: ${JSON.stringify(result)}`);
  return result.status === 'vulnerable' ? result.complexity.type : 'safe';
}

/** recheck's automaton grows with counts (`a{1000,}` times out), and a
 * count alone repeats a piece without nesting: such cases are left out. */
const LARGE_COUNT = /\{\d{3,}/;

test('ReDoS: recheck finds the refused examples exponential (the check can fail)', async () => {
  for (const pattern of ['^(a+)+$', '^(a|a)*$', '^([\\w.+-]+)+@example\\.com$', '^(?:a?a?)+$']) {
    assert.equal(accepts(pattern, false), false, pattern);
    assert.equal(await complexity(pattern, false), 'exponential', pattern);
  }
});

test('ReDoS: no accepted shared case is exponential', async () => {
  const accepted = shared.cases.filter((c) => c.accepted && !LARGE_COUNT.test(c.pattern));
  assert.ok(accepted.length > 50);
  for (const c of accepted) {
    assert.notEqual(await complexity(c.pattern, c.case_insensitive ?? false), 'exponential', c.pattern);
  }
});

// Generated patterns: nested groups, quantifiers and alternations over
// overlapping atoms, the ingredients of exponential backtracking.

/** A small deterministic PRNG (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ATOMS = ['a', 'b', 'ab', '.', '\\w', '\\d', '\\s', '[ab]', '[a-z]', '[^b]', '\\p{L}', '\\.'];
const QUANTIFIERS = ['*', '+', '?', '{2}', '{1,3}', '{2,}', '*?', '+?'];

function generate(next: () => number, depth: number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const r = next();
  if (depth === 0 || r < 0.3) return pick(ATOMS) + (next() < 0.4 ? pick(QUANTIFIERS) : '');
  if (r < 0.55) return generate(next, depth - 1) + generate(next, depth - 1);
  if (r < 0.75) return `(?:${generate(next, depth - 1)}|${generate(next, depth - 1)})${next() < 0.5 ? pick(QUANTIFIERS) : ''}`;
  return `(${generate(next, depth - 1)})${pick(QUANTIFIERS)}`;
}

test('ReDoS: no accepted generated pattern is exponential', async () => {
  const next = random(26);
  let accepted = 0;
  let refusedExponential = 0;
  for (let i = 0; i < 400; i++) {
    const pattern = `^${generate(next, 3)}$`;
    if (accepts(pattern, false)) {
      accepted++;
      assert.notEqual(await complexity(pattern, false), 'exponential', pattern);
    } else if (i % 4 === 0 && (await complexity(pattern, false)) === 'exponential') {
      refusedExponential++;
    }
  }
  // The generator reaches both sides of the rule.
  assert.ok(accepted >= 100, `${accepted} accepted`);
  assert.ok(refusedExponential >= 5, `${refusedExponential} refused exponential`);
});
