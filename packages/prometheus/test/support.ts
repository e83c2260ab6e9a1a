/**
 * Test helpers: read one metric's series from a prom-client registry as `labels → value`, the
 * way a scrape sees them.
 */
import type { Registry } from 'prom-client';

/** The series of `name` (a histogram's `_bucket`/`_sum`/`_count` by their own names). */
export async function series(register: Registry, name: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const metric of await register.getMetricsAsJSON()) {
    for (const value of metric.values) {
      const metricName = (value as { metricName?: string }).metricName ?? metric.name;
      if (metricName !== name) continue;
      const labels = Object.entries(value.labels)
        .map(([key, label]) => `${key}=${label}`)
        .sort()
        .join(',');
      out.set(labels, value.value);
    }
  }
  return out;
}
