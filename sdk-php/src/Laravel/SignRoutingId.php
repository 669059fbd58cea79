<?php

declare(strict_types=1);

namespace Daylight\Laravel;

use Closure;
use Daylight\Routing\SignedId;
use Illuminate\Contracts\Config\Repository;
use Illuminate\Http\Request;
use Symfony\Component\HttpFoundation\Cookie;
use Symfony\Component\HttpFoundation\Response;

/**
 * Middleware `daylight.routing-id` (put it in the `web` group): while a user
 * is signed in, the routing cookie (`dl_uid`) carries their id signed with
 * `daylight.route_secret`, so nginx's routing (docs/recipes/blue-green.md)
 * sends staff to the dark pool and nobody else. The cookie is set only when
 * it does not already carry the user's id; Laravel must not encrypt it (add
 * it to `EncryptCookies`' exceptions). Without a secret it does nothing.
 */
final class SignRoutingId
{
    /** A year, as Daylight's own sticky ids. */
    private const LIFETIME_SECONDS = 365 * 24 * 3600;

    public function __construct(private readonly Repository $config)
    {
    }

    public function handle(Request $request, Closure $next): mixed
    {
        $response = $next($request);
        $secret = (string) $this->config->get('daylight.route_secret', '');
        $user = $request->user();
        if ($secret === '' || $user === null || !$response instanceof Response) {
            return $response;
        }
        $name = (string) $this->config->get('daylight.route_cookie', 'dl_uid');
        $id = (string) $user->getAuthIdentifier();
        if (SignedId::verify((string) $request->cookies->get($name, ''), $secret) === $id) {
            return $response;
        }
        try {
            $value = SignedId::cookieValue($id, $secret);
        } catch (\InvalidArgumentException) {
            // An id routing cannot carry (an e-mail address, say): the user
            // keeps an anonymous id.
            return $response;
        }
        $response->headers->setCookie(new Cookie($name, $value, time() + self::LIFETIME_SECONDS, '/', null,
            $request->isSecure(), true, false, Cookie::SAMESITE_LAX));
        return $response;
    }
}
