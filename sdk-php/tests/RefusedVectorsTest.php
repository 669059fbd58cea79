<?php

declare(strict_types=1);

namespace Daylight\Tests;

use Daylight\Ruleset;
use Daylight\ValidationError;
use PHPUnit\Framework\TestCase;

/**
 * The shared refusal vectors (`tests/vectors/refused/`), read unchanged from
 * the repository: every ruleset is refused by a strict compile, at the field
 * the vector names.
 */
final class RefusedVectorsTest extends TestCase
{
    private const FILE = __DIR__ . '/../../tests/vectors/refused/clauses.json';

    /** @return array<string, array{array, string}> */
    public static function cases(): array
    {
        $doc = json_decode((string) file_get_contents(self::FILE), true, 512, JSON_THROW_ON_ERROR);
        $out = [];
        foreach ($doc['cases'] as $case) {
            $out[$case['name']] = [$case['ruleset'], $case['path']];
        }
        return $out;
    }

    public function testTheFileIsRead(): void
    {
        $this->assertGreaterThanOrEqual(5, count(self::cases()));
    }

    /** @dataProvider cases */
    public function testRefusedAtItsField(array $ruleset, string $path): void
    {
        try {
            Ruleset::compile($ruleset);
        } catch (ValidationError $e) {
            $this->assertSame($path, $e->path, $e->getMessage());
            return;
        }
        $this->fail("compiled, expected a refusal at {$path}");
    }
}
