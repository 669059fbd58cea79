<?php

declare(strict_types=1);

namespace Daylight\Laravel\Facades;

use Illuminate\Support\Facades\Facade;

/**
 * @method static bool enabled(string $key)
 * @method static \Daylight\Context context()
 * @method static bool boolVariation(string $key, array|\Daylight\Context $context, bool $default)
 * @method static \Daylight\EvaluationDetail boolVariationDetail(string $key, array|\Daylight\Context $context, bool $default)
 * @method static string stringVariation(string $key, array|\Daylight\Context $context, string $default)
 * @method static \Daylight\EvaluationDetail stringVariationDetail(string $key, array|\Daylight\Context $context, string $default)
 * @method static float numberVariation(string $key, array|\Daylight\Context $context, float|int $default)
 * @method static \Daylight\EvaluationDetail numberVariationDetail(string $key, array|\Daylight\Context $context, float|int $default)
 * @method static mixed jsonVariation(string $key, array|\Daylight\Context $context, mixed $default)
 * @method static \Daylight\EvaluationDetail jsonVariationDetail(string $key, array|\Daylight\Context $context, mixed $default)
 * @method static array clientSideValues(?\Daylight\Context $context = null)
 *
 * @see \Daylight\Laravel\DaylightManager
 */
final class Daylight extends Facade
{
    protected static function getFacadeAccessor(): string
    {
        return 'daylight';
    }
}
