<?php

declare(strict_types=1);

namespace Daylight\Snapshot;

use Daylight\Log\Logger;
use Daylight\Log\NullLogger;
use Daylight\Ruleset;
use Daylight\RulesetSource;

/**
 * One environment's ruleset from the snapshot file `daylight sync` keeps
 * (format in `docs/sdk-php.md`), picked up again on every request.
 *
 * The first {@see ruleset()} call of a request does one cheap check; later
 * calls return the same ruleset, so a request never sees two versions.
 *
 * - A `.php` snapshot: its first line carries an etag (read with one small
 *   `fgets`); the body is `include`d, which OPcache serves from shared memory.
 *   When the included etag is not the file's (OPcache still holds the old
 *   script, e.g. with `opcache.validate_timestamps=0`) the script is
 *   invalidated and included once more.
 * - A `.json` snapshot (a plain `RulesetDocument`) is decoded on each request,
 *   or once per process when the file's inode, size and times are unchanged.
 *
 * When the file is missing, truncated or corrupt the last good snapshot is
 * served (APCu when enabled, else this process's memory) and the problem is
 * logged; with no snapshot at all the getters answer `PROVIDER_NOT_READY`.
 */
final class SnapshotLoader implements RulesetSource
{
    public const FORMAT = 1;
    private const HEADER = '/\A<\?php \/\* daylight-snapshot (\d+) ([\x21-\x7e]+) \*\//';

    /** @var array<string, array{string, array}> decoded JSON snapshots by file identity */
    private static array $decoded = [];

    private readonly Logger $logger;
    private readonly LastGood $lastGood;
    private bool $checked = false;
    private ?Ruleset $ruleset = null;
    private ?string $etag = null;

    public function __construct(private readonly string $path, ?Logger $logger = null, ?LastGood $lastGood = null)
    {
        $this->logger = $logger ?? new NullLogger();
        $this->lastGood = $lastGood ?? (ApcuLastGood::available() ? new ApcuLastGood() : new ProcessLastGood());
    }

    public function ruleset(): ?Ruleset
    {
        if (!$this->checked) {
            $this->checked = true;
            $this->load();
        }
        return $this->ruleset;
    }

    /** The etag of the snapshot being served (null without one). */
    public function etag(): ?string
    {
        $this->ruleset();
        return $this->etag;
    }

    public function path(): string
    {
        return $this->path;
    }

    private function load(): void
    {
        try {
            [$etag, $doc] = str_ends_with($this->path, '.json') ? $this->readJson() : $this->readPhp();
            $this->ruleset = Ruleset::lenient($doc, $this->logger);
            $this->etag = $etag;
            $this->lastGood->save($this->path, $etag, $doc);
            return;
        } catch (SnapshotUnreadable $e) {
            $problem = $e->getMessage();
        } catch (\Throwable $e) {
            $problem = 'the snapshot is corrupt: ' . $e->getMessage();
        }
        $kept = $this->lastGood->load($this->path);
        if ($kept !== null) {
            $this->etag = $kept[0];
            $this->ruleset = Ruleset::lenient($kept[1], $this->logger);
        }
        if ($this->lastGood->shouldLog($this->path, $problem)) {
            $this->logger->log($kept === null ? 'error' : 'warning', $kept === null
                ? "{$problem}; no snapshot to serve: every flag gives the caller's default"
                : "{$problem}; serving the last good snapshot", ['path' => $this->path, 'etag' => $this->etag]);
        }
    }

    /** @return array{string, array} */
    private function readPhp(): array
    {
        $etag = $this->header();
        $data = $this->includeFile();
        if (($data['etag'] ?? null) !== $etag && function_exists('opcache_invalidate')) {
            // OPcache may hold the replaced script: compile the file again.
            opcache_invalidate($this->path, true);
            $data = $this->includeFile();
        }
        if (($data['etag'] ?? null) !== $etag) {
            throw new SnapshotUnreadable('the snapshot changed while it was read, or its etag does not match its header');
        }
        if (($data['format'] ?? null) !== self::FORMAT || !is_array($data['ruleset'] ?? null)) {
            throw new SnapshotUnreadable('the snapshot is corrupt: expected format ' . self::FORMAT . ' with a ruleset');
        }
        return [$etag, $data['ruleset']];
    }

    private function header(): string
    {
        // One read of the first bytes: the open is most of a request's cost.
        $line = @file_get_contents($this->path, false, null, 0, 512);
        if ($line === false) {
            throw new SnapshotUnreadable('the snapshot file is missing or unreadable');
        }
        if (preg_match(self::HEADER, $line, $m) !== 1) {
            throw new SnapshotUnreadable('the snapshot is corrupt: no daylight-snapshot header on its first line');
        }
        if ((int) $m[1] !== self::FORMAT) {
            throw new SnapshotUnreadable("the snapshot has format {$m[1]}; this SDK reads format " . self::FORMAT);
        }
        return $m[2];
    }

    private function includeFile(): array
    {
        try {
            $data = (static fn (string $path): mixed => include $path)($this->path);
        } catch (\ParseError $e) {
            throw new SnapshotUnreadable('the snapshot is truncated or corrupt: ' . $e->getMessage());
        }
        if (!is_array($data)) {
            throw new SnapshotUnreadable('the snapshot is corrupt: it does not return an array');
        }
        return $data;
    }

    /** @return array{string, array} */
    private function readJson(): array
    {
        clearstatcache(true, $this->path);
        $stat = @stat($this->path);
        if ($stat === false) {
            throw new SnapshotUnreadable('the snapshot file is missing or unreadable');
        }
        $identity = implode(':', [$stat['ino'], $stat['size'], $stat['mtime'], $stat['ctime']]);
        if ((self::$decoded[$this->path][0] ?? null) === $identity) {
            return self::$decoded[$this->path][1];
        }
        $text = @file_get_contents($this->path);
        if ($text === false) {
            throw new SnapshotUnreadable('the snapshot file is missing or unreadable');
        }
        try {
            $doc = json_decode($text, true, 512, JSON_THROW_ON_ERROR);
        } catch (\JsonException $e) {
            throw new SnapshotUnreadable('the snapshot is truncated or corrupt: ' . $e->getMessage());
        }
        if (!is_array($doc)) {
            throw new SnapshotUnreadable('the snapshot is corrupt: not a JSON object');
        }
        $version = $doc['version'] ?? 0;
        $read = [(is_int($version) ? $version : 0) . '-' . substr(md5($text), 0, 12), $doc];
        self::$decoded = [$this->path => [$identity, $read]];
        return $read;
    }
}
