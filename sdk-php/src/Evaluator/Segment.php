<?php

declare(strict_types=1);

namespace Daylight\Evaluator;

use Daylight\Context;

/**
 * A compiled segment (cohort): in when the key is `included`; else out when
 * it is `excluded`; else in when every clause of any rule matches.
 *
 * @internal
 */
final class Segment
{
    /**
     * @param array<string, mixed> $included keys as array keys, so a lookup is a hash probe
     * @param list<list<Clause>> $rules
     */
    private function __construct(
        private readonly array $included,
        private readonly array $excluded,
        private readonly array $rules,
    ) {
    }

    public static function compile(mixed $raw, string $path): self
    {
        $o = Read::object($raw, $path);
        $keys = function (string $name) use ($o, $path): array {
            if (!array_key_exists($name, $o)) {
                return [];
            }
            $value = $o[$name];
            // The PHP snapshot holds the keys as a set (key => true), which
            // OPcache keeps in shared memory: no flip of 100,000 keys per request.
            // (`reset()` would take the array by reference and copy it.)
            if (is_array($value) && $value !== [] && $value[array_key_first($value)] === true) {
                return $value;
            }
            return array_flip(Read::strings($value, "{$path}.{$name}"));
        };
        $included = $keys('included');
        $excluded = $keys('excluded');
        $rules = [];
        foreach (Read::optionalList($o, 'rules', $path) as $i => $rawRule) {
            $at = "{$path}.rules[{$i}]";
            $rule = Read::object($rawRule, $at);
            if (array_key_exists('id', $rule)) {
                Read::string($rule['id'], "{$at}.id");
            }
            $clauses = [];
            foreach (Read::list(Read::field($rule, 'clauses', $at), "{$at}.clauses") as $j => $clause) {
                $clauses[] = Clause::compile($clause, "{$at}.clauses[{$j}]", true);
            }
            $rules[] = $clauses;
        }
        if (array_key_exists('version', $o)) {
            Read::uint($o['version'], "{$path}.version");
        }
        return new self($included, $excluded, $rules);
    }

    public function contains(string $key, Context $context): bool
    {
        if (isset($this->included[$key])) {
            return true;
        }
        if (isset($this->excluded[$key])) {
            return false;
        }
        $noSegments = static fn (): bool => false;
        foreach ($this->rules as $clauses) {
            $all = true;
            foreach ($clauses as $clause) {
                if (!$clause->matches($context, $noSegments)) {
                    $all = false;
                    break;
                }
            }
            if ($all) {
                return true;
            }
        }
        return false;
    }
}
