<?php

declare(strict_types=1);

namespace Daylight\Log;

final class NullLogger implements Logger
{
    public function log(string $level, string|\Stringable $message, array $context = []): void
    {
    }
}
