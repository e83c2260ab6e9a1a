/**
 * The proxy's layering, checked by `npm run lint:layers` (part of `npm test`). From the bottom:
 * config/ and http/ (pure rules) < upstream/ (targets, selection, balancers, health) and tls/
 * (certificates) < request/ (admission, forwarding, listeners) < reload/ < admin/ < workers/ (the
 * cluster) < proxy.ts, cli.ts, index.ts, worker-main.ts (wiring). A layer may
 * import the ones below it, never one above; logger.ts is a leaf anyone may use. There are no
 * import cycles anywhere in the proxy. docs/architecture.md describes the layers.
 */
const src = '^packages/proxy/src/';
const top = `${src}(proxy|cli|index|worker-main)\\.ts$`;
const layer = (...names) => `${src}(${names.join('|')})/`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import cycle makes two files one concept; cut it with an interface below both.',
      severity: 'error',
      from: { path: src },
      to: { circular: true },
    },
    {
      name: 'config-is-the-bottom',
      comment: 'config/ validates the file; it knows nothing of how the proxy uses it.',
      severity: 'error',
      from: { path: layer('config') },
      to: {
        path: [layer('http', 'upstream', 'tls', 'request', 'reload', 'admin', 'workers'), top],
      },
    },
    {
      name: 'http-is-wire-rules-only',
      comment: 'http/ holds pure wire rules; it knows nothing of upstreams or requests in flight.',
      severity: 'error',
      from: { path: layer('http') },
      to: { path: [layer('upstream', 'tls', 'request', 'reload', 'admin', 'workers'), top] },
    },
    {
      name: 'upstream-below-request',
      comment: 'upstream/ is the target model; requests use it, never the other way round.',
      severity: 'error',
      from: { path: layer('upstream') },
      to: { path: [layer('request', 'reload', 'admin', 'workers'), top] },
    },
    {
      name: 'tls-below-request',
      comment: 'tls/ holds certificates; listeners in request/ serve them, admin shows them.',
      severity: 'error',
      from: { path: layer('tls') },
      to: { path: [layer('upstream', 'request', 'reload', 'admin', 'workers'), top] },
    },
    {
      name: 'request-below-reload-and-admin',
      comment: 'request/ forwards; reload and admin act on it from above.',
      severity: 'error',
      from: { path: layer('request') },
      to: { path: [layer('reload', 'admin', 'workers'), top] },
    },
    {
      name: 'reload-swaps-routes-only',
      comment:
        'reload/ swaps upstreams and the route table; it never reaches into the request path.',
      severity: 'error',
      from: { path: layer('reload') },
      to: { path: [layer('request', 'admin', 'workers'), top] },
    },
    {
      name: 'admin-below-workers',
      comment:
        'admin/ serves one process; workers/ (the cluster) feeds it merged views from above.',
      severity: 'error',
      from: { path: layer('admin') },
      to: { path: [layer('workers'), top] },
    },
    {
      name: 'workers-below-wiring',
      comment:
        'workers/ runs the cluster (primary, supervisor, worker agent); the wiring starts it.',
      severity: 'error',
      from: { path: layer('workers') },
      to: { path: top },
    },
    {
      name: 'logger-is-a-leaf',
      severity: 'error',
      from: { path: `${src}logger\\.ts$` },
      to: { path: src },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
    // Type-only imports are dependencies too: a layer must not name a higher layer's types.
    tsPreCompilationDeps: true,
    moduleSystems: ['es6'],
  },
};
