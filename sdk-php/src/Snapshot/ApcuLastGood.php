<?php

declare(strict_types=1);

namespace Daylight\Snapshot;

/**
 * The last good snapshot in APCu, shared by every PHP-FPM worker of the
 * pool: a worker that starts after the file went bad still has data.
 */
final class ApcuLastGood implements LastGood
{
    private const LOG_INTERVAL_SECONDS = 60;

    public function __construct(private readonly string $prefix = 'daylight:')
    {
    }

    public static function available(): bool
    {
        return function_exists('apcu_enabled') && apcu_enabled();
    }

    public function load(string $path): ?array
    {
        $kept = apcu_fetch($this->prefix . 'snapshot:' . $path);
        return is_array($kept) ? $kept : null;
    }

    public function save(string $path, string $etag, array $ruleset): void
    {
        // One small fetch per request; the document is copied only when it changed.
        if (apcu_fetch($this->prefix . 'etag:' . $path) === $etag) {
            return;
        }
        apcu_store($this->prefix . 'snapshot:' . $path, [$etag, $ruleset]);
        apcu_store($this->prefix . 'etag:' . $path, $etag);
    }

    public function shouldLog(string $path, string $message): bool
    {
        return apcu_add($this->prefix . 'logged:' . md5($path . "\n" . $message), true, self::LOG_INTERVAL_SECONDS);
    }
}
