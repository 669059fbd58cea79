<?php

declare(strict_types=1);

namespace Daylight;

/**
 * The getters, however flags are evaluated: locally from a snapshot
 * ({@see Client}) or by the server over OFREP ({@see Ofrep\OfrepClient}).
 * None of them throws: on any error the caller's default comes back.
 */
interface FlagEvaluator
{
    public function boolVariation(string $key, array|Context $context, bool $default): bool;

    public function boolVariationDetail(string $key, array|Context $context, bool $default): EvaluationDetail;

    public function stringVariation(string $key, array|Context $context, string $default): string;

    public function stringVariationDetail(string $key, array|Context $context, string $default): EvaluationDetail;

    public function numberVariation(string $key, array|Context $context, float|int $default): float;

    public function numberVariationDetail(string $key, array|Context $context, float|int $default): EvaluationDetail;

    public function jsonVariation(string $key, array|Context $context, mixed $default): mixed;

    public function jsonVariationDetail(string $key, array|Context $context, mixed $default): EvaluationDetail;
}
