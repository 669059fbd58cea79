<?php

declare(strict_types=1);

namespace Daylight\Tests;

use Daylight\ErrorKind;
use Daylight\Ofrep\OfrepClient;
use Daylight\Tests\Support\PhpServer;
use PHPUnit\Framework\TestCase;

/** The OFREP client against a stand-in server over real HTTP. */
final class OfrepClientTest extends TestCase
{
    private static PhpServer $server;

    public static function setUpBeforeClass(): void
    {
        self::$server = new PhpServer(__DIR__ . '/fixtures/ofrep-server.php');
    }

    public static function tearDownAfterClass(): void
    {
        self::$server->stop();
    }

    private static function client(string $key = 'dl_server_test', float $timeout = 2.0): OfrepClient
    {
        return new OfrepClient(self::$server->url, $key, $timeout);
    }

    public function testEvaluatesOneFlag(): void
    {
        $detail = self::client()->boolVariationDetail('new-lobby', ['key' => 'u-1'], false);
        $this->assertSame([true, 1, 'TARGETING_MATCH'], [$detail->value, $detail->variation, $detail->openFeatureReason()]);
        $this->assertFalse(self::client()->boolVariation('new-lobby', ['key' => 'u-2'], true));
        $this->assertSame('dark', self::client()->stringVariation('theme', ['key' => 'u-2'], 'x'));
    }

    public function testErrorsGiveTheDefault(): void
    {
        $client = self::client();
        $this->assertSame(ErrorKind::FlagNotFound, $client->boolVariationDetail('missing', ['key' => 'u'], true)->errorKind());
        $mismatch = $client->numberVariationDetail('theme', ['key' => 'u'], 3);
        $this->assertSame([3.0, ErrorKind::TypeMismatch], [$mismatch->value, $mismatch->errorKind()]);
        $this->assertSame(ErrorKind::General, $client->boolVariationDetail('not-json', ['key' => 'u'], true)->errorKind());
        $unauthorized = self::client('dl_server_wrong')->boolVariationDetail('new-lobby', ['key' => 'u-1'], false);
        $this->assertSame([false, ErrorKind::General], [$unauthorized->value, $unauthorized->errorKind()]);
    }

    public function testAnUnreachableServerGivesTheDefault(): void
    {
        $socket = stream_socket_server('tcp://127.0.0.1:0');
        $port = parse_url('tcp://' . stream_socket_get_name($socket, false), PHP_URL_PORT);
        fclose($socket); // nothing listens there now
        $detail = (new OfrepClient("http://127.0.0.1:{$port}", 'k'))->stringVariationDetail('theme', [], 'safe');
        $this->assertSame(['safe', ErrorKind::General], [$detail->value, $detail->errorKind()]);
    }

    public function testASlowServerIsCutOffByTheTimeout(): void
    {
        $started = microtime(true);
        $detail = self::client(timeout: 0.3)->boolVariationDetail('slow', ['key' => 'u'], true);
        $this->assertSame([true, ErrorKind::General], [$detail->value, $detail->errorKind()]);
        $this->assertLessThan(2.0, microtime(true) - $started);
    }

    public function testEvaluatesEveryFlagInOneRequest(): void
    {
        $all = self::client()->evaluateAll(['key' => 'u-1']);
        $this->assertSame(['new-lobby', 'theme'], array_keys($all));
        $this->assertSame([true, 1], [$all['new-lobby']->value, $all['new-lobby']->variation]);
        $this->assertSame([], self::client('dl_server_wrong')->evaluateAll(['key' => 'u-1']));
    }
}
