<?php

declare(strict_types=1);

namespace Daylight\Log;

/**
 * Where the SDK reports what it could not use (a corrupt snapshot, a flag
 * this version cannot compile). The method is PSR-3's `log`, so a PSR-3
 * logger fits through {@see CallableLogger}: `new CallableLogger($psr->log(...))`.
 */
interface Logger
{
    /** @param string $level `error`, `warning`, `info` or `debug` */
    public function log(string $level, string|\Stringable $message, array $context = []): void;
}
