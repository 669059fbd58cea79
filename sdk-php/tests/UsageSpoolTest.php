<?php

declare(strict_types=1);

namespace Daylight\Tests;

use Daylight\Client;
use Daylight\FixedRuleset;
use Daylight\Ruleset;
use Daylight\Tests\Support\Documents;
use Daylight\Usage\UsageSpool;
use PHPUnit\Framework\TestCase;

/** Evaluation counts spooled for `daylight sync --usage-spool`. */
final class UsageSpoolTest extends TestCase
{
    private string $dir;

    protected function setUp(): void
    {
        $this->dir = sys_get_temp_dir() . '/daylight-usage-' . bin2hex(random_bytes(4));
        mkdir($this->dir);
    }

    protected function tearDown(): void
    {
        exec('rm -rf ' . escapeshellarg($this->dir));
    }

    public function testEvaluationsAreCountedPerVariationAndAppendedAsOneReportLine(): void
    {
        $spool = new UsageSpool($this->dir);
        $client = new Client(new FixedRuleset(Ruleset::compile(Documents::lobby(true))), null, $spool);
        $client->boolVariation('new-lobby', ['key' => 'u-1'], false);
        $client->boolVariation('new-lobby', ['key' => 'u-1'], false);
        $client->boolVariation('new-lobby', ['key' => 'u-9'], false);
        $client->stringVariation('theme', ['key' => 'u-9'], 'x');
        $client->boolVariation('missing', ['key' => 'u-9'], false); // the default: not counted
        $client->boolVariation('theme', ['key' => 'u-9'], false); // a type mismatch: not counted
        $spool->flush();
        $spool->flush(); // nothing new: no line

        $lines = file($this->dir . '/' . UsageSpool::FILE, FILE_IGNORE_NEW_LINES);
        $this->assertCount(1, $lines);
        $this->assertSame(['evaluations' => [
            ['flag' => 'new-lobby', 'variation' => 1, 'count' => 2],
            ['flag' => 'new-lobby', 'variation' => 0, 'count' => 1],
            ['flag' => 'theme', 'variation' => 1, 'count' => 1],
        ]], json_decode($lines[0], true));
    }

    public function testTheRequestsEndFlushesTheCounts(): void
    {
        $script = sprintf('require %s; $spool = new Daylight\Usage\UsageSpool(%s); $spool->count("a", 0);',
            var_export(__DIR__ . '/bootstrap.php', true), var_export($this->dir, true));
        exec('php -r ' . escapeshellarg($script), $out, $code);
        $this->assertSame(0, $code);
        $this->assertSame('{"evaluations":[{"flag":"a","variation":0,"count":1}]}' . "\n",
            file_get_contents($this->dir . '/' . UsageSpool::FILE));
    }

    public function testAnUnwritableSpoolNeverFailsTheRequest(): void
    {
        $spool = new UsageSpool($this->dir . '/missing');
        $spool->count('a', 0);
        $spool->flush();
        $this->assertFileDoesNotExist($this->dir . '/missing/' . UsageSpool::FILE);
    }
}
