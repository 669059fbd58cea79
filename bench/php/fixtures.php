<?php

// Writes the benchmark's snapshots into DIR: typical.php (the typical flag
// of sdk-rust/benches/typical.rs) and flags-50 / flags-1000 in .php and
// .json (typical-like flags, each with 20 targets and two rules, and one
// 10,000-key segment). Usage: php fixtures.php DIR

declare(strict_types=1);

require dirname(__DIR__, 2) . '/sdk-php/tests/bootstrap.php';

use Daylight\Snapshot\SnapshotWriter;

$dir = $argv[1];

function typical(int $targets): array
{
    return [
        'variations' => [false, true], 'on' => true, 'off_variation' => 0, 'client_side' => false,
        'targets' => [['variation' => 1, 'values' => array_map(fn ($i) => "u{$i}", range(1, $targets))]],
        'rules' => [
            ['id' => 'cohort', 'clauses' => [['op' => 'in_segment', 'values' => ['cohort']]], 'serve' => ['variation' => 1]],
            ['id' => 'games', 'clauses' => [['attribute' => 'game', 'op' => 'in', 'values' => ['omaha', 'holdem']]], 'serve' => ['variation' => 1]],
        ],
        'fallthrough' => ['rollout' => ['variations' => [['variation' => 0, 'weight' => 50000], ['variation' => 1, 'weight' => 50000]]]],
        'prerequisites' => [], 'version' => 1,
    ];
}

$segment = ['cohort' => ['included' => array_map(fn ($i) => "s{$i}", range(1, 10000)), 'excluded' => [], 'rules' => [], 'version' => 1]];
SnapshotWriter::write("{$dir}/typical.php", ['environment' => 'bench', 'version' => 1, 'flags' => ['typical' => typical(100)], 'segments' => $segment], '1-typical');
foreach ([50, 1000] as $n) {
    $flags = [];
    for ($i = 0; $i < $n; $i++) {
        $flags["flag-{$i}"] = typical(20);
    }
    $doc = ['environment' => 'bench', 'version' => $n, 'flags' => $flags, 'segments' => $segment];
    SnapshotWriter::write("{$dir}/flags-{$n}.php", $doc, "{$n}-bench");
    SnapshotWriter::write("{$dir}/flags-{$n}.json", $doc);
}
