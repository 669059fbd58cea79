<?php

declare(strict_types=1);

namespace Daylight;

/**
 * A rejected field of a ruleset document: `path` names it (for example
 * `flags.new-lobby.rules[2].clauses[0].values[1]`), the message says why.
 */
final class ValidationError extends \InvalidArgumentException
{
    public function __construct(public readonly string $path, public readonly string $reason)
    {
        parent::__construct($path === '' ? $reason : "{$path}: {$reason}");
    }
}
