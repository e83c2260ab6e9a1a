/**
 * Why the proxy could not bind one of its addresses, said so an operator can act on it: the
 * config path (`listen[1]`, `admin.listen`), the address and the reason in words. The system
 * error stays as `cause` for the JSON log.
 */
import { BreakwaterError } from 'breakwater';
import { type BoundAddress, formatAddress } from './config/bound-addresses.ts';

const REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the address is already in use (another process, or another proxy, listens there)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'the address does not belong to this machine',
  ENOTFOUND: 'the host does not resolve',
  EAI_AGAIN: 'the host could not be resolved (DNS unreachable)',
};

/**
 * Thrown by `startProxy` when a listener cannot be bound; `code` is `ERR_LISTEN`, `syscallCode`
 * the system's (`EADDRINUSE`…).
 *
 * @example
 * try { await startProxy(config); } catch (error) {
 *   if (error instanceof ListenError) console.error(`${error.path}: ${error.message}`);
 * }
 */
export class ListenError extends BreakwaterError {
  /** Where the address is in the config, e.g. `listen[1]` or `admin.listen`. */
  readonly path: string;
  /** `host:port` as configured. */
  readonly address: string;
  /** The system error code, e.g. `EADDRINUSE`; empty when there was none. */
  readonly syscallCode: string;

  constructor(bound: BoundAddress, cause: unknown) {
    const syscallCode =
      typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : '';
    const address = formatAddress(bound.address);
    const reason = REASONS[syscallCode] ?? (cause instanceof Error ? cause.message : String(cause));
    super('ERR_LISTEN', `cannot listen on ${address} (${bound.path}): ${reason}`, { cause });
    this.path = bound.path;
    this.address = address;
    this.syscallCode = syscallCode;
  }
}
