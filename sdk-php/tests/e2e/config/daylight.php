<?php

return ['snapshot' => env('DAYLIGHT_SNAPSHOT'), 'usage_spool' => env('DAYLIGHT_USAGE_SPOOL')];
