/** A config that cannot be used, with every problem found, each naming where it is. */
import { BreakwaterError } from 'breakwater';

/** One problem in a config: where (`upstreams.api.targets[1].url`) and what was expected. */
export interface ConfigIssue {
  /** Dotted path to the offending value; empty for the document as a whole. */
  readonly path: string;
  readonly message: string;
}

/**
 * Thrown by {@link loadConfig} when the config is invalid. `issues` lists all problems, not only
 * the first, so an operator fixes the file in one pass.
 *
 * @example
 * try { loadConfig(text, process.env); } catch (error) {
 *   if (error instanceof ConfigError) for (const i of error.issues) console.error(i.path, i.message);
 * }
 */
export class ConfigError extends BreakwaterError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], source?: string) {
    const where = source === undefined ? 'Invalid config' : `Invalid config ${source}`;
    super(
      'ERR_CONFIG',
      `${where}:\n${issues.map((issue) => `  - ${issue.path === '' ? '(root)' : issue.path}: ${issue.message}`).join('\n')}`,
    );
    this.issues = issues;
  }
}

/**
 * Formats a path like `upstreams.api.targets[1].url`.
 *
 * @example
 * formatPath(['upstreams', 'api', 'targets', 1, 'url']); // 'upstreams.api.targets[1].url'
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else {
      const key = String(segment);
      if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) text += text === '' ? key : `.${key}`;
      else text += `[${JSON.stringify(key)}]`;
    }
  }
  return text;
}
