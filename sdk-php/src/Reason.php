<?php

declare(strict_types=1);

namespace Daylight;

/**
 * Why a value was served: `OFF`, `TARGET_MATCH`, `RULE_MATCH`, `FALLTHROUGH`,
 * `PREREQUISITE_FAILED` or `ERROR`, with the fields of `docs/flag-format.md`.
 */
final class Reason
{
    public const OFF = 'OFF';
    public const TARGET_MATCH = 'TARGET_MATCH';
    public const RULE_MATCH = 'RULE_MATCH';
    public const FALLTHROUGH = 'FALLTHROUGH';
    public const PREREQUISITE_FAILED = 'PREREQUISITE_FAILED';
    public const ERROR = 'ERROR';

    private function __construct(
        /** One of the constants above; for an OFREP answer, the OpenFeature reason it carried. */
        public readonly string $kind,
        public readonly ?int $ruleIndex = null,
        public readonly ?string $ruleId = null,
        public readonly ?bool $inRollout = null,
        public readonly ?string $prerequisiteKey = null,
        public readonly ?ErrorKind $errorKind = null,
    ) {
    }

    public static function off(): self
    {
        return new self(self::OFF);
    }

    public static function targetMatch(): self
    {
        return new self(self::TARGET_MATCH);
    }

    public static function ruleMatch(int $ruleIndex, string $ruleId, bool $inRollout): self
    {
        return new self(self::RULE_MATCH, ruleIndex: $ruleIndex, ruleId: $ruleId, inRollout: $inRollout);
    }

    public static function fallthrough(bool $inRollout): self
    {
        return new self(self::FALLTHROUGH, inRollout: $inRollout);
    }

    public static function prerequisiteFailed(string $key): self
    {
        return new self(self::PREREQUISITE_FAILED, prerequisiteKey: $key);
    }

    public static function error(ErrorKind $kind): self
    {
        return new self(self::ERROR, errorKind: $kind);
    }

    /**
     * An OFREP answer's reason. OFREP carries only OpenFeature's reasons
     * (`TARGETING_MATCH`, `SPLIT`, …), so the kind is that reason.
     */
    public static function openFeature(string $reason): self
    {
        return new self($reason);
    }

    /**
     * Reads the JSON form (as OFREP metadata or a bootstrap carries it);
     * null when it is not a reason.
     */
    public static function fromArray(mixed $raw): ?self
    {
        if (!is_array($raw) || !is_string($raw['kind'] ?? null)) {
            return null;
        }
        return match ($raw['kind']) {
            self::OFF => self::off(),
            self::TARGET_MATCH => self::targetMatch(),
            self::RULE_MATCH => self::ruleMatch(
                is_int($raw['rule_index'] ?? null) ? $raw['rule_index'] : 0,
                is_string($raw['rule_id'] ?? null) ? $raw['rule_id'] : '',
                ($raw['in_rollout'] ?? false) === true,
            ),
            self::FALLTHROUGH => self::fallthrough(($raw['in_rollout'] ?? false) === true),
            self::PREREQUISITE_FAILED => self::prerequisiteFailed(
                is_string($raw['prerequisite_key'] ?? null) ? $raw['prerequisite_key'] : '',
            ),
            self::ERROR => self::error(
                ErrorKind::tryFrom(is_string($raw['error_kind'] ?? null) ? $raw['error_kind'] : '') ?? ErrorKind::General,
            ),
            default => null,
        };
    }

    /** The JSON form: `{"kind":"RULE_MATCH","rule_index":0,"rule_id":"r","in_rollout":false}`. */
    public function toArray(): array
    {
        return match ($this->kind) {
            self::RULE_MATCH => [
                'kind' => $this->kind,
                'rule_index' => $this->ruleIndex,
                'rule_id' => $this->ruleId,
                'in_rollout' => $this->inRollout,
            ],
            self::FALLTHROUGH => ['kind' => $this->kind, 'in_rollout' => $this->inRollout],
            self::PREREQUISITE_FAILED => ['kind' => $this->kind, 'prerequisite_key' => $this->prerequisiteKey],
            self::ERROR => ['kind' => $this->kind, 'error_kind' => $this->errorKind?->value],
            default => ['kind' => $this->kind],
        };
    }

    /** The OpenFeature reason (the table in `docs/flag-format.md`). */
    public function openFeatureReason(): string
    {
        return match ($this->kind) {
            self::OFF => 'DISABLED',
            self::TARGET_MATCH => 'TARGETING_MATCH',
            self::RULE_MATCH => $this->inRollout ? 'SPLIT' : 'TARGETING_MATCH',
            self::FALLTHROUGH => $this->inRollout ? 'SPLIT' : 'DEFAULT',
            self::PREREQUISITE_FAILED => 'DEFAULT',
            self::ERROR => 'ERROR',
            default => $this->kind, // an OFREP answer's own reason
        };
    }
}
