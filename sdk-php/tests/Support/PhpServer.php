<?php

declare(strict_types=1);

namespace Daylight\Tests\Support;

/** PHP's built-in web server on a free port, running one router script. */
final class PhpServer
{
    /** @var resource */
    private $process;
    public readonly string $url;

    public function __construct(string $router)
    {
        $command = [PHP_BINARY, '-S', '127.0.0.1:0', $router];
        // Several workers, so one slow answer does not hold up the others.
        $env = getenv() + ['PHP_CLI_SERVER_WORKERS' => '4'];
        $this->process = proc_open($command, [1 => ['file', '/dev/null', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env);
        // The server names its port on stderr once it listens.
        while (($line = fgets($pipes[2])) !== false) {
            if (preg_match('#\((http://127\.0\.0\.1:\d+)\) started#', $line, $m) === 1) {
                $this->url = $m[1];
                return;
            }
        }
        throw new \RuntimeException('the PHP built-in server did not start');
    }

    public function stop(): void
    {
        proc_terminate($this->process);
        proc_close($this->process);
    }
}
