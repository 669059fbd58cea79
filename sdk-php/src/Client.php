<?php

declare(strict_types=1);

namespace Daylight;

use Daylight\Log\Logger;
use Daylight\Log\NullLogger;
use Daylight\Usage\UsageSpool;

/**
 * The getters an app calls: typed values with the caller's default on every
 * error, never an exception. The names mirror the Rust SDK's client
 * (`bool_variation`, `bool_variation_detail`, …).
 *
 * ```php
 * $flags = new Client(new SnapshotLoader('/var/lib/daylight/production.php'));
 * if ($flags->boolVariation('new-lobby', ['key' => $user->id, 'game' => 'omaha'], false)) { … }
 * ```
 */
final class Client implements FlagEvaluator
{
    private readonly Logger $logger;

    /** @param ?UsageSpool $usage where evaluation counts go (none: not counted) */
    public function __construct(
        private readonly RulesetSource $source,
        ?Logger $logger = null,
        private readonly ?UsageSpool $usage = null,
    ) {
        $this->logger = $logger ?? new NullLogger();
    }

    /** A client on a fixed ruleset document (validated strictly): for tests and scripts. */
    public static function fromDocument(array $doc): self
    {
        return new self(new FixedRuleset(Ruleset::compile($doc)));
    }

    /** The current ruleset, or null before there is data. */
    public function ruleset(): ?Ruleset
    {
        return $this->source->ruleset();
    }

    public function isReady(): bool
    {
        return $this->ruleset() !== null;
    }

    public function boolVariation(string $key, array|Context $context, bool $default): bool
    {
        return $this->boolVariationDetail($key, $context, $default)->value;
    }

    /** @return EvaluationDetail<bool> */
    public function boolVariationDetail(string $key, array|Context $context, bool $default): EvaluationDetail
    {
        return $this->detail($key, $default, fn (Ruleset $r) => $r->boolVariationDetail($key, $context, $default));
    }

    public function stringVariation(string $key, array|Context $context, string $default): string
    {
        return $this->stringVariationDetail($key, $context, $default)->value;
    }

    /** @return EvaluationDetail<string> */
    public function stringVariationDetail(string $key, array|Context $context, string $default): EvaluationDetail
    {
        return $this->detail($key, $default, fn (Ruleset $r) => $r->stringVariationDetail($key, $context, $default));
    }

    public function numberVariation(string $key, array|Context $context, float|int $default): float
    {
        return $this->numberVariationDetail($key, $context, $default)->value;
    }

    /** @return EvaluationDetail<float> */
    public function numberVariationDetail(string $key, array|Context $context, float|int $default): EvaluationDetail
    {
        return $this->detail($key, (float) $default, fn (Ruleset $r) => $r->numberVariationDetail($key, $context, $default));
    }

    /** Any variation type; JSON objects as PHP arrays. */
    public function jsonVariation(string $key, array|Context $context, mixed $default): mixed
    {
        return $this->jsonVariationDetail($key, $context, $default)->value;
    }

    public function jsonVariationDetail(string $key, array|Context $context, mixed $default): EvaluationDetail
    {
        return $this->detail($key, $default, fn (Ruleset $r) => $r->jsonVariationDetail($key, $context, $default));
    }

    /**
     * Every `client_side` flag evaluated for `$context`, as the browser SDK's
     * `bootstrap` option reads them: `{flag: {value, variation, reason}}`.
     * Flags that serve no value (off without an off variation) are left out,
     * so the browser keeps its own default for them.
     *
     * @return array<string, array{value: mixed, variation: int, reason: array}>
     */
    public function clientSideValues(array|Context $context): array
    {
        $out = [];
        try {
            $ruleset = $this->ruleset();
            foreach ($ruleset?->clientSideKeys() ?? [] as $key) {
                $detail = $ruleset->evaluate($key, $context);
                if ($detail->variation !== null) {
                    $out[$key] = $detail->toArray();
                }
            }
        } catch (\Throwable $e) {
            $this->logger->log('error', 'evaluating the client-side flags failed', ['error' => $e->getMessage()]);
        }
        return $out;
    }

    private function detail(string $key, mixed $default, \Closure $evaluate): EvaluationDetail
    {
        try {
            $ruleset = $this->source->ruleset();
            if ($ruleset === null) {
                return EvaluationDetail::error($default, ErrorKind::ProviderNotReady);
            }
            $detail = $evaluate($ruleset);
            // The caller's default (variation null) is not counted.
            if ($this->usage !== null && $detail->variation !== null) {
                $this->usage->count($key, $detail->variation);
            }
            return $detail;
        } catch (\Throwable $e) {
            // A bug must not take the page down: the caller's default, logged.
            $this->logger->log('error', 'evaluation failed', ['error' => $e->getMessage()]);
            return EvaluationDetail::error($default, ErrorKind::General);
        }
    }
}
