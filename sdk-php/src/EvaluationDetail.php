<?php

declare(strict_types=1);

namespace Daylight;

/**
 * A typed evaluation result: `value` is the caller's default when
 * `variation` is null (an error, or off without an off variation).
 *
 * @template T
 */
final class EvaluationDetail
{
    /** @param T $value */
    public function __construct(
        public readonly mixed $value,
        public readonly ?int $variation,
        public readonly Reason $reason,
    ) {
    }

    /** The caller's default with an error reason. */
    public static function error(mixed $default, ErrorKind $kind): self
    {
        return new self($default, null, Reason::error($kind));
    }

    /** The error kind, when this is an error. */
    public function errorKind(): ?ErrorKind
    {
        return $this->reason->errorKind;
    }

    public function openFeatureReason(): string
    {
        return $this->reason->openFeatureReason();
    }

    /** `{value, variation, reason}`, the form the browser SDK's bootstrap reads. */
    public function toArray(): array
    {
        return ['value' => $this->value, 'variation' => $this->variation, 'reason' => $this->reason->toArray()];
    }
}
