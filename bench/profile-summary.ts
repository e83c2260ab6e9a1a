/**
 * Summarises a V8 .cpuprofile (from `--cpu-prof` or `bench:proxy -- --profile`) as text: where
 * self time goes by function and by file, and the inclusive time of functions in the
 * repository's own packages. Enough to find a hot spot without opening DevTools.
 *
 * Usage: node bench/profile-summary.ts FILE.cpuprofile [--top 25] [--match packages/]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '~/');
  const short = file.replace(/^.*\/(packages|bench)\//, '$1/');
  return `${functionName || '(anonymous)'} ${short || '(native)'}${url ? `:${lineNumber + 1}` : ''}`;
}

function fileOf(node: ProfileNode): string {
  const url = node.callFrame.url;
  if (url === '') return `(${node.callFrame.functionName || 'native'})`;
  if (url.startsWith('node:')) return url;
  return url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\//, '~/')
    .replace(/^.*\/(packages|bench)\//, '$1/');
}

function main(): void {
  // Piped into `head`: stop quietly when the reader has seen enough.
  process.stdout.on('error', () => process.exit(0));
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: 'string', default: '25' },
      match: { type: 'string', default: 'packages/' },
    },
  });
  const path = positionals[0];
  if (path === undefined) {
    process.stderr.write('usage: profile-summary.ts FILE.cpuprofile [--top N] [--match TEXT]\n');
    process.exit(2);
  }
  const top = Number(values.top);
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const totalHits = profile.nodes.reduce((sum, node) => sum + (node.hitCount ?? 0), 0);
  const durationMs = (profile.endTime - profile.startTime) / 1_000;
  const msPerHit = totalHits === 0 ? 0 : durationMs / totalHits;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));

  const selfByFunction = new Map<string, number>();
  const selfByFile = new Map<string, number>();
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    selfByFunction.set(label(node), (selfByFunction.get(label(node)) ?? 0) + hits);
    selfByFile.set(fileOf(node), (selfByFile.get(fileOf(node)) ?? 0) + hits);
  }

  // Inclusive time: a node's hits plus its subtree's, counted once per function per stack.
  const inclusive = new Map<string, number>();
  const subtree = (id: number, onStack: Set<string>): number => {
    const node = byId.get(id);
    if (node === undefined) return 0;
    let hits = node.hitCount ?? 0;
    const name = label(node);
    const fresh = !onStack.has(name);
    if (fresh) onStack.add(name);
    for (const child of node.children ?? []) hits += subtree(child, onStack);
    if (fresh) {
      onStack.delete(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + hits);
    }
    return hits;
  };
  const root = profile.nodes[0];
  if (root !== undefined) subtree(root.id, new Set());

  const percent = (hits: number): string =>
    `${((hits / Math.max(1, totalHits)) * 100).toFixed(1).padStart(5)} %`;
  const print = (
    title: string,
    entries: Map<string, number>,
    filter: (name: string) => boolean = () => true,
  ): void => {
    process.stdout.write(`\n${title}\n`);
    [...entries.entries()]
      .filter(([name]) => filter(name))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .forEach(([name, hits]) => {
        process.stdout.write(
          `${percent(hits)}  ${(hits * msPerHit).toFixed(0).padStart(6)} ms  ${name}\n`,
        );
      });
  };
  process.stdout.write(`${path}: ${durationMs.toFixed(0)} ms, ${totalHits} samples\n`);
  print('self time by function', selfByFunction);
  print('self time by file', selfByFile);
  print(`inclusive time, functions in ${values.match}`, inclusive, (name) =>
    name.includes(values.match),
  );
}

main();
