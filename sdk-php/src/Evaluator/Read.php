<?php

declare(strict_types=1);

namespace Daylight\Evaluator;

use Daylight\ValidationError;

/**
 * Reads raw documents field by field with the types the Rust SDK's serde
 * model enforces: a field of the wrong type refuses the entry (with the
 * field's path); unknown fields are ignored; absent optional fields take
 * their defaults. JSON objects arrive as PHP arrays (`json_decode(…, true)`).
 *
 * @internal
 */
final class Read
{
    public static function object(mixed $value, string $path): array
    {
        if (!is_array($value) || ($value !== [] && array_is_list($value))) {
            throw new ValidationError($path, 'expected an object');
        }
        return $value;
    }

    public static function list(mixed $value, string $path): array
    {
        // An empty object reads as an empty list: PHP arrays cannot tell them apart.
        if (!is_array($value) || !array_is_list($value)) {
            throw new ValidationError($path, 'expected an array');
        }
        return $value;
    }

    /** A required field (`null` counts as missing). */
    public static function field(array $o, string $name, string $path): mixed
    {
        $value = $o[$name] ?? null;
        if ($value === null) {
            throw new ValidationError(self::join($path, $name), 'missing field');
        }
        return $value;
    }

    public static function string(mixed $value, string $path): string
    {
        if (!is_string($value)) {
            throw new ValidationError($path, 'expected a string');
        }
        return $value;
    }

    /** A non-negative integer (a JSON `2.0` is accepted as 2, as serde reads it). */
    public static function uint(mixed $value, string $path, int $max = 9007199254740991): int
    {
        if (is_float($value) && floor($value) === $value && abs($value) < 9.0e15) {
            $value = (int) $value;
        }
        if (!is_int($value) || $value < 0 || $value > $max) {
            throw new ValidationError($path, 'expected a non-negative integer');
        }
        return $value;
    }

    /** @return list<string> */
    public static function strings(mixed $value, string $path): array
    {
        foreach (self::list($value, $path) as $i => $item) {
            self::string($item, "{$path}[{$i}]");
        }
        return $value;
    }

    /** An optional boolean (default false). */
    public static function flag(array $o, string $name, string $path): bool
    {
        if (!array_key_exists($name, $o)) {
            return false;
        }
        if (!is_bool($o[$name])) {
            throw new ValidationError(self::join($path, $name), 'expected a boolean');
        }
        return $o[$name];
    }

    /** An optional list field (default empty). */
    public static function optionalList(array $o, string $name, string $path): array
    {
        return array_key_exists($name, $o) ? self::list($o[$name], self::join($path, $name)) : [];
    }

    public static function join(string $path, string $name): string
    {
        return $path === '' ? $name : "{$path}.{$name}";
    }
}
