<?php

declare(strict_types=1);

namespace Daylight\Tests\Support;

/** Ruleset documents the tests share (also from the PHP processes they start). */
final class Documents
{
    /** `new-lobby`: client-side, on for the `vip` segment (u-1, 42) when `$on`. */
    public static function lobby(bool $on, int $version = 1): array
    {
        return ['environment' => 'production', 'version' => $version, 'flags' => [
            'new-lobby' => ['variations' => [false, true], 'client_side' => true, 'on' => $on, 'off_variation' => 0,
                'rules' => [['id' => 'vip', 'clauses' => [['op' => 'in_segment', 'values' => ['vip']]], 'serve' => ['variation' => 1]]],
                'fallthrough' => ['variation' => 0], 'version' => $version],
            'theme' => ['variations' => ['light', 'dark'], 'client_side' => false, 'on' => true, 'off_variation' => 0,
                'fallthrough' => ['variation' => 1], 'version' => 1],
        ], 'segments' => ['vip' => ['included' => ['u-1', '42'], 'excluded' => [], 'rules' => [], 'version' => 1]]];
    }
}
