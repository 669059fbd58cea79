<?php

declare(strict_types=1);

namespace Daylight\Laravel;

use Daylight\Client;
use Daylight\Context;
use Daylight\EvaluationDetail;
use Daylight\FlagEvaluator;
use Daylight\Log\Logger;
use Daylight\Ofrep\OfrepClient;
use Illuminate\Contracts\Auth\Authenticatable;

/**
 * What the `Daylight` facade and `daylight()` reach: the getters of the
 * configured evaluator, plus shortcuts that use the current user's context.
 *
 * ```php
 * if (Daylight::enabled('new-lobby')) { … }
 * $theme = Daylight::stringVariation('theme', Daylight::context(), 'light');
 * ```
 */
final class DaylightManager implements FlagEvaluator
{
    private ?Context $context = null;

    /**
     * @param \Closure(): ?Authenticatable $user the signed-in user
     * @param array $config the `daylight` config
     */
    public function __construct(
        private readonly FlagEvaluator $flags,
        private readonly ContextResolver $resolver,
        private readonly \Closure $user,
        private readonly array $config,
        private readonly Logger $logger,
    ) {
    }

    /** The current request's context (resolved once per request). */
    public function context(): Context
    {
        return $this->context ??= $this->resolver->resolve(($this->user)());
    }

    /** Is the boolean flag on for the current user? (false on any error) */
    public function enabled(string $key): bool
    {
        return $this->flags->boolVariation($key, $this->context(), false);
    }

    public function evaluator(): FlagEvaluator
    {
        return $this->flags;
    }

    /**
     * The current user's evaluated `client_side` flags, as the browser SDK's
     * `bootstrap` option reads them.
     *
     * @return array<string, array{value: mixed, variation: int, reason: array}>
     */
    public function clientSideValues(?Context $context = null): array
    {
        $context ??= $this->context();
        if ($this->flags instanceof Client) {
            return $this->flags->clientSideValues($context);
        }
        // Remote: a client key's bulk answer holds exactly the client-side flags.
        if (!is_string($this->config['client_key'] ?? null) || !is_string($this->config['url'] ?? null)) {
            return [];
        }
        $remote = new OfrepClient($this->config['url'], $this->config['client_key'], (float) ($this->config['timeout'] ?? 1.0), $this->logger);
        $out = [];
        foreach ($remote->evaluateAll($context) as $key => $detail) {
            if ($detail->variation !== null) {
                $out[$key] = $detail->toArray();
            }
        }
        return $out;
    }

    /**
     * What `@daylightBootstrap` writes into the page: the browser SDK's
     * options for this user, so it starts with real values instead of
     * defaults (`createBrowserClient({...window.__DAYLIGHT__})`).
     */
    public function browserBootstrap(): array
    {
        $context = $this->context();
        $bootstrap = [
            'url' => $this->config['browser_url'] ?? null ?: ($this->config['url'] ?? null),
            'clientKey' => $this->config['client_key'] ?? null,
            'context' => (object) $context->toArray(),
            'bootstrap' => (object) $this->clientSideValues($context),
        ];
        $bundle = $this->config['bundle'] ?? [];
        if (is_string($bundle['version'] ?? null) && $bundle['version'] !== '') {
            $bootstrap['bundle'] = ['app' => (string) ($bundle['app'] ?? 'web'), 'version' => $bundle['version']];
        }
        return array_filter($bootstrap, fn ($v) => $v !== null);
    }

    /** The `<script>` of {@see browserBootstrap()}, safe inside HTML. */
    public function browserBootstrapScript(?string $nonce = null): string
    {
        $global = (string) ($this->config['bootstrap_global'] ?? '__DAYLIGHT__');
        $json = json_encode($this->browserBootstrap(), JSON_HEX_TAG | JSON_HEX_AMP | JSON_HEX_APOS | JSON_HEX_QUOT
            | JSON_UNESCAPED_SLASHES | JSON_PRESERVE_ZERO_FRACTION | JSON_PARTIAL_OUTPUT_ON_ERROR);
        $nonceAttribute = $nonce === null ? '' : ' nonce="' . htmlspecialchars($nonce, ENT_QUOTES) . '"';
        return "<script{$nonceAttribute}>window[" . json_encode($global, JSON_HEX_TAG) . "] = {$json};</script>";
    }

    public function boolVariation(string $key, array|Context $context, bool $default): bool
    {
        return $this->flags->boolVariation($key, $context, $default);
    }

    public function boolVariationDetail(string $key, array|Context $context, bool $default): EvaluationDetail
    {
        return $this->flags->boolVariationDetail($key, $context, $default);
    }

    public function stringVariation(string $key, array|Context $context, string $default): string
    {
        return $this->flags->stringVariation($key, $context, $default);
    }

    public function stringVariationDetail(string $key, array|Context $context, string $default): EvaluationDetail
    {
        return $this->flags->stringVariationDetail($key, $context, $default);
    }

    public function numberVariation(string $key, array|Context $context, float|int $default): float
    {
        return $this->flags->numberVariation($key, $context, $default);
    }

    public function numberVariationDetail(string $key, array|Context $context, float|int $default): EvaluationDetail
    {
        return $this->flags->numberVariationDetail($key, $context, $default);
    }

    public function jsonVariation(string $key, array|Context $context, mixed $default): mixed
    {
        return $this->flags->jsonVariation($key, $context, $default);
    }

    public function jsonVariationDetail(string $key, array|Context $context, mixed $default): EvaluationDetail
    {
        return $this->flags->jsonVariationDetail($key, $context, $default);
    }
}
