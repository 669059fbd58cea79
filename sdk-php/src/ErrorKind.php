<?php

declare(strict_types=1);

namespace Daylight;

/** OpenFeature's error codes, as the reasons of `docs/flag-format.md` spell them. */
enum ErrorKind: string
{
    case FlagNotFound = 'FLAG_NOT_FOUND';
    case TypeMismatch = 'TYPE_MISMATCH';
    case ProviderNotReady = 'PROVIDER_NOT_READY';
    case General = 'GENERAL';
}
