<?php

declare(strict_types=1);

namespace Daylight\Tests;

use Daylight\Routing\SignedId;
use PHPUnit\Framework\TestCase;

/** The same vector as `server/src/http/route/ids.rs`: both sides sign alike. */
final class SignedIdTest extends TestCase
{
    private const SECRET = 'a-route-secret-of-at-least-32-chars';
    private const SIGNED = 'user-42.50d006cee81126c3cf35c99295d2bbde31febdc937603197d6ba2f59896e8db1';

    public function testSignsAsDaylightVerifies(): void
    {
        self::assertSame(self::SIGNED, SignedId::cookieValue('user-42', self::SECRET));
        self::assertSame('user-42', SignedId::verify(self::SIGNED, self::SECRET));
    }

    public function testForgedValuesDoNotVerify(): void
    {
        $forged = str_replace('user-42', 'staff-ann', self::SIGNED);
        foreach (['staff-ann', 'staff-ann.', $forged, 'user-42.zz', '<x>.00'] as $bad) {
            self::assertNull(SignedId::verify($bad, self::SECRET), $bad);
        }
        self::assertNull(SignedId::verify(self::SIGNED, 'another-secret-also-32-characters-long'));
    }

    public function testRefusesIdsAndSecretsDaylightWouldNot(): void
    {
        foreach (['', 'a.b', 'a b', str_repeat('x', 129)] as $id) {
            try {
                SignedId::cookieValue($id, self::SECRET);
                self::fail("accepted `{$id}`");
            } catch (\InvalidArgumentException $e) {
                self::assertStringContainsString('routing id', $e->getMessage());
            }
        }
        $this->expectException(\InvalidArgumentException::class);
        SignedId::cookieValue('user-42', 'short');
    }
}
