<?php

declare(strict_types=1);

namespace Daylight\Ofrep;

use Daylight\Context;
use Daylight\ErrorKind;
use Daylight\EvaluationDetail;
use Daylight\FlagEvaluator;
use Daylight\Log\Logger;
use Daylight\Log\NullLogger;
use Daylight\Reason;

/**
 * Remote evaluation over OFREP (`POST /ofrep/v1/evaluate/flags/{key}`, and
 * the bulk `POST /ofrep/v1/evaluate/flags`), for apps that prefer asking the
 * server to keeping a snapshot. Same getters and detail type as the local
 * {@see \Daylight\Client}; every failure (network, timeout, HTTP error,
 * unreadable answer) returns the caller's default, never an exception.
 *
 * A remote detail's reason is the OpenFeature reason the server sent
 * (`TARGETING_MATCH`, `SPLIT`, `DISABLED`, `DEFAULT`) or `ERROR`.
 */
final class OfrepClient implements FlagEvaluator
{
    private readonly string $baseUrl;
    private readonly Logger $logger;

    /**
     * @param string $url the server, e.g. `https://flags.example.com`
     * @param string $key a server key (`dl_server_…`) or a client key (client-side flags only)
     * @param float $timeoutSeconds for connecting, and for each read of the answer
     */
    public function __construct(
        string $url,
        private readonly string $key,
        private readonly float $timeoutSeconds = 1.0,
        ?Logger $logger = null,
    ) {
        $this->baseUrl = rtrim($url, '/') . '/ofrep/v1/evaluate/flags';
        $this->logger = $logger ?? new NullLogger();
    }

    public function boolVariation(string $key, array|Context $context, bool $default): bool
    {
        return $this->boolVariationDetail($key, $context, $default)->value;
    }

    /** @return EvaluationDetail<bool> */
    public function boolVariationDetail(string $key, array|Context $context, bool $default): EvaluationDetail
    {
        return $this->typed($key, $context, $default, is_bool(...));
    }

    public function stringVariation(string $key, array|Context $context, string $default): string
    {
        return $this->stringVariationDetail($key, $context, $default)->value;
    }

    /** @return EvaluationDetail<string> */
    public function stringVariationDetail(string $key, array|Context $context, string $default): EvaluationDetail
    {
        return $this->typed($key, $context, $default, is_string(...));
    }

    public function numberVariation(string $key, array|Context $context, float|int $default): float
    {
        return $this->numberVariationDetail($key, $context, $default)->value;
    }

    /** @return EvaluationDetail<float> */
    public function numberVariationDetail(string $key, array|Context $context, float|int $default): EvaluationDetail
    {
        $detail = $this->typed($key, $context, $default, fn ($v) => is_int($v) || is_float($v));
        return new EvaluationDetail((float) $detail->value, $detail->variation, $detail->reason);
    }

    public function jsonVariation(string $key, array|Context $context, mixed $default): mixed
    {
        return $this->jsonVariationDetail($key, $context, $default)->value;
    }

    public function jsonVariationDetail(string $key, array|Context $context, mixed $default): EvaluationDetail
    {
        return $this->typed($key, $context, $default, fn () => true);
    }

    /**
     * Every flag the key may see, in one request: details whose value is
     * null (with an `ERROR` reason) for the flags the server could not
     * evaluate. Empty when the request fails.
     *
     * @return array<string, EvaluationDetail>
     */
    public function evaluateAll(array|Context $context): array
    {
        $answer = $this->post($this->baseUrl, $context);
        if (!is_array($answer[1]['flags'] ?? null)) {
            return [];
        }
        $out = [];
        foreach ($answer[1]['flags'] as $item) {
            if (is_array($item) && is_string($item['key'] ?? null)) {
                $out[$item['key']] = self::detail($item, null);
            }
        }
        return $out;
    }

    private function typed(string $key, array|Context $context, mixed $default, callable $accept): EvaluationDetail
    {
        [$status, $body] = $this->post($this->baseUrl . '/' . rawurlencode($key), $context);
        if ($body === null) {
            return EvaluationDetail::error($default, ErrorKind::General);
        }
        $detail = self::detail($body, $default);
        if ($detail->variation === null) {
            return $detail;
        }
        return $accept($detail->value) ? $detail : EvaluationDetail::error($default, ErrorKind::TypeMismatch);
    }

    /** One flag's OFREP answer (a success or an error body) as a detail. */
    private static function detail(array $body, mixed $default): EvaluationDetail
    {
        if (isset($body['errorCode'])) {
            $kind = ErrorKind::tryFrom(is_string($body['errorCode']) ? $body['errorCode'] : '') ?? ErrorKind::General;
            return EvaluationDetail::error($default, $kind);
        }
        $variant = $body['variant'] ?? null;
        if (!array_key_exists('value', $body) || !is_string($variant) || !ctype_digit($variant)) {
            return EvaluationDetail::error($default, ErrorKind::General);
        }
        $reason = is_string($body['reason'] ?? null) ? $body['reason'] : 'UNKNOWN';
        return new EvaluationDetail($body['value'], (int) $variant, Reason::openFeature($reason));
    }

    /**
     * POSTs the context; returns the status and the decoded JSON body (null
     * when the request failed or the answer is not a JSON object).
     *
     * @return array{int, ?array}
     */
    private function post(string $url, array|Context $context): array
    {
        try {
            $ctx = $context instanceof Context ? $context : Context::fromArray($context);
            $payload = $ctx?->toArray() ?? [];
            if (array_key_exists('key', $payload)) {
                $payload = ['targetingKey' => $payload['key']] + $payload;
                unset($payload['key']);
            }
            $stream = stream_context_create(['http' => [
                'method' => 'POST',
                'header' => "Content-Type: application/json\r\nAccept: application/json\r\n"
                    . "Authorization: Bearer {$this->key}\r\n",
                'content' => json_encode(['context' => (object) $payload], JSON_THROW_ON_ERROR | JSON_PRESERVE_ZERO_FRACTION),
                'timeout' => $this->timeoutSeconds,
                'ignore_errors' => true, // read 4xx bodies: they hold OFREP's errorCode
            ]]);
            $text = @file_get_contents($url, false, $stream);
            $headers = $http_response_header ?? [];
            if ($text === false || $headers === []) {
                $this->logger->log('warning', 'OFREP request failed', ['url' => $url, 'error' => error_get_last()['message'] ?? 'no answer']);
                return [0, null];
            }
            $status = preg_match('#^HTTP/\S+ (\d{3})#', $headers[0], $m) === 1 ? (int) $m[1] : 0;
            $body = json_decode($text, true);
            if ($status === 401 || $status === 403 || !is_array($body)) {
                $this->logger->log('warning', 'OFREP answer not usable', ['url' => $url, 'status' => $status]);
                return [$status, null];
            }
            return [$status, $body];
        } catch (\Throwable $e) {
            $this->logger->log('warning', 'OFREP request failed', ['url' => $url, 'error' => $e->getMessage()]);
            return [0, null];
        }
    }
}
