/**
 * `@breakwater/proxy`: an L7 HTTP load balancer whose outlier detection is Breakwater circuit
 * breakers.
 *
 * @example
 * import { loadConfigFile, startProxy } from '@breakwater/proxy';
 * const proxy = await startProxy(await loadConfigFile('breakwater.yaml'));
 * process.once('SIGTERM', () => proxy.close());
 *
 * @packageDocumentation
 */
export {
  type AdminContext,
  createAdminServer,
  type UpstreamsView,
  upstreamsView,
} from './admin-server.ts';
export { type AttemptFailure, type AttemptOutcome, classifyError } from './attempt-outcome.ts';
export type { BalancedRequest, BalancedTarget, Balancer } from './balancers/balancer.ts';
export { type BalanceKind, createBalancer } from './balancers/create.ts';
export { BodyTooLargeError } from './body-limit.ts';
export { parseByteSize } from './config/byte-size.ts';
export { ConfigError, type ConfigIssue } from './config/config-error.ts';
export { parseDuration } from './config/duration.ts';
export type { ListenAddress } from './config/listen-address.ts';
export { type ConfigEnv, loadConfig, loadConfigFile } from './config/load-config.ts';
export { parsePercent } from './config/percent.ts';
export {
  configSchema,
  defaultOutlierDetection,
  defaultRetry,
  type HealthCheckConfig,
  type OutlierDetectionConfig,
  type ProxyConfig,
  type RetryConfig,
  type RouteConfig,
  type UpstreamConfig,
} from './config/schema.ts';
export { type AttemptListener, Forwarder, type ForwarderOptions } from './forwarder.ts';
export {
  attachTargetHealth,
  type TargetHealthContext,
  type TargetHealthSettings,
} from './health/target-health.ts';
export { createLogger, type Logger } from './logger.ts';
export { ProxyMetrics } from './metrics.ts';
export { type RunningProxy, type StartProxyOptions, startProxy } from './proxy.ts';
export { type ProxyErrorCode, statusOf } from './proxy-error.ts';
export {
  ConfigReloader,
  type ConfigReloaderOptions,
  type ReloadApplied,
  type ReloadRejected,
  type ReloadResult,
  type UpstreamLifecycle,
  type UpstreamReloadReport,
} from './reload.ts';
export {
  isEmptyPlan,
  type KeptTarget,
  planReload,
  type ReloadPlan,
  type ReloadWarning,
  type UpstreamChange,
  type UpstreamPlan,
} from './reload-plan.ts';
export { Router } from './router.ts';
export { Target, type TargetBreaker, type TargetTimeouts } from './target.ts';
export {
  type Admission,
  type UpstreamHealthConfig,
  UpstreamPool,
  type UpstreamPoolConfig,
  type UpstreamPoolContext,
} from './upstream-pool.ts';
