/**
 * HAProxy as a reverse proxy over the same targets: one thread (like the single Node process) or
 * several (`nbthread`, HAProxy's way to use more cores: one process, a thread per core),
 * round robin, connection reuse, TCP health checks (`observe` needs `check`), and passive
 * detection with `observe layer7` + `error-limit` + `on-error mark-down`; a failed connection is
 * retried on another server (`option redispatch`).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes the config and returns its path. */
export function writeHaproxyConfig(
  directory: string,
  port: number,
  targets: readonly string[],
  threads = 1,
  name = 'haproxy',
): string {
  const servers = targets.map((target, index) => `  server s${index + 1} ${target}`).join('\n');
  const path = join(directory, `${name}.cfg`);
  writeFileSync(
    path,
    `global
  nbthread ${threads}
  maxconn 4096

defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
  retries 2
  option redispatch 1

frontend bench
  bind 127.0.0.1:${port}
  default_backend targets

backend targets
  balance roundrobin
  http-reuse always
  default-server check inter 2s observe layer7 error-limit 10 on-error mark-down
${servers}
`,
  );
  return path;
}

/** Arguments to run HAProxy in the foreground (-db) on that config. */
export function haproxyArguments(configPath: string): string[] {
  return ['-db', '-f', configPath];
}
