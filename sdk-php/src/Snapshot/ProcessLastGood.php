<?php

declare(strict_types=1);

namespace Daylight\Snapshot;

/**
 * The last good snapshot in this process's memory. Under PHP-FPM that is
 * one request; long-running workers (queues, Octane) keep it longer.
 */
final class ProcessLastGood implements LastGood
{
    /** @var array<string, array{string, array}> */
    private static array $kept = [];
    /** @var array<string, true> */
    private static array $logged = [];

    public function load(string $path): ?array
    {
        return self::$kept[$path] ?? null;
    }

    public function save(string $path, string $etag, array $ruleset): void
    {
        if ((self::$kept[$path][0] ?? null) !== $etag) {
            self::$kept[$path] = [$etag, $ruleset];
        }
    }

    public function shouldLog(string $path, string $message): bool
    {
        $key = $path . "\n" . $message;
        if (isset(self::$logged[$key])) {
            return false;
        }
        return self::$logged[$key] = true;
    }

    /** Forgets everything (for tests). */
    public static function reset(): void
    {
        self::$kept = [];
        self::$logged = [];
    }
}
