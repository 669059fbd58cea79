<?php

return ['snapshot' => env('DAYLIGHT_SNAPSHOT')];
