/**
 * A prom-client metric that renders a histogram from tallies at scrape time, in the shape
 * prom-client's own Histogram gives (cumulative `_bucket` with `le` first, `_sum`, `_count`), so
 * the exposition is the same while a call only adds to a typed array. A registry reads any object
 * with this shape.
 */
import type { BreakerTally } from './tally.ts';
import { durationBuckets } from './vocabulary.ts';

interface MetricValue {
  readonly value: number;
  readonly labels: Record<string, string | number>;
  readonly metricName: string;
}

/** The call-duration histogram of every breaker tally, labelled `breaker`. */
export class TallyHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #tallies: () => Iterable<BreakerTally>;

  constructor(name: string, help: string, tallies: () => Iterable<BreakerTally>) {
    this.name = name;
    this.help = help;
    this.#tallies = tallies;
  }

  get(): Promise<{
    name: string;
    help: string;
    type: string;
    values: MetricValue[];
    aggregator: string;
  }> {
    const name = this.name;
    const values: MetricValue[] = [];
    for (const tally of this.#tallies()) {
      const breaker = tally.name;
      let cumulative = 0;
      for (let i = 0; i < durationBuckets.length; i++) {
        cumulative += tally.buckets[i]!;
        values.push({
          labels: { le: durationBuckets[i]!, breaker },
          value: cumulative,
          metricName: `${name}_bucket`,
        });
      }
      values.push(
        {
          labels: { le: '+Inf', breaker },
          value: tally.durationCount,
          metricName: `${name}_bucket`,
        },
        { labels: { breaker }, value: tally.durationSum, metricName: `${name}_sum` },
        { labels: { breaker }, value: tally.durationCount, metricName: `${name}_count` },
      );
    }
    return Promise.resolve({
      name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    });
  }

  /** `registry.resetMetrics()` resets every metric; the tallies are lifetime counts. */
  reset(): void {}
}
