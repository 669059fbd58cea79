<?php

declare(strict_types=1);

namespace Daylight\Evaluator;

/**
 * Unicode lowercasing as Rust's `str::to_lowercase` and JavaScript's
 * `toLowerCase` do it, for case-insensitive clauses.
 *
 * @internal
 */
final class Text
{
    public static function lower(string $s): string
    {
        if (!preg_match('/[\x80-\xff]/', $s)) {
            return strtolower($s);
        }
        $lower = mb_strtolower($s, 'UTF-8');
        // mbstring before PHP 8.3 lowercases every Σ to σ; Unicode (and Rust
        // and JavaScript) make it ς at the end of a word.
        if (str_contains($s, "\u{03A3}")) {
            $lower = self::finalSigma($s, $lower);
        }
        return $lower;
    }

    /**
     * Σ becomes ς when a cased letter comes before it and none after it
     * (case-ignorable characters skipped): Unicode's Final_Sigma condition.
     */
    private static function finalSigma(string $original, string $lower): string
    {
        $chars = mb_str_split($original, 1, 'UTF-8');
        $out = mb_str_split($lower, 1, 'UTF-8');
        if (count($chars) !== count($out)) {
            // Some character lowercased to several (İ): fix the sigmas by
            // lowercasing piece by piece instead.
            $out = array_map(fn (string $c): string => mb_strtolower($c, 'UTF-8'), $chars);
        }
        foreach ($chars as $i => $c) {
            if ($c === "\u{03A3}" && self::casedAround($chars, $i, -1) && !self::casedAround($chars, $i, 1)) {
                $out[$i] = "\u{03C2}";
            }
        }
        return implode('', $out);
    }

    private static function casedAround(array $chars, int $i, int $step): bool
    {
        for ($j = $i + $step; $j >= 0 && $j < count($chars); $j += $step) {
            if (preg_match('/\A\p{Case_Ignorable}\z/u', $chars[$j])) {
                continue;
            }
            return preg_match('/\A\p{Cased}\z/u', $chars[$j]) === 1;
        }
        return false;
    }
}
