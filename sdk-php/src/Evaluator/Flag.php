<?php

declare(strict_types=1);

namespace Daylight\Evaluator;

use Daylight\ValidationError;

/**
 * One flag in one environment, compiled: targets in a map, rules with
 * compiled clauses, serves as a fixed variation (int) or a rollout. The
 * checks and their paths are those of the Rust SDK's `ruleset` module.
 *
 * @internal
 */
final class Flag
{
    /**
     * @param list<mixed> $variations
     * @param list<array{string, int}> $prerequisites (flag key, wanted variation)
     * @param array<string, int> $targets context key => variation (the first target listing a key wins)
     * @param list<array{string, list<Clause>, int|Rollout}> $rules (id, clauses, serve)
     */
    private function __construct(
        public readonly array $variations,
        public readonly string $kind,
        public readonly bool $clientSide,
        public readonly bool $on,
        public readonly ?int $offVariation,
        public readonly array $prerequisites,
        public readonly array $targets,
        public readonly array $rules,
        public readonly int|Rollout $fallthrough,
        public readonly int $version,
    ) {
    }

    public static function compile(string $key, mixed $raw, string $path): self
    {
        $o = Read::object($raw, $path);
        $variations = Read::list(Read::field($o, 'variations', $path), "{$path}.variations");
        $clientSide = Read::flag($o, 'client_side', $path);
        $on = Read::flag($o, 'on', $path);
        $offVariation = isset($o['off_variation']) ? Read::uint($o['off_variation'], "{$path}.off_variation") : null;
        $version = isset($o['version']) ? Read::uint($o['version'], "{$path}.version") : 0;
        $kind = self::variationKind($variations, $path);
        $n = count($variations);
        $check = function (int $variation, string $at) use ($n): int {
            if ($variation >= $n) {
                throw new ValidationError($at, "no variation {$variation}: the flag has {$n}");
            }
            return $variation;
        };
        if ($offVariation !== null) {
            $check($offVariation, "{$path}.off_variation");
        }

        $targets = [];
        foreach (Read::optionalList($o, 'targets', $path) as $i => $rawTarget) {
            $at = "{$path}.targets[{$i}]";
            $target = Read::object($rawTarget, $at);
            $variation = $check(Read::uint(Read::field($target, 'variation', $at), "{$at}.variation"), "{$at}.variation");
            foreach (Read::strings(Read::field($target, 'values', $at), "{$at}.values") as $value) {
                $targets[$value] ??= $variation;
            }
        }

        $prerequisites = [];
        foreach (Read::optionalList($o, 'prerequisites', $path) as $i => $rawPre) {
            $at = "{$path}.prerequisites[{$i}]";
            $pre = Read::object($rawPre, $at);
            $preKey = Read::string(Read::field($pre, 'flag', $at), "{$at}.flag");
            $variation = Read::uint(Read::field($pre, 'variation', $at), "{$at}.variation");
            if ($preKey === $key) {
                throw new ValidationError("{$at}.flag", 'a flag cannot be its own prerequisite');
            }
            $prerequisites[] = [$preKey, $variation];
        }

        $rules = [];
        foreach (Read::optionalList($o, 'rules', $path) as $i => $rawRule) {
            $at = "{$path}.rules[{$i}]";
            $rule = Read::object($rawRule, $at);
            $id = array_key_exists('id', $rule) ? Read::string($rule['id'], "{$at}.id") : '';
            $clauses = [];
            foreach (Read::list(Read::field($rule, 'clauses', $at), "{$at}.clauses") as $j => $clause) {
                $clauses[] = Clause::compile($clause, "{$at}.clauses[{$j}]", false);
            }
            $rules[] = [$id, $clauses, self::serve(Read::field($rule, 'serve', $at), $key, $n, "{$at}.serve")];
        }

        $fallthrough = self::serve(Read::field($o, 'fallthrough', $path), $key, $n, "{$path}.fallthrough");
        return new self($variations, $kind, $clientSide, $on, $offVariation, $prerequisites, $targets, $rules, $fallthrough, $version);
    }

    /** Exactly one of `{"variation": i}` or `{"rollout": {...}}`. */
    private static function serve(mixed $raw, string $flagKey, int $n, string $path): int|Rollout
    {
        $o = Read::object($raw, $path);
        $variation = isset($o['variation']) ? Read::uint($o['variation'], "{$path}.variation") : null;
        $rollout = $o['rollout'] ?? null;
        if ($variation !== null && $rollout === null) {
            if ($variation >= $n) {
                throw new ValidationError("{$path}.variation", "no variation {$variation}: the flag has {$n}");
            }
            return $variation;
        }
        if ($variation === null && $rollout !== null) {
            return Rollout::compile($rollout, $flagKey, $n, "{$path}.rollout");
        }
        throw new ValidationError($path, 'serve exactly one of `variation` or `rollout`');
    }

    /** The JSON type shared by the variations: bool, string, number or object. */
    private static function variationKind(array $variations, string $path): string
    {
        if (count($variations) < 2) {
            throw new ValidationError("{$path}.variations", 'a flag needs at least two variations');
        }
        $kindOf = fn (mixed $v): ?string => match (true) {
            is_bool($v) => 'bool',
            is_string($v) => 'string',
            is_int($v), is_float($v) && is_finite($v) => 'number',
            // A JSON object; PHP arrays cannot tell an empty one from [].
            is_array($v) && ($v === [] || !array_is_list($v)) => 'object',
            default => null,
        };
        $kind = $kindOf($variations[0]);
        if ($kind === null) {
            throw new ValidationError("{$path}.variations[0]", 'a variation is a boolean, string, number or object');
        }
        foreach ($variations as $i => $v) {
            if ($kindOf($v) !== $kind) {
                throw new ValidationError("{$path}.variations[{$i}]", "all variations must have one type ({$kind})");
            }
        }
        return $kind;
    }
}
