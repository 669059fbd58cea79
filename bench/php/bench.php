<?php

// The measurements, run inside PHP-FPM (so OPcache's shared memory and the
// pool's APCu are the ones a request sees); run.sh requests this page once.
// Prints one JSON object of figures (nanoseconds or microseconds).

declare(strict_types=1);

require $_SERVER['DAYLIGHT_ROOT'] . '/sdk-php/tests/bootstrap.php';

use Daylight\Client;
use Daylight\Ofrep\OfrepClient;
use Daylight\Ruleset;
use Daylight\Snapshot\RedisSnapshot;
use Daylight\Snapshot\SnapshotLoader;

$dir = $_SERVER['DAYLIGHT_BENCH_DIR'];
$out = [];

/**
 * Mean time of one call of $f over $n calls, in nanoseconds. With $fresh,
 * each call is timed alone and followed (untimed) by a cycle collection,
 * as the end of a request frees everything.
 */
function per_call(int $n, callable $f, bool $fresh = false): float
{
    $f();
    if (!$fresh) {
        $start = hrtime(true);
        for ($i = 0; $i < $n; $i++) {
            $f();
        }
        return (hrtime(true) - $start) / $n;
    }
    $total = 0;
    for ($i = 0; $i < $n; $i++) {
        $start = hrtime(true);
        $f();
        $total += hrtime(true) - $start;
        gc_collect_cycles();
    }
    return $total / $n;
}

$decoded = new ReflectionProperty(SnapshotLoader::class, 'decoded');
$freshRequest = fn () => $decoded->setValue(null, []);

// 1. Evaluations of the typical flag, per path, on a picked-up snapshot.
$contexts = [
    'target' => ['key' => 'u42', 'game' => 'poker'],
    'segment' => ['key' => 's5000', 'game' => 'poker'],
    'rule' => ['key' => 'p-77', 'game' => 'omaha'],
    'rollout' => ['key' => 'p-78', 'game' => 'poker'],
];
$client = new Client(new SnapshotLoader("{$dir}/typical.php"));
foreach ($contexts as $path => $ctx) {
    $out['eval_ns'][$path] = per_call(100000, fn () => $client->boolVariation('typical', $ctx, false));
}
// The first evaluation of a flag in a request also compiles it.
$out['first_eval_us'] = per_call(2000, function () use ($dir, $contexts) {
    (new Client(new SnapshotLoader("{$dir}/typical.php")))->boolVariation('typical', $contexts['rollout'], false);
}, true) / 1000 - per_call(2000, fn () => (new SnapshotLoader("{$dir}/typical.php"))->ruleset(), true) / 1000;

// 2. Picking up the snapshot, per request, per storage option.
foreach ([50, 1000] as $n) {
    $out['pickup_us'][$n]['php_opcache'] = per_call(2000, fn () => (new SnapshotLoader("{$dir}/flags-{$n}.php"))->ruleset(), true) / 1000;
    $out['pickup_us'][$n]['json'] = per_call(200, function () use ($dir, $n, $freshRequest) {
        $freshRequest();
        (new SnapshotLoader("{$dir}/flags-{$n}.json"))->ruleset();
    }, true) / 1000;
    apcu_store("bench:{$n}", json_decode(file_get_contents("{$dir}/flags-{$n}.json"), true));
    $out['pickup_us'][$n]['apcu'] = per_call(500, fn () => Ruleset::lenient(apcu_fetch("bench:{$n}")), true) / 1000;
    $out['pickup_us'][$n]['redis_apcu'] = per_call(500,
        fn () => (new RedisSnapshot($_SERVER['DAYLIGHT_REDIS_URL'], "daylight:bench:{$n}"))->ruleset(), true) / 1000;
}

// 3. One OFREP HTTP call per evaluation, on loopback.
$ofrep = new OfrepClient($_SERVER['DAYLIGHT_URL'], $_SERVER['DAYLIGHT_KEY'], 2.0);
$ok = $ofrep->boolVariationDetail('typical', $contexts['rollout'], false)->variation !== null;
$out['ofrep_us'] = $ok ? per_call(1000, fn () => $ofrep->boolVariation('typical', $contexts['rollout'], false)) / 1000 : null;

header('Content-Type: application/json');
echo json_encode($out, JSON_PRETTY_PRINT), "\n";
