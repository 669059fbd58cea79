// nginx running the documented blue-green recipe (docs/recipes/blue-green.conf)
// on loopback, unprivileged, the way the Rust routing suite runs it
// (server/tests/api/routing/nginx.rs): only addresses, file paths and the
// server key are replaced, and plain HTTP listens where the recipe has TLS.
// Here the Blue and Green pools are the suite's own sites (`Site`), so a
// page nginx routes runs the browser SDK.
import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { REPO_ROOT, freePort, sleep } from '../../support/daylight.js';

export const NGINX = process.env.NGINX || '/usr/sbin/nginx';

/** The routing secret the suite's Daylight runs with (`DAYLIGHT_ROUTE_SECRET`). */
export const ROUTE_SECRET = 'browser-route-secret-0123456789abcdef';

/**
 * The `dl_uid` cookie a site sets for signed-in `user`: `ID.SIG`, SIG the hex
 * HMAC-SHA256 of the id (docs/recipes/blue-green.md, "Who the user is").
 */
export function signedUid(user) {
  return `${user}.${createHmac('sha256', ROUTE_SECRET).update(user).digest('hex')}`;
}

export const hasNginx = () => existsSync(NGINX);

export function checkNginx() {
  if (!hasNginx()) throw new Error(`no nginx at ${NGINX}: \`apt-get install -y nginx\` (or set NGINX)`);
}

function substitute(text, from, to) {
  if (!text.includes(from)) throw new Error(`the recipe no longer contains \`${from}\``);
  return text.replaceAll(from, to);
}

function listening(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** nginx in front of Daylight on `daylightPort` (server key `key`), pools on `bluePort` and `greenPort`. */
export class Nginx {
  static async start({ daylightPort, key, bluePort, greenPort }) {
    checkNginx();
    const nginx = new Nginx();
    const dir = (nginx.dir = mkdtempSync(join(tmpdir(), 'nginx-test-')));
    const [port, redirect, realtime] = [await freePort(), await freePort(), await freePort()];
    nginx.url = `http://127.0.0.1:${port}`;
    // The recipe names certificate files even where it listens without TLS.
    const made = spawnSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-days', '2', '-subj', '/CN=127.0.0.1', '-keyout', join(dir, 'site.key'), '-out', join(dir, 'site.crt'),
    ]);
    if (made.status !== 0) throw new Error(`openssl made no certificate: ${made.stderr}`);
    let site = readFileSync(join(REPO_ROOT, 'docs', 'recipes', 'blue-green.conf'), 'utf8');
    site = substitute(site, 'server 127.0.0.1:8080 ', `server 127.0.0.1:${daylightPort} `);
    for (const [from, to] of [
      ['10.0.1.10:8000', bluePort],
      ['10.0.1.11:8000', bluePort],
      ['10.0.2.10:8000', greenPort],
      ['10.0.2.11:8000', greenPort],
      // The realtime pools are not exercised here.
      ['10.0.1.10:6001', realtime],
      ['10.0.1.11:6001', realtime],
      ['10.0.2.10:6001', realtime],
      ['10.0.2.11:6001', realtime],
    ]) {
      site = substitute(site, from, `127.0.0.1:${to}`);
    }
    for (const [from, to] of [
      ['listen 443 ssl;', `listen 127.0.0.1:${port};`],
      ['listen 80;', `listen 127.0.0.1:${redirect};`],
      ['dl_server_REPLACE_ME', key],
      ['/etc/nginx/tls/site.crt', join(dir, 'site.crt')],
      ['/etc/nginx/tls/site.key', join(dir, 'site.key')],
      ['/var/log/nginx/', `${dir}/`],
      ['/run/nginx-daylight-fallback.sock', join(dir, 'fallback.sock')],
    ]) {
      site = substitute(site, from, to);
    }
    writeFileSync(join(dir, 'site.conf'), site);
    writeFileSync(
      join(dir, 'nginx.conf'),
      `daemon off;\nmaster_process off;\nworker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\n` +
        `events { worker_connections 1024; }\n` +
        `http {\n  access_log off;\n  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;\n` +
        `  fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;\n` +
        `  include ${dir}/site.conf;\n}\n`,
    );
    nginx.child = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {
      stdio: 'ignore',
    });
    let exited = null;
    nginx.exited = new Promise((r) => nginx.child.on('exit', (code) => r((exited = code ?? 'signal'))));
    const deadline = Date.now() + 10_000;
    while (!(await listening(port))) {
      if (exited !== null) throw new Error(`nginx exited (${exited}): ${nginx.log('error.log')}`);
      if (Date.now() > deadline) throw new Error(`nginx did not listen: ${nginx.log('error.log')}`);
      await sleep(20);
    }
    return nginx;
  }

  /** A log file in nginx's directory (`site.log`, `error.log`). */
  log(name) {
    try {
      return readFileSync(join(this.dir, name), 'utf8');
    } catch {
      return '';
    }
  }

  async stop() {
    this.child.kill('SIGKILL');
    await this.exited;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
