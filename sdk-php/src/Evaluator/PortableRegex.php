<?php

declare(strict_types=1);

namespace Daylight\Evaluator;

use Daylight\Evaluator\Data\CaseClasses;

/**
 * The portable regex subset of the `matches` operator (`docs/regex-subset.md`;
 * the Rust SDK's `portable_regex` module), checked and translated to PCRE.
 *
 * A pattern is read by a small parser that accepts exactly the subset and
 * refuses everything else, with a message that points at the offending
 * part. What it accepts is written out for PCRE so that PCRE matches what
 * JavaScript's `RegExp` with the `u` (or `iu`) flags matches:
 *
 * - `.`, `\d`, `\w`, `\s` and their negations become explicit classes
 *   (PHP's `u` modifier would make them Unicode-aware);
 * - `^` and `$` become `\A` and `\z` (PCRE's `$` also matches before a
 *   final newline);
 * - with case_insensitive, `\p{..}` also gets the characters that fold to
 *   one of its members (PCRE ignores case for `\p{..}`; the other engines
 *   do not);
 * - a class holding a negated shorthand (`[\D\s]`) becomes an alternation,
 *   since a PCRE class cannot hold another negated class.
 *
 * @internal
 */
final class PortableRegex
{
    /** General categories whose `\p{..}` spelling every engine reads alike. */
    private const GENERAL_CATEGORIES = [
        'L', 'LC', 'Lu', 'Ll', 'Lt', 'Lm', 'Lo', 'M', 'Mn', 'Mc', 'Me', 'N', 'Nd', 'Nl', 'No', 'P', 'Pc', 'Pd',
        'Ps', 'Pe', 'Pi', 'Pf', 'Po', 'S', 'Sm', 'Sc', 'Sk', 'So', 'Z', 'Zs', 'Zl', 'Zp', 'Cc', 'Cf', 'Co',
    ];

    /** JavaScript's meanings of the shorthands, as PCRE class contents. */
    private const DIGIT = '0-9';
    private const WORD = '0-9A-Za-z_';
    private const SPACE = '\t\n\x{0B}\f\r\x{20}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}';
    private const LINE_TERMINATORS = '\n\r\x{2028}\x{2029}';
    private const ANY = '[\x{0}-\x{10FFFF}]';

    /** The largest count a counted repetition may name (the Rust SDK's `MAX_REPEAT`). */
    private const MAX_COUNT = 1000;

    /** How deeply groups may nest (the Rust SDK's `MAX_GROUP_DEPTH`). */
    private const MAX_GROUP_DEPTH = 32;

    /**
     * Rust refuses patterns whose compiled form passes a size limit; this
     * approximates it by counting characters and classes (a class counts
     * ten), multiplied out through counted repetitions.
     */
    private const MAX_SIZE = 250000;

    /** @var list<string> the pattern's characters */
    private array $chars;
    /** @var list<int> byte offset of each character, for messages */
    private array $offsets;
    private int $i = 0;
    /** @var array<string, true> */
    private array $groupNames = [];
    /** How many groups enclose the current position. */
    private int $depth = 0;

    private function __construct(private readonly string $pattern, private readonly bool $caseInsensitive)
    {
        $this->chars = mb_str_split($pattern, 1, 'UTF-8');
        $this->offsets = [];
        $offset = 0;
        foreach ($this->chars as $c) {
            $this->offsets[] = $offset;
            $offset += strlen($c);
        }
        $this->offsets[] = $offset;
    }

    /**
     * The PCRE pattern (delimiters and modifiers included) for `$pattern`.
     *
     * @throws PortableRegexError when the pattern is not in the portable subset
     */
    public static function compile(string $pattern, bool $caseInsensitive): string
    {
        if (!mb_check_encoding($pattern, 'UTF-8')) {
            throw new PortableRegexError('a pattern must be valid UTF-8', '', 0);
        }
        $parser = new self($pattern, $caseInsensitive);
        [$body, $size] = $parser->alternation();
        if ($parser->peek() === ')') {
            $parser->reject('unopened group', 1);
        }
        if ($size > self::MAX_SIZE) {
            throw new PortableRegexError('pattern is too large once compiled', '', 0);
        }
        $pcre = '/' . $body . '/u' . ($caseInsensitive ? 'i' : '');
        // Compiling once here turns PCRE's own limits into a refusal at load.
        if (@preg_match($pcre, '') === false) {
            throw new PortableRegexError('pattern is too large once compiled (' . preg_last_error_msg() . ')', '', 0);
        }
        return $pcre;
    }

    /**
     * @return array{string, int, ?int} the PCRE text, its estimated size and
     *     where its first quantifier or `|` is (null: none)
     */
    private function alternation(): array
    {
        [$out, $size, $branching] = $this->concat();
        while ($this->peek() === '|') {
            $branching ??= $this->i;
            $this->i++;
            [$branch, $branchSize, $inner] = $this->concat();
            $branching ??= $inner;
            $out .= '|' . $branch;
            $size += $branchSize;
        }
        return [$out, $size, $branching];
    }

    /**
     * A sequence of atoms, each maybe quantified.
     *
     * @return array{string, int, ?int} the PCRE text, its estimated size and
     *     where its first quantifier or `|` is (null: none)
     */
    private function concat(): array
    {
        $out = '';
        $size = 0;
        $atomSize = 0;
        $atomBranching = null; // the first quantifier or `|` inside the last atom
        $branching = null;
        $last = null; // null: nothing yet; 'anchor', 'atom' or 'repeated'
        while (($c = $this->peek()) !== null && $c !== '|' && $c !== ')') {
            if ($c === '*' || $c === '+' || $c === '?' || $c === '{') {
                $at = $this->i;
                if ($last === null) {
                    $this->reject('quantifier has nothing to repeat (escape a literal `{`, `*`, `+` or `?`)', 1);
                }
                if ($last === 'anchor') {
                    $this->reject('a quantifier cannot follow ^ or $', 1);
                }
                if ($last === 'repeated') {
                    $this->reject('a quantifier cannot follow another one; use a group, e.g. (?:a+)*', 1);
                }
                [$quantifier, $times, $repeats] = $this->quantifier();
                if ($repeats && $atomBranching !== null) {
                    // A backtracking engine (PCRE, JavaScript) can split the
                    // text among the inner pieces in exponentially many ways.
                    $this->rejectAt($atomBranching, 'a repeated group cannot contain another quantifier or `|` '
                        . '(backtracking engines could take exponential time); '
                        . 'use a class such as [ab]+ or spell the repetition out', 1);
                }
                $branching ??= $at;
                $out .= $quantifier;
                $size += $atomSize * ($times - 1);
                $last = 'repeated';
                continue;
            }
            $last = 'atom';
            $atomSize = 1;
            $atomBranching = null;
            switch ($c) {
                case '(':
                    [$group, $atomSize, $atomBranching] = $this->group();
                    $branching ??= $atomBranching;
                    $out .= $group;
                    break;
                case '[':
                    $out .= $this->bracketClass();
                    $atomSize = 10;
                    break;
                case '.':
                    $this->i++;
                    $out .= '[^' . self::LINE_TERMINATORS . ']';
                    $atomSize = 10;
                    break;
                case '^':
                case '$':
                    $this->i++;
                    $out .= $c === '^' ? '\A' : '\z';
                    $last = 'anchor';
                    break;
                case '\\':
                    $item = $this->escape(false);
                    $out .= $item->standalone();
                    $atomSize = $item->codePoint === null ? 10 : 1;
                    break;
                case ']':
                case '}':
                    $this->reject("a literal `{$c}` must be escaped as `\\{$c}` (JavaScript rejects it bare)", 1);
                    // no break: reject() throws
                default:
                    $this->i++;
                    $out .= self::literal(mb_ord($c, 'UTF-8'));
            }
            $size += $atomSize;
        }
        return [$out, $size, $branching];
    }

    /**
     * @return array{string, int, bool} the PCRE quantifier, how many copies it
     *     makes at most, and whether it can match its operand more than once
     */
    private function quantifier(): array
    {
        $start = $this->i;
        $c = $this->chars[$this->i++];
        if ($c === '{') {
            $text = '';
            while (($d = $this->peek()) !== null && $d !== '}') {
                $text .= $d;
                $this->i++;
            }
            if ($this->peek() === null) {
                $this->rejectAt($start, 'unclosed counted repetition', $this->i - $start);
            }
            $this->i++;
            if (preg_match('/\A([0-9]+)(,([0-9]*))?\z/', $text, $m) !== 1) {
                $message = str_starts_with($text, ',')
                    ? 'a counted repetition needs a minimum: write {0,n}, not {,n}'
                    : 'write counted repetitions without spaces, like {2} {2,} or {2,5}';
                $this->rejectAt($start, $message, $this->i - $start);
            }
            $min = ltrim($m[1], '0') ?: '0';
            $max = isset($m[2]) ? (ltrim($m[3] ?? '', '0') ?: ($m[3] === '' ? '' : '0')) : $min;
            if ($max !== '' && strlen($min) <= 10 && strlen($max) <= 10 && (int) $min > (int) $max) {
                $this->rejectAt($start, 'invalid repetition range: the minimum is above the maximum', $this->i - $start);
            }
            // As in Rust: the largest count named, i.e. the minimum of `{n,}`.
            $largest = $max === '' ? $min : $max;
            if (strlen($largest) > 4 || (int) $largest > self::MAX_COUNT) {
                $this->rejectAt($start, 'a counted repetition may not exceed ' . self::MAX_COUNT, $this->i - $start);
            }
            $out = isset($m[2]) ? "{{$min},{$max}}" : "{{$min}}";
            $times = max(1, (int) $largest);
            $repeats = $max === '' || (int) $max > 1;
        } else {
            $out = $c;
            $times = 1;
            $repeats = $c !== '?';
        }
        if ($this->peek() === '?') {
            $this->i++;
            $out .= '?';
        }
        return [$out, $times, $repeats];
    }

    /** @return array{string, int, ?int} as alternation() */
    private function group(): array
    {
        $start = $this->i;
        if ($this->depth >= self::MAX_GROUP_DEPTH) {
            $this->reject('groups may nest at most ' . self::MAX_GROUP_DEPTH . ' deep', 1);
        }
        $this->i++;
        if ($this->peek() === '?') {
            $this->i++;
            $next = $this->peek();
            if ($next === ':') {
                $this->i++;
            } elseif ($next === '=' || $next === '!'
                || ($next === '<' && in_array($this->peek(1), ['=', '!'], true))) {
                $this->rejectAt($start, 'look-around ((?=, (?!, (?<=, (?<!) is not supported', 3);
            } elseif ($next === '<') {
                $this->i++;
                $this->groupName($start);
            } elseif ($next === 'P') {
                $this->rejectAt($start, '(?P<name>...) is not portable; use (?<name>...)', 3);
            } else {
                $this->rejectAt($start, 'inline flags like (?i) are not portable; use case_insensitive', 2);
            }
        }
        $this->depth++;
        [$inner, $size, $branching] = $this->alternation();
        $this->depth--;
        if ($this->peek() !== ')') {
            $this->rejectAt($start, 'unclosed group', 1);
        }
        $this->i++;
        // Captures do not change what matches; PCRE need not keep them.
        return ['(?:' . $inner . ')', $size, $branching];
    }

    private function groupName(int $groupStart): void
    {
        $start = $this->i;
        $name = '';
        while (($c = $this->peek()) !== null && $c !== '>') {
            $name .= $c;
            $this->i++;
        }
        if ($this->peek() === null) {
            $this->rejectAt($groupStart, 'unclosed group name', $this->i - $groupStart);
        }
        $this->i++;
        if (preg_match('/\A[A-Za-z_][A-Za-z0-9_]*\z/', $name) !== 1) {
            $this->rejectAt($start, 'a group name must be ASCII letters, digits and `_`, not starting with a digit', $this->i - 1 - $start);
        }
        if (isset($this->groupNames[$name])) {
            $this->rejectAt($start, "duplicate capture group name `{$name}`", $this->i - 1 - $start);
        }
        $this->groupNames[$name] = true;
    }

    private function bracketClass(): string
    {
        $start = $this->i++;
        $negated = false;
        if ($this->peek() === '^') {
            $negated = true;
            $this->i++;
        }
        /** @var list<ClassItem> $items */
        $items = [];
        // Leading dashes are literals in both engines.
        while ($this->peek() === '-') {
            $items[] = ClassItem::bareDash($this->i++);
        }
        if ($items === [] && $this->peek() === ']') {
            $this->reject('`]` cannot start a class; escape it as `\]`', 1);
        }
        while (true) {
            $c = $this->peek();
            if ($c === null) {
                $this->rejectAt($start, 'unclosed character class', $this->i - $start);
            }
            if ($c === ']') {
                $this->i++;
                break;
            }
            if ($c === '[') {
                $this->reject($this->peek(1) === ':'
                    ? 'POSIX classes like [[:alpha:]] are not portable; use ranges like [a-zA-Z]'
                    : 'nested classes are not portable; escape a literal `[` as \[', 1);
            }
            if (($c === '&' || $c === '-' || $c === '~') && $this->peek(1) === $c) {
                $this->reject('class set operations (&&, --, ~~) are not portable; escape the repeated character', 2);
            }
            $first = $this->classAtom();
            $after = $this->peek(1);
            if ($this->peek() === '-' && $after !== null && $after !== ']' && $after !== '-') {
                $this->i++;
                $last = $this->classAtom();
                $items[] = $this->range($first, $last);
            } else {
                $items[] = $first;
            }
        }
        // JavaScript reads `-` between two items as a range operator.
        foreach ($items as $n => $item) {
            if ($item->bareDash && $n !== 0 && $n !== count($items) - 1) {
                $this->rejectAt($item->at, 'a `-` inside a class must come first or last, or be escaped as \-', 1);
            }
        }
        return ClassItem::render($items, $negated);
    }

    private function classAtom(): ClassItem
    {
        if ($this->peek() === '\\') {
            return $this->escape(true);
        }
        $at = $this->i;
        $c = $this->chars[$this->i++];
        return $c === '-' ? ClassItem::bareDash($at) : ClassItem::char(mb_ord($c, 'UTF-8'), $at);
    }

    private function range(ClassItem $first, ClassItem $last): ClassItem
    {
        if ($first->codePoint === null || $last->codePoint === null) {
            $this->rejectAt($first->at, 'invalid range boundary: a range goes from one character to another', $this->i - $first->at);
        }
        if ($first->codePoint > $last->codePoint) {
            $this->rejectAt($first->at, 'invalid range: the start is after the end', $this->i - $first->at);
        }
        return ClassItem::range($first->codePoint, $last->codePoint, $first->at);
    }

    /** A backslash escape, in or outside a class. */
    private function escape(bool $inClass): ClassItem
    {
        $at = $this->i++;
        $c = $this->peek();
        if ($c === null) {
            $this->rejectAt($at, 'incomplete escape sequence at the end of the pattern', 1);
        }
        $this->i++;
        if (str_contains('^$\\.*+?()[]{}|/', $c) || ($inClass && $c === '-')) {
            return ClassItem::char(ord($c), $at);
        }
        switch ($c) {
            case 't':
                return ClassItem::char(0x09, $at);
            case 'n':
                return ClassItem::char(0x0A, $at);
            case 'v':
                return ClassItem::char(0x0B, $at);
            case 'f':
                return ClassItem::char(0x0C, $at);
            case 'r':
                return ClassItem::char(0x0D, $at);
            case 'x':
                if ($this->peek() === '{') {
                    $this->rejectAt($at, '\x{...} is not portable; use \xHH or \u{...}', 2);
                }
                return ClassItem::char($this->hexDigits($at, 2), $at);
            case 'u':
                return ClassItem::char($this->unicodeEscape($at), $at);
            case 'd':
                return ClassItem::set(self::DIGIT, false, $at);
            case 'D':
                return ClassItem::set(self::DIGIT, true, $at);
            case 'w':
                return ClassItem::set(self::WORD, false, $at);
            case 'W':
                return ClassItem::set(self::WORD, true, $at);
            case 's':
                return ClassItem::set(self::SPACE, false, $at);
            case 'S':
                return ClassItem::set(self::SPACE, true, $at);
            case 'p':
            case 'P':
                return $this->property($at, $c === 'P');
        }
        $this->rejectAt($at, match (true) {
            $inClass && $c === 'b' => 'invalid escape sequence in a class: \b',
            $c === 'b' || $c === 'B' => '\b and \B are not portable (the engines disagree on word characters)',
            $c === 'A' || $c === 'z' => '\A and \z are not portable; use ^ and $',
            $c === '<' || $c === '>' => 'word-boundary assertions are not portable',
            $c === 'k' || ctype_digit($c) => 'back-references and octal escapes (\1, \0, \k<name>) are not supported',
            $c === 'a' => '\a is not portable; use \x07',
            $c === 'U' => '\U escapes are not portable; use \u{...}',
            strlen($c) === 1 && !ctype_alnum($c) => "`\\{$c}` is not a valid escape in JavaScript's `u` mode; "
                . 'only ^$\.*+?()[]{}|/ (and `-` inside a class) may be escaped',
            default => 'unrecognized escape sequence',
        }, 2);
    }

    private function unicodeEscape(int $at): int
    {
        if ($this->peek() !== '{') {
            $cp = $this->hexDigits($at, 4);
        } else {
            $this->i++;
            $hex = '';
            while (($d = $this->peek()) !== null && ctype_xdigit($d)) {
                $hex .= $d;
                $this->i++;
            }
            if ($hex === '' || $this->peek() !== '}') {
                $this->rejectAt($at, 'invalid \u{...} escape: hexadecimal digits in braces', $this->i - $at);
            }
            $this->i++;
            $hex = ltrim($hex, '0');
            $cp = strlen($hex) > 6 ? 0x110000 : (int) hexdec($hex ?: '0');
        }
        if ($cp > 0x10FFFF || ($cp >= 0xD800 && $cp <= 0xDFFF)) {
            $this->rejectAt($at, 'escape is not a valid Unicode scalar value '
                . '(surrogate escapes like \uD83D are not supported; write \u{1F600})', $this->i - $at);
        }
        return $cp;
    }

    private function hexDigits(int $at, int $count): int
    {
        $hex = '';
        for ($n = 0; $n < $count; $n++) {
            $d = $this->peek();
            if ($d === null || !ctype_xdigit($d)) {
                $this->rejectAt($at, "invalid hexadecimal escape: expected {$count} hexadecimal digits", $this->i - $at + 1);
            }
            $hex .= $d;
            $this->i++;
        }
        return (int) hexdec($hex);
    }

    private function property(int $at, bool $negated): ClassItem
    {
        if ($this->peek() !== '{') {
            $this->rejectAt($at, 'write Unicode classes with braces, e.g. \p{L}', 3);
        }
        $name = '';
        $this->i++;
        while (($d = $this->peek()) !== null && $d !== '}') {
            $name .= $d;
            $this->i++;
        }
        if ($d === null) {
            $this->rejectAt($at, 'unclosed Unicode class', $this->i - $at);
        }
        $this->i++;
        if (!in_array($name, self::GENERAL_CATEGORIES, true)) {
            $this->rejectAt($at, 'only general categories such as \p{L}, \p{Lu} or \p{Nd} are portable', $this->i - $at);
        }
        if ($negated && $this->caseInsensitive) {
            // JavaScript complements first and folds while matching, so
            // /\P{Lu}/iu matches "A"; Rust does not.
            $this->rejectAt($at, "\\P{{$name}} is not portable with case_insensitive; use [^\\p{{$name}}]", $this->i - $at);
        }
        $contents = ($negated ? '\P' : '\p') . '{' . $name . '}';
        if ($this->caseInsensitive) {
            $contents .= CaseClasses::foldedInto($name);
        }
        return ClassItem::property($contents, $at);
    }

    /** One PCRE character for a code point, safe in and outside a class. */
    public static function literal(int $cp): string
    {
        return ($cp >= 0x30 && $cp <= 0x39) || ($cp >= 0x41 && $cp <= 0x5A) || ($cp >= 0x61 && $cp <= 0x7A)
            ? chr($cp)
            : sprintf('\x{%X}', $cp);
    }

    private function peek(int $ahead = 0): ?string
    {
        return $this->chars[$this->i + $ahead] ?? null;
    }

    private function reject(string $message, int $length): never
    {
        $this->rejectAt($this->i, $message, $length);
    }

    private function rejectAt(int $index, string $message, int $length): never
    {
        $fragment = implode('', array_slice($this->chars, $index, max(1, $length)));
        throw new PortableRegexError($message, $fragment, $this->offsets[min($index, count($this->chars))]);
    }
}
