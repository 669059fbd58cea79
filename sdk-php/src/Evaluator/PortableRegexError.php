<?php

declare(strict_types=1);

namespace Daylight\Evaluator;

/** Why a pattern is not in the portable subset, and where (a byte offset). */
final class PortableRegexError extends \InvalidArgumentException
{
    public function __construct(string $reason, public readonly string $fragment, public readonly int $offset)
    {
        parent::__construct($fragment === '' ? $reason : "{$reason} (`{$fragment}` at byte {$offset})");
    }
}
