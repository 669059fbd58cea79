<?php

// Front controller: Debian's Laravel, the package from DAYLIGHT_SDK_DIR.

declare(strict_types=1);

use Illuminate\Auth\GenericUser;
use Illuminate\Http\Request;

require '/usr/share/php/Illuminate/autoload.php';

$sdk = $_SERVER['DAYLIGHT_SDK_DIR'];
spl_autoload_register(static function (string $class) use ($sdk): void {
    if (str_starts_with($class, 'Daylight\\')) {
        $file = $sdk . '/src/' . str_replace('\\', '/', substr($class, strlen('Daylight\\'))) . '.php';
        if (is_file($file)) {
            require $file;
        }
    }
});
require $sdk . '/src/Laravel/helpers.php';

$app = new Illuminate\Foundation\Application(dirname(__DIR__));
$app->singleton(Illuminate\Contracts\Http\Kernel::class, Illuminate\Foundation\Http\Kernel::class);
$app->singleton(Illuminate\Contracts\Debug\ExceptionHandler::class, Illuminate\Foundation\Exceptions\Handler::class);
$app->booted(static function ($app): void {
    $router = $app['router'];
    $router->get('/lobby', fn () => view('lobby'));
    $router->get('/new-lobby', fn () => 'the new lobby')->middleware('flag:new-lobby');
    // One evaluation of `probe` per request, for counting usage.
    $router->get('/probe', fn () => Daylight\Laravel\Facades\Daylight::enabled('probe') ? 'on' : 'off');
});

$kernel = $app->make(Illuminate\Contracts\Http\Kernel::class);
$request = Request::capture();
// Sign-in stand-in: the user whose id is in ?user=.
$user = $request->query('user');
$request->setUserResolver(fn () => $user === null ? null : new GenericUser(['id' => (string) $user]));
$response = $kernel->handle($request);
$response->send();
$kernel->terminate($request, $response);
