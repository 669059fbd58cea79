<?php

// Daylight feature flags (docs/sdk-php.md). Publish with
// `php artisan vendor:publish --tag=daylight-config`.

return [
    // The snapshot `daylight sync` keeps (a .php or .json file). When set,
    // flags are evaluated in this process: no network call per request.
    'snapshot' => env('DAYLIGHT_SNAPSHOT'),

    // The snapshot in Redis instead (`daylight sync --redis-url`), e.g.
    // redis://10.0.0.5:6379 and daylight:snapshot:production.
    'redis_url' => env('DAYLIGHT_REDIS_URL'),
    'redis_key' => env('DAYLIGHT_REDIS_KEY'),

    // No `daylight sync` on this host: fetch the snapshot from DAYLIGHT_URL
    // with DAYLIGHT_KEY into the file above, at most every `refresh`
    // seconds, after the response (needs APCu).
    'fetch_snapshot' => (bool) env('DAYLIGHT_FETCH_SNAPSHOT', false),
    'refresh' => (float) env('DAYLIGHT_REFRESH', 5.0),

    // A directory where evaluation counts are spooled for `daylight sync
    // --usage-spool` to send (usage metrics, stale flags, release guards).
    'usage_spool' => env('DAYLIGHT_USAGE_SPOOL'),

    // The Daylight server, and a server key for OFREP evaluation when no
    // snapshot is configured (one HTTP call per evaluation).
    'url' => env('DAYLIGHT_URL'),
    'key' => env('DAYLIGHT_KEY'),
    'timeout' => (float) env('DAYLIGHT_TIMEOUT', 1.0),

    // For the browser SDK (@daylightBootstrap): its public client key and
    // server URL (defaults to `url`), and the bundle this release serves.
    'client_key' => env('DAYLIGHT_CLIENT_KEY'),
    'browser_url' => env('DAYLIGHT_BROWSER_URL'),
    'bundle' => [
        'app' => env('DAYLIGHT_BUNDLE_APP', 'web'),
        'version' => env('DAYLIGHT_BUNDLE_VERSION'),
    ],
    // The global variable @daylightBootstrap assigns.
    'bootstrap_global' => '__DAYLIGHT__',

    // Attributes of the signed-in user copied into the evaluation context
    // (the context key is the user's auth identifier). For anything more,
    // bind your own Daylight\Laravel\ContextResolver.
    'user_attributes' => [],

    // Blue-green routing behind nginx (docs/recipes/blue-green.md): the
    // secret Daylight verifies the sticky cookie with (DAYLIGHT_ROUTE_SECRET
    // on the server), and the cookie's name. Middleware `daylight.routing-id`
    // signs the signed-in user's id into it.
    'route_secret' => env('DAYLIGHT_ROUTE_SECRET'),
    'route_cookie' => 'dl_uid',
];
