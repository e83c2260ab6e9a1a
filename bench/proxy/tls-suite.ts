/**
 * The TLS suite: Breakwater beside nginx, both terminating TLS with the same certificate in front
 * of the same upstreams, in one run. Four loads per proxy: plain HTTP keep-alive (the baseline
 * the ratio is taken against), HTTPS/1.1 keep-alive (wrk), HTTP/2 with several streams per
 * connection (h2load), and a new TLS connection per request (wrk with `Connection: close`: the
 * handshake rate). CPU per request is the proxy's user + system time over the requests served.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createTestCa } from '../../packages/proxy/test/support/certificates.ts';
import { describeMachine, machineInfo, toolVersion, which } from '../lib/machine.ts';
import { formatCount, formatRatio, markdownTable } from '../lib/markdown.ts';
import { cpuSeconds, freePort, ProcessGroup, type Started, waitForPort } from '../lib/processes.ts';
import { repositoryRoot, writeResults } from '../lib/results.ts';
import { runLoad, trackLoadGenerators } from './load.ts';
import { nginxArguments } from './nginx.ts';
import { startUpstream } from './upstream.ts';

/** Knobs of the TLS suite. */
export interface TlsSuiteOptions {
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly connections: number;
  readonly threads: number;
}

type Load = 'http' | 'https' | 'h2' | 'handshake';

const LOADS: readonly { id: Load; label: string }[] = [
  { id: 'http', label: 'HTTP/1.1 keep-alive (plain)' },
  { id: 'https', label: 'HTTPS/1.1 keep-alive' },
  { id: 'h2', label: 'HTTP/2, 10 streams per connection' },
  { id: 'handshake', label: 'new TLS connection per request' },
];

interface Measured {
  readonly requestsPerSecond: number;
  readonly cpuMicrosPerRequest: number | undefined;
  readonly failed: number;
}

interface Subject {
  readonly id: 'breakwater' | 'nginx';
  readonly label: string;
  readonly httpPort: number;
  readonly httpsPort: number;
  readonly process: Started;
}

const cliPath = join(repositoryRoot, 'packages', 'proxy', 'src', 'cli.ts');

/** Runs the suite and returns its markdown section. */
export async function runTlsSuite(
  options: TlsSuiteOptions,
): Promise<{ markdown: string; data: unknown }> {
  const missing = ['wrk', 'h2load', 'nginx'].filter((tool) => which(tool) === undefined);
  if (missing.length > 0) {
    const markdown = `## TLS and HTTP/2\n\nSkipped: ${missing.join(', ')} not installed.`;
    return { markdown, data: { skipped: missing } };
  }
  const machine = machineInfo();
  const directory = mkdtempSync(join(tmpdir(), 'breakwater-bench-tls-'));
  const group = new ProcessGroup();
  trackLoadGenerators((name, child) => group.track(name, child));
  try {
    const ca = await createTestCa(directory);
    const pair = await ca.issue('bench', { names: ['bench.test', 'localhost'] });
    const upstream = await startUpstream(group, directory);
    const subjects = [
      await startBreakwater(group, directory, pair, upstream.origins),
      await startNginx(group, directory, pair, upstream.origins),
    ];
    const results = new Map<string, Map<Load, Measured>>();
    for (const load of LOADS) {
      // Interleaved per load, so drift over the run lands on both proxies alike.
      for (const subject of subjects) {
        process.stderr.write(`bench tls: ${subject.id} ${load.id}\n`);
        const measured = await measure(subject, load.id, options);
        const row = results.get(subject.id) ?? new Map<Load, Measured>();
        row.set(load.id, measured);
        results.set(subject.id, row);
      }
    }
    const markdown = render(subjects, results, options, machine);
    const data = {
      machine,
      options,
      results: Object.fromEntries([...results].map(([k, v]) => [k, Object.fromEntries(v)])),
    };
    writeResults('tls', data, markdown);
    return { markdown, data };
  } finally {
    await group.stopAll();
    rmSync(directory, { recursive: true, force: true });
  }
}

async function startBreakwater(
  group: ProcessGroup,
  directory: string,
  pair: { cert: string; key: string },
  targets: readonly string[],
): Promise<Subject> {
  const httpPort = await freePort();
  const httpsPort = await freePort();
  const config = {
    listen: [
      `127.0.0.1:${httpPort}`,
      {
        address: `127.0.0.1:${httpsPort}`,
        tls: { certificates: [{ cert: pair.cert, key: pair.key }] },
      },
    ],
    upstreams: { bench: { targets: targets.map((url) => ({ url })) } },
    routes: [{ upstream: 'bench' }],
    log: { level: 'warn', access: false },
    // One process, as nginx runs here; written out since the proxy's default is one per core.
    workers: 1,
  };
  const configPath = join(directory, 'breakwater-tls.yaml');
  writeFileSync(configPath, stringify(config));
  const started = group.start(
    'Breakwater',
    process.execPath,
    ['--conditions=@breakwater/source', cliPath, 'start', '--config', configPath],
    join(directory, 'breakwater-tls.log'),
    { cwd: repositoryRoot },
  );
  await waitForPort(started, httpPort, 30_000);
  await waitForPort(started, httpsPort, 30_000);
  return { id: 'breakwater', label: 'Breakwater', httpPort, httpsPort, process: started };
}

async function startNginx(
  group: ProcessGroup,
  directory: string,
  pair: { cert: string; key: string },
  targets: readonly string[],
): Promise<Subject> {
  const httpPort = await freePort();
  const httpsPort = await freePort();
  const temp = join(directory, 'nginx-tls-temp');
  const servers = targets
    .map((origin) => `    server ${origin.replace('http://', '')};`)
    .join('\n');
  const location = `location / {
      proxy_pass http://targets;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-Proto $scheme;
    }`;
  const configPath = join(directory, 'nginx-tls.conf');
  writeFileSync(
    configPath,
    `daemon off;
master_process off;
worker_processes 1;
pid ${join(directory, 'nginx-tls.pid')};
error_log ${join(directory, 'nginx-tls-error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${temp};
  proxy_temp_path ${temp};
  fastcgi_temp_path ${temp};
  uwsgi_temp_path ${temp};
  scgi_temp_path ${temp};
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  http2_max_requests 1000000;
  upstream targets {
${servers}
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${httpPort};
    ${location}
  }
  server {
    listen 127.0.0.1:${httpsPort} ssl http2;
    ssl_certificate ${pair.cert};
    ssl_certificate_key ${pair.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ${location}
  }
}
`,
  );
  const started = group.start(
    'nginx',
    which('nginx')!,
    nginxArguments(directory, configPath, 'nginx-tls'),
    join(directory, 'nginx-tls.log'),
  );
  await waitForPort(started, httpPort);
  await waitForPort(started, httpsPort);
  return {
    id: 'nginx',
    label:
      `nginx ${(toolVersion('nginx', ['-v']) ?? '').replace(/^nginx version: nginx\//, '')}`.trim(),
    httpPort,
    httpsPort,
    process: started,
  };
}

async function measure(subject: Subject, load: Load, options: TlsSuiteOptions): Promise<Measured> {
  const run = (seconds: number) => loadOnce(subject, load, seconds, options);
  if (options.warmupSeconds > 0) await run(options.warmupSeconds);
  const cpuBefore = cpuSeconds(subject.process.pid);
  const result = await run(options.durationSeconds);
  const cpuAfter = cpuSeconds(subject.process.pid);
  const cpuMicrosPerRequest =
    cpuBefore === undefined || cpuAfter === undefined || result.requests === 0
      ? undefined
      : ((cpuAfter - cpuBefore) * 1e6) / result.requests;
  return {
    requestsPerSecond: result.requestsPerSecond,
    cpuMicrosPerRequest,
    failed: result.failed,
  };
}

async function loadOnce(
  subject: Subject,
  load: Load,
  seconds: number,
  options: TlsSuiteOptions,
): Promise<{ requests: number; requestsPerSecond: number; failed: number }> {
  const wrk = {
    durationSeconds: seconds,
    connections: options.connections,
    threads: options.threads,
  };
  switch (load) {
    case 'http': {
      const r = await runLoad(`http://127.0.0.1:${subject.httpPort}/`, wrk);
      return {
        requests: r.requests,
        requestsPerSecond: r.requestsPerSecond,
        failed: r.non2xx + r.socketErrors,
      };
    }
    case 'https': {
      const r = await runLoad(`https://127.0.0.1:${subject.httpsPort}/`, wrk);
      return {
        requests: r.requests,
        requestsPerSecond: r.requestsPerSecond,
        failed: r.non2xx + r.socketErrors,
      };
    }
    case 'handshake': {
      // Fewer connections: each one is a full handshake per request.
      const r = await runLoad(`https://127.0.0.1:${subject.httpsPort}/`, {
        ...wrk,
        connections: Math.min(wrk.connections, 16),
        headers: ['Connection: close'],
      });
      return { requests: r.requests, requestsPerSecond: r.requestsPerSecond, failed: r.non2xx };
    }
    case 'h2':
      return h2load(`https://127.0.0.1:${subject.httpsPort}/`, seconds, options);
  }
}

async function h2load(
  url: string,
  seconds: number,
  options: TlsSuiteOptions,
): Promise<{ requests: number; requestsPerSecond: number; failed: number }> {
  const { execFile } = await import('node:child_process');
  const clients = Math.max(1, Math.min(10, Math.floor(options.connections / 5)));
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      'h2load',
      [
        '-D',
        String(seconds),
        '-c',
        String(clients),
        '-m',
        '10',
        '-t',
        String(options.threads),
        url,
      ],
      { timeout: (seconds + 30) * 1000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`h2load failed: ${stderr}`)) : resolve(stdout),
    );
  });
  const done =
    /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(
      output,
    );
  const rate = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(output);
  if (!done || !rate) throw new Error(`could not parse h2load output:\n${output}`);
  return {
    requests: Number(done[2]),
    requestsPerSecond: Number(rate[1]),
    failed: Number(done[3]) + Number(done[4]),
  };
}

function render(
  subjects: readonly Subject[],
  results: Map<string, Map<Load, Measured>>,
  options: TlsSuiteOptions,
  machine: ReturnType<typeof machineInfo>,
): string {
  const bw = results.get('breakwater')!;
  const ng = results.get('nginx')!;
  const rows = LOADS.map(({ id, label }) => {
    const b = bw.get(id)!;
    const n = ng.get(id)!;
    return [
      label,
      formatCount(b.requestsPerSecond),
      formatCount(n.requestsPerSecond),
      formatRatio(b.requestsPerSecond, n.requestsPerSecond),
      b.cpuMicrosPerRequest === undefined ? 'n/a' : `${b.cpuMicrosPerRequest.toFixed(0)} µs`,
      n.cpuMicrosPerRequest === undefined ? 'n/a' : `${n.cpuMicrosPerRequest.toFixed(0)} µs`,
      `${b.failed} / ${n.failed}`,
    ];
  });
  return [
    '## TLS and HTTP/2',
    '',
    describeMachine(machine),
    '',
    `${subjects.map((s) => s.label).join(' and ')}, one process each, the same certificate (EC P-256) ` +
      `and upstreams; ${options.durationSeconds} s per load after ${options.warmupSeconds} s warm-up; wrk ` +
      `${options.connections} connections (16 for the handshake row), h2load ${Math.max(1, Math.min(10, Math.floor(options.connections / 5)))} connections × 10 streams.`,
    '',
    markdownTable(
      [
        'load',
        'Breakwater req/s',
        'nginx req/s',
        'Breakwater / nginx',
        'Breakwater CPU/req',
        'nginx CPU/req',
        'failed (bw / nginx)',
      ],
      rows,
    ),
  ].join('\n');
}
