<?php

declare(strict_types=1);

namespace Daylight\Evaluator;

use Daylight\Context;
use Daylight\ValidationError;

/**
 * A percentage split and the bucketing contract, identical in every SDK:
 * `bucket = murmur3_x86_32(utf8(salt + "." + value), seed 0) mod 100000`.
 *
 * @internal
 */
final class Rollout
{
    /** Buckets per rollout: weights are thousandths of a percent. */
    public const BUCKETS = 100000;

    /** The largest integer a `bucket_by` number may hold, ±2^53 inclusive. */
    private const MAX_BUCKET_INTEGER = 9007199254740992.0;

    /** @param list<array{int, int}> $thresholds (variation, running sum of weights); zero weights dropped */
    private function __construct(
        private readonly string $prefix,
        private readonly string $bucketBy,
        private readonly array $thresholds,
    ) {
    }

    public static function compile(mixed $raw, string $flagKey, int $variations, string $path): self
    {
        $o = Read::object($raw, $path);
        $list = Read::list(Read::field($o, 'variations', $path), "{$path}.variations");
        $salt = isset($o['salt']) ? Read::string($o['salt'], "{$path}.salt") : $flagKey;
        $bucketBy = isset($o['bucket_by']) ? Read::string($o['bucket_by'], "{$path}.bucket_by") : 'key';
        if ($list === []) {
            throw new ValidationError("{$path}.variations", 'a rollout needs at least one variation');
        }
        $sum = 0;
        $thresholds = [];
        foreach ($list as $i => $rawWeighted) {
            $at = "{$path}.variations[{$i}]";
            $weighted = Read::object($rawWeighted, $at);
            $variation = Read::uint(Read::field($weighted, 'variation', $at), "{$at}.variation");
            $weight = Read::uint(Read::field($weighted, 'weight', $at), "{$at}.weight", 0xFFFFFFFF);
            if ($variation >= $variations) {
                throw new ValidationError("{$at}.variation", "no variation {$variation}: the flag has {$variations}");
            }
            if ($weight > self::BUCKETS) {
                throw new ValidationError("{$at}.weight", 'a weight is at most 100000 (thousandths of a percent)');
            }
            $sum += $weight;
            if ($weight > 0) {
                $thresholds[] = [$variation, $sum];
            }
        }
        if ($sum !== self::BUCKETS) {
            throw new ValidationError("{$path}.variations", "weights sum to {$sum}; they must sum to 100000");
        }
        if ($bucketBy === '') {
            throw new ValidationError("{$path}.bucket_by", 'an attribute name cannot be empty');
        }
        return new self($salt . '.', $bucketBy, $thresholds);
    }

    /**
     * The variation for `$context`, and whether the rollout decided it (more
     * than one non-zero weight and a bucket value present).
     *
     * @return array{int, bool}
     */
    public function pick(Context $context): array
    {
        $value = self::bucketValue($context->get($this->bucketBy));
        // A missing bucket value counts as bucket 0 (documented).
        $bucket = $value === null ? 0 : self::hash($this->prefix . $value);
        $chosen = $this->thresholds[count($this->thresholds) - 1];
        foreach ($this->thresholds as $threshold) {
            if ($threshold[1] > $bucket) {
                $chosen = $threshold;
                break;
            }
        }
        return [$chosen[0], $value !== null && count($this->thresholds) > 1];
    }

    /** The bucket of `$value` under `$salt`. */
    public static function bucketOf(string $salt, string $value): int
    {
        return self::hash($salt . '.' . $value);
    }

    /**
     * The string a context value contributes to bucketing, or null when it
     * counts as missing: a string as is; an integer within ±2^53 in plain
     * decimal (-0 is "0"); anything else (fractions, bools, lists) is missing.
     */
    public static function bucketValue(mixed $value): ?string
    {
        if (is_string($value)) {
            return $value;
        }
        if (is_int($value)) {
            $value = (float) $value;
        }
        if (is_float($value) && floor($value) === $value && abs($value) <= self::MAX_BUCKET_INTEGER) {
            return (string) (int) $value;
        }
        return null;
    }

    /** murmur3_x86_32 with seed 0 (PHP's `murmur3a`), read unsigned, mod 100000. */
    private static function hash(string $bytes): int
    {
        return hexdec(hash('murmur3a', $bytes)) % self::BUCKETS;
    }
}
