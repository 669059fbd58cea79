// murmur3 against published reference values, and the bucketing vectors
// (`tests/vectors/bucketing/*.json`) both directly and through the evaluator.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { BUCKETS, Ruleset, bucketOf, bucketValue, murmur3_32 } from '../src/index.js';
import { VECTORS_DIR } from './support/paths.js';

interface Triple {
  salt: string;
  value: unknown;
  bucket: number | null;
}

const dir = join(VECTORS_DIR, 'bucketing');
const triples: Triple[] = readdirSync(dir)
  .filter((name) => name.endsWith('.json'))
  .sort()
  .flatMap((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as Triple[]);

const bytes = (...b: number[]) => Uint8Array.from(b);
const utf8 = (s: string) => new TextEncoder().encode(s);

test('murmur3_x86_32 matches the reference implementation', () => {
  // SMHasher's MurmurHash3_x86_32 verification values and widely published checks.
  const cases: [Uint8Array, number, number][] = [
    [bytes(), 0, 0],
    [bytes(), 1, 0x514e28b7],
    [bytes(), 0xffffffff, 0x81f16f39],
    [bytes(0, 0, 0, 0), 0, 0x2362f9de],
    [bytes(0xff, 0xff, 0xff, 0xff), 0, 0x76293b50],
    [bytes(0x21, 0x43, 0x65, 0x87), 0, 0xf55b516b],
    [bytes(0x21, 0x43, 0x65, 0x87), 0x5082edee, 0x2362f9de],
    [bytes(0x21, 0x43, 0x65), 0, 0x7e4a8634],
    [bytes(0x21, 0x43), 0, 0xa0f7b07a],
    [bytes(0x21), 0, 0x72661cf4],
    [utf8('a'), 0x9747b28c, 0x7fa09ea6],
    [utf8('ab'), 0x9747b28c, 0x74875592],
    [utf8('abc'), 0x9747b28c, 0xc84a62dd],
    [utf8('abcd'), 0x9747b28c, 0xf0478627],
    [utf8('aaaa'), 0x9747b28c, 0x5a97808a],
    [utf8('Hello, world!'), 0x9747b28c, 0x24884cba],
    [utf8('The quick brown fox jumps over the lazy dog'), 0x9747b28c, 0x2fa826cd],
    [utf8('test'), 0, 0xba6bd213],
  ];
  for (const [data, seed, expected] of cases) {
    assert.equal(murmur3_32(data, seed), expected, `murmur3(${Array.from(data)}, seed ${seed})`);
  }
});

test('bucketing vectors: every triple', () => {
  assert.ok(triples.length >= 77, `expected at least 77 triples, found ${triples.length}`);
  for (const { salt, value, bucket } of triples) {
    const v = bucketValue(value);
    const got = v === undefined ? null : bucketOf(salt, v);
    assert.equal(got, bucket, `salt ${JSON.stringify(salt)} value ${JSON.stringify(value)}`);
  }
});

test('bucketing vectors: the evaluator walks rollouts by the same buckets', () => {
  // For each triple, a rollout whose second variation covers exactly the
  // vector's bucket: [0, bucket) → 0, [bucket, bucket + 1) → 1, the rest → 2.
  // A value that counts as missing must land on the first non-zero weight
  // with in_rollout false.
  for (const { salt, value, bucket } of triples) {
    const b = bucket ?? 0;
    const weights = [b, 1, BUCKETS - b - 1];
    const ruleset = Ruleset.compile({
      flags: {
        f: {
          variations: ['below', 'exact', 'above'],
          on: true,
          fallthrough: {
            rollout: {
              variations: weights.map((weight, variation) => ({ variation, weight })),
              bucket_by: 'attr',
              salt,
            },
          },
        },
      },
    });
    const detail = ruleset.stringVariationDetail('f', { key: 'k', attr: value }, 'dflt');
    const label = `salt ${JSON.stringify(salt)} value ${JSON.stringify(value)}`;
    const nonZero = weights.filter((w) => w > 0).length;
    if (bucket === null) {
      assert.equal(detail.variation, b === 0 ? 1 : 0, label);
      assert.deepEqual(detail.reason, { kind: 'FALLTHROUGH', in_rollout: false }, label);
    } else {
      assert.equal(detail.value, 'exact', label);
      assert.deepEqual(detail.reason, { kind: 'FALLTHROUGH', in_rollout: nonZero > 1 }, label);
    }
  }
});

test('bucket values: integers up to ±2^53 inclusive, plain decimal; everything else is missing', () => {
  assert.equal(bucketValue(2 ** 53), '9007199254740992');
  assert.equal(bucketValue(-(2 ** 53)), '-9007199254740992');
  assert.equal(bucketValue(2 ** 53 + 2), undefined);
  assert.equal(bucketValue(-0), '0');
  assert.equal(bucketValue(1017.0), '1017');
  assert.equal(bucketValue(1e20), undefined);
  assert.equal(bucketValue(0.5), undefined);
  assert.equal(bucketValue(Number.NaN), undefined);
  assert.equal(bucketValue(Infinity), undefined);
  assert.equal(bucketValue(true), undefined);
  assert.equal(bucketValue(['a']), undefined);
  assert.equal(bucketValue(null), undefined);
  // A deterministic sweep: every integer in range prints as Rust's itoa would.
  let x = 1;
  for (let i = 0; i < 2000; i++) {
    x = (x * 48271) % 2147483647;
    const n = (x % 2 === 0 ? 1 : -1) * Math.floor((x / 2147483647) * 2 ** 53);
    assert.equal(bucketValue(n), BigInt(n).toString());
  }
});
