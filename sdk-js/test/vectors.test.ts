// The shared evaluation vectors (`tests/vectors/*.json`), every file,
// unchanged: value (numbers by value), variation and reason must all be
// exactly what the vectors say — the same answers as the Rust SDK's.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { Ruleset, ValidationError, type Context, type EvaluationDetail } from '../src/index.js';
import { VECTORS_DIR } from './support/paths.js';

interface VectorCase {
  name: string;
  flag: string;
  context: Context;
  type?: 'bool' | 'string' | 'number' | 'json';
  default: unknown;
  expect: { value: unknown; variation: number | null; reason: unknown };
}

interface VectorFile {
  description: string;
  ruleset: unknown;
  cases: VectorCase[];
}

const files = readdirSync(VECTORS_DIR)
  .filter((name) => name.endsWith('.json'))
  .sort();

function run(ruleset: Ruleset, c: VectorCase): EvaluationDetail<unknown> {
  switch (c.type ?? 'json') {
    case 'bool':
      return ruleset.boolVariationDetail(c.flag, c.context, c.default as boolean);
    case 'string':
      return ruleset.stringVariationDetail(c.flag, c.context, c.default as string);
    case 'number':
      return ruleset.numberVariationDetail(c.flag, c.context, c.default as number);
    case 'json':
      return ruleset.jsonVariationDetail(c.flag, c.context, c.default);
  }
}

let total = 0;

for (const file of files) {
  test(`vectors: ${file}`, () => {
    const doc = JSON.parse(readFileSync(join(VECTORS_DIR, file), 'utf8')) as VectorFile;
    // Strict compile: every vector ruleset is valid as a whole.
    const ruleset = Ruleset.compile(doc.ruleset);
    const failures: string[] = [];
    for (const c of doc.cases) {
      const got = run(ruleset, c);
      try {
        // deepStrictEqual compares numbers by value (1 and 1.0 are one JSON number).
        assert.deepStrictEqual(
          { value: got.value, variation: got.variation, reason: { ...got.reason } },
          { value: c.expect.value, variation: c.expect.variation, reason: c.expect.reason },
        );
      } catch {
        failures.push(
          `${c.name}\n  flag ${c.flag} context ${JSON.stringify(c.context)} type ${c.type ?? 'json'}\n` +
            `  expected ${JSON.stringify(c.expect)}\n  got      ${JSON.stringify(got)}`,
        );
      }
    }
    total += doc.cases.length;
    assert.equal(failures.length, 0, `${failures.length} of ${doc.cases.length} cases failed:\n${failures.join('\n')}`);
  });
}

test('vectors: every evaluation case ran', () => {
  assert.ok(files.length >= 7, `expected the 7 vector files, found ${files.join(', ')}`);
  // 626 cases when this suite was written; more may be added, never fewer.
  assert.ok(total >= 626, `ran ${total} cases`);
});

// Rulesets every evaluator refuses (`tests/vectors/refused/`), at the field named.
test('vectors: refused rulesets are refused at their field', () => {
  const doc = JSON.parse(readFileSync(join(VECTORS_DIR, 'refused', 'clauses.json'), 'utf8')) as {
    cases: { name: string; ruleset: unknown; path: string }[];
  };
  assert.ok(doc.cases.length >= 5, `${doc.cases.length} refusal cases`);
  for (const c of doc.cases) {
    assert.throws(
      () => Ruleset.compile(c.ruleset),
      (e: unknown) => e instanceof ValidationError && e.path === c.path,
      `${c.name}: expected a refusal at ${c.path}`,
    );
  }
});
