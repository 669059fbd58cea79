<?php

declare(strict_types=1);

namespace Daylight\Snapshot;

use Daylight\Log\Logger;
use Daylight\Log\NullLogger;
use Daylight\Ruleset;
use Daylight\RulesetSource;

/**
 * For hosts that cannot run `daylight sync`: the snapshot fetched over HTTP
 * (`GET /sdk/v1/ruleset` with `If-None-Match`) into a local `.php` snapshot
 * file, read like any other by {@see SnapshotLoader}.
 *
 * - At most one fetch per `$refreshSeconds` per host: the time of the last
 *   check and a lock are in APCu (`apcu_add`, so one request of one worker
 *   fetches while the others serve the file they have).
 * - A request that finds the snapshot stale serves it and fetches after its
 *   response is sent (`fastcgi_finish_request()` under PHP-FPM), so no page
 *   waits on the network. Only a host with no snapshot at all fetches in the
 *   request, bounded by `$timeoutSeconds`.
 * - A failed fetch (server down, timeout, refused key) keeps the file and is
 *   logged; the next check is one interval later.
 *
 * Without APCu there is no shared clock or lock: every request would fetch,
 * so the file is only fetched when missing (and a warning is logged).
 */
final class HttpSnapshot implements RulesetSource
{
    private const PREFIX = 'daylight:http:';

    private readonly SnapshotLoader $loader;
    private readonly Logger $logger;
    private bool $checked = false;

    public function __construct(
        private readonly string $url,
        private readonly string $key,
        private readonly string $path,
        private readonly float $refreshSeconds = 5.0,
        private readonly float $timeoutSeconds = 1.0,
        ?Logger $logger = null,
    ) {
        $this->logger = $logger ?? new NullLogger();
        $this->loader = new SnapshotLoader($path, $this->logger);
    }

    public function ruleset(): ?Ruleset
    {
        $this->check();
        return $this->loader->ruleset();
    }

    /** Once per request: fetch now (no file), after the response (stale), or not at all. */
    private function check(): void
    {
        if ($this->checked) {
            return;
        }
        $this->checked = true;
        $apcu = ApcuLastGood::available();
        $missing = !is_file($this->path);
        if (!$apcu) {
            if ($missing) {
                $this->logger->log('warning', 'HttpSnapshot needs APCu to refresh; fetching the missing snapshot only');
                $this->fetch();
            }
            return;
        }
        $checkedAt = apcu_fetch(self::PREFIX . 'checked:' . $this->path);
        if (!$missing && is_float($checkedAt) && microtime(true) - $checkedAt < $this->refreshSeconds) {
            return;
        }
        // One fetch per host at a time; the lock expires if its holder dies.
        $lock = self::PREFIX . 'lock:' . $this->path;
        if (!apcu_add($lock, getmypid(), (int) ceil($this->timeoutSeconds) + 1)) {
            return;
        }
        $refresh = function () use ($lock): void {
            try {
                $this->fetch();
            } finally {
                apcu_store(self::PREFIX . 'checked:' . $this->path, microtime(true));
                apcu_delete($lock);
            }
        };
        if ($missing) {
            $refresh();
            return;
        }
        register_shutdown_function(static function () use ($refresh): void {
            if (function_exists('fastcgi_finish_request')) {
                fastcgi_finish_request();
            }
            $refresh();
        });
    }

    /**
     * One conditional GET; a new document replaces the file atomically. The
     * file's etag is the server's (`"production-57"` → `production-57`), so
     * the next GET can send it back.
     */
    public function fetch(): void
    {
        $known = self::fileEtag($this->path);
        $headers = "Accept: application/json\r\nAuthorization: Bearer {$this->key}\r\n"
            . ($known !== null ? "If-None-Match: \"{$known}\"\r\n" : '');
        $url = rtrim($this->url, '/') . '/sdk/v1/ruleset';
        $context = stream_context_create(['http' => [
            'method' => 'GET', 'header' => $headers, 'timeout' => $this->timeoutSeconds, 'ignore_errors' => true,
        ]]);
        $text = @file_get_contents($url, false, $context);
        $response = $http_response_header ?? [];
        $status = preg_match('#^HTTP/\S+ (\d{3})#', $response[0] ?? '', $m) === 1 ? (int) $m[1] : 0;
        if ($status === 304) {
            return;
        }
        $doc = is_string($text) ? json_decode($text, true) : null;
        if ($status !== 200 || !is_array($doc)) {
            $this->logger->log('warning', 'cannot fetch the flag snapshot; serving the last one', [
                'url' => $url, 'status' => $status, 'error' => $status === 0 ? (error_get_last()['message'] ?? 'no answer') : null,
            ]);
            return;
        }
        $version = is_int($doc['version'] ?? null) ? $doc['version'] : 0;
        $etag = $version . '-' . substr(md5($text), 0, 12);
        foreach ($response as $line) {
            if (preg_match('#^ETag:\s*(?:W/)?"([\x21\x23-\x7e]+)"\s*$#i', $line, $m) === 1 && !str_contains($m[1], '*/')) {
                $etag = $m[1];
            }
        }
        SnapshotWriter::write($this->path, $doc, $etag);
    }

    private static function fileEtag(string $path): ?string
    {
        $file = @fopen($path, 'rb');
        $line = $file !== false ? fgets($file, 512) : false;
        if ($file !== false) {
            fclose($file);
        }
        return is_string($line) && preg_match('#^<\?php /\* daylight-snapshot \d+ (\S+) \*/#', $line, $m) === 1 ? $m[1] : null;
    }
}
