<?php

declare(strict_types=1);

namespace Daylight\Tests;

use Daylight\Evaluator\PortableRegex;
use Daylight\Evaluator\PortableRegexError;
use PHPUnit\Framework\TestCase;

/**
 * The portable subset: what it refuses (the cases of the Rust SDK's
 * `portable_regex` module), and that what it accepts matches like JavaScript
 * (tests/fixtures/regex-cases.json, written by node).
 */
final class PortableRegexTest extends TestCase
{
    /** @return array<string, array{string}> */
    public static function accepted(): array
    {
        $patterns = [
            '', 'abc', '^a.c$', 'a|b|', '(a)(?:b)(?<name_1>c)', 'a*b+c?d{2}e{2,}f{2,5}',
            'a*?b+?c??d{2}?e{2,}?f{2,5}?', 'a{01}',
            '\^\$\\\\\.\*\+\?\(\)\[\]\{\}\|\/', '[\-\]\[\\\\/]',
            '\t\n\v\f\r\x41\u0041\u{1F600}\u{0000000041}', '[-a][a-][-][--][^-a][a-z0-9_]',
            '[{}()|$^.*+?/&~]', '\d\D\w\W\s\S[\d\D\w\W\s\S]', '\p{L}\P{Lu}[\p{Nd}\P{Zs}]', 'é😀', '(?:)*',
        ];
        return array_combine($patterns, array_map(fn ($p) => [$p], $patterns));
    }

    /** @dataProvider accepted */
    public function testAcceptsThePortableSubset(string $pattern): void
    {
        $this->assertIsString(PortableRegex::compile($pattern, false));
    }

    public function testAcceptsCaseInsensitiveCategories(): void
    {
        $this->assertIsString(PortableRegex::compile('\p{Lu}[^\p{Lu}]\w\W', true));
    }

    /** @return array<string, array{string, string}> */
    public static function refused(): array
    {
        $cases = [
            ['a(?=b)', 'look-around'], ['a(?!b)', 'look-around'], ['(?<=a)b', 'look-around'],
            ['(?<!a)b', 'look-around'], ['(a)\1', 'back-references'], ['(?<n>a)\k<n>', 'back-references'],
            ['\0', 'octal'], ['(?i)a', 'inline flags'], ['(?i:a)', 'inline flags'], ['(?s).', 'inline flags'],
            ['(?-u:a)', 'inline flags'], ['[[:alpha:]]', 'POSIX'], ['[a&&b]', 'set operations'],
            ['[a--b]', 'set operations'], ['[a~~b]', 'set operations'], ['[+--]', 'set operations'],
            ['[a[b]]', 'nested classes'], ['[]a]', 'cannot start a class'], ['[^]a]', 'cannot start a class'],
            ['\A', '\A and \z'], ['\z', '\A and \z'], ['\b', '\b and \B'], ['\B', '\b and \B'],
            ['\<', 'word-boundary'], ['\>', 'word-boundary'], ['\b{start}', '\b and \B'],
            ['\a', '\a is not portable'], ['\x{41}', '\x{...} is not portable'], ['\U00000041', '\U escapes'],
            ['\U{41}', '\U escapes'], ['\pL', 'braces'], ['\PL', 'braces'], ['\p{Greek}', 'general categories'],
            ['\p{gc=L}', 'general categories'], ['\p{Letter}', 'general categories'], ['\p{l}', 'general categories'],
            ['\p{ L }', 'general categories'], ['\p{^L}', 'general categories'], ['\p{Cn}', 'general categories'],
            ['a{,3}', '{0,n}'], ['a{2, 3}', 'without spaces'], ['a{ 2}', 'without spaces'],
            ['\#', 'not a valid escape'], ['\&', 'not a valid escape'], ['\~', 'not a valid escape'],
            ['\-', 'not a valid escape'], ['\ ', 'not a valid escape'], ['[\&]', 'not a valid escape'],
            ['a}', 'must be escaped'], [']', 'must be escaped'], ['{', 'nothing to repeat'],
            ['a{', 'unclosed counted repetition'], ['(?P<n>a)', '(?P<name>...)'], ['(?<a.b>x)', 'group name'],
            ['(?<1a>x)', 'group name'], ['a**', 'another one'], ['a{2}{3}', 'another one'], ['a*??', 'another one'],
            ['^*', 'cannot follow ^ or $'], ['$+', 'cannot follow ^ or $'], ['[a-b-c]', 'first or last'],
            ['[--a]', 'first or last'], ['[\d-z]', 'invalid range boundary'], ['\uD83D\uDE00', 'surrogate'],
            ['\cA', 'unrecognized escape'], ['[\b]', 'invalid escape sequence'], ['(', 'unclosed group'],
            ['(?<n>a)|(?<n>b)', 'duplicate'], ['(?:a{1000}){1000}', 'repeated group'], ['(a+)+', 'repeated group'],
            ['a{1001}', 'may not exceed 1000'], [str_repeat('(', 33) . str_repeat(')', 33), 'nest at most 32'], [')', 'unopened group'],
            ['[z-a]', 'invalid range'], ['a{3,2}', 'invalid repetition range'], ['[a', 'unclosed'],
        ];
        $out = [];
        foreach ($cases as [$pattern, $fragment]) {
            $out[$pattern] = [$pattern, $fragment];
        }
        return $out;
    }

    /** @dataProvider refused */
    public function testRefusesWithAClearMessage(string $pattern, string $fragment): void
    {
        try {
            PortableRegex::compile($pattern, false);
            $this->fail("{$pattern} was accepted");
        } catch (PortableRegexError $e) {
            $this->assertStringContainsString($fragment, $e->getMessage());
        }
    }

    /** @return array<string, array{string, bool, bool}> */
    public static function sharedCases(): array
    {
        $file = dirname(__DIR__, 2) . '/tests/vectors/regex/subset.json';
        $doc = json_decode(file_get_contents($file), true, 512, JSON_THROW_ON_ERROR);
        $out = [];
        foreach ($doc['cases'] as $n => $case) {
            // Without `case_insensitive` the verdict holds either way.
            foreach (isset($case['case_insensitive']) ? [$case['case_insensitive']] : [false, true] as $ci) {
                $out["#{$n} " . json_encode($case['pattern'], JSON_UNESCAPED_UNICODE) . ($ci ? ' ci' : '')]
                    = [$case['pattern'], $ci, $case['accepted']];
            }
        }
        return $out;
    }

    /**
     * tests/vectors/regex/subset.json, read unchanged: every SDK accepts and
     * refuses the same patterns.
     *
     * @dataProvider sharedCases
     */
    public function testTheSharedCases(string $pattern, bool $caseInsensitive, bool $accepted): void
    {
        try {
            PortableRegex::compile($pattern, $caseInsensitive);
            $this->assertTrue($accepted, 'accepted, but the shared cases refuse it');
        } catch (PortableRegexError $e) {
            $this->assertFalse($accepted, 'refused, but the shared cases accept it: ' . $e->getMessage());
        }
    }

    public function testNegatedCategoriesNeedCaseSensitivity(): void
    {
        $this->assertIsString(PortableRegex::compile('\P{Lu}', false));
        $this->expectExceptionMessage('[^\p{Lu}]');
        PortableRegex::compile('\P{Lu}', true);
    }

    public function testTheErrorSaysWhere(): void
    {
        try {
            PortableRegex::compile('ab\Ac', false);
            $this->fail('accepted');
        } catch (PortableRegexError $e) {
            $this->assertSame(2, $e->offset);
            $this->assertStringEndsWith('(`\A` at byte 2)', $e->getMessage());
        }
    }

    public function testTablePatternsMatchLikeJavaScript(): void
    {
        $fixture = self::fixture();
        $problems = [];
        foreach ($fixture['cases'] as $case) {
            $pcre = PortableRegex::compile($case['pattern'], $case['case_insensitive']);
            foreach ($fixture['inputs'] as $n => $input) {
                $php = preg_match($pcre, $input) === 1;
                if ($php !== $case['matches'][$n]) {
                    $problems[] = sprintf('%s (ci=%d) on %s: PHP %d, JS %d', $case['pattern'], $case['case_insensitive'],
                        json_encode($input), $php, $case['matches'][$n]);
                }
            }
        }
        $this->assertGreaterThan(200, count($fixture['cases']));
        $this->assertSame([], $problems);
    }

    public function testShorthandsMatchJavaScriptOnEveryCodePoint(): void
    {
        // One subject of 1.1 million characters needs more than PCRE's
        // default limits (values in rules are short).
        ini_set('pcre.jit', '0');
        ini_set('pcre.backtrack_limit', '100000000');
        ini_set('pcre.recursion_limit', '100000000');
        $all = '';
        for ($cp = 0; $cp <= 0x10FFFF; $cp++) {
            if ($cp < 0xD800 || $cp > 0xDFFF) {
                $all .= mb_chr($cp, 'UTF-8');
            }
        }
        $problems = [];
        foreach (self::fixture()['runs'] as $expected) {
            $pcre = PortableRegex::compile($expected['pattern'], $expected['case_insensitive']);
            preg_match_all($pcre, $all, $matches);
            $runs = array_map(fn (string $m): array => [mb_ord(mb_substr($m, 0, 1)), mb_ord(mb_substr($m, -1))], $matches[0]);
            if ($runs !== $expected['runs']) {
                $problems[] = sprintf('%s (ci=%d): %d runs, JS %d', $expected['pattern'], $expected['case_insensitive'],
                    count($runs), count($expected['runs']));
            }
        }
        $this->assertSame([], $problems);
    }

    private static function fixture(): array
    {
        return json_decode(file_get_contents(__DIR__ . '/fixtures/regex-cases.json'), true, 512, JSON_THROW_ON_ERROR);
    }
}
