/**
 * `breakwater/cluster`: breaker state shared between node:cluster workers over IPC.
 *
 * @module breakwater/cluster
 */
export { type ClusterSync, type ClusterSyncOptions, clusterSync } from './cluster-sync.ts';
