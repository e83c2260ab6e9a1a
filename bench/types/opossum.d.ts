// opossum ships no types and @types/opossum is not a dependency: the little the benchmarks use.
declare module 'opossum' {
  interface CircuitBreakerOptions {
    timeout?: number | false;
    errorThresholdPercentage?: number;
    resetTimeout?: number;
    rollingCountTimeout?: number;
    rollingCountBuckets?: number;
    volumeThreshold?: number;
  }
  export default class CircuitBreaker<A extends unknown[] = unknown[], R = unknown> {
    constructor(action: (...args: A) => Promise<R> | R, options?: CircuitBreakerOptions);
    fire(...args: A): Promise<R>;
    open(): void;
    close(): void;
    shutdown(): void;
    readonly opened: boolean;
  }
}
