<?php

declare(strict_types=1);

namespace Daylight\Usage;

/**
 * Evaluation counts for the usage metrics (`docs/usage-metrics.md`) without
 * a network call in the request: counted in memory, then appended as one
 * line to `usage.jsonl` in the spool directory when the request ends.
 * `daylight sync --usage-spool DIR` collects the lines and sends them to
 * `POST /sdk/v1/usage`.
 *
 * A line is a usage report: `{"evaluations":[{"flag":…,"variation":…,"count":…}]}`.
 * Appends of one short line with `LOCK_EX` never interleave.
 */
final class UsageSpool
{
    public const FILE = 'usage.jsonl';

    /** @var array<string, array<int, int>> flag => variation => count */
    private array $counts = [];
    private bool $registered = false;

    public function __construct(private readonly string $directory)
    {
    }

    public function count(string $flag, int $variation): void
    {
        if (!$this->registered) {
            $this->registered = true;
            register_shutdown_function([$this, 'flush']);
        }
        $this->counts[$flag][$variation] = ($this->counts[$flag][$variation] ?? 0) + 1;
    }

    /** Appends the counts so far (called when the request ends). */
    public function flush(): void
    {
        if ($this->counts === []) {
            return;
        }
        $evaluations = [];
        foreach ($this->counts as $flag => $variations) {
            foreach ($variations as $variation => $count) {
                $evaluations[] = ['flag' => (string) $flag, 'variation' => $variation, 'count' => $count];
            }
        }
        $this->counts = [];
        $line = json_encode(['evaluations' => $evaluations], JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE) . "\n";
        // Metrics never cost a page: a spool that cannot be written is skipped.
        @file_put_contents($this->directory . '/' . self::FILE, $line, FILE_APPEND | LOCK_EX);
    }
}
