<?php

declare(strict_types=1);

namespace Daylight\Evaluator;

use Daylight\Context;
use Daylight\ValidationError;

/**
 * One compiled condition on one context attribute, and the operator
 * semantics of `docs/flag-format.md` ("Clauses"; the Rust SDK's
 * `clause.rs`). Everything that can be parsed once is parsed here
 * (regexes, semvers, timestamps, lowercased strings), so matching never
 * parses clause values.
 *
 * @internal
 */
final class Clause
{
    private const TEXT_OPS = ['starts_with', 'ends_with', 'contains'];
    private const ORDER_OPS = ['lt', 'lte', 'gt', 'gte'];
    private const SEMVER_OPS = ['semver_eq', 'semver_lt', 'semver_gt'];
    private const TIME_OPS = ['before', 'after'];

    /**
     * @param string $op the operator, or '' for one this version does not know
     * @param array $values the compiled clause values (their form depends on `op`)
     */
    private function __construct(
        private readonly string $attribute,
        private readonly string $op,
        private readonly array $values,
        private readonly bool $negate,
        private readonly bool $caseInsensitive,
        private readonly array $strings = [],
        private readonly array $bools = [],
    ) {
    }

    /** @param bool $inSegment whether the clause sits in a segment rule (no `in_segment` there) */
    public static function compile(mixed $raw, string $path, bool $inSegment): self
    {
        $o = Read::object($raw, $path);
        $attribute = array_key_exists('attribute', $o) ? Read::string($o['attribute'], "{$path}.attribute") : '';
        $op = Read::string(Read::field($o, 'op', $path), "{$path}.op");
        $values = Read::list(Read::field($o, 'values', $path), "{$path}.values");
        $negate = Read::flag($o, 'negate', $path);
        $ci = Read::flag($o, 'case_insensitive', $path);
        $known = $op === 'in' || $op === 'matches' || $op === 'in_segment' || in_array($op, self::TEXT_OPS, true)
            || in_array($op, self::ORDER_OPS, true) || in_array($op, self::SEMVER_OPS, true)
            || in_array($op, self::TIME_OPS, true);

        if ($op !== 'in_segment' && $attribute === '') {
            throw new ValidationError("{$path}.attribute", 'a clause needs an attribute');
        }
        if ($values === [] && $known) {
            throw new ValidationError("{$path}.values", 'a clause needs at least one value');
        }
        if (!$known) {
            return new self($attribute, '', [], $negate, false);
        }
        $each = function (string $kind, callable $parse) use ($values, $path): array {
            $parsed = [];
            foreach ($values as $i => $value) {
                $one = $parse($value);
                if ($one === null) {
                    throw new ValidationError("{$path}.values[{$i}]", "expected {$kind}");
                }
                $parsed[] = $one;
            }
            return $parsed;
        };
        $string = fn (mixed $v): ?string => is_string($v) ? $v : null;
        $number = fn (mixed $v): ?float => is_int($v) || is_float($v) ? (float) $v : null;
        $lower = fn (string $s): string => $ci ? Text::lower($s) : $s;

        switch (true) {
            case $op === 'in_segment':
                if ($inSegment) {
                    throw new ValidationError("{$path}.op", 'in_segment is not allowed inside a segment');
                }
                return new self('key', $op, $each('a segment key', $string), $negate, false);
            case $op === 'in':
                $each('a string, number or boolean', fn (mixed $v) => is_string($v) || is_int($v) || is_float($v) || is_bool($v) ? true : null);
                $strings = [];
                $numbers = [];
                $bools = [];
                foreach ($values as $v) {
                    if (is_string($v)) {
                        $strings[$lower($v)] = true;
                    } elseif (is_bool($v)) {
                        $bools[(int) $v] = true;
                    } else {
                        $numbers[] = (float) $v;
                    }
                }
                return new self($attribute, $op, $numbers, $negate, $ci, $strings, $bools);
            case in_array($op, self::TEXT_OPS, true):
                return new self($attribute, $op, array_map($lower, $each('a string', $string)), $negate, $ci);
            case $op === 'matches':
                $regexes = [];
                foreach ($values as $i => $v) {
                    if (!is_string($v)) {
                        throw new ValidationError("{$path}.values[{$i}]", 'expected a string');
                    }
                    try {
                        $regexes[] = PortableRegex::compile($v, $ci);
                    } catch (PortableRegexError $e) {
                        throw new ValidationError("{$path}.values[{$i}]", 'invalid regex: ' . $e->getMessage());
                    }
                }
                return new self($attribute, $op, $regexes, $negate, $ci);
            case in_array($op, self::ORDER_OPS, true):
                return new self($attribute, $op, $each('a number', $number), $negate, false);
            case in_array($op, self::SEMVER_OPS, true):
                $versions = $each('a SemVer 2.0.0 version such as "1.0.3"', fn (mixed $v) => is_string($v) ? SemVer::parse($v) : null);
                return new self($attribute, $op, $versions, $negate, false);
            default: // before, after
                $times = $each('an RFC 3339 timestamp such as "2026-11-22T10:00:00Z" or Unix milliseconds', self::timeOf(...));
                return new self($attribute, $op, $times, $negate, false);
        }
    }

    /**
     * Does the context match? A missing attribute never matches, negated
     * or not; neither does an unknown operator.
     *
     * @param \Closure(string, string, Context): bool $inSegment is the context (with this key) in a segment?
     */
    public function matches(Context $context, \Closure $inSegment): bool
    {
        if ($this->op === '') {
            return false;
        }
        if ($this->op === 'in_segment') {
            if ($context->key === null) {
                return false;
            }
            $found = false;
            foreach ($this->values as $segment) {
                if ($inSegment($segment, $context->key, $context)) {
                    $found = true;
                    break;
                }
            }
            return $found !== $this->negate;
        }
        $attr = $context->get($this->attribute);
        if ($attr === null) {
            return false;
        }
        $found = false;
        foreach (is_array($attr) ? $attr : [$attr] as $value) {
            if ($this->test($value)) {
                $found = true;
                break;
            }
        }
        return $found !== $this->negate;
    }

    /** @return list<string> the segments an `in_segment` clause names */
    public function segmentRefs(): array
    {
        return $this->op === 'in_segment' ? $this->values : [];
    }

    private function test(string|float|bool $value): bool
    {
        switch ($this->op) {
            case 'in':
                if (is_string($value)) {
                    return isset($this->strings[$this->caseInsensitive ? Text::lower($value) : $value]);
                }
                if (is_bool($value)) {
                    return isset($this->bools[(int) $value]);
                }
                return in_array($value, $this->values, true);
            case 'starts_with':
            case 'ends_with':
            case 'contains':
                if (!is_string($value)) {
                    return false;
                }
                $haystack = $this->caseInsensitive ? Text::lower($value) : $value;
                foreach ($this->values as $needle) {
                    $hit = match ($this->op) {
                        'starts_with' => str_starts_with($haystack, $needle),
                        'ends_with' => str_ends_with($haystack, $needle),
                        default => str_contains($haystack, $needle),
                    };
                    if ($hit) {
                        return true;
                    }
                }
                return false;
            case 'matches':
                if (!is_string($value)) {
                    return false;
                }
                foreach ($this->values as $regex) {
                    if (preg_match($regex, $value) === 1) {
                        return true;
                    }
                }
                return false;
            case 'lt':
            case 'lte':
            case 'gt':
            case 'gte':
                return is_float($value) && $this->anyOrdered($value);
            case 'semver_eq':
            case 'semver_lt':
            case 'semver_gt':
                $version = is_string($value) ? SemVer::parse($value) : null;
                if ($version === null) {
                    return false;
                }
                foreach ($this->values as $wanted) {
                    $order = $version->compare($wanted);
                    if (match ($this->op) {
                        'semver_eq' => $order === 0,
                        'semver_lt' => $order < 0,
                        default => $order > 0,
                    }) {
                        return true;
                    }
                }
                return false;
            default: // before, after
                $ms = self::timeOf($value);
                return $ms !== null && $this->anyOrdered($ms);
        }
    }

    /** Context value on the left, clause values on the right. */
    private function anyOrdered(float $left): bool
    {
        foreach ($this->values as $right) {
            if (match ($this->op) {
                'lt', 'before' => $left < $right,
                'lte' => $left <= $right,
                'gt', 'after' => $left > $right,
                default => $left >= $right,
            }) {
                return true;
            }
        }
        return false;
    }

    /** Unix milliseconds of an RFC 3339 string or a number (fractions truncated). */
    private static function timeOf(mixed $value): ?float
    {
        if (is_string($value)) {
            $ms = Timestamp::parseMillis($value);
            return $ms === null ? null : (float) $ms;
        }
        if (is_int($value) || is_float($value)) {
            $value = (float) $value;
            return is_finite($value) ? ($value < 0 ? ceil($value) : floor($value)) : null;
        }
        return null;
    }
}
