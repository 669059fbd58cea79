<?php

declare(strict_types=1);

use Daylight\Laravel\DaylightManager;

if (!function_exists('daylight')) {
    /**
     * `daylight()` is the Daylight manager; `daylight('new-lobby')` says
     * whether that boolean flag is on for the current user.
     */
    function daylight(?string $flag = null): DaylightManager|bool
    {
        $manager = app('daylight');
        return $flag === null ? $manager : $manager->enabled($flag);
    }
}
