<?php

declare(strict_types=1);

namespace Daylight\Evaluator;

/**
 * Timestamps for `before` / `after`: RFC 3339 strings to Unix milliseconds,
 * to the strict grammar of the Rust SDK's `timestamp.rs`:
 * `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` with `T`/`t` and `Z`/`z`.
 * Digits beyond milliseconds are dropped.
 *
 * @internal
 */
final class Timestamp
{
    private const PATTERN = '/\A([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})'
        . '(?:\.([0-9]+))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))\z/';

    public static function parseMillis(string $s): ?int
    {
        if (preg_match(self::PATTERN, $s, $m) !== 1) {
            return null;
        }
        [$year, $month, $day, $hour, $minute, $second] = array_map('intval', array_slice($m, 1, 6));
        if ($month < 1 || $month > 12 || $day < 1 || $day > self::daysInMonth($year, $month)
            || $hour > 23 || $minute > 59 || $second > 59) {
            return null;
        }
        $millis = isset($m[7]) && $m[7] !== '' ? (int) str_pad(substr($m[7], 0, 3), 3, '0') : 0;
        $offset = 0;
        if (isset($m[8]) && $m[8] !== '') {
            $h = (int) $m[9];
            $mi = (int) $m[10];
            if ($h > 23 || $mi > 59) {
                return null;
            }
            $offset = ($m[8] === '-' ? -1 : 1) * ($h * 60 + $mi);
        }
        $days = self::daysFromCivil($year, $month, $day);
        $seconds = $days * 86400 + $hour * 3600 + $minute * 60 + $second - $offset * 60;
        return $seconds * 1000 + $millis;
    }

    private static function daysInMonth(int $year, int $month): int
    {
        $leap = ($year % 4 === 0 && $year % 100 !== 0) || $year % 400 === 0;
        return match ($month) {
            2 => $leap ? 29 : 28,
            4, 6, 9, 11 => 30,
            default => 31,
        };
    }

    /** Days since 1970-01-01 (Howard Hinnant's `days_from_civil`). */
    private static function daysFromCivil(int $year, int $month, int $day): int
    {
        $y = $month <= 2 ? $year - 1 : $year;
        $era = intdiv($y - ($y < 0 ? 399 : 0), 400);
        $yoe = $y - $era * 400;
        $mp = ($month + 9) % 12;
        $doy = intdiv(153 * $mp + 2, 5) + $day - 1;
        $doe = $yoe * 365 + intdiv($yoe, 4) - intdiv($yoe, 100) + $doy;
        return $era * 146097 + $doe - 719468;
    }
}
