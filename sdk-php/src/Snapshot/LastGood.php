<?php

declare(strict_types=1);

namespace Daylight\Snapshot;

/**
 * Keeps the last snapshot that loaded, for when the file is missing,
 * truncated or corrupt, and rate-limits the log lines about it.
 */
interface LastGood
{
    /** @return array{string, array}|null (etag, ruleset document) */
    public function load(string $path): ?array;

    /** Called on every good load; cheap when `$etag` is already the one kept. */
    public function save(string $path, string $etag, array $ruleset): void;

    /** Whether to log `$message` now (at most once a minute when shared). */
    public function shouldLog(string $path, string $message): bool;
}
