/**
 * nginx configurations, runnable without root: pid, logs and temp paths live in the run's
 * temporary directory and `daemon off` keeps it in the foreground, a process we start, measure
 * and stop by PID. One worker runs with `master_process off` (one process, like the single Node
 * process it is compared with); several run under a master, whose process tree is measured.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function preamble(directory: string, name: string, workers = 1): string {
  for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
    mkdirSync(join(directory, `${name}-temp`, sub), { recursive: true });
  }
  const temp = join(directory, `${name}-temp`);
  return `daemon off;
master_process ${workers === 1 ? 'off' : 'on'};
worker_processes ${workers};
pid ${join(directory, `${name}.pid`)};
error_log ${join(directory, `${name}-error.log`)} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${temp}/client_body;
  proxy_temp_path ${temp}/proxy;
  fastcgi_temp_path ${temp}/fastcgi;
  uwsgi_temp_path ${temp}/uwsgi;
  scgi_temp_path ${temp}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
`;
}

/** Writes the upstream: one server block per port, each answering "hello\n". Returns the path. */
export function writeNginxUpstreamConfig(directory: string, ports: readonly number[]): string {
  const servers = ports
    .map(
      (port) => `  server {
    listen 127.0.0.1:${port};
    location / { default_type text/plain; return 200 "hello\\n"; }
  }`,
    )
    .join('\n');
  const path = join(directory, 'nginx-upstream.conf');
  writeFileSync(path, `${preamble(directory, 'nginx-upstream')}${servers}\n}\n`);
  return path;
}

/**
 * Writes nginx as a reverse proxy over `targets` (host:port): round robin, keep-alive to the
 * upstreams, passive failure detection with `max_fails`/`fail_timeout`, and the next target tried
 * on connection errors and 502/503/504 (as Breakwater retries them).
 */
export function writeNginxProxyConfig(
  directory: string,
  port: number,
  targets: readonly string[],
  workers = 1,
  name = 'nginx-proxy',
  host = '127.0.0.1',
): string {
  const servers = targets
    .map((target) => `    server ${target} max_fails=3 fail_timeout=10s;`)
    .join('\n');
  const path = join(directory, `${name}.conf`);
  writeFileSync(
    path,
    `${preamble(directory, name, workers)}  upstream targets {
${servers}
    keepalive 64;
  }
  server {
    listen ${host}:${port};
    location / {
      proxy_pass http://targets;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout http_502 http_503 http_504;
    }
  }
}
`,
  );
  return path;
}

/** Arguments to start nginx with a config written above. */
export function nginxArguments(directory: string, configPath: string, name: string): string[] {
  // -e keeps nginx from opening /var/log/nginx/error.log before it reads the config.
  return ['-p', directory, '-c', configPath, '-e', join(directory, `${name}-error.log`)];
}
