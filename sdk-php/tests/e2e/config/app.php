<?php

return [
    'name' => 'lobby',
    'env' => 'production',
    'debug' => false,
    'timezone' => 'UTC',
    'key' => 'base64:' . base64_encode(str_repeat('k', 32)),
    'cipher' => 'AES-256-CBC',
    'providers' => [
        Illuminate\Filesystem\FilesystemServiceProvider::class,
        Illuminate\View\ViewServiceProvider::class,
        // The 404 page of the `flag:` middleware is translated.
        Illuminate\Translation\TranslationServiceProvider::class,
        Daylight\Laravel\DaylightServiceProvider::class,
    ],
];
