<?php

declare(strict_types=1);

namespace Daylight\Snapshot;

use Daylight\Log\Logger;
use Daylight\Log\NullLogger;
use Daylight\Ruleset;
use Daylight\RulesetSource;

/**
 * The snapshot `daylight sync --redis-url` keeps in Redis, for hosts that
 * share one copy: a hash (default key `daylight:snapshot:ENVIRONMENT`) with
 * `etag` and `json`.
 *
 * Per request: one `HGET key etag`. While it is the etag of the copy in APCu
 * that copy is used; else `HGET key json` is decoded and stored in APCu
 * for the other workers. Without APCu the document is decoded on every
 * request. Redis unreachable: the last good snapshot, logged, as with a
 * file. Speaks RESP over a PHP stream (no extension needed).
 */
final class RedisSnapshot implements RulesetSource
{
    private readonly Logger $logger;
    private bool $checked = false;
    private ?Ruleset $ruleset = null;
    private ?string $etag = null;

    public function __construct(
        private readonly string $redisUrl,
        private readonly string $key,
        ?Logger $logger = null,
        private readonly float $timeoutSeconds = 0.5,
    ) {
        $this->logger = $logger ?? new NullLogger();
    }

    public function ruleset(): ?Ruleset
    {
        if (!$this->checked) {
            $this->checked = true;
            $this->load();
        }
        return $this->ruleset;
    }

    public function etag(): ?string
    {
        $this->ruleset();
        return $this->etag;
    }

    private function load(): void
    {
        $apcu = ApcuLastGood::available();
        $cacheKey = 'daylight:redis:' . $this->redisUrl . ':' . $this->key;
        try {
            $redis = $this->connect();
            $etag = $this->command($redis, 'HGET', $this->key, 'etag');
            if (!is_string($etag)) {
                throw new SnapshotUnreadable("no snapshot in Redis key {$this->key}");
            }
            $cached = $apcu ? apcu_fetch($cacheKey) : false;
            if (is_array($cached) && $cached[0] === $etag) {
                $doc = $cached[1];
            } else {
                $doc = json_decode((string) $this->command($redis, 'HGET', $this->key, 'json'), true);
                if (!is_array($doc)) {
                    throw new SnapshotUnreadable('the snapshot in Redis is not a JSON object');
                }
                if ($apcu) {
                    apcu_store($cacheKey, [$etag, $doc]);
                }
            }
            fclose($redis);
        } catch (\Throwable $e) {
            $kept = $apcu ? apcu_fetch($cacheKey) : false;
            if (is_array($kept)) {
                [$etag, $doc] = $kept;
            }
            $this->logger->log(is_array($kept) ? 'warning' : 'error', 'cannot read the snapshot from Redis: '
                . $e->getMessage(), ['key' => $this->key]);
            if (!is_array($kept)) {
                return;
            }
        }
        $this->etag = $etag;
        $this->ruleset = Ruleset::lenient($doc, $this->logger);
    }

    /** @return resource */
    private function connect()
    {
        $parts = parse_url($this->redisUrl);
        $address = 'tcp://' . ($parts['host'] ?? '127.0.0.1') . ':' . ($parts['port'] ?? 6379);
        $redis = @stream_socket_client($address, $errno, $error, $this->timeoutSeconds);
        if ($redis === false) {
            throw new SnapshotUnreadable("cannot connect to Redis at {$address}: {$error}");
        }
        stream_set_timeout($redis, (int) $this->timeoutSeconds, (int) (fmod($this->timeoutSeconds, 1) * 1e6));
        if (isset($parts['pass'])) {
            $user = isset($parts['user']) && $parts['user'] !== '' ? [urldecode($parts['user'])] : [];
            $this->command($redis, 'AUTH', ...[...$user, urldecode($parts['pass'])]);
        }
        $db = (int) ltrim($parts['path'] ?? '', '/');
        if ($db !== 0) {
            $this->command($redis, 'SELECT', (string) $db);
        }
        return $redis;
    }

    /** @param resource $redis */
    private function command($redis, string ...$args): ?string
    {
        $out = '*' . count($args) . "\r\n";
        foreach ($args as $arg) {
            $out .= '$' . strlen($arg) . "\r\n{$arg}\r\n";
        }
        fwrite($redis, $out);
        $line = fgets($redis);
        if ($line === false) {
            throw new SnapshotUnreadable('no answer from Redis');
        }
        return match ($line[0]) {
            '$' => (int) substr($line, 1) < 0 ? null : $this->bulk($redis, (int) substr($line, 1)),
            '+', ':' => rtrim(substr($line, 1)),
            default => throw new SnapshotUnreadable('Redis: ' . rtrim(substr($line, 1))),
        };
    }

    /** @param resource $redis */
    private function bulk($redis, int $length): string
    {
        $data = '';
        while (strlen($data) < $length + 2) {
            $chunk = fread($redis, $length + 2 - strlen($data));
            if ($chunk === false || $chunk === '') {
                throw new SnapshotUnreadable('Redis closed the connection');
            }
            $data .= $chunk;
        }
        return substr($data, 0, $length);
    }
}
