/**
 * The config file's shape, validated once at the edge. Every object is strict: an unknown key is
 * an error, never silently ignored. Durations arrive as `250ms` / `5s` / `1m` or milliseconds and
 * leave as milliseconds; listen addresses leave parsed.
 */
import { z } from 'zod';
import { type BalanceKind, balanceKinds } from '../balancers/create.ts';
import { parseDuration } from './duration.ts';
import { type ListenAddress, parseListenAddress } from './listen-address.ts';

/**
 * A zod error callback that says what was expected and what was found, or that the key is
 * missing.
 */
function expected(what: string) {
  return (issue: { input?: unknown }): string =>
    issue.input === undefined
      ? `required: ${what}`
      : `${what}, received ${describeInput(issue.input)}`;
}

function describeInput(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  if (typeof input === 'string') return JSON.stringify(input);
  return String(input);
}

const DURATION = 'expected a duration like 250ms, 5s, 1m or a number of milliseconds';

const duration = z
  .union([z.number(), z.string()], { error: expected(DURATION) })
  .transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `${DURATION}, received ${describeInput(value)}` });
      return z.NEVER;
    }
    return ms;
  });

const positiveDuration = duration.refine((ms) => ms > 0, 'expected a duration greater than 0');

const LISTEN = 'expected "host:port" such as 127.0.0.1:8080';

const listenAddress = z.string({ error: expected(LISTEN) }).transform((text, ctx) => {
  const parsed = parseListenAddress(text);
  if (parsed === undefined) {
    ctx.addIssue({ code: 'custom', message: `${LISTEN}, received ${describeInput(text)}` });
    return z.NEVER;
  }
  return parsed;
});

// One address or a list of them; an error in a list names its index.
const listen = z.unknown().transform((value, ctx): ListenAddress[] => {
  const items: unknown[] = Array.isArray(value) ? value : [value];
  if (value === undefined || items.length === 0) {
    ctx.addIssue({ code: 'custom', message: `required: ${LISTEN} or a list of them` });
    return z.NEVER;
  }
  const addresses: ListenAddress[] = [];
  items.forEach((item, index) => {
    const parsed = typeof item === 'string' ? parseListenAddress(item) : undefined;
    if (parsed === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: Array.isArray(value) ? [index] : [],
        message: `${LISTEN}, received ${describeInput(item)}`,
      });
    } else addresses.push(parsed);
  });
  return addresses;
});

const byteSize = z
  .number({ error: expected('expected a number of bytes') })
  .int('expected a whole number of bytes')
  .positive('expected a number of bytes greater than 0');

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

const positiveInt = z
  .number({ error: expected('expected a positive whole number') })
  .int('expected a positive whole number')
  .positive('expected a positive whole number');

const target = z.strictObject(
  {
    url: httpUrl,
    weight: positiveInt.default(1),
  },
  { error: expected('expected a target mapping such as { url: http://127.0.0.1:8001 }') },
);

const upstreamTimeouts = z.strictObject(
  {
    connect: positiveDuration.default(5_000),
    response: positiveDuration.default(30_000),
    idle: positiveDuration.default(4_000),
  },
  { error: expected('expected a mapping with connect, response, idle') },
);

const BALANCE = `expected one of ${balanceKinds.join(', ')}`;

const upstream = z.strictObject(
  {
    balance: z
      .enum(balanceKinds as [BalanceKind, ...BalanceKind[]], { error: expected(BALANCE) })
      .default('round-robin'),
    hashOn: hashOn.optional(),
    targets: z
      .array(target, { error: expected('expected a list of targets') })
      .min(1, 'expected at least one target'),
    timeouts: upstreamTimeouts.default({ connect: 5_000, response: 30_000, idle: 4_000 }),
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
    listen: listenAddress.default({ host: '127.0.0.1', port: 9901 }),
    token: z
      .string({ error: expected('expected a string') })
      .min(1, 'expected a non-empty token')
      .optional(),
  },
  { error: expected('expected a mapping with listen and token') },
);

const limits = z.strictObject(
  {
    maxHeaderSize: byteSize.default(16_384),
    maxBodySize: byteSize.optional(),
    headersTimeout: positiveDuration.default(10_000),
    requestTimeout: positiveDuration.default(120_000),
    keepAliveTimeout: positiveDuration.default(5_000),
  },
  { error: expected('expected a mapping of limits') },
);

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const log = z.strictObject(
  {
    level: z
      .enum(LOG_LEVELS, { error: expected(`expected one of ${LOG_LEVELS.join(', ')}`) })
      .default('info'),
    access: z.boolean({ error: expected('expected true or false') }).default(true),
  },
  { error: expected('expected a mapping with level and access') },
);

/** The top-level config schema. Exported for tooling (e.g. JSON Schema generation). */
export const configSchema = z.strictObject({
  listen,
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
  preserveHost: z.boolean({ error: expected('expected true or false') }).default(true),
  shutdownTimeout: duration.default(10_000),
  limits: limits.default({
    maxHeaderSize: 16_384,
    headersTimeout: 10_000,
    requestTimeout: 120_000,
    keepAliveTimeout: 5_000,
  }),
  log: log.default({ level: 'info', access: true }),
});

/** The validated config, with defaults filled in, durations in ms and addresses parsed. */
export type ProxyConfig = z.output<typeof configSchema>;
/** One upstream of a {@link ProxyConfig}. */
export type UpstreamConfig = ProxyConfig['upstreams'][string];
/** One route of a {@link ProxyConfig}. */
export type RouteConfig = ProxyConfig['routes'][number];
