<?php

declare(strict_types=1);

namespace Daylight\Tests;

use Daylight\Snapshot\SnapshotWriter;
use Daylight\Tests\Support\Documents;
use PHPUnit\Framework\TestCase;

/**
 * Section 2 of docs/recipes/laravel.md as written: an app adds this clone's
 * `sdk-php/` as a Composer path repository, requires `daylight/sdk:@dev`,
 * and evaluates through Composer's autoloader; Laravel's package discovery
 * finds the provider and facade in what Composer installed. Needs Composer
 * (the test command installs it); packagist is turned off, as the package
 * needs nothing from it.
 */
final class ComposerInstallTest extends TestCase
{
    private string $app;

    protected function setUp(): void
    {
        exec('command -v composer', $out, $code);
        if ($code !== 0) {
            if (getenv('DAYLIGHT_REQUIRE_SERVICES') === '1') {
                $this->fail('no composer on PATH (apt-get install -y composer)');
            }
            $this->markTestSkipped('no composer on PATH (apt-get install -y composer)');
        }
        $this->app = sys_get_temp_dir() . '/daylight-composer-' . bin2hex(random_bytes(4));
        mkdir($this->app);
        file_put_contents($this->app . '/composer.json', json_encode(['name' => 'example/site', 'require' => new \stdClass()]));
    }

    protected function tearDown(): void
    {
        if (isset($this->app)) {
            exec('rm -rf ' . escapeshellarg($this->app));
        }
    }

    /** Runs composer in the app's directory; fails the test with its output otherwise. */
    private function composer(string ...$args): void
    {
        $home = $this->app . '/.composer-home';
        $command = 'cd ' . escapeshellarg($this->app) . ' && COMPOSER_HOME=' . escapeshellarg($home)
            . ' COMPOSER_ALLOW_SUPERUSER=1 composer --no-interaction --no-ansi '
            . implode(' ', array_map('escapeshellarg', $args)) . ' 2>&1';
        exec($command, $out, $code);
        $this->assertSame(0, $code, "composer " . implode(' ', $args) . ":\n" . implode("\n", $out));
    }

    public function testTheRecipesPathRepositoryInstallsAndAutoloadsThePackage(): void
    {
        $sdk = dirname(__DIR__);
        $this->composer('config', 'repo.packagist', 'false');
        // The recipe's two commands.
        $this->composer('config', 'repositories.daylight', 'path', $sdk);
        $this->composer('require', 'daylight/sdk:@dev');

        $installed = json_decode((string) file_get_contents($this->app . '/vendor/composer/installed.json'), true);
        $packages = array_column($installed['packages'] ?? $installed, null, 'name');
        $this->assertArrayHasKey('daylight/sdk', $packages);
        // What Laravel's package discovery reads.
        $laravel = $packages['daylight/sdk']['extra']['laravel'] ?? [];
        $this->assertSame(['Daylight\\Laravel\\DaylightServiceProvider'], $laravel['providers'] ?? null);
        $this->assertSame('Daylight\\Laravel\\Facades\\Daylight', $laravel['aliases']['Daylight'] ?? null);
        foreach ($laravel['providers'] as $provider) {
            $this->assertFileExists($this->app . '/vendor/daylight/sdk/src/' . str_replace(['Daylight\\', '\\'], ['', '/'], $provider) . '.php');
        }

        // A separate PHP process with only Composer's autoloader evaluates a
        // flag from a snapshot file.
        $snapshot = $this->app . '/production.php';
        SnapshotWriter::write($snapshot, Documents::lobby(true));
        $script = 'require ' . var_export($this->app . '/vendor/autoload.php', true) . ';'
            . '$client = new Daylight\\Client(new Daylight\\Snapshot\\SnapshotLoader(' . var_export($snapshot, true) . '));'
            . 'echo json_encode($client->boolVariation("new-lobby", ["key" => "u-1"], false));';
        exec('php -r ' . escapeshellarg($script) . ' 2>&1', $out, $code);
        $this->assertSame(0, $code, implode("\n", $out));
        $this->assertSame('true', trim(implode("\n", $out)));
    }
}
