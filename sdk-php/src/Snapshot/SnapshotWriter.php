<?php

declare(strict_types=1);

namespace Daylight\Snapshot;

/**
 * Writes snapshot files in the format {@see SnapshotLoader} reads, replacing
 * the file atomically (a temporary file in the same directory, then a
 * rename). `daylight sync` writes the same bytes; this class documents the
 * format in code and serves tests and scripts.
 */
final class SnapshotWriter
{
    /** The PHP source of a snapshot: a header line with the etag, then `return [...]`. */
    public static function php(array $ruleset, string $etag): string
    {
        if (preg_match('/\A[\x21-\x7e]+\z/', $etag) !== 1 || str_contains($etag, '*/')) {
            throw new \InvalidArgumentException('an etag is printable ASCII without spaces or */');
        }
        foreach ($ruleset['segments'] ?? [] as $key => $segment) {
            foreach (['included', 'excluded'] as $name) {
                if (is_array($segment[$name] ?? null) && array_is_list($segment[$name])) {
                    // A set (key => true): lookups probe OPcache's copy directly.
                    $ruleset['segments'][$key][$name] = array_fill_keys($segment[$name], true);
                }
            }
        }
        $data = ['format' => SnapshotLoader::FORMAT, 'etag' => $etag, 'ruleset' => $ruleset];
        return "<?php /* daylight-snapshot " . SnapshotLoader::FORMAT . " {$etag} */\n\nreturn "
            . var_export($data, true) . ";\n";
    }

    /** Writes `$ruleset` to `$path` (`.php` or `.json`) atomically. */
    public static function write(string $path, array $ruleset, ?string $etag = null): void
    {
        $etag ??= ($ruleset['version'] ?? 0) . '-' . bin2hex(random_bytes(6));
        $bytes = str_ends_with($path, '.json')
            ? json_encode($ruleset, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION)
            : self::php($ruleset, $etag);
        $tmp = $path . '.tmp-' . bin2hex(random_bytes(4));
        if (file_put_contents($tmp, $bytes) !== strlen($bytes) || !rename($tmp, $path)) {
            @unlink($tmp);
            throw new \RuntimeException("could not write {$path}");
        }
    }
}
