<?php

declare(strict_types=1);

namespace Daylight\Tests;

use Daylight\Context;
use Daylight\ErrorKind;
use Daylight\Log\CallableLogger;
use Daylight\Reason;
use Daylight\Ruleset;
use Daylight\ValidationError;
use PHPUnit\Framework\TestCase;

/** Load-time refusals (what the Rust SDK refuses, with its paths) and lenient loading. */
final class RulesetTest extends TestCase
{
    private static function flag(array $overrides = []): array
    {
        return $overrides + [
            'variations' => [false, true], 'on' => true, 'off_variation' => 0,
            'fallthrough' => ['variation' => 1],
        ];
    }

    private static function rule(array $clause): array
    {
        return ['id' => 'r', 'clauses' => [$clause + ['attribute' => 'a']], 'serve' => ['variation' => 1]];
    }

    /** @return array<string, array{array, string, string}> */
    public static function refused(): array
    {
        $rollout = fn (array $weights) => ['rollout' => ['variations' => $weights]];
        return [
            'one variation' => [['flags' => ['f' => self::flag(['variations' => [true]])]], 'flags.f.variations', 'at least two'],
            'mixed types' => [['flags' => ['f' => self::flag(['variations' => [true, 'x']])]], 'flags.f.variations[1]', 'one type'],
            'null variation' => [['flags' => ['f' => self::flag(['variations' => [null, null]])]], 'flags.f.variations[0]', 'boolean, string'],
            'list variation' => [['flags' => ['f' => self::flag(['variations' => [[1], [2]]])]], 'flags.f.variations[0]', 'boolean, string'],
            'off variation out of range' => [['flags' => ['f' => self::flag(['off_variation' => 2])]], 'flags.f.off_variation', 'no variation 2'],
            'no fallthrough' => [['flags' => ['f' => ['variations' => [1, 2]]]], 'flags.f.fallthrough', 'missing'],
            'serve both' => [['flags' => ['f' => self::flag(['fallthrough' => ['variation' => 0] + $rollout([['variation' => 0, 'weight' => 100000]])])]], 'flags.f.fallthrough', 'exactly one'],
            'weights short' => [['flags' => ['f' => self::flag(['fallthrough' => $rollout([['variation' => 0, 'weight' => 99999]])])]], 'flags.f.fallthrough.rollout.variations', 'sum to 99999'],
            'weight too big' => [['flags' => ['f' => self::flag(['fallthrough' => $rollout([['variation' => 0, 'weight' => 100001]])])]], 'flags.f.fallthrough.rollout.variations[0].weight', 'at most 100000'],
            'target variation' => [['flags' => ['f' => self::flag(['targets' => [['variation' => 5, 'values' => ['u']]]])]], 'flags.f.targets[0].variation', 'no variation 5'],
            'own prerequisite' => [['flags' => ['f' => self::flag(['prerequisites' => [['flag' => 'f', 'variation' => 1]]])]], 'flags.f.prerequisites[0].flag', 'own prerequisite'],
            'cycle' => [['flags' => [
                'a' => self::flag(['prerequisites' => [['flag' => 'b', 'variation' => 1]]]),
                'b' => self::flag(['prerequisites' => [['flag' => 'a', 'variation' => 1]]]),
            ]], 'flags.a.prerequisites', 'cycle'],
            'regex outside the subset' => [['flags' => ['f' => self::flag(['rules' => [self::rule(['op' => 'matches', 'values' => ['a(?=b)']])]])]], 'flags.f.rules[0].clauses[0].values[0]', 'look-around'],
            'bad semver' => [['flags' => ['f' => self::flag(['rules' => [self::rule(['op' => 'semver_gt', 'values' => ['v1.0.0']])]])]], 'flags.f.rules[0].clauses[0].values[0]', 'SemVer'],
            'bad timestamp' => [['flags' => ['f' => self::flag(['rules' => [self::rule(['op' => 'before', 'values' => ['2026-11-22 10:00:00Z']])]])]], 'flags.f.rules[0].clauses[0].values[0]', 'RFC 3339'],
            'string for lt' => [['flags' => ['f' => self::flag(['rules' => [self::rule(['op' => 'lt', 'values' => ['13']])]])]], 'flags.f.rules[0].clauses[0].values[0]', 'a number'],
            'no values' => [['flags' => ['f' => self::flag(['rules' => [self::rule(['op' => 'in', 'values' => []])]])]], 'flags.f.rules[0].clauses[0].values', 'at least one value'],
            'no attribute' => [['flags' => ['f' => self::flag(['rules' => [self::rule(['op' => 'in', 'values' => ['x'], 'attribute' => ''])]])]], 'flags.f.rules[0].clauses[0].attribute', 'needs an attribute'],
            'negate not a bool' => [['flags' => ['f' => self::flag(['rules' => [self::rule(['op' => 'in', 'values' => ['x'], 'negate' => 1])]])]], 'flags.f.rules[0].clauses[0].negate', 'boolean'],
            'nested segment' => [['segments' => ['s' => ['rules' => [['clauses' => [['op' => 'in_segment', 'values' => ['t']]]]]]]], 'segments.s.rules[0].clauses[0].op', 'not allowed inside a segment'],
            'segment keys' => [['segments' => ['s' => ['included' => ['a', 1]]]], 'segments.s.included[1]', 'a string'],
            'flags not an object' => [['flags' => ['x', 'y']], 'flags', 'an object'],
        ];
    }

    /** @dataProvider refused */
    public function testCompileRefuses(array $doc, string $path, string $message): void
    {
        try {
            Ruleset::compile($doc);
            $this->fail('accepted');
        } catch (ValidationError $e) {
            $this->assertSame($path, $e->path);
            $this->assertStringContainsString($message, $e->reason);
        }
    }

    public function testUnknownOperatorsAreKeptAndNeverMatch(): void
    {
        $clause = ['op' => 'newer_op', 'values' => [], 'negate' => true];
        $ruleset = Ruleset::compile(['flags' => ['f' => self::flag(['rules' => [self::rule($clause)]])]]);
        $this->assertSame(Reason::FALLTHROUGH, $ruleset->boolVariationDetail('f', ['key' => 'u', 'a' => 'x'], false)->reason->kind);
    }

    public function testLenientLeavesOutWhatDoesNotCompileAndLogsIt(): void
    {
        $logged = [];
        $logger = new CallableLogger(function (string $level, string $message, array $context) use (&$logged): void {
            $logged[] = [$level, $context];
        });
        $doc = ['flags' => [
            'good' => self::flag(),
            'bad' => self::flag(['variations' => [true]]),
            'uses-bad-segment' => self::flag(['rules' => [self::rule(['op' => 'in_segment', 'values' => ['s']])]]),
        ], 'segments' => ['s' => ['included' => [1]]]];
        $ruleset = Ruleset::lenient($doc, $logger);

        $this->assertTrue($ruleset->boolVariation('good', ['key' => 'u'], false));
        $this->assertSame(ErrorKind::FlagNotFound, $ruleset->boolVariationDetail('bad', ['key' => 'u'], false)->errorKind());
        $this->assertSame(Reason::FALLTHROUGH, $ruleset->boolVariationDetail('uses-bad-segment', ['key' => '1'], false)->reason->kind);
        $this->assertSame([['error', ['flag' => 'bad', 'error' => 'flags.bad.variations: a flag needs at least two variations']],
            ['error', ['segment' => 's', 'error' => 'segments.s.included[0]: expected a string']]], $logged);
    }

    public function testLenientBreaksACycleAtTheFirstFlagInKeyOrder(): void
    {
        $doc = ['flags' => [
            'b' => self::flag(['prerequisites' => [['flag' => 'a', 'variation' => 1]]]),
            'a' => self::flag(['prerequisites' => [['flag' => 'b', 'variation' => 1]]]),
        ]];
        $ruleset = Ruleset::lenient($doc);
        $this->assertSame(ErrorKind::FlagNotFound, $ruleset->boolVariationDetail('a', ['key' => 'u'], false)->errorKind());
        $this->assertSame(Reason::prerequisiteFailed('a')->toArray(), $ruleset->boolVariationDetail('b', ['key' => 'u'], true)->reason->toArray());
    }

    public function testAContextWithANonStringKeyIsAGeneralError(): void
    {
        $ruleset = Ruleset::compile(['flags' => ['f' => self::flag()]]);
        $detail = $ruleset->boolVariationDetail('f', ['key' => 42], true);
        $this->assertSame([true, null, ErrorKind::General], [$detail->value, $detail->variation, $detail->errorKind()]);
    }

    public function testContextsKeepOnlyTheFourAttributeKinds(): void
    {
        $context = Context::fromArray(['key' => 'u', 's' => 'x', 'n' => 3, 'b' => false, 'l' => ['a'],
            'mixed' => ['a', 1], 'object' => ['x' => 1], 'null' => null, 'nan' => NAN]);
        $this->assertSame(['key' => 'u', 's' => 'x', 'n' => 3.0, 'b' => false, 'l' => ['a']], $context->toArray());
        $this->assertNull(Context::fromArray(['u-1']));
    }

    public function testSegmentsReadFromASetAsFromAList(): void
    {
        $rule = self::rule(['op' => 'in_segment', 'values' => ['s']]);
        foreach ([['u-1', '7'], ['u-1' => true, '7' => true]] as $included) {
            $ruleset = Ruleset::compile(['flags' => ['f' => self::flag(['fallthrough' => ['variation' => 0], 'rules' => [$rule]])],
                'segments' => ['s' => ['included' => $included]]]);
            $this->assertTrue($ruleset->boolVariation('f', ['key' => 'u-1'], false));
            $this->assertTrue($ruleset->boolVariation('f', ['key' => '7'], false));
            $this->assertFalse($ruleset->boolVariation('f', ['key' => 'u-2'], true));
        }
    }
}
