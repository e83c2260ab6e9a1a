/**
 * Loading a config is a pure function of (text, environment) → validated config, so hot reload
 * can run the same code on a changed file and keep the old config when the new one is invalid.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue, formatPath } from './config-error.ts';
import { defaults } from './defaults.ts';
import { parseDuration } from './duration.ts';
import { expandEnv } from './expand-env.ts';
import { isLoopbackHost, parseListenAddress } from './listen-address.ts';
import { listenConflicts } from './listen-conflicts.ts';
import { configSchema, type ProxyConfig } from './schema.ts';

/** The environment variables a config may refer to. */
export type ConfigEnv = Readonly<Record<string, string | undefined>>;

/**
 * Parses and validates a YAML config. Throws a {@link ConfigError} listing every issue.
 *
 * @example
 * const config = loadConfig(await readFile('breakwater.yaml', 'utf8'), process.env);
 */
export function loadConfig(text: string, env: ConfigEnv = {}, source?: string): ProxyConfig {
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      document.errors.map((error) => ({ path: '', message: `YAML: ${error.message}` })),
      source,
    );
  }
  const raw: unknown = document.toJS();
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(
      [{ path: '', message: 'expected a YAML mapping at the top level' }],
      source,
    );
  }
  const expanded = expandEnv(raw, env);
  const issues: ConfigIssue[] = expanded.unset.map((unset) => ({
    path: formatPath(unset.path),
    message: `environment variable ${unset.variable} is not set`,
  }));
  const result = configSchema.safeParse(expanded.value);
  if (!result.success) issues.push(...result.error.issues.flatMap(toConfigIssues));
  issues.push(...crossFieldIssues(expanded.value));
  if (issues.length > 0 || !result.success) throw new ConfigError(issues, source);
  return result.data;
}

/**
 * Reads and validates a config file; `${VAR}` expands from `env` (default `process.env`).
 *
 * @example
 * const config = await loadConfigFile('examples/breakwater.yaml');
 */
export async function loadConfigFile(
  path: string,
  env: ConfigEnv = process.env,
): Promise<ProxyConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError([{ path: '', message: `cannot read file: ${reason}` }], path);
  }
  return loadConfig(text, env, path);
}

function toConfigIssues(issue: z.core.$ZodIssue): ConfigIssue[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      path: formatPath([...issue.path, key]),
      message: 'unknown key',
    }));
  }
  if (
    issue.code === 'invalid_union' &&
    issue.errors.length > 0 &&
    issue.message === 'Invalid input'
  ) {
    // Report the branch that got furthest instead of zod's generic "Invalid input".
    const deepest = issue.errors.flat().sort((a, b) => b.path.length - a.path.length)[0];
    if (deepest !== undefined)
      return toConfigIssues({ ...deepest, path: [...issue.path, ...deepest.path] });
  }
  return [{ path: formatPath(issue.path), message: issue.message }];
}

// Runs on the raw (env-expanded) document, not the parsed one, so these rules are reported
// together with shape errors elsewhere in the file.
function crossFieldIssues(raw: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const root = asRecord(raw);
  const upstreams = asRecord(root?.upstreams);
  const routes = root?.routes;
  if (upstreams !== undefined && Array.isArray(routes)) {
    const known = Object.keys(upstreams);
    routes.forEach((route: unknown, index) => {
      const name = asRecord(route)?.upstream;
      if (typeof name === 'string' && !Object.hasOwn(upstreams, name)) {
        issues.push({
          path: formatPath(['routes', index, 'upstream']),
          message: `unknown upstream "${name}" (defined: ${known.join(', ') || 'none'})`,
        });
      }
    });
  }
  for (const [name, value] of Object.entries(upstreams ?? {})) {
    const upstream = asRecord(value);
    if (upstream === undefined) continue;
    const balance = upstream.balance ?? defaults.upstream.balance;
    if (upstream.hashOn !== undefined && balance !== 'consistent-hash') {
      issues.push({
        path: formatPath(['upstreams', name, 'hashOn']),
        message: `hashOn applies only to balance: consistent-hash (this upstream uses ${String(balance)})`,
      });
    }
    if (upstream.decay !== undefined && balance !== 'peak-ewma') {
      issues.push({
        path: formatPath(['upstreams', name, 'decay']),
        message: `decay applies only to balance: peak-ewma (this upstream uses ${String(balance)})`,
      });
    }
    if (!Array.isArray(upstream.targets)) continue;
    const seen = new Map<string, number>();
    upstream.targets.forEach((target: unknown, index) => {
      const url = asRecord(target)?.url;
      if (typeof url !== 'string' || url === '') return;
      let origin = url;
      try {
        origin = new URL(url).origin;
      } catch {
        return;
      }
      const first = seen.get(origin);
      if (first !== undefined) {
        issues.push({
          path: formatPath(['upstreams', name, 'targets', index, 'url']),
          message: `duplicate target ${url} (also targets[${first}])`,
        });
      } else seen.set(origin, index);
    });
  }
  const limits = asRecord(root?.limits);
  const headersTimeout = parseDurationValue(limits?.headersTimeout) ?? 10_000;
  const requestTimeout = parseDurationValue(limits?.requestTimeout) ?? 120_000;
  if (headersTimeout > requestTimeout) {
    issues.push({
      path: 'limits.headersTimeout',
      message: `must not exceed limits.requestTimeout (${requestTimeout} ms)`,
    });
  }
  issues.push(...listenConflicts(root?.listen, root?.admin));
  const admin = root?.admin === undefined ? undefined : asRecord(root.admin);
  if (admin !== undefined && admin.token === undefined) {
    const listen = typeof admin.listen === 'string' ? parseListenAddress(admin.listen) : undefined;
    if (listen !== undefined && !isLoopbackHost(listen.host)) {
      issues.push({
        path: 'admin.token',
        message: `required when admin.listen is not a loopback address (${listen.host})`,
      });
    }
  }
  return issues;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function parseDurationValue(value: unknown): number | undefined {
  return typeof value === 'string' || typeof value === 'number' ? parseDuration(value) : undefined;
}
