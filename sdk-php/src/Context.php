<?php

declare(strict_types=1);

namespace Daylight;

/**
 * What the app knows about one request: a targeting key plus attributes,
 * e.g. `['key' => 'u-42', 'game' => 'omaha', 'groups' => ['beta']]`.
 *
 * Attributes keep the four kinds the operators read (string, number, bool,
 * list of strings); any other value counts as missing, as in every SDK.
 * Numbers are kept as floats, as JSON numbers are compared everywhere.
 */
final class Context
{
    /** @param array<string, string|float|bool|list<string>> $attributes */
    private function __construct(public readonly ?string $key, private readonly array $attributes)
    {
    }

    /**
     * Reads a context array. Returns null when `key` is present but not a
     * string, or for a list (the other SDKs refuse such contexts too).
     */
    public static function fromArray(array $context): ?self
    {
        if ($context !== [] && array_is_list($context)) {
            return null; // a JSON array, not an object
        }
        $key = null;
        $attributes = [];
        foreach ($context as $name => $value) {
            $name = (string) $name;
            if ($name === 'key') {
                if ($value === null) {
                    continue;
                }
                if (!is_string($value)) {
                    return null;
                }
                $key = $value;
                continue;
            }
            $attr = self::attribute($value);
            if ($attr !== null) {
                $attributes[$name] = $attr;
            }
        }
        return new self($key, $attributes);
    }

    /** A context with a targeting key and attributes. */
    public static function of(?string $key, array $attributes = []): self
    {
        unset($attributes['key']);
        $context = self::fromArray($attributes);
        return new self($key, $context?->attributes ?? []);
    }

    /** The attribute `name`; `key` is the targeting key. */
    public function get(string $name): string|float|bool|array|null
    {
        return $name === 'key' ? $this->key : ($this->attributes[$name] ?? null);
    }

    /** The context as an array (`key` first when present). */
    public function toArray(): array
    {
        return ($this->key === null ? [] : ['key' => $this->key]) + $this->attributes;
    }

    private static function attribute(mixed $value): string|float|bool|array|null
    {
        if (is_string($value) || is_bool($value)) {
            return $value;
        }
        if (is_int($value)) {
            return (float) $value;
        }
        if (is_float($value)) {
            return is_finite($value) ? $value : null;
        }
        if (is_array($value) && array_is_list($value)) {
            foreach ($value as $item) {
                if (!is_string($item)) {
                    return null;
                }
            }
            return $value;
        }
        return null;
    }
}
