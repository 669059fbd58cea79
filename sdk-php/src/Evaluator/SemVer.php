<?php

declare(strict_types=1);

namespace Daylight\Evaluator;

/**
 * Strict SemVer 2.0.0 (`1.0.3`, `2.0.0-rc.1+build.5`): the grammar and the
 * precedence of the Rust `semver` crate's `Version::parse` and
 * `cmp_precedence`, which the Rust SDK uses. No `v` prefix, no missing parts,
 * no leading zeros in numbers or numeric pre-release identifiers, numbers at
 * most 2^64 - 1; build metadata is checked but ignored when comparing.
 *
 * @internal
 */
final class SemVer
{
    private const U64_MAX = '18446744073709551615';
    private const NUMBER = '(0|[1-9][0-9]*)';
    private const PRE_ID = '(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)';
    private const BUILD_ID = '[0-9A-Za-z-]+';

    /**
     * @param string $major decimal digits without leading zeros (may exceed PHP_INT_MAX)
     * @param list<string> $pre pre-release identifiers; empty for a release
     */
    private function __construct(
        private readonly string $major,
        private readonly string $minor,
        private readonly string $patch,
        private readonly array $pre,
    ) {
    }

    public static function parse(string $text): ?self
    {
        $pattern = '/\A' . self::NUMBER . '\.' . self::NUMBER . '\.' . self::NUMBER
            . '(?:-(' . self::PRE_ID . '(?:\.' . self::PRE_ID . ')*))?'
            . '(?:\+' . self::BUILD_ID . '(?:\.' . self::BUILD_ID . ')*)?\z/';
        if (preg_match($pattern, $text, $m) !== 1) {
            return null;
        }
        foreach ([$m[1], $m[2], $m[3]] as $number) {
            if (self::compareNumeric($number, self::U64_MAX) > 0) {
                return null;
            }
        }
        $pre = isset($m[4]) && $m[4] !== '' ? explode('.', $m[4]) : [];
        return new self($m[1], $m[2], $m[3], $pre);
    }

    /** SemVer precedence: negative, zero or positive. */
    public function compare(self $other): int
    {
        return self::compareNumeric($this->major, $other->major)
            ?: self::compareNumeric($this->minor, $other->minor)
            ?: self::compareNumeric($this->patch, $other->patch)
            ?: self::comparePre($this->pre, $other->pre);
    }

    private static function comparePre(array $a, array $b): int
    {
        if ($a === []) {
            return $b === [] ? 0 : 1;
        }
        if ($b === []) {
            return -1;
        }
        foreach ($a as $i => $x) {
            if (!isset($b[$i])) {
                return 1;
            }
            $y = $b[$i];
            $xNumeric = ctype_digit($x);
            $yNumeric = ctype_digit($y);
            if ($xNumeric && $yNumeric) {
                $order = self::compareNumeric($x, $y);
            } elseif ($xNumeric) {
                return -1;
            } elseif ($yNumeric) {
                return 1;
            } else {
                $order = strcmp($x, $y) <=> 0;
            }
            if ($order !== 0) {
                return $order;
            }
        }
        return count($a) === count($b) ? 0 : -1;
    }

    /** Digit strings without leading zeros: by length, then lexically. */
    private static function compareNumeric(string $a, string $b): int
    {
        return (strlen($a) <=> strlen($b)) ?: (strcmp($a, $b) <=> 0);
    }
}
