// Unit checks of the evaluator's parsers and documents, beyond the shared
// vectors: the same cases the Rust SDK pins in its own unit tests.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { compareSemver, parseRfc3339Ms, parseSemver, Ruleset, ValidationError } from '../src/index.js';

test('RFC 3339: the strict form parses to Unix milliseconds', () => {
  assert.equal(parseRfc3339Ms('1970-01-01T00:00:00Z'), 0);
  assert.equal(parseRfc3339Ms('2026-11-22T10:00:00Z'), 1_795_341_600_000);
  assert.equal(parseRfc3339Ms('2026-11-22T12:00:00.1239+02:00'), 1_795_341_600_123);
  assert.equal(parseRfc3339Ms('1969-12-31T23:59:59.9995z'), -1);
  assert.equal(parseRfc3339Ms('2024-02-29t00:00:00.5-00:30'), 1_709_166_600_500);
  assert.equal(parseRfc3339Ms('0000-01-01T00:00:00Z'), Date.parse('0000-01-01T00:00:00Z'));
  assert.equal(parseRfc3339Ms('9999-12-31T23:59:59.999Z'), Date.parse('9999-12-31T23:59:59.999Z'));
});

test('RFC 3339: everything else is refused', () => {
  for (const bad of [
    '',
    '2026-11-22',
    '2026-11-22 10:00:00Z',
    '2026-11-22T10:00:00',
    '2026-11-22T10:00:00.Z',
    '2026-13-01T00:00:00Z',
    '2025-02-29T00:00:00Z',
    '2026-11-22T24:00:00Z',
    '2026-11-22T10:00:60Z',
    '2026-11-22T10:00:00+0200',
    '2026-11-22T10:00:00Zjunk',
    '+2026-11-22T10:00:00Z',
    '2026-11-22T10:00:00+24:00',
    '2026-11-22T10:00:00+02:60',
    '２026-11-22T10:00:00Z',
    '2026-11-22T10:00:00.１Z',
  ]) {
    assert.equal(parseRfc3339Ms(bad), undefined, bad);
  }
});

test('SemVer: the strict grammar of the semver crate', () => {
  for (const good of ['0.0.0', '1.0.3', '2.0.0-rc.1', '1.0.0-0', '1.0.0-x-y.0a', '1.0.0+001', '1.0.0-a+b.c', '18446744073709551615.0.0', '1.0.0--']) {
    assert.ok(parseSemver(good), good);
  }
  for (const bad of ['', 'v1.0.0', '1.0', '1', '01.0.0', '1.00.0', '1.0.0-01', '1.0.0-', '1.0.0+', '1.0.0-a..b', '1.0.0-a.', '1.0.0 ', ' 1.0.0', '18446744073709551616.0.0', '1.0.0-α', '1.0.0+b+c', '1.0.0.0']) {
    assert.equal(parseSemver(bad), undefined, bad);
  }
});

test('SemVer: precedence as in the SemVer 2.0.0 spec, build metadata ignored', () => {
  const ordered = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '2.0.0', '2.1.0', '2.1.1', '10.0.0', '18446744073709551615.0.0'];
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) {
      const order = Math.sign(compareSemver(parseSemver(ordered[i]!)!, parseSemver(ordered[j]!)!));
      assert.equal(order, Math.sign(i - j), `${ordered[i]} vs ${ordered[j]}`);
    }
  }
  assert.equal(compareSemver(parseSemver('1.0.0+a')!, parseSemver('1.0.0+b')!), 0);
});

test('documents: a bad field is refused with its path; unknown operators never match', () => {
  const flag = (config: object) => ({ flags: { f: { variations: [false, true], on: true, fallthrough: { variation: 0 }, ...config } } });
  const refused = (doc: unknown, path: string) => {
    assert.throws(() => Ruleset.compile(doc), (e: unknown) => e instanceof ValidationError && e.path === path);
  };
  refused(flag({ fallthrough: { variation: 2 } }), 'flags.f.fallthrough.variation');
  refused(flag({ variations: [true, 'x'] }), 'flags.f.variations[1]');
  refused(flag({ rules: [{ clauses: [{ attribute: 'a', op: 'matches', values: ['('] }], serve: { variation: 1 } }] }), 'flags.f.rules[0].clauses[0].values[0]');
  refused(flag({ rules: [{ clauses: [{ attribute: 'a', op: 'semver_eq', values: ['v1'] }], serve: { variation: 1 } }] }), 'flags.f.rules[0].clauses[0].values[0]');
  refused(flag({ fallthrough: { rollout: { variations: [{ variation: 0, weight: 1 }] } } }), 'flags.f.fallthrough.rollout.variations');
  refused(flag({ prerequisites: [{ flag: 'f', variation: 1 }] }), 'flags.f.prerequisites[0].flag');
  refused({ segments: { s: { rules: [{ clauses: [{ op: 'in_segment', values: ['t'] }] }] } } }, 'segments.s.rules[0].clauses[0].op');

  const ruleset = Ruleset.compile(
    flag({ rules: [{ clauses: [{ attribute: 'a', op: 'some_future_op', values: [] }], serve: { variation: 1 } }] }),
  );
  assert.deepEqual(ruleset.boolVariationDetail('f', { key: 'k', a: 'x' }, true), {
    value: false,
    variation: 0,
    reason: { kind: 'FALLTHROUGH', in_rollout: false },
  });
});

test('documents: a lenient compile leaves out only what does not compile', () => {
  const skipped: string[] = [];
  const ruleset = Ruleset.compileLenient(
    {
      flags: {
        good: { variations: [1, 2], on: true, fallthrough: { variation: 1 } },
        unreadable: { variations: 'nope' },
        'bad.rule': { variations: [1, 2], on: true, fallthrough: { variation: 7 } },
        a: { variations: [1, 2], on: true, fallthrough: { variation: 1 }, prerequisites: [{ flag: 'b', variation: 0 }] },
        b: { variations: [1, 2], on: true, fallthrough: { variation: 1 }, prerequisites: [{ flag: 'a', variation: 0 }] },
      },
      segments: { ok: {}, bad: { included: [1] } },
    },
    (kind, key) => skipped.push(`${kind}:${key}`),
  );
  assert.deepEqual(skipped.sort(), ['flag:a', 'flag:bad.rule', 'flag:unreadable', 'segment:bad']);
  assert.deepEqual(ruleset.flagKeys().sort(), ['b', 'good']);
});

test('contexts: invalid contexts give the default with GENERAL; odd attribute values count as missing', () => {
  const ruleset = Ruleset.compile({
    flags: {
      f: {
        variations: ['no', 'yes'],
        on: true,
        rules: [{ id: 'r', clauses: [{ attribute: 'a', op: 'in', values: ['x'], negate: true }], serve: { variation: 1 } }],
        fallthrough: { variation: 0 },
      },
    },
  });
  const general = { value: 'd', variation: null, reason: { kind: 'ERROR', error_kind: 'GENERAL' } };
  assert.deepEqual(ruleset.stringVariationDetail('f', { key: 5 } as never, 'd'), general);
  assert.deepEqual(ruleset.stringVariationDetail('f', null as never, 'd'), general);
  assert.deepEqual(ruleset.stringVariationDetail('f', [] as never, 'd'), general);
  // Missing (never matches, even negated): undefined, null, NaN, objects, mixed lists, dates.
  for (const a of [undefined, null, Number.NaN, Infinity, { x: 1 }, ['x', 1], new Date(0), 10n]) {
    assert.equal(ruleset.stringVariation('f', { key: 'k', a }, 'd'), 'no', String(a));
  }
  // Present and not "x": the negated clause matches.
  for (const a of ['y', 1, true, [], ['y']]) {
    assert.equal(ruleset.stringVariation('f', { key: 'k', a }, 'd'), 'yes', JSON.stringify(a));
  }
  // No context at all is an anonymous context.
  assert.equal(ruleset.stringVariation('f', undefined, 'd'), 'no');
});

test('object variations are frozen copies', () => {
  const doc = { flags: { o: { variations: [{ a: [1] }, { a: [2] }], on: true, fallthrough: { variation: 1 } } } };
  const ruleset = Ruleset.compile(doc);
  const value = ruleset.jsonVariation('o', { key: 'k' }, null) as { a: number[] };
  assert.ok(Object.isFrozen(value) && Object.isFrozen(value.a));
  doc.flags.o.variations[1]!.a.push(3);
  assert.deepEqual(ruleset.jsonVariation('o', { key: 'k' }, null), { a: [2] });
});
