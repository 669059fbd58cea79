<?php

declare(strict_types=1);

namespace Daylight\Snapshot;

/** The snapshot file cannot be used right now (missing, truncated, corrupt). */
final class SnapshotUnreadable extends \RuntimeException
{
}
