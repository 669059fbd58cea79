<?php

// Creates the typical flag (sdk-rust/benches/typical.rs) on a Daylight
// server through the admin API and prints a production server key.
// Usage: php setup.php URL ADMIN_TOKEN

declare(strict_types=1);

[, $url, $token] = $argv;

function call(string $method, string $path, mixed $body = null, string $type = 'application/json', array $headers = []): array
{
    global $url, $token;
    $content = is_string($body) ? $body : json_encode($body);
    $context = stream_context_create(['http' => ['method' => $method, 'ignore_errors' => true,
        'header' => implode("\r\n", ["Authorization: Bearer {$token}", "Content-Type: {$type}", ...$headers]),
        'content' => $body === null ? '' : $content]]);
    $text = file_get_contents($url . $path, false, $context);
    $etag = '';
    foreach ($http_response_header as $line) {
        if (preg_match('/^ETag:\s*(.+)$/i', $line, $m)) {
            $etag = trim($m[1]);
        }
    }
    if (!preg_match('#^HTTP/\S+ 2#', $http_response_header[0])) {
        fwrite(STDERR, "{$method} {$path}: {$http_response_header[0]} {$text}\n");
        exit(1);
    }
    return [json_decode($text, true), $etag];
}

call('POST', '/api/v1/environments/production/segments', ['key' => 'cohort', 'name' => 'cohort']);
call('PUT', '/api/v1/environments/production/segments/cohort/included',
    implode("\n", array_map(fn ($i) => "s{$i}", range(1, 10000))), 'text/plain');
call('POST', '/api/v1/flags', ['key' => 'typical']);
[$config, $etag] = call('GET', '/api/v1/flags/typical/environments/production');
$config['on'] = true;
$config['targets'] = [['variation' => 1, 'values' => array_map(fn ($i) => "u{$i}", range(1, 100))]];
$config['rules'] = [
    ['id' => 'cohort', 'clauses' => [['op' => 'in_segment', 'values' => ['cohort']]], 'serve' => ['variation' => 1]],
    ['id' => 'games', 'clauses' => [['attribute' => 'game', 'op' => 'in', 'values' => ['omaha', 'holdem']]], 'serve' => ['variation' => 1]],
];
$config['fallthrough'] = ['rollout' => ['variations' => [['variation' => 0, 'weight' => 50000], ['variation' => 1, 'weight' => 50000]]]];
call('PUT', '/api/v1/flags/typical/environments/production', $config, 'application/json', ["If-Match: {$etag}"]);
[$key] = call('POST', '/api/v1/environments/production/keys', ['kind' => 'server']);
echo $key['secret'], "\n";
