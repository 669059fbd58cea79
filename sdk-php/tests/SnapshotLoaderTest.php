<?php

declare(strict_types=1);

namespace Daylight\Tests;

use Daylight\Client;
use Daylight\ErrorKind;
use Daylight\Log\CallableLogger;
use Daylight\Snapshot\ProcessLastGood;
use Daylight\Snapshot\SnapshotLoader;
use Daylight\Snapshot\SnapshotWriter;
use Daylight\Tests\Support\Documents;
use PHPUnit\Framework\TestCase;

/** Snapshot files: replacement, the last good one, and no data at all. */
final class SnapshotLoaderTest extends TestCase
{
    private string $dir;
    /** @var list<array{string, string}> */
    private array $logged = [];

    protected function setUp(): void
    {
        $this->dir = sys_get_temp_dir() . '/daylight-php-' . bin2hex(random_bytes(4));
        mkdir($this->dir);
        ProcessLastGood::reset();
    }

    protected function tearDown(): void
    {
        array_map('unlink', glob($this->dir . '/*'));
        rmdir($this->dir);
    }

    private function client(string $path): Client
    {
        $logger = new CallableLogger(function (string $level, string $message) {
            $this->logged[] = [$level, $message];
        });
        return new Client(new SnapshotLoader($path, $logger), $logger);
    }

    /** @return array<string, array{string}> */
    public static function formats(): array
    {
        return ['php' => ['flags.php'], 'json' => ['flags.json']];
    }

    /** @dataProvider formats */
    public function testANewSnapshotIsServedByTheNextRequest(string $name): void
    {
        $path = "{$this->dir}/{$name}";
        SnapshotWriter::write($path, Documents::lobby(false, 1));
        $first = $this->client($path);
        $this->assertFalse($first->boolVariation('new-lobby', ['key' => 'u-1'], true));

        SnapshotWriter::write($path, Documents::lobby(true, 2));
        $next = $this->client($path);
        $this->assertTrue($next->boolVariation('new-lobby', ['key' => 'u-1'], false));
        $this->assertTrue($next->boolVariation('new-lobby', ['key' => '42'], false), 'segment keys read as a set');
        $this->assertSame(2, $next->ruleset()->version);
        // One request sees one version.
        $this->assertFalse($first->boolVariation('new-lobby', ['key' => 'u-1'], true));
        $this->assertSame([], $this->logged);
    }

    /** @return array<string, array{string, \Closure(string): void}> */
    public static function damage(): array
    {
        $truncate = fn (string $path) => file_put_contents($path, substr(file_get_contents($path), 0, (int) (filesize($path) / 2)));
        return [
            'php truncated' => ['flags.php', $truncate],
            'php missing' => ['flags.php', fn (string $path) => unlink($path)],
            'php without header' => ['flags.php', fn (string $path) => file_put_contents($path, "<?php return [];\n")],
            'php header and body disagree' => ['flags.php', fn (string $path) => file_put_contents($path,
                str_replace('daylight-snapshot 1 e1', 'daylight-snapshot 1 e2', file_get_contents($path)))],
            'php body not a snapshot' => ['flags.php', fn (string $path) => file_put_contents($path,
                "<?php /* daylight-snapshot 1 e2 */\nreturn ['format' => 1, 'etag' => 'e2', 'ruleset' => 'x'];\n")],
            'php ruleset not an object' => ['flags.php', fn (string $path) => file_put_contents($path,
                "<?php /* daylight-snapshot 1 e2 */\nreturn ['format' => 1, 'etag' => 'e2', 'ruleset' => ['flags' => [1, 2]]];\n")],
            'json truncated' => ['flags.json', $truncate],
            'json missing' => ['flags.json', fn (string $path) => unlink($path)],
        ];
    }

    /** @dataProvider damage */
    public function testABrokenSnapshotKeepsTheLastGoodOneAndLogs(string $name, \Closure $break): void
    {
        $path = "{$this->dir}/{$name}";
        SnapshotWriter::write($path, Documents::lobby(true), 'e1');
        $this->assertTrue($this->client($path)->boolVariation('new-lobby', ['key' => 'u-1'], false));

        $break($path);
        $client = $this->client($path);
        $detail = $client->boolVariationDetail('new-lobby', ['key' => 'u-1'], false);
        $this->assertSame([true, 1], [$detail->value, $detail->variation]);
        $this->assertCount(1, $this->logged);
        $this->assertSame('warning', $this->logged[0][0]);
        $this->assertStringContainsString('serving the last good snapshot', $this->logged[0][1]);

        // The same problem is not logged again by this process.
        $this->client($path)->boolVariation('new-lobby', ['key' => 'u-1'], false);
        $this->assertCount(1, $this->logged);
    }

    public function testWithNoSnapshotAtAllEveryGetterGivesTheDefault(): void
    {
        $client = $this->client("{$this->dir}/never-written.php");
        $detail = $client->stringVariationDetail('new-lobby', ['key' => 'u-1'], 'default');
        $this->assertSame(['default', null, ErrorKind::ProviderNotReady], [$detail->value, $detail->variation, $detail->errorKind()]);
        $this->assertSame('error', $this->logged[0][0]);
        $this->assertStringContainsString('missing', $this->logged[0][1]);
    }

    public function testTheWrittenPhpFileHasTheDocumentedShape(): void
    {
        $php = SnapshotWriter::php(['version' => 7, 'flags' => [], 'segments' => ['s' => ['included' => ['a']]]], '7-abc');
        $this->assertStringStartsWith("<?php /* daylight-snapshot 1 7-abc */\n", $php);
        $path = "{$this->dir}/shape.php";
        file_put_contents($path, $php);
        $this->assertSame(['format' => 1, 'etag' => '7-abc', 'ruleset' => ['version' => 7, 'flags' => [],
            'segments' => ['s' => ['included' => ['a' => true]]]]], include $path);
    }

    /**
     * With OPcache on and timestamps never revalidated (a common production
     * setting), a replaced file is still picked up by the next request.
     */
    public function testOpcacheNeverServesAReplacedSnapshot(): void
    {
        $path = "{$this->dir}/flags.php";
        $script = <<<'PHP'
            require $argv[1];
            $path = $argv[2];
            $serve = fn () => (new Daylight\Client(new Daylight\Snapshot\SnapshotLoader($path)))
                ->boolVariation('new-lobby', ['key' => 'u-1'], false) ? 'on' : 'off';
            Daylight\Snapshot\SnapshotWriter::write($path, Daylight\Tests\Support\Documents::lobby(false, 1));
            $first = $serve();
            $cached = opcache_is_script_cached($path) ? 'cached' : 'not-cached';
            Daylight\Snapshot\SnapshotWriter::write($path, Daylight\Tests\Support\Documents::lobby(true, 2));
            echo "$first $cached ", $serve(), "\n";
            PHP;
        $this->assertSame("off cached on\n", self::php($script, [__DIR__ . '/bootstrap.php', $path],
            ['opcache.enable_cli=1', 'opcache.validate_timestamps=0', 'opcache.file_update_protection=0']));
    }

    /** With APCu, a process that never read a good snapshot still serves the last good one. */
    public function testApcuSharesTheLastGoodSnapshot(): void
    {
        $path = "{$this->dir}/flags.php";
        $script = <<<'PHP'
            require $argv[1];
            $path = $argv[2];
            $serve = fn () => (new Daylight\Client(new Daylight\Snapshot\SnapshotLoader($path)))
                ->boolVariationDetail('new-lobby', ['key' => 'u-1'], false);
            Daylight\Snapshot\SnapshotWriter::write($path, Daylight\Tests\Support\Documents::lobby(true));
            $serve();
            unlink($path);
            Daylight\Snapshot\ProcessLastGood::reset(); // as a fresh worker would be
            $detail = $serve();
            echo Daylight\Snapshot\ApcuLastGood::available() ? 'apcu ' : 'no-apcu ', var_export($detail->value, true), "\n";
            PHP;
        $this->assertSame("apcu true\n", self::php($script, [__DIR__ . '/bootstrap.php', $path], ['apc.enable_cli=1']));
    }

    private static function php(string $code, array $args, array $ini): string
    {
        $command = escapeshellarg(PHP_BINARY);
        foreach ($ini as $setting) {
            $command .= ' -d ' . escapeshellarg($setting);
        }
        $command .= ' -r ' . escapeshellarg($code) . ' -- ' . implode(' ', array_map('escapeshellarg', $args)) . ' 2>&1';
        return (string) shell_exec($command);
    }
}
