<?php

declare(strict_types=1);

namespace Daylight\Tests;

use Daylight\Client;
use Daylight\ErrorKind;
use Daylight\FixedRuleset;
use Daylight\Reason;
use Daylight\Ruleset;
use Daylight\RulesetSource;
use PHPUnit\Framework\TestCase;

/** The getters: typed values, details, and the caller's default on every error. */
final class ClientTest extends TestCase
{
    private const DOC = ['environment' => 'test', 'version' => 3, 'flags' => [
        'new-lobby' => ['variations' => [false, true], 'client_side' => true, 'on' => true, 'off_variation' => 0,
            'rules' => [['id' => 'omaha', 'clauses' => [['attribute' => 'game', 'op' => 'in', 'values' => ['omaha']]],
                'serve' => ['variation' => 1]]],
            'fallthrough' => ['variation' => 0]],
        'theme' => ['variations' => ['light', 'dark'], 'on' => true, 'fallthrough' => ['variation' => 1]],
        'limit' => ['variations' => [10, 2.5], 'on' => true, 'fallthrough' => ['variation' => 0]],
        'config' => ['variations' => [['a' => 1], ['a' => 2]], 'client_side' => true, 'on' => false, 'off_variation' => 1,
            'fallthrough' => ['variation' => 0]],
        'dark' => ['variations' => [false, true], 'client_side' => true, 'on' => false, 'fallthrough' => ['variation' => 0]],
    ]];

    public function testTypedGettersServeTheFlagsValues(): void
    {
        $client = Client::fromDocument(self::DOC);
        $this->assertTrue($client->boolVariation('new-lobby', ['key' => 'u', 'game' => 'omaha'], false));
        $this->assertSame('dark', $client->stringVariation('theme', ['key' => 'u'], 'x'));
        $this->assertSame(10.0, $client->numberVariation('limit', ['key' => 'u'], 0));
        $this->assertSame(['a' => 2], $client->jsonVariation('config', ['key' => 'u'], null));

        $detail = $client->boolVariationDetail('new-lobby', ['key' => 'u', 'game' => 'omaha'], false);
        $this->assertSame(1, $detail->variation);
        $this->assertSame(['kind' => 'RULE_MATCH', 'rule_index' => 0, 'rule_id' => 'omaha', 'in_rollout' => false], $detail->reason->toArray());
        $this->assertSame('TARGETING_MATCH', $detail->openFeatureReason());
        $this->assertNull($detail->errorKind());
    }

    public function testErrorsReturnTheDefaultWithTheirKind(): void
    {
        $client = Client::fromDocument(self::DOC);
        $cases = [
            [$client->boolVariationDetail('missing', ['key' => 'u'], true), true, ErrorKind::FlagNotFound],
            [$client->boolVariationDetail('theme', ['key' => 'u'], true), true, ErrorKind::TypeMismatch],
            [$client->numberVariationDetail('new-lobby', ['key' => 'u'], 7), 7.0, ErrorKind::TypeMismatch],
            [$client->stringVariationDetail('limit', ['key' => 'u'], 'd'), 'd', ErrorKind::TypeMismatch],
        ];
        foreach ($cases as [$detail, $default, $kind]) {
            $this->assertSame([$default, null, $kind, 'ERROR'], [$detail->value, $detail->variation, $detail->errorKind(), $detail->openFeatureReason()]);
        }
    }

    public function testOffWithoutAnOffVariationServesTheDefault(): void
    {
        $detail = Client::fromDocument(self::DOC)->boolVariationDetail('dark', ['key' => 'u'], true);
        $this->assertSame([true, null, Reason::OFF], [$detail->value, $detail->variation, $detail->reason->kind]);
    }

    public function testWithoutDataEveryGetterIsNotReady(): void
    {
        $client = new Client(new FixedRuleset(null));
        $this->assertFalse($client->isReady());
        foreach ([
            $client->boolVariationDetail('new-lobby', [], true),
            $client->stringVariationDetail('theme', [], 'd'),
            $client->numberVariationDetail('limit', [], 1),
            $client->jsonVariationDetail('config', [], ['d']),
        ] as $detail) {
            $this->assertSame(ErrorKind::ProviderNotReady, $detail->errorKind());
            $this->assertNull($detail->variation);
        }
        $this->assertSame(['d'], $client->jsonVariation('config', [], ['d']));
        $this->assertSame([], $client->clientSideValues(['key' => 'u']));
    }

    public function testASourceThatThrowsGivesTheDefault(): void
    {
        $source = new class () implements RulesetSource {
            public function ruleset(): ?Ruleset
            {
                throw new \RuntimeException('disk on fire');
            }
        };
        $detail = (new Client($source))->stringVariationDetail('theme', [], 'safe');
        $this->assertSame(['safe', ErrorKind::General], [$detail->value, $detail->errorKind()]);
    }

    public function testClientSideValuesHoldServedClientSideFlagsOnly(): void
    {
        $values = Client::fromDocument(self::DOC)->clientSideValues(['key' => 'u', 'game' => 'omaha']);
        $this->assertSame([
            'new-lobby' => ['value' => true, 'variation' => 1,
                'reason' => ['kind' => 'RULE_MATCH', 'rule_index' => 0, 'rule_id' => 'omaha', 'in_rollout' => false]],
            'config' => ['value' => ['a' => 2], 'variation' => 1, 'reason' => ['kind' => 'OFF']],
        ], $values);
    }
}
