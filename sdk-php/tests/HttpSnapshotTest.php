<?php

declare(strict_types=1);

namespace Daylight\Tests;

use Daylight\Tests\Support\Documents;
use Daylight\Tests\Support\PhpServer;
use PHPUnit\Framework\TestCase;

/**
 * HttpSnapshot against a stand-in for GET /sdk/v1/ruleset. Each "request"
 * is a child PHP process sharing nothing but the files, so APCu is switched
 * on in one long child that plays several requests in turn.
 */
final class HttpSnapshotTest extends TestCase
{
    private string $dir;
    private PhpServer $server;

    protected function setUp(): void
    {
        $this->dir = sys_get_temp_dir() . '/daylight-http-' . bin2hex(random_bytes(4));
        mkdir($this->dir);
        file_put_contents("{$this->dir}/doc.json", json_encode(Documents::lobby(true, 3)));
        putenv("DAYLIGHT_FIXTURE_DOC={$this->dir}/doc.json");
        putenv("DAYLIGHT_FIXTURE_LOG={$this->dir}/requests.log");
        $this->server = new PhpServer(__DIR__ . '/fixtures/ruleset-server.php');
    }

    protected function tearDown(): void
    {
        $this->server->stop();
        exec('rm -rf ' . escapeshellarg($this->dir));
    }

    /** Runs `$body` in a PHP child with APCu on; returns its output. */
    private function child(string $body, bool $apcu = true): string
    {
        $script = sprintf('require %s; $url = %s; $path = %s; %s',
            var_export(__DIR__ . '/bootstrap.php', true), var_export($this->server->url, true),
            var_export("{$this->dir}/production.php", true), $body);
        $command = [PHP_BINARY, '-d', 'apc.enable_cli=' . ($apcu ? 1 : 0), '-r', $script];
        $process = proc_open($command, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        $this->assertSame(0, proc_close($process), $err);
        return $out;
    }

    /** @return list<string> the stand-in's log */
    private function requests(): array
    {
        return @file("{$this->dir}/requests.log", FILE_IGNORE_NEW_LINES) ?: [];
    }

    public function testNoSnapshotFetchesInTheRequestThenOncePerInterval(): void
    {
        $out = $this->child('
            $http = fn (float $refresh) => new Daylight\Client(new Daylight\Snapshot\HttpSnapshot($url, "dl_server_test", $path, $refresh));
            echo json_encode($http(60)->boolVariation("new-lobby", ["key" => "u-1"], false)), " ";
            echo json_encode($http(60)->boolVariation("new-lobby", ["key" => "u-1"], false));
        ');
        $this->assertSame('true true', $out);
        $this->assertSame(['200 -'], $this->requests(), 'one fetch: the second request was within the interval');
    }

    public function testAStaleSnapshotIsServedAndRefreshedAfterTheResponse(): void
    {
        $out = $this->child('
            $http = fn () => new Daylight\Client(new Daylight\Snapshot\HttpSnapshot($url, "dl_server_test", $path, 0.0));
            echo json_encode($http()->boolVariation("new-lobby", ["key" => "u-1"], false)), " ";
            file_put_contents(getenv("DAYLIGHT_FIXTURE_DOC"), json_encode(Daylight\Tests\Support\Documents::lobby(false, 4)));
            // Stale: served as is; the fetch waits for the end of the request.
            echo json_encode($http()->boolVariation("new-lobby", ["key" => "u-1"], false));
        ');
        $this->assertSame('true true', $out);
        $this->assertSame(['200 -', '200 "production-3"'], $this->requests());
        $this->assertStringContainsString("'on' => false", file_get_contents("{$this->dir}/production.php"));
        // Nothing new: a bodiless 304.
        $this->child('(new Daylight\Snapshot\HttpSnapshot($url, "dl_server_test", $path, 0.0))->fetch();');
        $this->assertSame('304 "production-4"', $this->requests()[2] ?? null);
    }

    public function testOneFetchAtATimePerHost(): void
    {
        $this->child('
            apcu_add("daylight:http:lock:" . $path, 1, 10); // another request is fetching
            $client = new Daylight\Client(new Daylight\Snapshot\HttpSnapshot($url, "dl_server_test", $path, 0.0));
            echo $client->boolVariationDetail("new-lobby", ["key" => "u-1"], false)->errorKind()?->value;
        ');
        $this->assertSame([], $this->requests());
    }

    public function testARefusedKeyKeepsTheSnapshotAndLogs(): void
    {
        $out = $this->child('
            $logs = [];
            $logger = new Daylight\Log\CallableLogger(function ($level, $message) use (&$logs) { $logs[] = $message; });
            $http = fn (string $key) => new Daylight\Client(new Daylight\Snapshot\HttpSnapshot($url, $key, $path, 0.0, 1.0, $logger));
            $http("dl_server_test")->boolVariation("new-lobby", ["key" => "u-1"], false);
            (new Daylight\Snapshot\HttpSnapshot($url, "dl_server_bad", $path, 0.0, 1.0, $logger))->fetch();
            echo json_encode($http("dl_server_bad")->boolVariation("new-lobby", ["key" => "u-1"], false)), " ", implode("|", $logs);
        ');
        $this->assertSame('true cannot fetch the flag snapshot; serving the last one', $out);
    }
}
