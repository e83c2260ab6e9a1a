/**
 * Results on disk: every suite writes its numbers as JSON under bench/results/ (git-ignored) next
 * to the markdown it printed, so a run can be compared with an earlier one without re-parsing text.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/ */
export const benchDirectory: string = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The repository root. */
export const repositoryRoot: string = join(benchDirectory, '..');

/** bench/results/ */
export const resultsDirectory: string = join(benchDirectory, 'results');

/** Writes `<suite>-<timestamp>.json` and `.md` under bench/results/ and returns the JSON path. */
export function writeResults(suite: string, data: unknown, markdown: string): string {
  mkdirSync(resultsDirectory, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const jsonPath = join(resultsDirectory, `${suite}-${stamp}.json`);
  writeFileSync(jsonPath, `${JSON.stringify(data, null, 2)}\n`);
  writeFileSync(
    join(resultsDirectory, `${suite}-latest.json`),
    `${JSON.stringify(data, null, 2)}\n`,
  );
  writeFileSync(join(resultsDirectory, `${suite}-latest.md`), `${markdown}\n`);
  return jsonPath;
}
