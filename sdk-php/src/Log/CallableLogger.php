<?php

declare(strict_types=1);

namespace Daylight\Log;

/** A {@see Logger} from any callable taking (level, message, context). */
final class CallableLogger implements Logger
{
    /** @var \Closure(string, string|\Stringable, array): mixed */
    private readonly \Closure $log;

    public function __construct(callable $log)
    {
        $this->log = $log(...);
    }

    public function log(string $level, string|\Stringable $message, array $context = []): void
    {
        ($this->log)($level, $message, $context);
    }
}
