<?php

declare(strict_types=1);

namespace Daylight\Laravel;

use Daylight\Client;
use Daylight\FixedRuleset;
use Daylight\FlagEvaluator;
use Daylight\Log\CallableLogger;
use Daylight\Log\Logger;
use Daylight\Ofrep\OfrepClient;
use Daylight\Snapshot\HttpSnapshot;
use Daylight\Snapshot\RedisSnapshot;
use Daylight\Snapshot\SnapshotLoader;
use Daylight\Usage\UsageSpool;
use Illuminate\Routing\Router;
use Illuminate\Support\ServiceProvider;

/**
 * Found by package discovery (`extra.laravel` in composer.json): config,
 * the `daylight` service behind the facade and `daylight()`, the `flag`
 * route middleware and the Blade directives `@flag` and `@daylightBootstrap`.
 */
final class DaylightServiceProvider extends ServiceProvider
{
    public function register(): void
    {
        $this->mergeConfigFrom(dirname(__DIR__, 2) . '/config/daylight.php', 'daylight');

        $this->app->bindIf(ContextResolver::class, fn ($app) => new UserContextResolver(
            (array) $app['config']->get('daylight.user_attributes', []),
        ));
        $this->app->singletonIf(Logger::class, fn ($app) => new CallableLogger(
            fn (string $level, $message, array $context) => $app['log']->log($level, (string) $message, $context),
        ));
        // Per request (and per Octane request): one snapshot check, one
        // context, one version of the flags for the whole request.
        $this->app->scoped(FlagEvaluator::class, fn ($app) => $this->evaluator($app['config']->get('daylight', []), $app[Logger::class]));
        $this->app->scoped('daylight', fn ($app) => new DaylightManager(
            $app[FlagEvaluator::class],
            $app[ContextResolver::class],
            fn () => $app->bound('request') ? $app['request']->user() : null,
            $app['config']->get('daylight', []),
            $app[Logger::class],
        ));
        $this->app->alias('daylight', DaylightManager::class);
    }

    public function boot(): void
    {
        $this->publishes([dirname(__DIR__, 2) . '/config/daylight.php' => $this->app->configPath('daylight.php')], 'daylight-config');

        $this->app->make(Router::class)->aliasMiddleware('flag', EnsureFlagIsOn::class);
        $this->app->make(Router::class)->aliasMiddleware('daylight.routing-id', SignRoutingId::class);

        $this->callAfterResolving('blade.compiler', function ($blade): void {
            // @flag('new-lobby') … @else … @endflag
            $blade->if('flag', fn (string $key): bool => $this->app['daylight']->enabled($key));
            // @daylightBootstrap, or @daylightBootstrap($cspNonce)
            $blade->directive('daylightBootstrap', fn (string $nonce): string =>
                "<?php echo app('daylight')->browserBootstrapScript({$this->orNull($nonce)}); ?>");
        });
    }

    private function orNull(string $expression): string
    {
        return trim($expression) === '' ? 'null' : $expression;
    }

    private function evaluator(array $config, Logger $logger): FlagEvaluator
    {
        if (is_string($config['redis_url'] ?? null) && $config['redis_url'] !== '' && is_string($config['redis_key'] ?? null)) {
            return new Client(new RedisSnapshot($config['redis_url'], $config['redis_key'], $logger), $logger, $this->usage($config));
        }
        if (is_string($config['snapshot'] ?? null) && $config['snapshot'] !== '') {
            $usage = $this->usage($config);
            $source = ($config['fetch_snapshot'] ?? false) && is_string($config['url'] ?? null) && is_string($config['key'] ?? null)
                ? new HttpSnapshot($config['url'], $config['key'], $config['snapshot'], (float) ($config['refresh'] ?? 5.0),
                    (float) ($config['timeout'] ?? 1.0), $logger)
                : new SnapshotLoader($config['snapshot'], $logger);
            return new Client($source, $logger, $usage);
        }
        if (is_string($config['url'] ?? null) && is_string($config['key'] ?? null)) {
            return new OfrepClient($config['url'], $config['key'], (float) ($config['timeout'] ?? 1.0), $logger);
        }
        $logger->log('error', 'Daylight has neither DAYLIGHT_SNAPSHOT nor DAYLIGHT_URL and DAYLIGHT_KEY: every flag gives its default');
        return new Client(new FixedRuleset(null), $logger);
    }

    private function usage(array $config): ?UsageSpool
    {
        $spool = $config['usage_spool'] ?? null;
        return is_string($spool) && $spool !== '' ? new UsageSpool($spool) : null;
    }
}
