import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/config/config-error.ts';
import { loadConfig } from '../../src/config/load-config.ts';

const REST = `
upstreams:
  api:
    targets: [{ url: http://127.0.0.1:8001 }]
routes:
  - upstream: api
`;

const load = (head: string) => loadConfig(head + REST);

function issuesOf(head: string): string[] {
  try {
    load(head);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.issues.map((issue) => `${issue.path}: ${issue.message}`);
  }
  assert.fail('expected a ConfigError');
}

describe('listen', () => {
  test('host:port entries keep their plain form', () => {
    assert.deepEqual(load('listen: [127.0.0.1:8080]').listen, [{ host: '127.0.0.1', port: 8080 }]);
  });

  test('a TLS listener fills its defaults and gives each certificate its config path', () => {
    const config = load(`
listen:
  - 127.0.0.1:8080
  - address: 0.0.0.0:8443
    tls:
      certificates:
        - { cert: /etc/bw/api.pem, key: /etc/bw/api.key }
        - { cert: /etc/bw/wild.pem, key: /etc/bw/wild.key }
`);
    assert.deepEqual(config.listen[1], {
      host: '0.0.0.0',
      port: 8443,
      tls: {
        certificates: [
          {
            cert: '/etc/bw/api.pem',
            key: '/etc/bw/api.key',
            path: 'listen[1].tls.certificates[0]',
          },
          {
            cert: '/etc/bw/wild.pem',
            key: '/etc/bw/wild.key',
            path: 'listen[1].tls.certificates[1]',
          },
        ],
        minVersion: 'TLSv1.2',
        alpn: ['h2', 'http/1.1'],
        checkInterval: 5_000,
        handshakeTimeout: 10_000,
      },
    });
  });

  test('a single mapping works as well as a list', () => {
    const config = load(`
listen:
  address: 127.0.0.1:8443
  tls: { certificates: [{ cert: a.pem, key: a.key }], minVersion: TLSv1.3, alpn: [http/1.1], checkInterval: false }
`);
    const tls = config.listen[0]!.tls!;
    assert.equal(tls.certificates[0]!.path, 'listen.tls.certificates[0]');
    assert.equal(tls.minVersion, 'TLSv1.3');
    assert.deepEqual(tls.alpn, ['http/1.1']);
    assert.equal(tls.checkInterval, false);
  });

  test('redirectToHttps and h2c are kept on plain listeners', () => {
    const config = load(`
listen:
  - { address: 127.0.0.1:8080, redirectToHttps: true }
  - { address: 127.0.0.1:8081, h2c: true }
  - { address: 127.0.0.1:8443, tls: { certificates: [{ cert: a.pem, key: a.key }] } }
`);
    assert.deepEqual(config.listen[0], { host: '127.0.0.1', port: 8080, redirectToHttps: true });
    assert.deepEqual(config.listen[1], { host: '127.0.0.1', port: 8081, h2c: true });
  });

  test('every bad value is reported at its path', () => {
    assert.deepEqual(
      issuesOf(`
listen:
  - nonsense
  - address: 127.0.0.1:8443
    tls:
      certificates: [{ cert: a.pem }, { cert: '', key: b.key, chain: c.pem }]
      minVersion: TLSv1.1
      alpn: [h2, h2, spdy]
      handshakeTimeout: soon
    h2c: true
    colour: blue
  - { address: 127.0.0.1:8080, redirectToHttps: yes }
`),
      [
        'listen[0]: expected "host:port" such as 127.0.0.1:8080, received "nonsense"',
        'listen[1].tls.certificates[0].key: required: expected a file path',
        'listen[1].tls.certificates[1].cert: expected a file path',
        'listen[1].tls.certificates[1].chain: unknown key',
        'listen[1].tls.minVersion: expected TLSv1.2 or TLSv1.3, received "TLSv1.1"',
        'listen[1].tls.alpn[2]: expected h2 or http/1.1, received "spdy"',
        'listen[1].tls.handshakeTimeout: expected a duration like 250ms, 5s, 1m or a number of milliseconds, received "soon"',
        'listen[1].colour: unknown key',
        'listen[2].redirectToHttps: expected true or false, received "yes"',
      ],
    );
  });

  test('h2c and redirectToHttps are refused where they make no sense', () => {
    assert.deepEqual(
      issuesOf(`
listen:
  - { address: 127.0.0.1:8443, h2c: true, redirectToHttps: true, tls: { certificates: [{ cert: a.pem, key: a.key }] } }
`),
      [
        'listen[0].h2c: h2c is for plain listeners; a TLS listener offers HTTP/2 through ALPN',
        'listen[0].redirectToHttps: a TLS listener cannot redirect to itself',
      ],
    );
    assert.deepEqual(
      issuesOf(`
listen:
  - { address: 127.0.0.1:8080, redirectToHttps: true, h2c: true }
  - { address: 127.0.0.1:8443, tls: { certificates: [{ cert: a.pem, key: a.key }] } }
`),
      [
        'listen[0].h2c: a listener with redirectToHttps serves no requests; h2c would never be used',
      ],
    );
    assert.deepEqual(issuesOf('listen: { address: 127.0.0.1:8080, redirectToHttps: true }'), [
      'listen.redirectToHttps: needs a listener with tls to redirect to',
    ]);
  });
});

describe('trustedProxies', () => {
  test('nobody is trusted by default', () => {
    assert.deepEqual(load('listen: 127.0.0.1:8080').trustedProxies, []);
  });

  test('ranges are parsed, and a bad one is named by its index', () => {
    assert.deepEqual(
      load('listen: 127.0.0.1:8080\ntrustedProxies: [10.0.0.0/8, "::1"]').trustedProxies,
      [
        { address: '10.0.0.0', prefix: 8, family: 'ipv4' },
        { address: '::1', prefix: 128, family: 'ipv6' },
      ],
    );
    assert.deepEqual(
      issuesOf('listen: 127.0.0.1:8080\ntrustedProxies: [10.0.0.0/8, 10.0.0.0/40]'),
      [
        'trustedProxies[1]: expected an address or range such as 10.0.0.0/8 or fd00::/8, received "10.0.0.0/40"',
      ],
    );
  });
});

describe('http2', () => {
  test('the defences are on without a line of config', () => {
    assert.deepEqual(load('listen: 127.0.0.1:8080').http2, {
      maxConcurrentStreams: 100,
      maxRejectedStreams: 100,
      streamResets: { burst: 200, perSecond: 33 },
      controlFrames: { burst: 100, perSecond: 20 },
      maxInvalidFrames: 100,
      maxHeaderPairs: 128,
    });
  });

  test('each defence has a key, validated at its path', () => {
    const config = load(
      'listen: 127.0.0.1:8080\nhttp2: { maxConcurrentStreams: 64, streamResets: { burst: 50, perSecond: 10 } }',
    );
    assert.equal(config.http2.maxConcurrentStreams, 64);
    assert.deepEqual(config.http2.streamResets, { burst: 50, perSecond: 10 });
    assert.deepEqual(
      issuesOf(
        'listen: 127.0.0.1:8080\nhttp2: { maxConcurrentStreams: 0, controlFrames: { burst: 10 }, maxHeaderPairs: 2 }',
      ),
      [
        'http2.maxConcurrentStreams: expected a positive whole number',
        'http2.controlFrames.perSecond: required: expected a number of frames per second',
        'http2.maxHeaderPairs: expected at least 4 (the pseudo-headers of a request)',
      ],
    );
  });
});
