<?php

declare(strict_types=1);

namespace Daylight\Tests\Laravel;

use Daylight\Context;
use Daylight\ErrorKind;
use Daylight\Laravel\ContextResolver;
use Daylight\Laravel\DaylightManager;
use Daylight\Snapshot\ProcessLastGood;
use Daylight\Snapshot\SnapshotWriter;
use Daylight\Tests\Support\Documents;
use Illuminate\Auth\GenericUser;
use Illuminate\Contracts\Auth\Authenticatable;
use Illuminate\Foundation\Application;
use Illuminate\Foundation\Bootstrap;
use Illuminate\Http\Request;
use PHPUnit\Framework\TestCase;

require_once '/usr/share/php/Illuminate/autoload.php';
require_once dirname(__DIR__, 2) . '/src/Laravel/helpers.php';

/**
 * A minimal Laravel application (Debian's Laravel, no app skeleton) that
 * finds the provider through package discovery, routes through the HTTP
 * kernel and renders Blade from a temporary views folder.
 */
final class LaravelTest extends TestCase
{
    private string $base;
    private Application $app;

    protected function setUp(): void
    {
        ProcessLastGood::reset();
        $this->base = sys_get_temp_dir() . '/daylight-laravel-' . bin2hex(random_bytes(4));
        foreach (['config', 'views', 'storage/views', 'bootstrap/cache', 'vendor/composer'] as $dir) {
            mkdir("{$this->base}/{$dir}", 0777, true);
        }
        // Package discovery reads Composer's installed.json: list this package as installed.
        $package = json_decode(file_get_contents(dirname(__DIR__, 2) . '/composer.json'), true);
        file_put_contents("{$this->base}/vendor/composer/installed.json", json_encode(['packages' => [$package]]));
        $this->config('app', ['name' => 'lobby', 'env' => 'testing', 'debug' => false, 'timezone' => 'UTC',
            'key' => 'base64:' . base64_encode(random_bytes(32)), 'cipher' => 'AES-256-CBC',
            'providers' => [\Illuminate\Filesystem\FilesystemServiceProvider::class, \Illuminate\View\ViewServiceProvider::class,
                \Illuminate\Translation\TranslationServiceProvider::class]]);
        $this->config('view', ['paths' => ["{$this->base}/views"], 'compiled' => "{$this->base}/storage/views"]);
        $this->config('logging', ['default' => 'null', 'channels' => ['null' => ['driver' => 'monolog', 'handler' => \Monolog\Handler\NullHandler::class]]]);
        $this->config('daylight', ['snapshot' => "{$this->base}/flags.php", 'client_key' => 'dl_client_pub',
            'url' => 'https://flags.example.com', 'bundle' => ['app' => 'web', 'version' => '2026.11.3']]);
        SnapshotWriter::write("{$this->base}/flags.php", Documents::lobby(true));

        file_put_contents("{$this->base}/views/lobby.blade.php",
            "@flag('new-lobby')new lobby @else old lobby @endflag|{{ daylight()->stringVariation('theme', daylight()->context(), 'light') }}");
        file_put_contents("{$this->base}/views/page.blade.php", "<head>@daylightBootstrap</head>");
    }

    protected function tearDown(): void
    {
        exec('rm -rf ' . escapeshellarg($this->base));
        \Illuminate\Support\Facades\Facade::clearResolvedInstances();
    }

    private function config(string $name, array $values): void
    {
        file_put_contents("{$this->base}/config/{$name}.php", '<?php return ' . var_export($values, true) . ';');
    }

    /** Boots the app (without Laravel's error handlers, which would replace PHPUnit's) and its routes. */
    private function boot(?callable $before = null): Application
    {
        $this->app = new Application($this->base);
        $this->app->singleton(\Illuminate\Contracts\Http\Kernel::class, \Illuminate\Foundation\Http\Kernel::class);
        $this->app->singleton(\Illuminate\Contracts\Debug\ExceptionHandler::class, \Illuminate\Foundation\Exceptions\Handler::class);
        if ($before !== null) {
            $before($this->app);
        }
        $this->app->bootstrapWith([Bootstrap\LoadEnvironmentVariables::class, Bootstrap\LoadConfiguration::class,
            Bootstrap\RegisterFacades::class, Bootstrap\RegisterProviders::class, Bootstrap\BootProviders::class]);
        $router = $this->app['router'];
        $router->get('/lobby', fn () => view('lobby'));
        $router->get('/page', fn () => view('page'));
        $router->get('/new-lobby', fn () => 'the new lobby')->middleware('flag:new-lobby');
        $router->get('/facade', fn () => \Daylight::enabled('new-lobby') ? 'on' : 'off');
        $router->get('/home', fn () => 'home')->middleware('daylight.routing-id');
        return $this->app;
    }

    /** @return array{int, string} */
    private function get(string $uri, ?string $userId): array
    {
        $request = Request::create($uri);
        $request->setUserResolver(fn () => $userId === null ? null : new GenericUser(['id' => $userId]));
        $response = $this->app->make(\Illuminate\Contracts\Http\Kernel::class)->handle($request);
        return [$response->getStatusCode(), (string) $response->getContent()];
    }

    /** The `dl_uid` Set-Cookie value of a request to `/home`, if any. */
    private function routingCookie(?string $userId, array $cookies = []): ?string
    {
        $request = Request::create('/home', 'GET', [], $cookies);
        $request->setUserResolver(fn () => $userId === null ? null : new GenericUser(['id' => $userId]));
        $response = $this->app->make(\Illuminate\Contracts\Http\Kernel::class)->handle($request);
        foreach ($response->headers->getCookies() as $cookie) {
            if ($cookie->getName() === 'dl_uid') {
                return $cookie->getValue();
            }
        }
        return null;
    }

    public function testSignedInUsersCarryTheirSignedRoutingId(): void
    {
        $secret = 'a-route-secret-of-at-least-32-chars';
        $daylight = require "{$this->base}/config/daylight.php";
        $this->config('daylight', $daylight + ['route_secret' => $secret]);
        $this->boot();
        $signed = $this->routingCookie('u-1');
        $this->assertSame('u-1', \Daylight\Routing\SignedId::verify((string) $signed, $secret));
        // Already carried: not set again. Anonymous, or another user's cookie.
        $this->boot();
        $this->assertNull($this->routingCookie('u-1', ['dl_uid' => $signed]));
        $this->boot();
        $this->assertNull($this->routingCookie(null));
        $this->boot();
        $this->assertSame($signed, $this->routingCookie('u-1', ['dl_uid' => 'staff-ann']));
        // An id routing cannot carry: left alone.
        $this->boot();
        $this->assertNull($this->routingCookie('ann@example.com'));
    }

    public function testTheProviderIsFoundByPackageDiscovery(): void
    {
        $this->boot();
        $this->assertTrue($this->app->providerIsLoaded(\Daylight\Laravel\DaylightServiceProvider::class));
        $this->assertInstanceOf(DaylightManager::class, daylight());
        $this->assertSame([200, 'on'], $this->get('/facade', 'u-1'));
    }

    public function testBladeFlagFollowsTheSignedInUser(): void
    {
        $this->boot();
        $this->assertSame([200, 'new lobby |dark'], $this->get('/lobby', 'u-1'));
        $this->boot();
        $this->assertSame([200, 'old lobby |dark'], $this->get('/lobby', 'u-2'));
        $this->boot();
        $this->assertSame([200, 'old lobby |dark'], $this->get('/lobby', null));
    }

    public function testTheMiddlewareAnswers404WhenTheFlagIsOff(): void
    {
        $this->boot();
        $this->assertSame([200, 'the new lobby'], $this->get('/new-lobby', 'u-1'));
        $this->boot();
        $this->assertSame(404, $this->get('/new-lobby', 'u-2')[0]);
    }

    public function testAFlagTurnedOffIsOffOnTheNextRequest(): void
    {
        $this->boot();
        $this->assertSame(200, $this->get('/new-lobby', 'u-1')[0]);
        SnapshotWriter::write("{$this->base}/flags.php", Documents::lobby(false, 2));
        $this->boot();
        $this->assertSame(404, $this->get('/new-lobby', 'u-1')[0]);
    }

    public function testTheBootstrapDirectiveWritesTheUsersClientSideFlagsAndTheBundle(): void
    {
        $this->boot();
        [$status, $html] = $this->get('/page', 'u-1');
        $this->assertSame(200, $status);
        $this->assertMatchesRegularExpression('#^<head><script>window\["__DAYLIGHT__"\] = (\{.*\});</script></head>$#', $html);
        preg_match('#= (\{.*\});</script>#', $html, $m);
        $this->assertSame([
            'url' => 'https://flags.example.com',
            'clientKey' => 'dl_client_pub',
            'context' => ['key' => 'u-1'],
            'bootstrap' => ['new-lobby' => ['value' => true, 'variation' => 1,
                'reason' => ['kind' => 'RULE_MATCH', 'rule_index' => 0, 'rule_id' => 'vip', 'in_rollout' => false]]],
            'bundle' => ['app' => 'web', 'version' => '2026.11.3'],
        ], json_decode($m[1], true), 'theme is not client-side, so it stays out of the page');
    }

    public function testTheBootstrapCannotBreakOutOfTheScript(): void
    {
        $this->boot(function (Application $app): void {
            $app->bind(ContextResolver::class, fn () => new class () implements ContextResolver {
                public function resolve(?Authenticatable $user): Context
                {
                    return Context::of('</script><script>alert(1)</script>');
                }
            });
        });
        [, $html] = $this->get('/page', 'u-1');
        $this->assertSame(1, substr_count($html, '</script>'));
    }

    public function testTheContextResolverCanBeReplaced(): void
    {
        $this->boot(function (Application $app): void {
            $app->bind(ContextResolver::class, fn () => new class () implements ContextResolver {
                public function resolve(?Authenticatable $user): Context
                {
                    return Context::of('42'); // a member of the vip segment, whoever signs in
                }
            });
        });
        $this->assertSame([200, 'on'], $this->get('/facade', 'u-2'));
    }

    public function testWithoutASnapshotEveryFlagIsOffAndSaysWhy(): void
    {
        unlink("{$this->base}/flags.php");
        $this->boot();
        $this->assertSame(404, $this->get('/new-lobby', 'u-1')[0]);
        $detail = daylight()->boolVariationDetail('new-lobby', daylight()->context(), false);
        $this->assertSame(ErrorKind::ProviderNotReady, $detail->errorKind());
    }
}
