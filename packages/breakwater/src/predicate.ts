/**
 * User predicates (`retryOn`, `handles`, …) run inside a call. One that throws is a bug in the
 * predicate, not in the work: it is logged and answers "no", so the caller still gets the work's
 * own outcome instead of the predicate's error.
 */
export function judge<V>(predicate: (value: V) => boolean, value: V, option: string): boolean {
  try {
    return Boolean(predicate(value));
  } catch (error) {
    console.error(`breakwater: the ${option} predicate threw; treating it as false`, error);
    return false;
  }
}
