<?php

declare(strict_types=1);

namespace Daylight;

use Daylight\Evaluator\Flag;
use Daylight\Evaluator\Read;
use Daylight\Evaluator\Rollout;
use Daylight\Evaluator\Segment;
use Daylight\Log\Logger;
use Daylight\Log\NullLogger;

/**
 * One environment's flags and segments, and the evaluator:
 * off → prerequisites → targets → rules in order → fallthrough
 * (`docs/flag-format.md`; the Rust SDK's `evaluate.rs`).
 *
 * {@see compile()} validates a whole document at once, as the Rust SDK's
 * `Ruleset::compile` does. {@see lenient()} compiles each flag and segment
 * when it is first used, so a request pays only for the flags it evaluates
 * (a PHP process starts from the raw document on every request); an entry
 * that does not compile is logged and left out, as the other SDKs do with a
 * server's snapshot.
 */
final class Ruleset
{
    /** Prerequisite chains are acyclic (checked); this bounds the recursion anyway. */
    private const MAX_PREREQUISITE_DEPTH = 32;

    /** @var array<string, Flag|false> compiled flags; false when one does not compile */
    private array $flags = [];
    /** @var array<string, Segment|false> */
    private array $segments = [];
    /** @var array<string, true>|null flags left out to break prerequisite cycles */
    private ?array $cycles = null;
    private readonly \Closure $inSegment;

    private function __construct(
        public readonly string $environment,
        public readonly int $version,
        private readonly array $rawFlags,
        private readonly array $rawSegments,
        private readonly Logger $logger,
    ) {
        $this->inSegment = fn (string $segment, string $key, Context $context): bool =>
            ($this->segment($segment)?->contains($key, $context)) === true;
    }

    /**
     * Validates and compiles a whole `RulesetDocument` (as `json_decode(…, true)`
     * reads it). Operators this SDK does not know are kept as never-matching.
     *
     * @throws ValidationError naming the first bad field
     */
    public static function compile(array $doc): self
    {
        $ruleset = self::read($doc, true, new NullLogger());
        foreach ($ruleset->rawSegments as $key => $raw) {
            $ruleset->segments[(string) $key] = Segment::compile($raw, "segments.{$key}");
        }
        foreach ($ruleset->rawFlags as $key => $raw) {
            $ruleset->flags[(string) $key] = Flag::compile((string) $key, $raw, "flags.{$key}");
        }
        $cycle = $ruleset->findCycle();
        if ($cycle !== null) {
            throw self::cycleError($cycle);
        }
        $ruleset->cycles = [];
        return $ruleset;
    }

    /** {@see compile()} from JSON text. */
    public static function fromJson(string $json): self
    {
        try {
            $doc = json_decode($json, true, 512, JSON_THROW_ON_ERROR);
        } catch (\JsonException $e) {
            throw new ValidationError('', 'not JSON: ' . $e->getMessage());
        }
        return self::compile(is_array($doc) ? $doc : []);
    }

    /**
     * Compiles each flag and segment on first use; what does not compile is
     * logged at `error` and evaluates as missing. Only a document that is not
     * an object at all, or whose `flags`/`segments` are not objects, throws.
     *
     * @throws ValidationError
     */
    public static function lenient(array $doc, ?Logger $logger = null): self
    {
        return self::read($doc, false, $logger ?? new NullLogger());
    }

    private static function read(array $doc, bool $strict, Logger $logger): self
    {
        Read::object($doc, '');
        $environment = $doc['environment'] ?? '';
        if (!is_string($environment)) {
            if ($strict) {
                throw new ValidationError('environment', 'expected a string');
            }
            $environment = '';
        }
        $version = $doc['version'] ?? 0;
        if ($strict) {
            $version = Read::uint($version, 'version');
        } elseif (!is_int($version) || $version < 0) {
            $version = 0;
        }
        $entries = function (string $name) use ($doc): array {
            $value = $doc[$name] ?? [];
            return $value === [] ? [] : Read::object($value, $name);
        };
        return new self($environment, $version, $entries('flags'), $entries('segments'), $logger);
    }

    /** @return list<string> */
    public function flagKeys(): array
    {
        return array_map('strval', array_keys($this->rawFlags));
    }

    /** @return list<string> the flags a browser (client key) may see */
    public function clientSideKeys(): array
    {
        $keys = [];
        foreach ($this->rawFlags as $key => $raw) {
            // The raw field first: only these flags need compiling.
            if (($raw['client_side'] ?? false) === true && $this->flag((string) $key) !== null) {
                $keys[] = (string) $key;
            }
        }
        return $keys;
    }

    public function hasFlag(string $key): bool
    {
        return $this->flag($key) !== null;
    }

    /** May a browser (client key) see this flag? */
    public function isClientSide(string $key): bool
    {
        return $this->flag($key)?->clientSide === true;
    }

    /** `bool`, `string`, `number` or `object`; null for an unknown flag. */
    public function variationKind(string $key): ?string
    {
        return $this->flag($key)?->kind;
    }

    /** The version of flag `key`'s config in this environment. */
    public function flagVersion(string $key): ?int
    {
        return $this->flag($key)?->version;
    }

    /**
     * Evaluates flag `key`, untyped: `value` and `variation` are null when
     * the caller's default applies. Never throws.
     */
    public function evaluate(string $key, array|Context $context): EvaluationDetail
    {
        $flag = $this->flag($key);
        if ($flag === null) {
            return EvaluationDetail::error(null, ErrorKind::FlagNotFound);
        }
        $ctx = $context instanceof Context ? $context : Context::fromArray($context);
        if ($ctx === null) {
            return EvaluationDetail::error(null, ErrorKind::General);
        }
        return $this->evalFlag($flag, $ctx, 0);
    }

    public function boolVariation(string $key, array|Context $context, bool $default): bool
    {
        return $this->boolVariationDetail($key, $context, $default)->value;
    }

    /** @return EvaluationDetail<bool> */
    public function boolVariationDetail(string $key, array|Context $context, bool $default): EvaluationDetail
    {
        return self::typed($this->evaluate($key, $context), $default, is_bool(...));
    }

    public function stringVariation(string $key, array|Context $context, string $default): string
    {
        return $this->stringVariationDetail($key, $context, $default)->value;
    }

    /** @return EvaluationDetail<string> */
    public function stringVariationDetail(string $key, array|Context $context, string $default): EvaluationDetail
    {
        return self::typed($this->evaluate($key, $context), $default, is_string(...));
    }

    public function numberVariation(string $key, array|Context $context, float|int $default): float
    {
        return $this->numberVariationDetail($key, $context, $default)->value;
    }

    /** @return EvaluationDetail<float> numbers as floats, as JSON numbers are */
    public function numberVariationDetail(string $key, array|Context $context, float|int $default): EvaluationDetail
    {
        $detail = self::typed($this->evaluate($key, $context), $default, fn ($v) => is_int($v) || is_float($v));
        return new EvaluationDetail((float) $detail->value, $detail->variation, $detail->reason);
    }

    /** Any variation type; JSON objects as PHP arrays. */
    public function jsonVariation(string $key, array|Context $context, mixed $default): mixed
    {
        return $this->jsonVariationDetail($key, $context, $default)->value;
    }

    public function jsonVariationDetail(string $key, array|Context $context, mixed $default): EvaluationDetail
    {
        return self::typed($this->evaluate($key, $context), $default, fn () => true);
    }

    private function evalFlag(Flag $flag, Context $ctx, int $depth): EvaluationDetail
    {
        if (!$flag->on) {
            return self::off($flag, Reason::off());
        }
        foreach ($flag->prerequisites as [$preKey, $wanted]) {
            $pre = $depth < self::MAX_PREREQUISITE_DEPTH ? $this->flag($preKey) : null;
            $met = $pre !== null && $pre->on && $this->evalFlag($pre, $ctx, $depth + 1)->variation === $wanted;
            if (!$met) {
                return self::off($flag, Reason::prerequisiteFailed($preKey));
            }
        }
        if ($ctx->key !== null && isset($flag->targets[$ctx->key])) {
            return self::served($flag, $flag->targets[$ctx->key], Reason::targetMatch());
        }
        foreach ($flag->rules as $index => [$id, $clauses, $serve]) {
            foreach ($clauses as $clause) {
                if (!$clause->matches($ctx, $this->inSegment)) {
                    continue 2;
                }
            }
            [$variation, $inRollout] = self::pick($serve, $ctx);
            return self::served($flag, $variation, Reason::ruleMatch($index, $id, $inRollout));
        }
        [$variation, $inRollout] = self::pick($flag->fallthrough, $ctx);
        return self::served($flag, $variation, Reason::fallthrough($inRollout));
    }

    /** @return array{int, bool} */
    private static function pick(int|Rollout $serve, Context $ctx): array
    {
        return is_int($serve) ? [$serve, false] : $serve->pick($ctx);
    }

    private static function off(Flag $flag, Reason $reason): EvaluationDetail
    {
        return $flag->offVariation === null
            ? new EvaluationDetail(null, null, $reason)
            : self::served($flag, $flag->offVariation, $reason);
    }

    private static function served(Flag $flag, int $variation, Reason $reason): EvaluationDetail
    {
        return new EvaluationDetail($flag->variations[$variation], $variation, $reason);
    }

    /** The value when it has the wanted type, else the default with `TYPE_MISMATCH`. */
    private static function typed(EvaluationDetail $detail, mixed $default, callable $accept): EvaluationDetail
    {
        if ($detail->variation === null) {
            return new EvaluationDetail($default, null, $detail->reason);
        }
        if ($accept($detail->value)) {
            return $detail;
        }
        return EvaluationDetail::error($default, ErrorKind::TypeMismatch);
    }

    private function flag(string $key): ?Flag
    {
        if (!isset($this->flags[$key])) {
            if (!isset($this->rawFlags[$key])) {
                return null;
            }
            $this->flags[$key] = $this->compileEntry('flag', $key, fn () => Flag::compile($key, $this->rawFlags[$key], "flags.{$key}"));
        }
        $flag = $this->flags[$key] ?: null;
        if ($flag !== null && $flag->prerequisites !== [] && isset($this->cycles()[$key])) {
            return null;
        }
        return $flag;
    }

    private function segment(string $key): ?Segment
    {
        if (!isset($this->segments[$key])) {
            if (!isset($this->rawSegments[$key])) {
                return null;
            }
            $this->segments[$key] = $this->compileEntry('segment', $key, fn () => Segment::compile($this->rawSegments[$key], "segments.{$key}"));
        }
        return $this->segments[$key] ?: null;
    }

    private function compileEntry(string $kind, string $key, \Closure $compile): Flag|Segment|false
    {
        try {
            return $compile();
        } catch (ValidationError $e) {
            $this->logger->log('error', "a {$kind} this SDK cannot compile is left out", [$kind => $key, 'error' => $e->getMessage()]);
            return false;
        }
    }

    /** @return array<string, true> the flags left out to break prerequisite cycles (lenient mode) */
    private function cycles(): array
    {
        if ($this->cycles !== null) {
            return $this->cycles;
        }
        $this->cycles = [];
        while (($cycle = $this->findCycle()) !== null) {
            $this->cycles[$cycle] = true;
            $this->logger->log('error', 'a flag on a prerequisite cycle is left out', ['flag' => $cycle]);
        }
        return $this->cycles;
    }

    /**
     * A flag on a prerequisite cycle, or null: depth-first in key order, as
     * the JavaScript SDK does (the Rust SDK may name another flag of it).
     */
    private function findCycle(): ?string
    {
        $edges = [];
        foreach ($this->rawFlags as $key => $raw) {
            $key = (string) $key;
            if (!empty($raw['prerequisites']) && !isset($this->cycles[$key])) {
                $flag = $this->flags[$key] ?? null;
                $flag ??= $this->flags[$key] = $this->compileEntry('flag', $key, fn () => Flag::compile($key, $raw, "flags.{$key}"));
                if ($flag !== false) {
                    $edges[$key] = array_column($flag->prerequisites, 0);
                }
            }
        }
        ksort($edges, SORT_STRING);
        $state = []; // 1: on the stack, 2: done
        $visit = function (string $key) use (&$visit, &$state, $edges): ?string {
            if (($state[$key] ?? 0) === 2) {
                return null;
            }
            if (($state[$key] ?? 0) === 1) {
                return $key;
            }
            $state[$key] = 1;
            foreach ($edges[$key] ?? [] as $pre) {
                $found = $visit($pre);
                if ($found !== null) {
                    return $found;
                }
            }
            $state[$key] = 2;
            return null;
        };
        foreach (array_keys($edges) as $key) {
            $found = $visit((string) $key);
            if ($found !== null) {
                return $found;
            }
        }
        return null;
    }

    private static function cycleError(string $key): ValidationError
    {
        return new ValidationError("flags.{$key}.prerequisites", 'prerequisites form a cycle');
    }
}
