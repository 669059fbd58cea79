<?php

return [
    'default' => 'file',
    'channels' => ['file' => ['driver' => 'single', 'path' => dirname(__DIR__) . '/storage/laravel.log']],
];
