<?php

// The tests run without `composer install`: this maps the package's PSR-4
// prefixes as composer.json declares them.

declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    $prefixes = ['Daylight\\Tests\\' => __DIR__ . '/', 'Daylight\\' => dirname(__DIR__) . '/src/'];
    foreach ($prefixes as $prefix => $dir) {
        if (str_starts_with($class, $prefix)) {
            $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
            if (is_file($file)) {
                require $file;
            }
            return;
        }
    }
});
