<?php

declare(strict_types=1);

namespace Daylight\Tests;

use Daylight\Client;
use Daylight\Snapshot\RedisSnapshot;
use Daylight\Tests\Support\Documents;
use PHPUnit\Framework\TestCase;

/** The Redis hash `daylight sync --redis-url` writes, read back (needs a Redis on 127.0.0.1:6379 or $DAYLIGHT_TEST_REDIS_URL). */
final class RedisSnapshotTest extends TestCase
{
    private string $url;
    private string $key;

    protected function setUp(): void
    {
        $this->url = getenv('DAYLIGHT_TEST_REDIS_URL') ?: 'redis://127.0.0.1:6379';
        $this->key = 'daylight:test:' . bin2hex(random_bytes(4));
        $parts = parse_url($this->url);
        if (@fsockopen($parts['host'], $parts['port'] ?? 6379, $errno, $error, 0.5) === false) {
            if (getenv('DAYLIGHT_REQUIRE_SERVICES') === '1') {
                $this->fail("no Redis at {$this->url}");
            }
            $this->markTestSkipped("no Redis at {$this->url}");
        }
    }

    private function redis(string ...$args): void
    {
        exec('redis-cli -u ' . escapeshellarg($this->url) . ' ' . implode(' ', array_map('escapeshellarg', $args)), $out, $code);
        $this->assertSame(0, $code);
    }

    protected function tearDown(): void
    {
        $this->redis('DEL', $this->key);
    }

    public function testReadsTheHashAndFollowsItsEtag(): void
    {
        $this->redis('HSET', $this->key, 'etag', '1-a', 'json', json_encode(Documents::lobby(true)));
        $client = new Client(new RedisSnapshot($this->url, $this->key));
        $this->assertTrue($client->boolVariation('new-lobby', ['key' => 'u-1'], false));
        $this->redis('HSET', $this->key, 'etag', '2-b', 'json', json_encode(Documents::lobby(false, 2)));
        $source = new RedisSnapshot($this->url, $this->key);
        $this->assertFalse((new Client($source))->boolVariation('new-lobby', ['key' => 'u-1'], true));
        $this->assertSame('2-b', $source->etag());
    }

    public function testNoSnapshotIsNotReady(): void
    {
        $client = new Client(new RedisSnapshot($this->url, $this->key));
        $this->assertSame('PROVIDER_NOT_READY', $client->boolVariationDetail('new-lobby', ['key' => 'u-1'], false)->errorKind()?->value);
        $down = new Client(new RedisSnapshot('redis://127.0.0.1:1', $this->key));
        $this->assertFalse($down->isReady());
    }
}
