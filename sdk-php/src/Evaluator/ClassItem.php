<?php

declare(strict_types=1);

namespace Daylight\Evaluator;

/**
 * One item of a bracket class (or a lone escape), as PCRE class contents:
 * a character, a range, a shorthand or a Unicode category.
 *
 * @internal
 */
final class ClassItem
{
    private const ANY = '[\x{0}-\x{10FFFF}]';

    private function __construct(
        /** The character, for a single one (a range may start or end here). */
        public readonly ?int $codePoint,
        /** An unescaped `-`, which JavaScript may read as a range operator. */
        public readonly bool $bareDash,
        /** Where it starts in the pattern (a character index). */
        public readonly int $at,
        /** PCRE class contents: what it matches, or what it excludes when `$complement`. */
        private readonly string $contents,
        private readonly bool $complement,
    ) {
    }

    public static function char(int $codePoint, int $at): self
    {
        return new self($codePoint, false, $at, PortableRegex::literal($codePoint), false);
    }

    public static function bareDash(int $at): self
    {
        return new self(0x2D, true, $at, PortableRegex::literal(0x2D), false);
    }

    public static function range(int $first, int $last, int $at): self
    {
        return new self(null, false, $at, PortableRegex::literal($first) . '-' . PortableRegex::literal($last), false);
    }

    /** `\d`, `\w`, `\s` (or, with `$complement`, `\D`, `\W`, `\S`) spelled as class contents. */
    public static function set(string $contents, bool $complement, int $at): self
    {
        return new self(null, false, $at, $contents, $complement);
    }

    public static function property(string $contents, int $at): self
    {
        return new self(null, false, $at, $contents, false);
    }

    /** The item outside a class. */
    public function standalone(): string
    {
        if ($this->codePoint !== null) {
            return $this->contents;
        }
        return ($this->complement ? '[^' : '[') . $this->contents . ']';
    }

    /**
     * A whole class. A PCRE class cannot hold a complemented set, so a class
     * with `\D`, `\W` or `\S` becomes an alternation (a look-ahead when the
     * class is negated); case folding then applies before the complement, as
     * in the other engines.
     *
     * @param list<self> $items
     */
    public static function render(array $items, bool $negated): string
    {
        $contents = '';
        $alternatives = [];
        foreach ($items as $item) {
            if ($item->complement) {
                $alternatives[] = $item->standalone();
            } else {
                $contents .= $item->contents;
            }
        }
        if ($alternatives === []) {
            return ($negated ? '[^' : '[') . $contents . ']';
        }
        if ($contents !== '') {
            array_unshift($alternatives, '[' . $contents . ']');
        }
        $union = implode('|', $alternatives);
        return $negated ? '(?:(?!' . $union . ')' . self::ANY . ')' : '(?:' . $union . ')';
    }
}
