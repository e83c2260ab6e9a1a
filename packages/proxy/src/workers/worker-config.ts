/**
 * The config a worker runs: the primary's, less what the primary alone does. Workers do not probe
 * (the primary's active checks decide `healthy` and broadcast it, so each target gets one probe
 * per interval however many workers there are) and do not open the admin listener.
 */
import type { ProxyConfig } from '../config/schema.ts';

/**
 * `config` without `admin` and without any upstream's `healthCheck`.
 *
 * @example
 * ```ts
 * worker.send({ bw: 'proxy', type: 'reload', id, config: workerConfig(next) });
 * ```
 */
export function workerConfig(config: ProxyConfig): ProxyConfig {
  const upstreams: Record<string, ProxyConfig['upstreams'][string]> = {};
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    const { healthCheck: _probedByThePrimary, ...rest } = upstream;
    upstreams[name] = rest;
  }
  const { admin: _servedByThePrimary, ...rest } = config;
  return { ...rest, upstreams };
}
