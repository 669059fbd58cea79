<?php

declare(strict_types=1);

namespace Daylight\Laravel;

use Closure;
use Illuminate\Http\Request;

/**
 * Route middleware `flag:new-lobby`: the route answers 404 unless the flag
 * is on for the current user, as if it were not deployed yet.
 */
final class EnsureFlagIsOn
{
    public function __construct(private readonly DaylightManager $daylight)
    {
    }

    public function handle(Request $request, Closure $next, string $flag): mixed
    {
        if (!$this->daylight->enabled($flag)) {
            abort(404);
        }
        return $next($request);
    }
}
