<?php

declare(strict_types=1);

namespace Daylight\Tests;

use Daylight\EvaluationDetail;
use Daylight\Evaluator\Rollout;
use Daylight\Ruleset;
use PHPUnit\Framework\TestCase;

/**
 * The shared evaluation vectors (`tests/vectors/`), read unchanged from the
 * repository: every case of every file, through the typed getter it names,
 * with the ruleset compiled strictly and lazily.
 */
final class VectorsTest extends TestCase
{
    private const DIR = __DIR__ . '/../../tests/vectors';

    /** @var array<string, array{Ruleset, Ruleset}> */
    private static array $rulesets = [];

    /** @return array<string, array{string, array}> */
    public static function cases(): array
    {
        $out = [];
        foreach (glob(self::DIR . '/*.json') as $file) {
            foreach (self::read($file)['cases'] as $case) {
                $out[basename($file) . ': ' . $case['name']] = [$file, $case];
            }
        }
        return $out;
    }

    public function testEveryVectorFileIsRead(): void
    {
        $files = array_map('basename', glob(self::DIR . '/*.json'));
        $this->assertContains('operators.json', $files);
        $this->assertContains('typical-flag.json', $files);
        $this->assertGreaterThan(600, count(self::cases()));
    }

    /** @dataProvider cases */
    public function testCase(string $file, array $case): void
    {
        self::$rulesets[$file] ??= [
            Ruleset::compile(self::read($file)['ruleset']),
            Ruleset::lenient(self::read($file)['ruleset']),
        ];
        foreach (self::$rulesets[$file] as $ruleset) {
            $detail = self::evaluate($ruleset, $case);
            $expect = $case['expect'];
            $this->assertSame(self::normal($expect['value']), self::normal($detail->value), 'value');
            $this->assertSame($expect['variation'], $detail->variation, 'variation');
            $this->assertSame(self::normal($expect['reason']), self::normal($detail->reason->toArray()), 'reason');
        }
    }

    /** @return array<string, array{string, string, ?int}> */
    public static function bucketing(): array
    {
        $out = [];
        foreach (glob(self::DIR . '/bucketing/*.json') as $file) {
            foreach (self::read($file) as $n => $triple) {
                $out[basename($file) . " #{$n}"] = [$triple['salt'], $triple['value'], $triple['bucket']];
            }
        }
        return $out;
    }

    /** @dataProvider bucketing */
    public function testBucketing(string $salt, mixed $value, ?int $bucket): void
    {
        $string = Rollout::bucketValue($value);
        $this->assertSame($bucket, $string === null ? null : Rollout::bucketOf($salt, $string));
    }

    private static function evaluate(Ruleset $ruleset, array $case): EvaluationDetail
    {
        $default = $case['default'] ?? null;
        return match ($case['type'] ?? 'json') {
            'bool' => $ruleset->boolVariationDetail($case['flag'], $case['context'], $default),
            'string' => $ruleset->stringVariationDetail($case['flag'], $case['context'], $default),
            'number' => $ruleset->numberVariationDetail($case['flag'], $case['context'], $default),
            'json' => $ruleset->jsonVariationDetail($case['flag'], $case['context'], $default),
        };
    }

    /** Numbers as floats and objects with sorted keys, so JSON values compare strictly. */
    private static function normal(mixed $value): mixed
    {
        if (is_int($value)) {
            return (float) $value;
        }
        if (is_array($value)) {
            $value = array_map(self::normal(...), $value);
            if (!array_is_list($value)) {
                ksort($value);
            }
        }
        return $value;
    }

    private static function read(string $file): array
    {
        static $cache = [];
        return $cache[$file] ??= json_decode(file_get_contents($file), true, 512, JSON_THROW_ON_ERROR);
    }
}
