<?php

declare(strict_types=1);

namespace Daylight\Laravel;

use Daylight\Context;
use Illuminate\Contracts\Auth\Authenticatable;

/**
 * The default context: the user's auth identifier as the key, plus the
 * user attributes listed in `daylight.user_attributes`. A guest gets a
 * context without a key (no targets, no segments; rollouts by key serve
 * their first variation).
 */
final class UserContextResolver implements ContextResolver
{
    /** @param list<string> $attributes */
    public function __construct(private readonly array $attributes = [])
    {
    }

    public function resolve(?Authenticatable $user): Context
    {
        if ($user === null) {
            return Context::of(null);
        }
        $attributes = [];
        foreach ($this->attributes as $name) {
            $attributes[$name] = $user->{$name} ?? null;
        }
        return Context::of((string) $user->getAuthIdentifier(), $attributes);
    }
}
