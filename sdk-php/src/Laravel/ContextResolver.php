<?php

declare(strict_types=1);

namespace Daylight\Laravel;

use Daylight\Context;
use Illuminate\Contracts\Auth\Authenticatable;

/**
 * Builds the evaluation context of the current request. Bind your own to
 * add attributes (game, country, app version…):
 * `$this->app->bind(ContextResolver::class, MyContextResolver::class);`
 */
interface ContextResolver
{
    /** @param Authenticatable|null $user the signed-in user, if any */
    public function resolve(?Authenticatable $user): Context;
}
