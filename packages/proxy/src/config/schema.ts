/**
 * The config file's shape, validated once at the edge. Every object is strict: an unknown key is
 * an error, never silently ignored. Durations arrive as `250ms` / `5s` / `1m` or milliseconds and
 * leave as milliseconds; listen addresses leave parsed.
 */
import { isAbsolute } from 'node:path';
import { AdaptiveConcurrencyPolicy, InvalidOptionError } from 'breakwater';
import { z } from 'zod';
import { MAX_BODY_SIZE, MAX_BUFFER_SIZE, MAX_HEADER_SIZE, parseByteSize } from './byte-size.ts';
import {
  type BalanceKind,
  balanceKinds,
  type ClusterAccept,
  clusterAccepts,
  type FailOn,
  failOnValues,
  type UnderscoreRule,
  underscoreRules,
} from './choices.ts';
import { type Cidr, parseCidr } from './cidr.ts';
import { defaults, type RetryOn } from './defaults.ts';
import { http2Schema } from './http2-schema.ts';
import { listenSchema } from './listen-schema.ts';
import { parsePercent } from './percent.ts';
import {
  describeInput,
  duration,
  expected,
  listenAddress,
  positiveDuration,
  positiveInt,
} from './schema-parts.ts';
import { parseStatusRanges, type StatusRange } from './status-ranges.ts';

const URL_EXPECTED = 'expected an http:// URL such as http://127.0.0.1:8001';

const httpUrl = z.string({ error: expected(URL_EXPECTED) }).transform((text, ctx) => {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (url === undefined || url.protocol !== 'http:') {
    ctx.addIssue({ code: 'custom', message: `${URL_EXPECTED}, received ${describeInput(text)}` });
    return z.NEVER;
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    ctx.addIssue({
      code: 'custom',
      message: `expected an origin without path or query (http://host:port), received ${describeInput(text)}`,
    });
    return z.NEVER;
  }
  return url.origin;
});

const HASH_ON = 'expected header:NAME, cookie:NAME, ip or path';

const hashOn = z
  .string({ error: expected(HASH_ON) })
  .regex(/^(header:[A-Za-z0-9!#$%&'*+.^_`|~-]+|cookie:[^\s;=]+|ip|path)$/, {
    error: expected(HASH_ON),
  });

const target = z.strictObject(
  {
    url: httpUrl,
    weight: positiveInt.default(defaults.target.weight),
  },
  { error: expected('expected a target mapping such as { url: http://127.0.0.1:8001 }') },
);

const upstreamTimeouts = z.strictObject(
  {
    // Values under ~1 s are accepted but are not exact: see the description.
    connect: positiveDuration
      .default(defaults.timeouts.connect)
      .describe(
        'How long connecting to a target may take before the attempt fails (502). undici checks ' +
          'connect timeouts on a coarse timer (about 0.5 s ticks), so a value under ~1 s ' +
          'fires after about 1 s.',
      ),
    response: positiveDuration.default(defaults.timeouts.response),
    idle: positiveDuration.default(defaults.timeouts.idle),
  },
  { error: expected('expected a mapping with connect, response, idle') },
);

/**
 * `false` or a block: `false` turns a feature off. A plain union would hide the block's own
 * errors behind "expected false or a mapping"; this reports each of them at its path.
 */
function falseOr<T extends z.ZodType>(block: T, what: string) {
  return z.unknown().transform((value, ctx): z.output<T> | false => {
    if (value === false) return false;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      ctx.addIssue({ code: 'custom', message: `${what}, received ${describeInput(value)}` });
      return z.NEVER;
    }
    const result = block.safeParse(value);
    if (result.success) return result.data;
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          ctx.addIssue({ code: 'custom', path: [...issue.path, key], message: 'unknown key' });
        }
      } else ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    }
    return z.NEVER;
  });
}

const PERCENT = 'expected a percentage like 10% or a number from 0 to 100';

/** `10%` or a number from 0 to 100; leaves as a number from 0 to 100. */
const percent = z
  .union([z.number(), z.string()], { error: expected(PERCENT) })
  .transform((value, ctx) => {
    const parsed = parsePercent(value);
    if (parsed === undefined) {
      ctx.addIssue({ code: 'custom', message: `${PERCENT}, received ${describeInput(value)}` });
      return z.NEVER;
    }
    return parsed;
  });

const FRACTION = 'expected a share like 50% or a number from 0 to 1';

/** `50%` or a number from 0 to 1; leaves as a fraction from 0 to 1. */
const fraction = z
  .union([z.number(), z.string()], { error: expected(FRACTION) })
  .transform((value, ctx) => {
    const parsed =
      typeof value === 'number'
        ? value >= 0 && value <= 1
          ? value
          : undefined
        : parsePercent(value);
    if (parsed === undefined) {
      ctx.addIssue({ code: 'custom', message: `${FRACTION}, received ${describeInput(value)}` });
      return z.NEVER;
    }
    return typeof value === 'number' ? parsed : parsed / 100;
  });

const SIZE = 'expected a size like 64kb, 1mb or a number of bytes';

/** `1mb` for 1 MiB: a maximum as an operator would write it. */
function sizeText(bytes: number): string {
  for (const [unit, factor] of [
    ['tb', 1024 ** 4],
    ['gb', 1024 ** 3],
    ['mb', 1024 ** 2],
    ['kb', 1024],
  ] as const) {
    if (bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes} bytes`;
}

/** The one size type of the config: every size key uses it, each with its own maximum. */
function size(max: number) {
  return z.union([z.number(), z.string()], { error: expected(SIZE) }).transform((value, ctx) => {
    const bytes = parseByteSize(value);
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: `${SIZE}, received ${describeInput(value)}` });
      return z.NEVER;
    }
    if (bytes > max) {
      ctx.addIssue({
        code: 'custom',
        message: `expected at most ${sizeText(max)} (${max} bytes), received ${describeInput(value)}`,
      });
      return z.NEVER;
    }
    return bytes;
  });
}

const positiveSize = (max: number) =>
  size(max).refine((bytes) => bytes > 0, 'expected a size greater than 0');

const STATUS_RANGES = 'expected statuses like 200-399 or a list such as [200, 300-399]';

const statusRanges = z
  .union([z.number(), z.string(), z.array(z.union([z.number(), z.string()]))], {
    error: expected(STATUS_RANGES),
  })
  .transform((value, ctx): StatusRange[] => {
    try {
      return parseStatusRanges(value);
    } catch (error) {
      ctx.addIssue({
        code: 'custom',
        message: error instanceof Error ? error.message : STATUS_RANGES,
      });
      return z.NEVER;
    }
  });

/**
 * `healthCheck`: active probes beside traffic. Absent means no active checks: every target
 * counts as up until outlier detection says otherwise.
 */
const healthCheckFields = z.strictObject(
  {
    type: z
      .enum(['http', 'tcp'], { error: expected('expected http or tcp') })
      .default(defaults.healthCheck.type),
    path: z
      .string({ error: expected('expected a path starting with /') })
      .startsWith('/', 'expected a path starting with /')
      .default(defaults.healthCheck.path),
    expectStatus: statusRanges.default(defaults.healthCheck.expectStatus),
    interval: positiveDuration.default(defaults.healthCheck.interval),
    jitter: fraction.default(defaults.healthCheck.jitter),
    timeout: positiveDuration.default(defaults.healthCheck.timeout),
    healthyThreshold: positiveInt.default(defaults.healthCheck.healthyThreshold),
    unhealthyThreshold: positiveInt.default(defaults.healthCheck.unhealthyThreshold),
  },
  { error: expected('expected a mapping such as { type: http, path: /healthz }') },
);

// A TCP check only connects: an HTTP-only setting beside `type: tcp` would be silently ignored,
// so it is an error. Checked on the input, before defaults fill `path` and `expectStatus` in.
const healthCheck = z.preprocess((input, ctx) => {
  if (typeof input === 'object' && input !== null && (input as { type?: unknown }).type === 'tcp') {
    for (const key of ['path', 'expectStatus']) {
      if (Object.hasOwn(input, key)) {
        ctx.issues.push({
          code: 'custom',
          path: [key],
          message: `applies to type: http only; a tcp check only connects`,
          input,
        });
      }
    }
  }
  return input;
}, healthCheckFields);

const POLICY =
  'expected one or more of { consecutiveFailures: N }, { failureRate: {…} }, { slowCallRate: {…} }';

const ratePolicyFields = {
  threshold: fraction.refine((share) => share > 0, 'expected a share greater than 0'),
  minimumCalls: positiveInt.default(defaults.ratePolicy.minimumCalls),
  window: positiveDuration.default(defaults.ratePolicy.window),
};

const outlierPolicy = z
  .strictObject(
    {
      consecutiveFailures: positiveInt.optional(),
      failureRate: z
        .strictObject(ratePolicyFields, {
          error: expected('expected a mapping with threshold, minimumCalls, window'),
        })
        .optional(),
      slowCallRate: z
        .strictObject(
          { ...ratePolicyFields, slowerThan: positiveDuration },
          {
            error: expected('expected a mapping with threshold, slowerThan, minimumCalls, window'),
          },
        )
        .optional(),
    },
    { error: expected(POLICY) },
  )
  // Several rules combine: the target is ejected when any of them trips.
  .superRefine((policy, ctx) => {
    const given = Object.values(policy).filter((rule) => rule !== undefined).length;
    if (given === 0) ctx.addIssue({ code: 'custom', message: `${POLICY}, at least one` });
  })
  .transform((policy) => {
    const given: {
      consecutiveFailures?: number;
      failureRate?: NonNullable<typeof policy.failureRate>;
      slowCallRate?: NonNullable<typeof policy.slowCallRate>;
    } = {};
    if (policy.consecutiveFailures !== undefined) {
      given.consecutiveFailures = policy.consecutiveFailures;
    }
    if (policy.failureRate !== undefined) given.failureRate = policy.failureRate;
    if (policy.slowCallRate !== undefined) given.slowCallRate = policy.slowCallRate;
    return given;
  });

const FAIL_ON = `expected a list of ${failOnValues.join(', ')}`;

const outlierDetection = falseOr(
  z.strictObject(
    {
      policy: outlierPolicy.default(defaults.outlierDetection.policy),
      failOn: z
        .array(z.enum(failOnValues as [FailOn, ...FailOn[]], { error: expected(FAIL_ON) }), {
          error: expected(FAIL_ON),
        })
        .min(1, FAIL_ON)
        .default(defaults.outlierDetection.failOn),
      ejection: z
        .strictObject(
          {
            base: positiveDuration.default(defaults.outlierDetection.ejection.base),
            max: positiveDuration.default(defaults.outlierDetection.ejection.max),
          },
          { error: expected('expected a mapping such as { base: 30s, max: 5m }') },
        )
        .refine((ejection) => ejection.max >= ejection.base, {
          message: 'max must not be shorter than base',
          path: ['max'],
        })
        .default(defaults.outlierDetection.ejection),
      maxEjectedPercent: percent.default(defaults.outlierDetection.maxEjectedPercent),
    },
    { error: expected('expected false or a mapping with policy, failOn, ejection') },
  ),
  'expected false or a mapping with policy, failOn, ejection',
);

const RETRY_ON = 'expected connect-error, reset, timeout or an HTTP status such as 503';

const retryOn = z
  .union([z.number(), z.string()], { error: expected(RETRY_ON) })
  .transform((value, ctx): RetryOn => {
    if (value === 'connect-error' || value === 'reset' || value === 'timeout') return value;
    const status = typeof value === 'number' ? value : /^\d{3}$/.test(value) ? Number(value) : NaN;
    if (Number.isInteger(status) && status >= 100 && status <= 599) return status;
    ctx.addIssue({ code: 'custom', message: `${RETRY_ON}, received ${describeInput(value)}` });
    return z.NEVER;
  });

const METHOD = 'expected an HTTP method in upper case, such as GET';

const ADAPTIVE = 'expected a mapping such as { algorithm: gradient, maxLimit: 200 }';
const aNumber = (message: string) => z.number({ error: expected(message) });

/**
 * Per-target adaptive concurrency: the core's `adaptiveConcurrency` options, durations in the
 * config's units. The core checks how they fit together (bounds, one algorithm's settings given
 * to the other), so the rules live in one place; its complaint is reported at its path.
 */
const adaptiveConcurrency = z
  .strictObject(
    {
      algorithm: z
        .enum(['gradient', 'aimd'], { error: expected('expected gradient or aimd') })
        .optional(),
      initialLimit: positiveInt.optional(),
      minLimit: positiveInt.optional(),
      maxLimit: positiveInt.optional(),
      smoothing: fraction
        .refine((share) => share > 0, 'expected a share greater than 0')
        .optional(),
      window: positiveDuration.optional(),
      minSamples: positiveInt.optional(),
      gradient: z
        .strictObject(
          {
            tolerance: aNumber('expected a number >= 1')
              .min(1, 'expected a number >= 1')
              .optional(),
            longWindow: positiveInt.optional(),
            queueSize: aNumber('expected a number >= 0')
              .min(0, 'expected a number >= 0')
              .optional(),
          },
          { error: expected('expected a mapping such as { tolerance: 1.5, queueSize: 4 }') },
        )
        .optional(),
      aimd: z
        .strictObject(
          {
            backoffRatio: aNumber('expected a number in (0, 1)')
              .gt(0, 'expected a number in (0, 1)')
              .lt(1, 'expected a number in (0, 1)')
              .optional(),
            latencyThreshold: positiveDuration.optional(),
            increase: aNumber('expected a number > 0').gt(0, 'expected a number > 0').optional(),
          },
          { error: expected('expected a mapping such as { latencyThreshold: 250ms }') },
        )
        .optional(),
    },
    { error: expected(ADAPTIVE) },
  )
  .superRefine((options, ctx) => {
    try {
      new AdaptiveConcurrencyPolicy(options);
    } catch (error) {
      if (!(error instanceof InvalidOptionError)) throw error;
      ctx.addIssue({ code: 'custom', path: error.option.split('.'), message: error.message });
    }
  });

const retry = falseOr(
  z.strictObject(
    {
      attempts: positiveInt.default(defaults.retry.attempts),
      on: z
        .array(retryOn, { error: expected(`expected a list: ${RETRY_ON}`) })
        .default(defaults.retry.on),
      methods: z
        .array(z.string().regex(/^[A-Z]+$/, METHOD), { error: expected(`a list: ${METHOD}`) })
        .default(defaults.retry.methods),
      perTryTimeout: positiveDuration.optional(),
      backoff: z
        .strictObject(
          {
            initial: duration.default(defaults.retry.backoff.initial),
            max: duration.default(defaults.retry.backoff.max),
          },
          { error: expected('expected a mapping such as { initial: 25ms, max: 250ms }') },
        )
        .refine((backoff) => backoff.max >= backoff.initial, {
          message: 'max must not be shorter than initial',
          path: ['max'],
        })
        .default(defaults.retry.backoff),
      budget: z
        .union(
          [
            z.literal(false),
            z.strictObject(
              {
                ratio: z
                  .number({ error: expected('expected a number such as 0.2') })
                  .min(0, 'expected a number from 0 upward'),
                minPerSecond: z
                  .number({ error: expected('expected a number of retries per second') })
                  .min(0, 'expected a number from 0 upward')
                  .default(defaults.retry.budget.minPerSecond),
              },
              {
                error: expected(
                  'expected false or a mapping such as { ratio: 0.2, minPerSecond: 10 }',
                ),
              },
            ),
          ],
          {
            error: expected('expected false or a mapping such as { ratio: 0.2, minPerSecond: 10 }'),
          },
        )
        .default(defaults.retry.budget),
      replayBodyUpTo: size(MAX_BUFFER_SIZE).default(defaults.retry.replayBodyUpTo),
    },
    { error: expected('expected false or a mapping with attempts, on, methods…') },
  ),
  'expected false or a mapping with attempts, on, methods…',
);

/** Largest value of a count limit: more in flight than this is not a limit but a typo. */
const MAX_COUNT_LIMIT = 1_000_000;

function countLimit(min: 0 | 1) {
  const what = min === 0 ? 'a whole number from 0' : 'a positive whole number';
  return z
    .number({ error: expected(`expected ${what}`) })
    .int(`expected ${what}`)
    .min(min, `expected ${what}`)
    .max(MAX_COUNT_LIMIT, `expected at most ${MAX_COUNT_LIMIT}`);
}

const upstreamLimits = z.strictObject(
  {
    // Per target: undici's pool opens at most this many connections to one target.
    maxConnections: countLimit(1).default(defaults.upstreamLimits.maxConnections),
    // Per upstream: requests waiting for a connection when every target's are busy.
    maxPending: countLimit(0).default(defaults.upstreamLimits.maxPending),
    // Per upstream: requests in flight to its targets.
    maxRequests: countLimit(1).default(defaults.upstreamLimits.maxRequests),
    // Per upstream: retries in flight.
    maxRetries: countLimit(0).default(defaults.upstreamLimits.maxRetries),
  },
  {
    error: expected('expected a mapping with maxConnections, maxPending, maxRequests, maxRetries'),
  },
);

const BALANCE = `expected one of ${balanceKinds.join(', ')}`;

const upstream = z.strictObject(
  {
    balance: z
      .enum(balanceKinds as [BalanceKind, ...BalanceKind[]], { error: expected(BALANCE) })
      .default(defaults.upstream.balance),
    hashOn: hashOn.optional(),
    /** Only with balance: peak-ewma: the time constant of its latency average. */
    decay: positiveDuration.optional(),
    targets: z
      .array(target, { error: expected('expected a list of targets') })
      .min(1, 'expected at least one target'),
    timeouts: upstreamTimeouts.default(defaults.timeouts),
    healthCheck: healthCheck.optional(),
    outlierDetection: outlierDetection.default(defaults.outlierDetection),
    retry: retry.default(defaults.retry),
    panicThreshold: percent.default(defaults.upstream.panicThreshold),
    adaptiveConcurrency: adaptiveConcurrency.optional(),
    limits: upstreamLimits.default(defaults.upstreamLimits),
  },
  { error: expected('expected an upstream mapping with targets') },
);

const route = z.strictObject(
  {
    match: z
      .strictObject(
        {
          host: z
            .string({ error: expected('expected a host name') })
            .min(1, 'expected a host name')
            .optional(),
          pathPrefix: z
            .string({ error: expected('expected a path starting with /') })
            .startsWith('/', 'expected a path starting with /')
            .optional(),
        },
        { error: expected('expected a mapping with host and/or pathPrefix') },
      )
      .default({}),
    upstream: z.string({ error: expected('expected the name of an upstream') }),
  },
  { error: expected('expected a route mapping with upstream') },
);

const admin = z.strictObject(
  {
    listen: listenAddress.default(defaults.admin.listen),
    token: z
      .string({ error: expected('expected a string') })
      .min(1, 'expected a non-empty token')
      .optional(),
  },
  { error: expected('expected a mapping with listen and token') },
);

const minResponseRate = falseOr(
  z.strictObject(
    {
      bytesPerSecond: positiveInt.default(defaults.limits.minResponseRate.bytesPerSecond),
      gracePeriod: positiveDuration.default(defaults.limits.minResponseRate.gracePeriod),
    },
    {
      error: expected(
        'expected false or a mapping such as { bytesPerSecond: 240, gracePeriod: 5s }',
      ),
    },
  ),
  'expected false or a mapping such as { bytesPerSecond: 240, gracePeriod: 5s }',
);

const SPILL =
  'expected false or a mapping such as { maxFileSize: 1gb, maxTotalSize: 4gb, directory: /var/tmp }';

const responseSpill = falseOr(
  z
    .strictObject(
      {
        maxFileSize: positiveSize(MAX_BODY_SIZE).default(defaults.limits.responseSpill.maxFileSize),
        maxTotalSize: positiveSize(MAX_BODY_SIZE).default(
          defaults.limits.responseSpill.maxTotalSize,
        ),
        directory: z
          .string({ error: expected('expected an absolute directory path') })
          .refine(isAbsolute, 'expected an absolute directory path')
          .default(defaults.limits.responseSpill.directory),
      },
      { error: expected(SPILL) },
    )
    .superRefine((spill, ctx) => {
      // One file can never outgrow the total: a larger maxFileSize would be a promise not kept.
      if (spill.maxFileSize > spill.maxTotalSize) {
        ctx.addIssue({
          code: 'custom',
          path: ['maxFileSize'],
          message: `must not exceed maxTotalSize (${sizeText(spill.maxTotalSize)})`,
        });
      }
    }),
  SPILL,
);

const limits = z.strictObject(
  {
    // Kestrel's MinResponseDataRate: a client reading slower than this (after the grace period,
    // while data waits for it) is cut off.
    minResponseRate: minResponseRate.default(defaults.limits.minResponseRate),
    // nginx's send_timeout: longest time a client may take no byte while data waits for it.
    sendTimeout: positiveDuration.default(defaults.limits.sendTimeout),
    // Response bytes read ahead of a slow client: a response that fits is read off the upstream
    // connection at once, so the connection goes back to the pool whatever the client's pace.
    responseBuffer: size(MAX_BUFFER_SIZE).default(defaults.limits.responseBuffer),
    // nginx's proxy_buffering to proxy_temp_path: beyond responseBuffer, what the client has not
    // taken goes to a temp file, so the upstream connection is free once the upstream is done;
    // false keeps the upstream paused until the client catches up.
    responseSpill: responseSpill.default(defaults.limits.responseSpill),
    // nginx's request buffering: bodies up to this size are read whole before a target is
    // chosen, so a slow sender holds no upstream connection; larger bodies stream.
    requestBuffer: size(MAX_BUFFER_SIZE).default(defaults.limits.requestBuffer),
    maxHeaderSize: positiveSize(MAX_HEADER_SIZE).default(defaults.limits.maxHeaderSize),
    maxBodySize: positiveSize(MAX_BODY_SIZE).optional(),
    headersTimeout: positiveDuration.default(defaults.limits.headersTimeout),
    requestTimeout: positiveDuration.default(defaults.limits.requestTimeout),
    keepAliveTimeout: positiveDuration.default(defaults.limits.keepAliveTimeout),
  },
  { error: expected('expected a mapping of limits') },
);

const CIDR = 'expected an address or range such as 10.0.0.0/8 or fd00::/8';

/**
 * Peers whose `Forwarded` / `X-Forwarded-*` fields are believed; nobody by default, so a client
 * cannot choose the address the upstream sees.
 */
const trustedProxies = z.array(
  z.string({ error: expected(CIDR) }).transform((text, ctx): Cidr => {
    const cidr = parseCidr(text);
    if (cidr === undefined) {
      ctx.addIssue({ code: 'custom', message: `${CIDR}, received ${describeInput(text)}` });
      return z.NEVER;
    }
    return cidr;
  }),
  { error: expected(`expected a list: ${CIDR}`) },
);

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const log = z.strictObject(
  {
    level: z
      .enum(LOG_LEVELS, { error: expected(`expected one of ${LOG_LEVELS.join(', ')}`) })
      .default(defaults.log.level),
    access: z.boolean({ error: expected('expected true or false') }).default(defaults.log.access),
  },
  { error: expected('expected a mapping with level and access') },
);

const REDIS_URL = 'expected a redis:// or rediss:// URL';

/**
 * `cluster`: how workers accept connections, and the Redis that proxy instances share target
 * breaker transitions through (`cluster.redis`, optional).
 */
const clusterSettings = z.strictObject(
  {
    accept: z
      .enum(clusterAccepts as [ClusterAccept, ...ClusterAccept[]], {
        error: expected(`expected one of ${clusterAccepts.join(', ')}`),
      })
      .default(defaults.cluster.accept),
    redis: z
      .strictObject(
        {
          url: z.string({ error: expected(REDIS_URL) }).regex(/^rediss?:\/\/\S+$/, REDIS_URL),
          prefix: z
            .string({ error: expected('expected a string') })
            .min(1, 'expected a non-empty prefix')
            .default(defaults.cluster.redisPrefix),
        },
        { error: expected('expected a mapping with url and prefix') },
      )
      .optional(),
  },
  { error: expected('expected a mapping with accept and redis') },
);

/** The top-level config schema. Exported for tooling (e.g. JSON Schema generation). */
export const configSchema = z.strictObject({
  listen: listenSchema,
  admin: admin.optional(),
  upstreams: z
    .record(
      z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected a name of letters, digits, _ . -'),
      upstream,
      {
        error: expected('expected a mapping of upstream name to upstream'),
      },
    )
    .refine((map) => Object.keys(map).length > 0, 'expected at least one upstream'),
  routes: z
    .array(route, { error: expected('expected a list of routes') })
    .min(1, 'expected at least one route'),
  preserveHost: z
    .boolean({ error: expected('expected true or false') })
    .default(defaults.preserveHost),
  underscoresInHeaders: z
    .enum(underscoreRules as [UnderscoreRule, ...UnderscoreRule[]], {
      error: expected(`expected one of ${underscoreRules.join(', ')}`),
    })
    .default(defaults.underscoresInHeaders),
  shutdownTimeout: duration.default(defaults.shutdownTimeout),
  /** Worker processes: a number, or `auto` for one per core (`workers/worker-count.ts`). */
  workers: z
    .union([z.literal('auto'), positiveInt.max(1024, 'expected at most 1024 workers')], {
      error: expected('expected auto or a positive whole number'),
    })
    .default(defaults.workers),
  cluster: clusterSettings.default({ accept: defaults.cluster.accept }),
  limits: limits.default(defaults.limits),
  log: log.default(defaults.log),
  trustedProxies: trustedProxies.default(defaults.trustedProxies),
  http2: http2Schema.default(defaults.http2),
});

/** The validated config, with defaults filled in, durations in ms and addresses parsed. */
export type ProxyConfig = z.output<typeof configSchema>;
/** One upstream of a {@link ProxyConfig}. */
export type UpstreamConfig = ProxyConfig['upstreams'][string];
/** An upstream's `healthCheck` block. */
export type HealthCheckConfig = NonNullable<UpstreamConfig['healthCheck']>;
/** An upstream's `outlierDetection` block (`false` when turned off). */
export type OutlierDetectionConfig = UpstreamConfig['outlierDetection'];
/** An upstream's `adaptiveConcurrency` block. */
export type AdaptiveConcurrencyConfig = NonNullable<UpstreamConfig['adaptiveConcurrency']>;
/** An upstream's `limits` block: connection, pending, request and retry thresholds. */
export type UpstreamLimitsConfig = UpstreamConfig['limits'];
/** An upstream's `retry` block (`false` when turned off). */
export type RetryConfig = UpstreamConfig['retry'];
/** One entry of `listen`. */
export type ListenerConfig = ProxyConfig['listen'][number];
/** The `tls` block of a listener. */
export type TlsListenerConfig = NonNullable<ListenerConfig['tls']>;
/** The `http2` block: the HTTP/2 defences. */
export type Http2Config = ProxyConfig['http2'];
/** One route of a {@link ProxyConfig}. */
export type RouteConfig = ProxyConfig['routes'][number];
/** `limits.responseSpill` when on: where and how much of slow clients' responses go to disk. */
export type ResponseSpillConfig = Exclude<ProxyConfig['limits']['responseSpill'], false>;
