<?php

declare(strict_types=1);

namespace Daylight\Routing;

/**
 * The sticky id Daylight's routing endpoint trusts (`dl_uid`, see
 * docs/recipes/blue-green.md): `ID.SIG`, where `SIG` is the lowercase hex
 * HMAC-SHA256 of `ID` under `DAYLIGHT_ROUTE_SECRET`. The site sets it with
 * the signed-in user's id, so staff are recognised and nobody can claim a
 * staff id.
 *
 * ```php
 * Cookie::queue(cookie('dl_uid', SignedId::cookieValue((string) $user->id, $secret),
 *     525600, '/', null, $request->secure(), true, false, 'lax'));
 * ```
 */
final class SignedId
{
    /** The shortest secret Daylight accepts. */
    public const MIN_SECRET_LENGTH = 32;

    /**
     * The cookie value for `$id` (letters, digits, `-` and `_`, at most 128).
     *
     * @throws \InvalidArgumentException for an id Daylight would not accept, or a short secret
     */
    public static function cookieValue(string $id, string $secret): string
    {
        if (preg_match('/\A[A-Za-z0-9_-]{1,128}\z/', $id) !== 1) {
            throw new \InvalidArgumentException('a routing id is 1 to 128 letters, digits, `-` and `_`');
        }
        if (strlen($secret) < self::MIN_SECRET_LENGTH) {
            throw new \InvalidArgumentException('the routing secret has at least ' . self::MIN_SECRET_LENGTH . ' characters');
        }
        return $id . '.' . hash_hmac('sha256', $id, $secret);
    }

    /** The id a cookie value carries when its signature verifies, else null. */
    public static function verify(string $value, string $secret): ?string
    {
        $dot = strrpos($value, '.');
        if ($dot === false) {
            return null;
        }
        $id = substr($value, 0, $dot);
        if (preg_match('/\A[A-Za-z0-9_-]{1,128}\z/', $id) !== 1) {
            return null;
        }
        return hash_equals(hash_hmac('sha256', $id, $secret), substr($value, $dot + 1)) ? $id : null;
    }
}
