<?php

declare(strict_types=1);

namespace Daylight;

/** A {@see RulesetSource} that always gives the same ruleset (or none): for tests and bootstraps. */
final class FixedRuleset implements RulesetSource
{
    public function __construct(private readonly ?Ruleset $ruleset)
    {
    }

    public function ruleset(): ?Ruleset
    {
        return $this->ruleset;
    }
}
