/**
 * `@breakwater/proxy`: an L7 HTTP load balancer whose outlier detection is Breakwater circuit
 * breakers. This index is the package's public API and nothing else: start a proxy, load and
 * validate its config, the config's types, the results a reload reports and the error classes.
 * Everything else (the forwarder, the upstream model, balancers, health checks) is internal and
 * may change between versions.
 *
 * @example
 * import { loadConfigFile, startProxy } from '@breakwater/proxy';
 * const proxy = await startProxy(await loadConfigFile('breakwater.yaml'));
 * process.once('SIGTERM', () => proxy.close());
 *
 * @packageDocumentation
 */
export type { BalanceKind, FailOn } from './config/choices.ts';
export { ConfigError, type ConfigIssue } from './config/config-error.ts';
export type { ListenAddress } from './config/listen-address.ts';
export type { CertificateConfig, ListenerEntry } from './config/listen-schema.ts';
export { type ConfigEnv, loadConfig, loadConfigFile } from './config/load-config.ts';
export type {
  HealthCheckConfig,
  Http2Config,
  ListenerConfig,
  OutlierDetectionConfig,
  ProxyConfig,
  RetryConfig,
  RouteConfig,
  TlsListenerConfig,
  UpstreamConfig,
} from './config/schema.ts';
export type { ProxyErrorCode } from './http/proxy-error.ts';
export { ListenError } from './listen-error.ts';
export type { Logger } from './logger.ts';
export { type RunningProxy, type StartProxyOptions, startProxy } from './proxy.ts';
export type { ReloadWarning } from './reload/plan.ts';
export type {
  ReloadApplied,
  ReloadRejected,
  ReloadResult,
  UpstreamReloadReport,
} from './reload/reload.ts';
export type { Listener, ListenerStats } from './request/listeners.ts';
export { CertificateError, type CertificateErrorCode } from './tls/certificate-pair.ts';
export type { CertificateInfo, CertificateStore } from './tls/certificate-store.ts';
export {
  type RunningCluster,
  type StartClusterOptions,
  startCluster,
} from './workers/primary.ts';
export type { WorkerInfo } from './workers/supervisor.ts';
