<?php

declare(strict_types=1);

namespace Daylight;

/** Where a {@see Client} gets the ruleset to evaluate (a snapshot file, a fixed one in tests). */
interface RulesetSource
{
    /** The current ruleset, or null when there is no data yet. Never throws. */
    public function ruleset(): ?Ruleset;
}
