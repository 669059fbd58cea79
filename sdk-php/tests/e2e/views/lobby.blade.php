@flag('new-lobby')new lobby @else old lobby @endflag|{{ \Daylight\Laravel\Facades\Daylight::enabled('new-lobby') ? 'on' : 'off' }}
