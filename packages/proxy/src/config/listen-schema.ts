/**
 * The `listen` key: one entry or a list, each either `host:port` (plain HTTP/1.1) or a mapping
 * with `address` and any of `tls`, `redirectToHttps`, `h2c`. Each certificate entry leaves
 * carrying its own config path (`listen[1].tls.certificates[0]`), so an unreadable file or a key
 * of another certificate found later, at start or at rotation, is reported where it was written.
 */
import { z } from 'zod';
import { defaults } from './defaults.ts';
import type { ListenAddress } from './listen-address.ts';
import {
  describeInput,
  expected,
  LISTEN,
  listenAddress,
  positiveDuration,
} from './schema-parts.ts';

const file = z.string({ error: expected('expected a file path') }).min(1, 'expected a file path');

const certificate = z.strictObject(
  { cert: file, key: file },
  { error: expected('expected a mapping such as { cert: /etc/bw/api.pem, key: /etc/bw/api.key }') },
);

const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
const ALPN_PROTOCOLS = ['h2', 'http/1.1'] as const;

const tls = z.strictObject(
  {
    certificates: z
      .array(certificate, { error: expected('expected a list of { cert, key }') })
      .min(1, 'expected at least one certificate'),
    minVersion: z
      .enum(TLS_VERSIONS, { error: expected(`expected ${TLS_VERSIONS.join(' or ')}`) })
      .default(defaults.tls.minVersion),
    alpn: z
      .array(z.enum(ALPN_PROTOCOLS, { error: expected('expected h2 or http/1.1') }), {
        error: expected('expected a list such as [h2, http/1.1]'),
      })
      .min(1, 'expected at least one protocol')
      .refine((list) => new Set(list).size === list.length, 'expected each protocol once')
      .default(defaults.tls.alpn),
    /** How often the certificate files are checked for a renewal; `false` never. */
    checkInterval: z
      .union([z.literal(false), positiveDuration])
      .default(defaults.tls.checkInterval),
    /** A client that has not finished the TLS handshake by then is disconnected. */
    handshakeTimeout: positiveDuration.default(defaults.tls.handshakeTimeout),
  },
  { error: expected('expected a mapping with certificates') },
);

const listener = z.strictObject(
  {
    address: listenAddress,
    tls: tls.optional(),
    redirectToHttps: z.boolean({ error: expected('expected true or false') }).optional(),
    h2c: z.boolean({ error: expected('expected true or false') }).optional(),
  },
  { error: expected('expected "host:port" or a mapping with address') },
);

/** A certificate entry as it leaves the schema: its files and where it was written. */
export interface CertificateConfig {
  readonly cert: string;
  readonly key: string;
  /** Config path of the entry, e.g. `listen[1].tls.certificates[0]`. */
  readonly path: string;
}

/** One validated listener. A `host:port` entry leaves as just the address. */
export interface ListenerEntry extends ListenAddress {
  readonly tls?: Omit<z.output<typeof tls>, 'certificates'> & {
    readonly certificates: readonly CertificateConfig[];
  };
  /** Answer every request with a 308 to the same URL on the first TLS listener. */
  readonly redirectToHttps?: true;
  /** Accept HTTP/2 with prior knowledge (h2c) beside HTTP/1.1 on this plain listener. */
  readonly h2c?: true;
}

/** Schema of `listen`. */
export const listenSchema = z.unknown().transform((value, ctx): ListenerEntry[] => {
  const isList = Array.isArray(value);
  const items: unknown[] = isList ? value : [value];
  if (value === undefined || items.length === 0) {
    ctx.addIssue({ code: 'custom', message: `required: ${LISTEN} or a list of them` });
    return z.NEVER;
  }
  const entries: ListenerEntry[] = [];
  items.forEach((item, index) => {
    const at: (string | number)[] = isList ? [index] : [];
    const base = isList ? `listen[${index}]` : 'listen';
    if (typeof item === 'string') {
      const parsed = listenAddress.safeParse(item);
      if (parsed.success) entries.push(parsed.data);
      else
        ctx.addIssue({
          code: 'custom',
          path: at,
          message: `${LISTEN}, received ${describeInput(item)}`,
        });
      return;
    }
    const parsed = listener.safeParse(item);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        if (issue.code === 'unrecognized_keys') {
          for (const key of issue.keys) {
            ctx.addIssue({
              code: 'custom',
              path: [...at, ...issue.path, key],
              message: 'unknown key',
            });
          }
        } else {
          ctx.addIssue({
            code: 'custom',
            path: [...at, ...(issue.path as (string | number)[])],
            message: issue.message,
          });
        }
      }
      return;
    }
    const { address, tls: tlsBlock, redirectToHttps, h2c } = parsed.data;
    if (tlsBlock && h2c) {
      ctx.addIssue({
        code: 'custom',
        path: [...at, 'h2c'],
        message: 'h2c is for plain listeners; a TLS listener offers HTTP/2 through ALPN',
      });
    }
    if (redirectToHttps && h2c && !tlsBlock) {
      ctx.addIssue({
        code: 'custom',
        path: [...at, 'h2c'],
        message: 'a listener with redirectToHttps serves no requests; h2c would never be used',
      });
    }
    if (tlsBlock && redirectToHttps) {
      ctx.addIssue({
        code: 'custom',
        path: [...at, 'redirectToHttps'],
        message: 'a TLS listener cannot redirect to itself',
      });
    }
    entries.push({
      ...address,
      ...(tlsBlock && {
        tls: {
          ...tlsBlock,
          certificates: tlsBlock.certificates.map((c, i) => ({
            ...c,
            path: `${base}.tls.certificates[${i}]`,
          })),
        },
      }),
      ...(redirectToHttps === true && { redirectToHttps: true as const }),
      ...(h2c === true && { h2c: true as const }),
    });
  });
  const firstTls = entries.some((entry) => entry.tls !== undefined);
  items.forEach((item, index) => {
    const wantsRedirect =
      item !== null &&
      typeof item === 'object' &&
      (item as { redirectToHttps?: unknown }).redirectToHttps === true;
    if (wantsRedirect && !firstTls) {
      ctx.addIssue({
        code: 'custom',
        path: [...(isList ? [index] : []), 'redirectToHttps'],
        message: 'needs a listener with tls to redirect to',
      });
    }
  });
  return entries;
});
