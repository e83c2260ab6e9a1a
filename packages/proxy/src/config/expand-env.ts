/**
 * `${VAR}` and `${VAR:-default}` in string values of a config are replaced from the environment.
 * Expansion runs on parsed YAML values rather than raw text so a variable can never inject YAML
 * structure, and so an unset variable is reported with the path of the value that used it.
 */

/** A variable a config refers to that is not set and has no default. */
export interface UnsetVariable {
  readonly variable: string;
  readonly path: readonly (string | number)[];
}

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Returns a copy of `value` with every `${VAR}` expanded, plus the variables that were unset.
 *
 * @example
 * expandEnv({ token: '${TOKEN}' }, { TOKEN: 's3cret' }); // { value: { token: 's3cret' }, unset: [] }
 */
export function expandEnv(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
): { value: unknown; unset: UnsetVariable[] } {
  const unset: UnsetVariable[] = [];
  const walk = (node: unknown, path: (string | number)[]): unknown => {
    if (typeof node === 'string') {
      if (!node.includes('${')) return node;
      return node.replace(REFERENCE, (_whole, name: string, fallback: string | undefined) => {
        const found = env[name];
        if (found !== undefined && found !== '') return found;
        if (fallback !== undefined) return fallback;
        unset.push({ variable: name, path: [...path] });
        return '';
      });
    }
    if (Array.isArray(node)) return node.map((item, index) => walk(item, [...path, index]));
    if (node !== null && typeof node === 'object') {
      const copy: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(node)) copy[key] = walk(child, [...path, key]);
      return copy;
    }
    return node;
  };
  return { value: walk(value, []), unset };
}
