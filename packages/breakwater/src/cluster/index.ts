/**
 * `breakwater/cluster`: breaker state shared between node:cluster workers over IPC.
 *
 * @packageDocumentation
 */
export { type ClusterSync, type ClusterSyncOptions, clusterSync } from './cluster-sync.ts';
